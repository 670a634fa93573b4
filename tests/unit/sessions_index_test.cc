// SessionIndex on hand-written transcripts: token totals with content-block
// lines sharing message.id (counted once, ccusage's rule), subagents, titles,
// idempotent re-adds, Forget, malformed lines, filters, persistence.
#include <gtest/gtest.h>

#include "sessions_test_util.h"
#include "sync/sessions/session_index.h"
#include "sync_test_util.h"

namespace ccfs {
namespace {

using namespace ccfs::testing;

std::unique_ptr<SessionIndex> OpenMemory() {
  auto r = SessionIndex::Open(":memory:");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

SessionSummary Get(SessionIndex& index, const std::string& id) {
  auto r = index.GetSession(id);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : SessionSummary{};
}

// One turn: a prompt, an assistant message written as three block lines
// (thinking, text, tool_use) sharing msg_A/req_A and its usage, the tool
// result, then a one-block reply msg_B.
std::vector<std::string> OneTurn() {
  Usage a{10, 200, 3000, 40000}, b{5, 50, 0, 43000};
  return {
      SummaryLine("Earlier summary", "u0"),
      UserLine("u1", "", "please fix the lease race", "2025-10-09T10:00:00.000Z"),
      AssistantLine("a1", "u1", "msg_A", "req_A", ThinkingBlock("hmm"), a),
      AssistantLine("a2", "a1", "msg_A", "req_A", TextBlock("Looking at lease.cc"), a),
      AssistantLine("a3", "a2", "msg_A", "req_A", ToolUseBlock("Read", {{"file_path", "/x.cc"}}),
                    a),
      ToolResultLine("t1", "a3", "int main() {}", "2025-10-09T10:00:03.000Z"),
      AssistantLine("a4", "t1", "msg_B", "req_B", TextBlock("Fixed."), b,
                    "claude-opus-4-1-20250805", "2025-10-09T10:05:00.000Z"),
  };
}

TEST(SessionsIndex, CountsEachApiMessageOnce) {
  auto index = OpenMemory();
  auto lines = OneTurn();
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  SessionSummary s = Get(*index, "s1");
  EXPECT_EQ(s.tokens.input, 15);
  EXPECT_EQ(s.tokens.output, 250);
  EXPECT_EQ(s.tokens.cache_creation, 3000);
  EXPECT_EQ(s.tokens.cache_read, 83000);
  EXPECT_EQ(s.tokens.total(), 15 + 250 + 3000 + 83000);
  EXPECT_EQ(s.assistant_messages, 2);
  EXPECT_EQ(s.user_messages, 1);  // the tool result is not a user message
  EXPECT_EQ(s.tool_calls, 1);
  EXPECT_EQ(s.models,
            (std::vector<std::string>{"claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805"}));
  EXPECT_EQ(s.lines, 7);
  EXPECT_EQ(s.cwd, kCwd);
  EXPECT_EQ(s.project_dir, kEnc);
  EXPECT_EQ(s.transcript_path, MainPath("s1"));
  EXPECT_EQ(s.git_branch, "main");
  EXPECT_EQ(s.first_ms, 1760004000000);
  EXPECT_EQ(s.last_ms, 1760004300000);
  EXPECT_EQ(s.title, "Earlier summary");
}

TEST(SessionsIndex, LinesWithoutIdsAreNotDeduplicated) {
  // ccusage's createUniqueHash needs both message.id and requestId.
  auto index = OpenMemory();
  std::vector<std::string> lines = {
      AssistantLine("a1", "", "msg_A", "", TextBlock("x"), {1, 2, 3, 4}),
      AssistantLine("a2", "a1", "msg_A", "", TextBlock("y"), {1, 2, 3, 4}),
      AssistantLine("a3", "a2", "", "req_C", TextBlock("z"), {10, 0, 0, 0}),
      AssistantLine("a4", "a3", "msg_D", "req_D", TextBlock("w"), {100, 0, 0, 0}),
      AssistantLine("a5", "a4", "msg_D", "req_E", TextBlock("v"), {1000, 0, 0, 0}),
  };
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  SessionSummary s = Get(*index, "s1");
  EXPECT_EQ(s.tokens.input, 1 + 1 + 10 + 100 + 1000);
  EXPECT_EQ(s.tokens.output, 4);
}

TEST(SessionsIndex, SyntheticModelIsNotListed) {
  auto index = OpenMemory();
  std::vector<std::string> lines = {
      AssistantLine("a1", "", "m1", "r1", TextBlock("No response requested."), {}, "<synthetic>")};
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  EXPECT_TRUE(Get(*index, "s1").models.empty());
}

TEST(SessionsIndex, SubagentsCountTowardTheirSession) {
  auto index = OpenMemory();
  auto main = OneTurn();
  std::vector<std::string> agent = {
      UserLine("x1", "", "survey the tests", "2025-10-09T10:01:00.000Z", true),
      AssistantLine("x2", "x1", "msg_X", "req_X", TextBlock("ok"), {7, 70, 700, 7000},
                    "claude-haiku-4-5-20251001", "2025-10-09T10:06:00.000Z", true),
      AssistantLine("x3", "x2", "msg_X", "req_X", ToolUseBlock("Grep", {{"pattern", "TEST"}}),
                    {7, 70, 700, 7000}, "claude-haiku-4-5-20251001", "2025-10-09T10:06:00.000Z",
                    true),
      // A block of the main session's message repeated here counts once.
      AssistantLine("x4", "x3", "msg_A", "req_A", TextBlock("dup"), {10, 200, 3000, 40000}, "m",
                    "2025-10-09T10:06:01.000Z", true),
  };
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(main)).ok());
  ASSERT_TRUE(index->AddLines(AgentPath("s1", "abc"), 1, Views(agent)).ok());
  SessionSummary s = Get(*index, "s1");
  EXPECT_EQ(s.subagents, 1);
  EXPECT_EQ(s.tokens.input, 15 + 7);
  EXPECT_EQ(s.tokens.cache_read, 83000 + 7000);
  EXPECT_EQ(s.tool_calls, 2);
  EXPECT_EQ(s.last_ms, 1760004361000);    // the subagent's last line
  EXPECT_EQ(s.title, "Earlier summary");  // never from a subagent

