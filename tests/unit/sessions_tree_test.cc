// The conversation graph of a transcript: active branch from the newest
// line, forks from rewound prompts, compaction boundaries crossed through
// logicalParentUuid, sidechains left out, parallel tool results inline.
#include <gtest/gtest.h>

#include "sessions_test_util.h"
#include "sync/sessions/session_index.h"
#include "sync/sessions/session_tree.h"

namespace ccfs {
namespace {

using namespace ccfs::testing;

std::vector<IndexedLine> Index(const std::vector<std::string>& lines,
                               const std::string& path = MainPath("s1")) {
  auto index = SessionIndex::Open(":memory:");
  EXPECT_TRUE(index.ok());
  EXPECT_TRUE(index.value()->AddLines(path, 1, Views(lines)).ok());
  std::vector<IndexedLine> out;
  EXPECT_TRUE(index.value()->ReadLines(path, &out).ok());
  return out;
}

// Line numbers (1-based) of the given indices.
std::vector<int64_t> LineNos(const std::vector<IndexedLine>& lines,
                             const std::vector<size_t>& idx) {
  std::vector<int64_t> out;
  for (size_t i : idx) out.push_back(lines[i].line_no);
  return out;
}

nlohmann::json Text(const std::string& t) { return TextBlock(t); }

TEST(SessionsTree, LinearChain) {
  auto lines = Index({
      SummaryLine("S", "a1"),
      R"({"type":"file-history-snapshot","messageId":"x","snapshot":{}})",
      UserLine("u1", "", "hi"),
      AssistantLine("a1", "u1", "m1", "r1", Text("hello"), {}),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(t.forks.empty());
  EXPECT_EQ(t.all_branches.size(), 2u);
}

TEST(SessionsTree, RewoundPromptMakesAFork) {
  // u1 -> a1 -> (u2 -> a2 abandoned) | (u3 -> a3 newest)
  auto lines = Index({
      UserLine("u1", "", "start"),
      AssistantLine("a1", "u1", "m1", "r1", Text("ok"), {}),
      UserLine("u2", "a1", "first try"),
      AssistantLine("a2", "u2", "m2", "r2", Text("no"), {}),
      UserLine("u3", "a1", "second try"),
      AssistantLine("a3", "u3", "m3", "r3", Text("yes"), {}),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 2, 5, 6}));
  ASSERT_EQ(t.forks.size(), 1u);
  EXPECT_EQ(lines[t.forks[0].parent].line_no, 2);
  EXPECT_EQ(LineNos(lines, t.forks[0].children), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(lines[t.forks[0].active_child].line_no, 5);

  ASSERT_EQ(t.all_branches.size(), 6u);
  EXPECT_EQ(t.all_branches[2].branch, "1.1");
  EXPECT_TRUE(t.all_branches[2].starts_branch);
  EXPECT_EQ(lines[t.all_branches[2].fork_parent].line_no, 2);
  EXPECT_EQ(t.all_branches[4].branch, "1.2");
  EXPECT_EQ(lines[t.all_branches[4].line].line_no, 5);
}

TEST(SessionsTree, ActiveBranchFollowsTheNewestLine) {
  // The user went back to the first branch and continued it.
  auto lines = Index({
      UserLine("u1", "", "start"),
      UserLine("u2", "u1", "branch A"),
      UserLine("u3", "u1", "branch B"),
      AssistantLine("a2", "u2", "m2", "r2", Text("A continues"), {}),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 2, 4}));
  ASSERT_EQ(t.forks.size(), 1u);
  EXPECT_EQ(lines[t.forks[0].active_child].line_no, 2);
}

TEST(SessionsTree, CompactionBoundaryIsCrossed) {
  auto lines = Index({
      UserLine("u1", "", "long work"),
      AssistantLine("a1", "u1", "m1", "r1", Text("done part 1"), {}),
      CompactBoundaryLine("c1", "a1"),
      CompactSummaryLine("cs", "c1"),
      UserLine("u2", "cs", "continue"),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(t.forks.empty());
  EXPECT_TRUE(t.orphans.empty());
}

TEST(SessionsTree, SidechainLinesStayOutOfTheMainTree) {
  auto lines = Index({
      UserLine("u1", "", "go"),
      AssistantLine("a1", "u1", "m1", "r1", ToolUseBlock("Task", {{"prompt", "look"}}), {}),
      UserLine("x1", "", "look", "2025-10-09T10:00:00.000Z", /*sidechain=*/true),
      AssistantLine("x2", "x1", "mx", "rx", Text("found"), {}, "m", "2025-10-09T10:00:01.000Z",
                    true),
      ToolResultLine("t1", "a1", "found"),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 2, 5}));
  // The same lines as a subagent file are a tree of their own.
  SessionTree sub = BuildSessionTree(lines, true);
  EXPECT_EQ(lines[sub.leaf].line_no, 5);
}

TEST(SessionsTree, DeadEndToolResultsAreInlineNotForks) {
  // Two parallel tool calls: the first call's result hangs off it as a leaf.
  auto lines = Index({
      UserLine("u1", "", "read both"),
      AssistantLine("a1", "u1", "m1", "r1", ToolUseBlock("Read", {{"file_path", "a"}}), {}),
      AssistantLine("a2", "a1", "m1", "r1", ToolUseBlock("Read", {{"file_path", "b"}}), {}),
      ToolResultLine("t1", "a1", "content a"),
      ToolResultLine("t2", "a2", "content b"),
      AssistantLine("a3", "t2", "m2", "r2", Text("both read"), {}),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_TRUE(t.forks.empty());
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 2, 3, 5, 6}));
  ASSERT_EQ(t.inline_results.size(), 1u);
  EXPECT_EQ(lines[t.inline_results[0].first].line_no, 2);
  EXPECT_EQ(LineNos(lines, t.inline_results[0].second), (std::vector<int64_t>{4}));
}

TEST(SessionsTree, MissingParentsAndMalformedLines) {
  auto lines = Index({
      UserLine("u1", "gone", "resumed from elsewhere"),
      "{broken",
      AssistantLine("a1", "u1", "m1", "r1", Text("ok"), {}),
  });
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(LineNos(lines, t.active), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(LineNos(lines, t.orphans), (std::vector<int64_t>{1}));
}

TEST(SessionsTree, EmptyAndCycles) {
  SessionTree empty = BuildSessionTree({}, false);
  EXPECT_TRUE(empty.active.empty());
  EXPECT_EQ(empty.leaf, SIZE_MAX);
  // A (corrupt) cycle must not hang the walk.
  auto lines = Index({UserLine("u1", "u2", "a"), UserLine("u2", "u1", "b")});
  SessionTree t = BuildSessionTree(lines, false);
  EXPECT_EQ(t.active.size(), 2u);
}

}  // namespace
}  // namespace ccfs
