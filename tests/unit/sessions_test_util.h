// Hand-written Claude Code transcript lines for the session index tests:
// each helper returns one JSONL line (without '\n') shaped as Claude Code
// writes it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ccfs::testing {

inline constexpr const char* kCwd = "/home/u/app";
inline constexpr const char* kEnc = "-home-u-app";

inline std::string MainPath(const std::string& session) {
  return std::string("projects/") + kEnc + "/" + session + ".jsonl";
}
inline std::string AgentPath(const std::string& session, const std::string& agent) {
  return std::string("projects/") + kEnc + "/" + session + "/subagents/agent-" + agent + ".jsonl";
}

inline nlohmann::json Base(const std::string& type, const std::string& uuid,
                           const std::string& parent, const std::string& ts,
                           bool sidechain = false) {
  return {{"parentUuid", parent.empty() ? nlohmann::json(nullptr) : nlohmann::json(parent)},
          {"isSidechain", sidechain},
          {"userType", "external"},
          {"cwd", kCwd},
          {"sessionId", "s"},
          {"version", "2.0.14"},
          {"gitBranch", "main"},
          {"type", type},
          {"uuid", uuid},
          {"timestamp", ts}};
}

inline std::string UserLine(const std::string& uuid, const std::string& parent,
                            const std::string& text,
                            const std::string& ts = "2025-10-09T10:00:00.000Z",
                            bool sidechain = false) {
  auto j = Base("user", uuid, parent, ts, sidechain);
  j["message"] = {{"role", "user"}, {"content", text}};
  return j.dump();
}

inline std::string ToolResultLine(const std::string& uuid, const std::string& parent,
                                  const std::string& content,
                                  const std::string& ts = "2025-10-09T10:00:02.000Z",
                                  bool is_error = false) {
  auto j = Base("user", uuid, parent, ts);
  nlohmann::json block = {
      {"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", content}};
  if (is_error) block["is_error"] = true;
  j["message"] = {{"role", "user"}, {"content", nlohmann::json::array({block})}};
  return j.dump();
}

struct Usage {
  int64_t in = 0, out = 0, cc = 0, cr = 0;
};

// One content block of an assistant message (Claude Code writes one line per
// block, each repeating message.id, requestId and usage).
inline std::string AssistantLine(const std::string& uuid, const std::string& parent,
                                 const std::string& msg_id, const std::string& request_id,
                                 const nlohmann::json& block, Usage u,
                                 const std::string& model = "claude-sonnet-4-5-20250929",
                                 const std::string& ts = "2025-10-09T10:00:01.000Z",
                                 bool sidechain = false) {
  auto j = Base("assistant", uuid, parent, ts, sidechain);
  if (!request_id.empty()) j["requestId"] = request_id;
  nlohmann::json msg = {{"type", "message"},
                        {"role", "assistant"},
                        {"model", model},
                        {"content", nlohmann::json::array({block})},
                        {"usage",
                         {{"input_tokens", u.in},
                          {"output_tokens", u.out},
                          {"cache_creation_input_tokens", u.cc},
                          {"cache_read_input_tokens", u.cr}}}};
  if (!msg_id.empty()) msg["id"] = msg_id;
  j["message"] = msg;
  return j.dump();
}

inline nlohmann::json TextBlock(const std::string& text) {
  return {{"type", "text"}, {"text", text}};
}
inline nlohmann::json ToolUseBlock(const std::string& name, const nlohmann::json& input) {
  return {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", name}, {"input", input}};
}
inline nlohmann::json ThinkingBlock(const std::string& text) {
  return {{"type", "thinking"}, {"thinking", text}, {"signature", "abc"}};
}

inline std::string SummaryLine(const std::string& summary, const std::string& leaf) {
  return nlohmann::json{{"type", "summary"}, {"summary", summary}, {"leafUuid", leaf}}.dump();
}

inline std::string CompactBoundaryLine(const std::string& uuid, const std::string& logical_parent,
                                       const std::string& ts = "2025-10-09T11:00:00.000Z") {
  auto j = Base("system", uuid, "", ts);
  j["subtype"] = "compact_boundary";
  j["content"] = "Conversation compacted";
  j["logicalParentUuid"] = logical_parent;
  return j.dump();
}

inline std::string CompactSummaryLine(const std::string& uuid, const std::string& parent,
                                      const std::string& ts = "2025-10-09T11:00:01.000Z") {
  auto j = Base("user", uuid, parent, ts);
  j["isCompactSummary"] = true;
  j["message"] = {{"role", "user"},
                  {"content", "This session is being continued from a previous conversation."}};
  return j.dump();
}

inline std::vector<std::string_view> Views(const std::vector<std::string>& lines) {
  return {lines.begin(), lines.end()};
}

}  // namespace ccfs::testing
