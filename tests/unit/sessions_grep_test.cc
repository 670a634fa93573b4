// `sessions grep` matching and snippets, and the show/ls renderers on a
// small hand-written session.
#include <gtest/gtest.h>

#include <sstream>

#include "sessions_test_util.h"
#include "sync/sessions/session_grep.h"
#include "sync/sessions/session_render.h"
#include "sync/sessions/session_tree.h"

namespace ccfs {
namespace {

using namespace ccfs::testing;

std::unique_ptr<TextMatcher> Matcher(const std::string& p, bool fixed = false, bool icase = false) {
  auto m = TextMatcher::Create(p, fixed, icase);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(SessionsGrep, RegexAndFixedMatching) {
  size_t b, e;
  EXPECT_TRUE(Matcher("lea(se|k)")->Find("a lease here", &b, &e));
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(e, 7u);
  EXPECT_FALSE(Matcher("LEASE")->Find("a lease", &b, &e));
  EXPECT_TRUE(Matcher("LEASE", false, true)->Find("a lease", &b, &e));
  EXPECT_TRUE(Matcher("a.b", true)->Find("xa.b", &b, &e));
  EXPECT_FALSE(Matcher("a.b", true)->Find("axb", &b, &e));
  EXPECT_TRUE(Matcher("A.B", true, true)->Find("xa.b", &b, &e));
  // Anchors work per line; '.' does not cross lines.
  EXPECT_TRUE(Matcher("^two$")->Find("one\ntwo\nthree", &b, &e));
  EXPECT_FALSE(Matcher("one.two")->Find("one\ntwo", &b, &e));
  EXPECT_EQ(Matcher("o")->CountMatchingLines("one\ntwo\nthree\nfour"), 3);
  EXPECT_TRUE(TextMatcher::Create("(", false, false).status().IsInvalidArgument());
  EXPECT_TRUE(TextMatcher::Create("", false, false).status().IsInvalidArgument());
}

TEST(SessionsGrep, SnippetIsTheMatchingLineCutAroundTheMatch) {
  std::string text =
      "first line\n" + std::string(300, 'x') + "NEEDLE" + std::string(300, 'y') + "\nlast line";
  size_t b = text.find("NEEDLE");
  std::string s = SnippetAround(text, b, b + 6, 60);
  EXPECT_NE(s.find("NEEDLE"), std::string::npos);
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_LE(s.size(), 60u + 2 * std::string("…").size());
  EXPECT_EQ(s.rfind("…", 0), 0u);
  EXPECT_EQ(SnippetAround("short\nline two", 6, 10, 60), "line two");
  // Never splits a UTF-8 sequence.
  std::string utf = std::string(100, 'a') + "éééééé" + "MATCH" + "éééééé" + std::string(100, 'b');
  size_t m = utf.find("MATCH");
  std::string cut = SnippetAround(utf, m, m + 5, 20);
  EXPECT_EQ(cut.find("MATCH") != std::string::npos, true);
  for (size_t i = 0; i + 1 < cut.size(); ++i) {
    // No lone continuation byte right after an ASCII byte.
    if ((static_cast<unsigned char>(cut[i]) & 0x80) == 0) {
      EXPECT_NE(static_cast<unsigned char>(cut[i + 1]) & 0xC0, 0x80) << cut;
    }
  }
}

class SessionsRender : public ::testing::Test {
 protected:
  void SetUp() override {
    auto idx = SessionIndex::Open(":memory:");
    ASSERT_TRUE(idx.ok());
    index_ = std::move(idx).value();
    std::vector<std::string> lines = {
        SummaryLine("Fix the lease race", "a2"),
        UserLine("u1", "", "why does the lease expire early?"),
        AssistantLine("a1", "u1", "m1", "r1", ThinkingBlock("hmm"), {1, 2, 3, 4}),
        AssistantLine("a2", "a1", "m1", "r1", TextBlock("Let me look."), {1, 2, 3, 4}),
        AssistantLine("a3", "a2", "m1", "r1",
                      ToolUseBlock("Read", {{"file_path", "/src/lease.cc"}}), {1, 2, 3, 4}),
        ToolResultLine("t1", "a3", "int Renew() {\n  return ttl / 2;\n}"),
        UserLine("u2", "t1", "abandoned question"),
        UserLine("u3", "t1", "the real question"),
        "not json",
    };
    ASSERT_TRUE(index_->AddLines(MainPath("s1"), 1, Views(lines)).ok());
    auto s = index_->GetSession("s1");
    ASSERT_TRUE(s.ok());
    data_.listed.session = s.value();
    ASSERT_TRUE(index_->ListSessionFiles("s1", &data_.files).ok());
    data_.shown_path = MainPath("s1");
    ASSERT_TRUE(index_->ReadLines(data_.shown_path, &data_.lines).ok());
    data_.tree = BuildSessionTree(data_.lines, false);
  }
  std::unique_ptr<SessionIndex> index_;
  ShowData data_;
};

TEST_F(SessionsRender, ShowText) {
  std::ostringstream out;
  PrintShow(data_, ShowOptions{}, out);
  std::string text = out.str();
  EXPECT_NE(text.find("Title      Fix the lease race"), std::string::npos) << text;
  EXPECT_NE(text.find("→ Read(/src/lease.cc)"), std::string::npos) << text;
  EXPECT_NE(text.find("(thinking)"), std::string::npos);
  EXPECT_NE(text.find("⎿ int Renew() {  (3 lines"), std::string::npos) << text;
  // The three block lines of message m1 share one header.
  EXPECT_NE(text.find("[3] "), std::string::npos);
  EXPECT_EQ(text.find("[4] "), std::string::npos) << text;
  EXPECT_NE(text.find("── forks ──"), std::string::npos);
  EXPECT_NE(text.find("  * line 8  user: the real question  (active)"), std::string::npos) << text;
  EXPECT_NE(text.find("    line 7  user: abandoned question"), std::string::npos) << text;
  EXPECT_EQ(text.find("abandoned question\n[", text.find("── active")), std::string::npos);
  EXPECT_NE(text.find(MainPath("s1") + ":9: "), std::string::npos) << text;  // malformed
}

TEST_F(SessionsRender, ShowJsonAndAllBranches) {
  ShowOptions all;
  all.all_branches = true;
  auto j = nlohmann::json::parse(ShowJson(data_, all));
  EXPECT_EQ(j["branches"], "all");
  EXPECT_EQ(j["lines"].size(), 7u);  // every message line once
  EXPECT_EQ(j["forks"][0]["line"], 6);
  EXPECT_EQ(j["malformed"][0]["line"], 9);
  auto active = nlohmann::json::parse(ShowJson(data_, ShowOptions{}));
  std::vector<int> lines;
  for (const auto& l : active["lines"]) lines.push_back(l["line"]);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 4, 5, 6, 8}));
  EXPECT_EQ(active["lines"][3]["tool_uses"][0], "→ Read(/src/lease.cc)");
  EXPECT_EQ(active["session"]["tokens"]["total"], 10);
}