  std::vector<SessionFile> files;
  ASSERT_TRUE(index->ListSessionFiles("s1", &files).ok());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].rel_path, MainPath("s1"));
  EXPECT_FALSE(files[0].is_subagent);
  EXPECT_EQ(files[1].agent_id, "agent-abc");
  EXPECT_TRUE(files[1].is_subagent);
  EXPECT_EQ(files[1].first_prompt, "survey the tests");
  EXPECT_EQ(files[1].tokens.input, 7 + 10);  // per file, each message once
  EXPECT_EQ(files[1].lines, 4);
}

TEST(SessionsIndex, TitleIsLatestSummaryElseFirstPrompt) {
  auto index = OpenMemory();
  std::vector<std::string> a = {
      UserLine("m", "", "<command-name>/model</command-name>"),
      UserLine("u1", "m", "first real\nprompt\twith  spaces"),
      UserLine("u2", "u1", "second prompt"),
  };
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(a)).ok());
  EXPECT_EQ(Get(*index, "s1").title, "first real prompt with spaces");
  std::vector<std::string> b = {SummaryLine("Old", "u1"), SummaryLine("Newer", "u2")};
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 4, Views(b)).ok());
  EXPECT_EQ(Get(*index, "s1").title, "Newer");

  std::string long_prompt(1000, 'p');
  std::vector<std::string> c = {UserLine("u1", "", long_prompt)};
  ASSERT_TRUE(index->AddLines(MainPath("s2"), 1, Views(c)).ok());
  EXPECT_LE(Get(*index, "s2").title.size(), 210u);
}

TEST(SessionsIndex, AddingLinesAgainIsIdempotent) {
  auto index = OpenMemory();
  auto lines = OneTurn();
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  SessionSummary first = Get(*index, "s1");
  // The whole file again, then an overlapping tail: nothing doubles.
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  std::vector<std::string> tail(lines.begin() + 3, lines.end());
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 4, Views(tail)).ok());
  SessionSummary again = Get(*index, "s1");
  EXPECT_EQ(again.tokens.total(), first.tokens.total());
  EXPECT_EQ(again.lines, first.lines);
  EXPECT_EQ(again.assistant_messages, first.assistant_messages);
  auto next = index->NextLineNumber(MainPath("s1"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), 8);
}

