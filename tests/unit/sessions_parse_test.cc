// Parsing single transcript lines: roles, prompts, tool calls and results,
// usage, summaries, compaction boundaries, malformed input, timestamps.
#include <gtest/gtest.h>

#include "sessions_test_util.h"
#include "sync/sessions/transcript_parse.h"

namespace ccfs {
namespace {

using namespace ccfs::testing;

TranscriptLine Parse(const std::string& line) {
  auto r = ParseTranscriptLine(line);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : TranscriptLine{};
}

TEST(SessionsParse, UserPrompt) {
  TranscriptLine l = Parse(UserLine("u1", "", "fix the flaky test"));
  EXPECT_EQ(l.type, "user");
  EXPECT_EQ(l.role, LineRole::kUser);
  EXPECT_TRUE(l.is_prompt);
  EXPECT_EQ(l.text, "fix the flaky test");
  EXPECT_EQ(l.uuid, "u1");
  EXPECT_EQ(l.parent_uuid, "");
  EXPECT_EQ(l.cwd, kCwd);
  EXPECT_EQ(l.git_branch, "main");
  ASSERT_TRUE(l.timestamp_ms.has_value());
  EXPECT_EQ(*l.timestamp_ms, 1760004000000);  // 2025-10-09T10:00:00Z
}

TEST(SessionsParse, PlumbingAndMetaAreNotPrompts) {
  EXPECT_FALSE(Parse(UserLine("u", "", "<command-name>/clear</command-name>")).is_prompt);
  EXPECT_FALSE(Parse(UserLine("u", "", "<local-command-stdout></local-command-stdout>")).is_prompt);
  EXPECT_FALSE(Parse(UserLine("u", "", "[Request interrupted by user]")).is_prompt);
  auto meta = nlohmann::json::parse(UserLine("u", "", "Caveat: the messages below"));
  meta["isMeta"] = true;
  TranscriptLine m = Parse(meta.dump());
  EXPECT_TRUE(m.is_meta);
  EXPECT_FALSE(m.is_prompt);
  TranscriptLine c = Parse(CompactSummaryLine("u", "b"));
  EXPECT_TRUE(c.is_compact_summary);
  EXPECT_FALSE(c.is_prompt);
}

TEST(SessionsParse, ToolResult) {
  TranscriptLine l = Parse(ToolResultLine("t1", "a1", "line one\nline two", "x", true));
  EXPECT_EQ(l.role, LineRole::kToolResult);
  EXPECT_FALSE(l.is_prompt);
  EXPECT_EQ(l.text, "line one\nline two");
  EXPECT_TRUE(l.tool_error);
  // Content as a list of blocks.
  auto j = nlohmann::json::parse(ToolResultLine("t2", "a1", ""));
  j["message"]["content"][0]["content"] = nlohmann::json::array(
      {{{"type", "text"}, {"text", "out"}}, {{"type", "image"}, {"source", "..."}}});
  EXPECT_EQ(Parse(j.dump()).text, "out\n[image]");
}

TEST(SessionsParse, AssistantBlocks) {
  TranscriptLine text =
      Parse(AssistantLine("a1", "u1", "msg_1", "req_1", TextBlock("Looking."), {3, 40, 100, 2000}));
  EXPECT_EQ(text.role, LineRole::kAssistant);
  EXPECT_EQ(text.text, "Looking.");
  EXPECT_EQ(text.message_id, "msg_1");
  EXPECT_EQ(text.request_id, "req_1");
  EXPECT_EQ(text.model, "claude-sonnet-4-5-20250929");
  ASSERT_TRUE(text.usage.has_value());
  EXPECT_EQ(text.usage->input, 3);
  EXPECT_EQ(text.usage->output, 40);
  EXPECT_EQ(text.usage->cache_creation, 100);
  EXPECT_EQ(text.usage->cache_read, 2000);

  TranscriptLine tool = Parse(AssistantLine("a2", "a1", "msg_1", "req_1",
                                            ToolUseBlock("Bash", {{"command", "git status"}}), {}));
  EXPECT_EQ(tool.tool_uses, "→ Bash(git status)");
  EXPECT_EQ(tool.tool_use_count, 1);
  EXPECT_EQ(tool.text, "");

  TranscriptLine todo = Parse(
      AssistantLine("a3", "a2", "msg_2", "req_2",
                    ToolUseBlock("TodoWrite", {{"todos", nlohmann::json::array({1, 2, 3})}}), {}));
  EXPECT_EQ(todo.tool_uses, "→ TodoWrite(3 todos)");

  TranscriptLine think =
      Parse(AssistantLine("a4", "a3", "msg_3", "req_3", ThinkingBlock("secret plan"), {}));
  EXPECT_TRUE(think.has_thinking);
  EXPECT_EQ(think.text, "");  // thinking text is not kept
}

TEST(SessionsParse, ToolInputSummaryIsOneBoundedLine) {
  std::string long_cmd(500, 'x');
  long_cmd[10] = '\n';
  TranscriptLine l =
      Parse(AssistantLine("a", "", "m", "r", ToolUseBlock("Bash", {{"command", long_cmd}}), {}));
  EXPECT_EQ(l.tool_uses.find('\n'), std::string::npos);
  EXPECT_LT(l.tool_uses.size(), 200u);
  // Unknown inputs fall back to compact JSON.
  TranscriptLine other =
      Parse(AssistantLine("a", "", "m", "r", ToolUseBlock("mcp__x", {{"n", 1}}), {}));
  EXPECT_EQ(other.tool_uses, "→ mcp__x({\"n\":1})");
}

TEST(SessionsParse, SummaryAndCompactBoundary) {
  TranscriptLine s = Parse(SummaryLine("Fix the lease race", "leaf-1"));
  EXPECT_EQ(s.type, "summary");
  EXPECT_EQ(s.role, LineRole::kNone);
  EXPECT_EQ(s.summary, "Fix the lease race");
  EXPECT_EQ(s.leaf_uuid, "leaf-1");

  TranscriptLine b = Parse(CompactBoundaryLine("c1", "a9"));
  EXPECT_EQ(b.role, LineRole::kSystem);
  EXPECT_EQ(b.subtype, "compact_boundary");
  EXPECT_EQ(b.parent_uuid, "");
  EXPECT_EQ(b.logical_parent_uuid, "a9");
}

TEST(SessionsParse, BookkeepingLinesHaveNoRole) {
  TranscriptLine l = Parse(R"({"type":"file-history-snapshot","messageId":"x","snapshot":{}})");
  EXPECT_EQ(l.type, "file-history-snapshot");
  EXPECT_EQ(l.role, LineRole::kNone);
}

TEST(SessionsParse, MalformedLines) {
  EXPECT_TRUE(ParseTranscriptLine("{\"type\":\"user\"").status().IsCorruption());
  EXPECT_TRUE(ParseTranscriptLine("not json at all").status().IsCorruption());
  EXPECT_TRUE(ParseTranscriptLine("[1,2,3]").status().IsCorruption());
  EXPECT_TRUE(ParseTranscriptLine("").status().IsCorruption());
  // Odd shapes are not errors: fields of the wrong type read as absent.
  auto r = ParseTranscriptLine(R"({"type":"assistant","message":{"content":7,"usage":"x"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->usage.has_value());
}

TEST(SessionsParse, Timestamps) {
  EXPECT_EQ(ParseTimestampMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTimestampMs("2025-10-09T13:57:33.111Z"), 1760018253111);
  EXPECT_EQ(ParseTimestampMs("2025-10-09T15:57:33.111+02:00"), 1760018253111);
  EXPECT_EQ(ParseTimestampMs("2025-10-09T13:57:33Z"), 1760018253000);
  EXPECT_FALSE(ParseTimestampMs("2025-13-09T13:57:33Z").has_value());
  EXPECT_FALSE(ParseTimestampMs("yesterday").has_value());
  EXPECT_EQ(FormatTimestampMs(1760018253111), "2025-10-09T13:57:33.111Z");
  EXPECT_EQ(FormatTimestampMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(951782400000), "2000-02-29T00:00:00.000Z");
}

}  // namespace
}  // namespace ccfs