TEST_F(SessionsRender, LsTableAndJson) {
  std::vector<ListedSession> list = {data_.listed};
  std::ostringstream out;
  PrintSessionTable(list, false, out);
  EXPECT_NE(out.str().find("s1 "), std::string::npos);
  EXPECT_NE(out.str().find("Fix the lease race"), std::string::npos);
  auto j = nlohmann::json::parse(SessionsJson(list));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["session_id"], "s1");
  EXPECT_EQ(j[0]["malformed_lines"], 1);
  EXPECT_FALSE(j[0].contains("workspace"));
  EXPECT_EQ(HumanCount(999), "999");
  EXPECT_EQ(HumanCount(1500), "1.5k");
  EXPECT_EQ(HumanCount(2500000), "2.5M");
}

TEST_F(SessionsRender, GrepRolesAndSnippets) {
  std::vector<GrepHit> hits;
  auto collect = [&](const GrepHit& h) { hits.push_back(h); };
  GrepOptions opts;
  ASSERT_TRUE(GrepSessions(*index_, *Matcher("lease"), opts, collect).ok());
  ASSERT_EQ(hits.size(), 2u);  // the prompt, and the tool call's path
  EXPECT_EQ(hits[0].line_no, 2);
  EXPECT_EQ(hits[0].role, LineRole::kUser);
  EXPECT_EQ(hits[1].line_no, 5);
  EXPECT_EQ(hits[1].snippet, "→ Read(/src/lease.cc)");
  hits.clear();
  opts.roles = {LineRole::kToolResult};
  ASSERT_TRUE(GrepSessions(*index_, *Matcher("ttl"), opts, collect).ok());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, "  return ttl / 2;");
  hits.clear();
  opts.roles = {LineRole::kUser};
  ASSERT_TRUE(GrepSessions(*index_, *Matcher("ttl"), opts, collect).ok());
  EXPECT_TRUE(hits.empty());
}

}  // namespace
}  // namespace ccfs