TEST(SessionsIndex, IncrementalLinesMatchOneBatch) {
  auto whole = OpenMemory();
  auto bits = OpenMemory();
  auto lines = OneTurn();
  ASSERT_TRUE(whole->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_TRUE(bits->AddLines(MainPath("s1"), static_cast<int64_t>(i + 1), {lines[i]}).ok());
    Get(*bits, "s1");  // queries in between recompute the dirty session
  }
  SessionSummary a = Get(*whole, "s1"), b = Get(*bits, "s1");
  EXPECT_EQ(a.tokens.total(), b.tokens.total());
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.tool_calls, b.tool_calls);
}

TEST(SessionsIndex, ForgetDropsAFileAndEmptySessions) {
  auto index = OpenMemory();
  auto main = OneTurn();
  std::vector<std::string> agent = {AssistantLine("x1", "", "msg_X", "req_X", TextBlock("ok"),
                                                  {7, 0, 0, 0}, "m", "2025-10-09T10:06:00.000Z",
                                                  true)};
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(main)).ok());
  ASSERT_TRUE(index->AddLines(AgentPath("s1", "abc"), 1, Views(agent)).ok());
  EXPECT_EQ(Get(*index, "s1").tokens.input, 22);
  ASSERT_TRUE(index->Forget(AgentPath("s1", "abc")).ok());
  SessionSummary s = Get(*index, "s1");
  EXPECT_EQ(s.tokens.input, 15);
  EXPECT_EQ(s.subagents, 0);
  ASSERT_TRUE(index->Forget(MainPath("s1")).ok());
  EXPECT_TRUE(index->GetSession("s1").status().IsNotFound());
  std::vector<std::string> files;
  ASSERT_TRUE(index->ListFiles(&files).ok());
  EXPECT_TRUE(files.empty());
}

TEST(SessionsIndex, MalformedLinesAreCountedAndReported) {
  auto index = OpenMemory();
  std::vector<std::string> lines = {
      UserLine("u1", "", "hello"),
      "{\"type\":\"assistant\",\"message\":",  // cut short
      AssistantLine("a1", "u1", "m1", "r1", TextBlock("hi"), {1, 1, 1, 1}),
      "garbage",
  };
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  SessionSummary s = Get(*index, "s1");
  EXPECT_EQ(s.malformed_lines, 2);
  EXPECT_EQ(s.lines, 4);
  EXPECT_EQ(s.tokens.total(), 4);
  std::vector<MalformedLine> bad;
  ASSERT_TRUE(index->ListMalformed(&bad).ok());
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].rel_path, MainPath("s1"));
  EXPECT_EQ(bad[0].line_no, 2);
  EXPECT_EQ(bad[1].line_no, 4);
  EXPECT_FALSE(bad[0].error.empty());
  // A later good copy of the line replaces the bad one.
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 4, {UserLine("u9", "a1", "fixed")}).ok());
  EXPECT_EQ(Get(*index, "s1").malformed_lines, 1);
}

TEST(SessionsIndex, RejectsPathsThatAreNotTranscripts) {
  auto index = OpenMemory();
  EXPECT_TRUE(index->AddLines("history.jsonl", 1, {"{}"}).IsInvalidArgument());
  EXPECT_TRUE(index->AddLines("projects/x/memory/notes.jsonl", 1, {"{}"}).IsInvalidArgument());
  EXPECT_TRUE(index->AddLines(MainPath("s1"), 0, {"{}"}).IsInvalidArgument());
  EXPECT_TRUE(index->Forget("projects/x.jsonl").IsInvalidArgument());
}

