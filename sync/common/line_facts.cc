#include "sync/common/line_facts.h"

#include <nlohmann/json.hpp>

#include "sync/common/github_url.h"

namespace ccfs {
namespace {

using nlohmann::json;

constexpr size_t kMaxPromptBytes = 1000;
constexpr size_t kMaxSummaryBytes = 2000;

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool BoolField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The text of a user prompt line, or nullopt for meta lines, tool results and
// slash-command plumbing.
std::optional<std::string> UserPrompt(const json& j) {
  if (StringField(j, "type") != "user") return std::nullopt;
  if (BoolField(j, "isMeta") || BoolField(j, "isSidechain")) return std::nullopt;
  auto msg = j.find("message");
  if (msg == j.end() || !msg->is_object()) return std::nullopt;
  auto content = msg->find("content");
  if (content == msg->end()) return std::nullopt;
  std::string text;
  if (content->is_string()) {
    text = content->get<std::string>();
  } else if (content->is_array()) {
    for (const json& part : *content) {
      if (!part.is_object()) continue;
      std::string type = StringField(part, "type");
      if (type == "tool_result") return std::nullopt;
      if (type == "text") {
        text = StringField(part, "text");
        break;
      }
    }
  }
  if (text.empty() || StartsWith(text, "<command-") || StartsWith(text, "<local-command-")) {
    return std::nullopt;
  }
  return TruncateUtf8(std::move(text), kMaxPromptBytes);
}

}  // namespace

std::string TruncateUtf8(std::string s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to a sequence start.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

LineFacts ExtractLineFacts(std::string_view line, const LineFactsWanted& wanted) {
  LineFacts facts;
  if (line.find("github.com/") != std::string_view::npos) facts.github_urls = FindGitHubUrls(line);
  bool maybe_summary = line.find("\"summary\"") != std::string_view::npos;
  bool maybe_location = wanted.location && (line.find("\"cwd\"") != std::string_view::npos ||
                                            line.find("\"gitBranch\"") != std::string_view::npos);
  bool maybe_prompt = wanted.user_prompt && line.find("\"user\"") != std::string_view::npos;
  if (!maybe_summary && !maybe_location && !maybe_prompt) return facts;

  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return facts;
  if (maybe_summary && StringField(j, "type") == "summary") {
    auto s = j.find("summary");
    if (s != j.end() && s->is_string()) {
      facts.summary = TruncateUtf8(s->get<std::string>(), kMaxSummaryBytes);
    }
  }
  if (maybe_location) {
    facts.cwd = StringField(j, "cwd");
    facts.git_branch = StringField(j, "gitBranch");
  }
  if (maybe_prompt) facts.user_prompt = UserPrompt(j);
  return facts;
}

}  // namespace ccfs