TEST(SessionsIndex, FiltersAndLookups) {
  auto index = OpenMemory();
  ASSERT_TRUE(
      index->AddLines(MainPath("aaaa-1"), 1, {UserLine("u", "", "old", "2025-01-01T00:00:00.000Z")})
          .ok());
  ASSERT_TRUE(
      index->AddLines(MainPath("aaaa-2"), 1, {UserLine("u", "", "new", "2025-10-01T00:00:00.000Z")})
          .ok());
  ASSERT_TRUE(index
                  ->AddLines("projects/-srv-other/bbbb-3.jsonl", 1,
                             {UserLine("u", "", "elsewhere", "2025-06-01T00:00:00.000Z")})
                  .ok());
  std::vector<SessionSummary> out;
  ASSERT_TRUE(index->ListSessions({}, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].session_id, "aaaa-2");  // most recent first
  EXPECT_EQ(out[2].session_id, "aaaa-1");

  SessionFilter by_project;
  by_project.project = "-srv-other";
  ASSERT_TRUE(index->ListSessions(by_project, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].session_id, "bbbb-3");
  by_project.project = "/home/u";  // cwd substring
  ASSERT_TRUE(index->ListSessions(by_project, &out).ok());
  EXPECT_EQ(out.size(), 3u);  // every line says cwd /home/u/app

  SessionFilter since;
  since.since_ms = *ParseTimestampMs("2025-05-01T00:00:00Z");
  ASSERT_TRUE(index->ListSessions(since, &out).ok());
  EXPECT_EQ(out.size(), 2u);

  std::vector<std::string> ids;
  ASSERT_TRUE(index->FindSessions("aaaa", &ids).ok());
  EXPECT_EQ(ids.size(), 2u);
  ASSERT_TRUE(index->FindSessions("bb", &ids).ok());
  EXPECT_EQ(ids, std::vector<std::string>{"bbbb-3"});
  ASSERT_TRUE(index->FindSessions("aaaa-1", &ids).ok());
  EXPECT_EQ(ids, std::vector<std::string>{"aaaa-1"});
  ASSERT_TRUE(index->FindSessions("zz", &ids).ok());
  EXPECT_TRUE(ids.empty());
}

TEST(SessionsIndex, ScanTextSelectsRoles) {
  auto index = OpenMemory();
  auto lines = OneTurn();
  ASSERT_TRUE(index->AddLines(MainPath("s1"), 1, Views(lines)).ok());
  std::vector<int64_t> seen;
  auto collect = [&](const std::string& session, const IndexedLine& l) {
    EXPECT_EQ(session, "s1");
    seen.push_back(l.line_no);
    return true;
  };
  ASSERT_TRUE(index->ScanText({LineRole::kToolResult}, "", collect).ok());
  EXPECT_EQ(seen, std::vector<int64_t>{6});
  seen.clear();
  // The thinking-only line has no text to search.
  ASSERT_TRUE(index->ScanText({LineRole::kAssistant}, "s1", collect).ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{4, 5, 7}));
  seen.clear();
  ASSERT_TRUE(index->ScanText({LineRole::kUser}, "other", collect).ok());
  EXPECT_TRUE(seen.empty());
}

TEST(SessionsIndex, PersistsAcrossReopen) {
  TempDir dir;
  std::string db = dir / "sessions.db";
  {
    auto index = SessionIndex::Open(db);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    auto lines = OneTurn();
    FileSourceState st;
    st.size = 123;
    st.etag = "e1";
    st.indexed_bytes = 120;
    st.indexed_lines = 7;
    st.tail_hash = TailHash("abc");
    ASSERT_TRUE(index.value()->AddLines(MainPath("s1"), 1, Views(lines), st).ok());
  }
  auto index = SessionIndex::Open(db);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(Get(*index.value(), "s1").tokens.input, 15);
  auto st = index.value()->GetSourceState(MainPath("s1"));
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(st.value().has_value());
  EXPECT_EQ(st.value()->etag, "e1");
  EXPECT_EQ(st.value()->indexed_bytes, 120u);
  EXPECT_EQ(st.value()->indexed_lines, 7);
  EXPECT_EQ(st.value()->tail_hash, TailHash("abc"));
  auto none = index.value()->GetSourceState(MainPath("nope"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.value().has_value());
}

}  // namespace
}  // namespace ccfs
