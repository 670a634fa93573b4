// The sidecar's building blocks on their own: transcript paths, reading
// complete lines, GitHub URLs, line facts, chunk bodies, backoff, progress DB.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "sync/client/backoff.h"
#include "sync/client/chunk_builder.h"
#include "sync/client/progress_db.h"
#include "sync/client/sync_status.h"
#include "sync/common/github_url.h"
#include "sync/common/line_facts.h"
#include "sync/common/sync_common.h"
#include "sync/common/transcript_file.h"
#include "sync_test_util.h"

namespace ccfs {
namespace {

using nlohmann::json;
using testing::TempDir;

TEST(TranscriptPath, SessionsAndSubagents) {
  auto t = ParseTranscriptPath("projects/-home-u-app/abc-123.jsonl");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->external_id, "abc-123");
  EXPECT_EQ(t->file_name, "abc-123.jsonl");
  EXPECT_EQ(t->file_type, "transcript");
  EXPECT_EQ(t->transcript_path, "projects/-home-u-app/abc-123.jsonl");

  auto a = ParseTranscriptPath("projects/-home-u-app/abc-123/subagents/agent-7f.jsonl");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->external_id, "abc-123");
  EXPECT_EQ(a->file_name, "agent-7f.jsonl");
  EXPECT_EQ(a->file_type, "agent");
  EXPECT_EQ(a->transcript_path, "projects/-home-u-app/abc-123.jsonl");

  for (const char* bad :
       {"settings.json", "projects/x.jsonl", "projects/p/s.json", "projects/p/s/other/a.jsonl",
        "projects/p/../s.jsonl", "projects//s.jsonl", "projects/p/.jsonl", "todos/p/s.jsonl"}) {
    EXPECT_FALSE(ParseTranscriptPath(bad)) << bad;
  }
}

TEST(TranscriptFile, ReadsOnlyCompleteLines) {
  TempDir dir;
  std::string path = dir / "t.jsonl";
  testing::AppendToFile(path, "one\ntwo\n\nfour\npart");
  LineBatch b;
  ASSERT_TRUE(ReadCompleteLines(path, 0, 1 << 20, 100, &b).ok());
  EXPECT_EQ(b.lines, (std::vector<std::string>{"one", "two", "", "four"}));
  EXPECT_EQ(b.end_offsets, (std::vector<uint64_t>{4, 8, 9, 14}));
  ASSERT_TRUE(ReadCompleteLines(path, 8, 1 << 20, 100, &b).ok());
  EXPECT_EQ(b.lines, (std::vector<std::string>{"", "four"}));
  // Limits: by count, and by bytes (at least one line, however long).
  ASSERT_TRUE(ReadCompleteLines(path, 0, 1 << 20, 2, &b).ok());
  EXPECT_EQ(b.lines.size(), 2u);
  ASSERT_TRUE(ReadCompleteLines(path, 0, 1, 100, &b).ok());
  EXPECT_EQ(b.lines, (std::vector<std::string>{"one"}));
  ASSERT_TRUE(ReadCompleteLines(path, 14, 1 << 20, 100, &b).ok());
  EXPECT_TRUE(b.lines.empty());

  int64_t n = 0;
  uint64_t end = 0;
  ASSERT_TRUE(ScanCompleteLines(path, 0, -1, &n, &end).ok());
  EXPECT_EQ(n, 4);
  EXPECT_EQ(end, 14u);
  ASSERT_TRUE(ScanCompleteLines(path, 4, 2, &n, &end).ok());
  EXPECT_EQ(n, 2);
  EXPECT_EQ(end, 9u);
  EXPECT_TRUE(ReadCompleteLines(dir / "missing", 0, 10, 10, &b).IsNotFound());

  // A line spanning many read blocks.
  std::string big(700 * 1024, 'x');
  testing::AppendToFile(path, big + "\nnext\n");
  ASSERT_TRUE(ReadCompleteLines(path, 14, 10, 100, &b).ok());
  ASSERT_EQ(b.lines.size(), 1u);
  EXPECT_EQ(b.lines[0], "part" + big);
}

TEST(GitHubUrls, FindsCommitsAndPullRequests) {
  auto urls = FindGitHubUrls(
      "see https://github.com/acme/app/commit/ABCDEF1234567 and "
      "http://www.github.com/a-b/c.d_e/pull/12#issuecomment-1, "
      "https://github.com/acme/app/pull/12x, "
      "https://github.com/acme/app/issues/3, github.com/acme/app/pull/5, "
      "https://github.com/acme/app/commit/abcdef1234567");
  EXPECT_EQ(urls, (std::vector<std::string>{"https://github.com/acme/app/commit/abcdef1234567",
                                            "https://github.com/a-b/c.d_e/pull/12"}));
  auto ref = ParseGitHubUrl("https://github.com/acme/app/pull/42/files");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->link_type, "pull_request");
  EXPECT_EQ(ref->owner, "acme");
  EXPECT_EQ(ref->repo, "app");
  EXPECT_EQ(ref->ref, "42");
  EXPECT_FALSE(ParseGitHubUrl("https://gitlab.com/acme/app/commit/abcdef1"));
  EXPECT_FALSE(ParseGitHubUrl("https://github.com/acme/app/commit/abc"));
}

TEST(LineFacts, PromptsSummariesAndLocation) {
  LineFactsWanted all{.location = true, .user_prompt = true};
  auto f = ExtractLineFacts(
      R"({"type":"user","cwd":"/w","gitBranch":"main","message":{"role":"user","content":[{"type":"text","text":"Do it"}]}})",
      all);
  EXPECT_EQ(f.cwd, "/w");
  EXPECT_EQ(f.git_branch, "main");
  ASSERT_TRUE(f.user_prompt);
  EXPECT_EQ(*f.user_prompt, "Do it");
  // Tool results, meta lines and slash-command plumbing are not prompts.
  EXPECT_FALSE(
      ExtractLineFacts(
          R"({"type":"user","message":{"content":[{"type":"tool_result","content":"x"}]}})", all)
          .user_prompt);
  EXPECT_FALSE(
      ExtractLineFacts(R"({"type":"user","isMeta":true,"message":{"content":"Caveat"}})", all)
          .user_prompt);
  EXPECT_FALSE(
      ExtractLineFacts(
          R"({"type":"user","message":{"content":"<command-name>/clear</command-name>"}})", all)
          .user_prompt);
  auto s = ExtractLineFacts(R"({"type":"summary","summary":"Fixed login","leafUuid":"u"})", {});
  ASSERT_TRUE(s.summary);
  EXPECT_EQ(*s.summary, "Fixed login");
  EXPECT_FALSE(ExtractLineFacts(R"({"type":"user","summary":"x"})", {}).summary);
  EXPECT_EQ(TruncateUtf8("h\xc3\xa9llo", 2), "h");  // never splits the é
}

TEST(ChunkBody, ValidJsonWithinBudget) {
  std::vector<std::string> lines = {"{\"a\":1}", "quote \" and \\ and \n", std::string(100, 'x'),
                                    "bad utf8 \xff end"};
  std::vector<std::string> encoded;
  EXPECT_EQ(EncodeLinesWithin(lines, 1 << 20, &encoded), 4u);
  EXPECT_EQ(EncodeLinesWithin(lines, 40, &encoded), 2u);
  EXPECT_EQ(EncodeLinesWithin(lines, 1, &encoded), 1u);  // the first always goes
  EncodeLinesWithin(lines, 1 << 20, &encoded);
  ChunkEnvelope env{"ses_1", "s.jsonl", "transcript", 41, {{"summary", "S"}}};
  json body = json::parse(BuildChunkBody(env, encoded, 3));
  EXPECT_EQ(body["session_id"], "ses_1");
  EXPECT_EQ(body["first_line"], 41);
  EXPECT_EQ(body["metadata"]["summary"], "S");
  ASSERT_EQ(body["lines"].size(), 3u);
  EXPECT_EQ(body["lines"][1], lines[1]);
  env.metadata = json::object();
  body = json::parse(BuildChunkBody(env, encoded, 4));
  EXPECT_FALSE(body.contains("metadata"));
  EXPECT_EQ(body["lines"][3], "bad utf8 \xef\xbf\xbd end");
}

// The retry schedule runs on a fake clock: time is an argument, so hours of
// backoff take no time here. The jitter's seed is printed to replay a failure.
class SyncRetryScheduleTest : public ::testing::Test {
 protected:
  using ms = std::chrono::milliseconds;
  using Clock = SyncRetrySchedule::Clock;
  void SetUp() override {
    seed_ = std::random_device{}();
    std::printf("SyncRetrySchedule seed %llu\n", static_cast<unsigned long long>(seed_));
  }
  uint64_t seed_ = 0;
  Clock::time_point t0_ = Clock::time_point() + std::chrono::hours(1);
};

TEST_F(SyncRetryScheduleTest, GrowsWithJitterUpToCapAndResetsOnSuccess) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  SyncRetrySchedule s(ms(100), ms(1000), seed_);
  EXPECT_TRUE(s.Due("a", t0_));
  ms d = s.Failed("a", t0_);
  EXPECT_GE(d.count(), 50);
  EXPECT_LE(d.count(), 100);
  EXPECT_FALSE(s.Due("a", t0_));
  EXPECT_FALSE(s.Due("a", t0_ + d - ms(1)));
  EXPECT_TRUE(s.Due("a", t0_ + d));
  d = s.Failed("a", t0_);
  EXPECT_GE(d.count(), 100);
  EXPECT_LE(d.count(), 200);
  for (int i = 0; i < 20; ++i) d = s.Failed("a", t0_);
  EXPECT_GE(d.count(), 500);
  EXPECT_LE(d.count(), 1000);
  EXPECT_EQ(s.failures("a"), 22);
  EXPECT_TRUE(s.BackingOff());
  s.Succeeded("a", t0_);
  EXPECT_FALSE(s.BackingOff());
  EXPECT_TRUE(s.Due("a", t0_));
  EXPECT_LE(s.Failed("a", t0_).count(), 100);  // back to the initial delay
}

// The bug of issue 14: one failing file must not hold back the others. A
// success resets the key that got through and brings the others' next try
// near, but a key that keeps failing keeps its count.
TEST_F(SyncRetryScheduleTest, EachKeyBacksOffOnItsOwn) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  SyncRetrySchedule s(ms(500), ms(60000), seed_);
  for (int i = 0; i < 10; ++i) s.Failed("bad", t0_);  // at its 60 s cap now
  EXPECT_GE(s.NextDue("bad") - t0_, ms(30000));
  EXPECT_TRUE(s.Due("good", t0_));  // never failed: due at once
  s.Failed("good", t0_);
  EXPECT_LE(s.NextDue("good") - t0_, ms(500));  // its own first failure, not bad's tenth
  EXPECT_GE(s.NextDue("bad") - t0_, ms(30000));
  s.Forget("good");  // no longer pending, the server said nothing: bad still waits
  EXPECT_GE(s.NextDue("bad") - t0_, ms(30000));
  s.Failed("good", t0_);
  s.Succeeded("good", t0_ + ms(1000));  // the server answers again
  EXPECT_TRUE(s.Due("good", t0_ + ms(1000)));
  EXPECT_LE(s.NextDue("bad"), t0_ + ms(1500));  // tried again soon...
  EXPECT_EQ(s.failures("bad"), 10);
  EXPECT_GE(s.Failed("bad", t0_ + ms(1500)), ms(30000));  // ...but its count stands
}

// 15% of requests failing at random, each key retried when due: the delays
// stay near the initial one (what made the old per-pass reset reach 60 s).
TEST_F(SyncRetryScheduleTest, SteadyFaultRateKeepsDelaysShort) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::mt19937_64 rng(seed_);
  std::bernoulli_distribution fails(0.15);
  SyncRetrySchedule s(ms(500), ms(60000), seed_);
  Clock::time_point now = t0_;
  ms total(0);
  int sent = 0, failed = 0, long_waits = 0;
  for (int step = 0; step < 5000; ++step) {
    for (int k = 0; k < 20; ++k) {
      const std::string key = "file-" + std::to_string(k);
      if (!s.Due(key, now)) continue;
      ++sent;
      if (fails(rng)) {
        ++failed;
        ms d = s.Failed(key, now);
        total += d;
        if (d > ms(8000)) ++long_waits;
      } else {
        s.Succeeded(key, now);
      }
    }
    now += ms(10);
  }
  ASSERT_GT(failed, 100);
  // Mostly first failures (250-500 ms); the old per-pass reset sat at 30-60 s.
  EXPECT_LT(total.count() / failed, 1000);
  // Over 8 s takes five failures in a row of one key (0.15^4 after a first).
  EXPECT_LT(long_waits, failed / 100);
  EXPECT_GT(sent, 5000 * 20 / 20);  // keys stay in play (about 15% of the slots)
}

TEST_F(SyncRetryScheduleTest, RetryAfterHoldsEveryKeyButIsBounded) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  SyncRetrySchedule s(ms(100), ms(1000), seed_);
  s.HoldAll(t0_, ms(5000), ms(300000));
  EXPECT_FALSE(s.Due("never-failed", t0_ + ms(4999)));
  EXPECT_TRUE(s.Due("never-failed", t0_ + ms(5000)));
  // A server asking for an hour gets the bound.
  s.HoldAll(t0_, std::chrono::hours(1), ms(60000));
  EXPECT_EQ(s.NextDue("x"), t0_ + ms(60000));
  // A shorter Retry-After never shortens a hold already given.
  s.HoldAll(t0_, ms(10), ms(60000));
  EXPECT_EQ(s.NextDue("x"), t0_ + ms(60000));
  // A Retry-After for one key only: that key waits at least that long.
  EXPECT_EQ(s.Failed("b", t0_ + ms(60000), ms(1000), ms(5000)), ms(5000));
  EXPECT_EQ(s.NextDue("b"), t0_ + ms(65000));
  // A key's own backoff counts when it ends later than the hold.
  s.Failed("a", t0_ + ms(60000));
  EXPECT_GT(s.NextDue("a"), t0_ + ms(60000));
}

TEST_F(SyncRetryScheduleTest, HurryForADrainAndItsCap) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  SyncRetrySchedule s(ms(500), ms(60000), seed_);
  for (int i = 0; i < 10; ++i) s.Failed("a", t0_);
  s.HoldAll(t0_, ms(30000), ms(300000));
  const Clock::time_point drain = t0_ + ms(100);
  s.Hurry(drain, ms(2000));
  EXPECT_EQ(s.NextDue("a"), drain + ms(2000));  // the hold, bounded; a's backoff forgotten
  EXPECT_EQ(s.failures("a"), 10);
  // During the drain a failure waits at most the drain's cap.
  EXPECT_LE(s.Failed("a", drain, ms(1000)), ms(1000));
}

TEST(ProgressDbTest, AcksAndOutboxSurviveReopen) {
  TempDir dir;
  {
    auto db = ProgressDb::Open(dir / "p.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    FileProgress f{"projects/p/s.jsonl", 120, 3, 3, true, false};
    ASSERT_TRUE((*db)
                    ->CommitAck(f, "s", std::string("Sum"),
                                {"https://github.com/a/b/pull/1", "https://github.com/a/b/pull/2"})
                    .ok());
    f.offset = 200;
    f.offset_line = f.acked_line = 5;
    ASSERT_TRUE((*db)->CommitAck(f, "s", std::nullopt, {"https://github.com/a/b/pull/1"}).ok());
  }
  auto db = ProgressDb::Open(dir / "p.db");
  ASSERT_TRUE(db.ok());
  auto files = (*db)->LoadFiles();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].offset, 200u);
  EXPECT_EQ((*files)[0].acked_line, 5);
  EXPECT_TRUE((*files)[0].first_chunk_sent);
  auto outbox = (*db)->LoadOutbox();
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 3u);  // summary + two URLs, the repeated URL not queued again
  EXPECT_EQ((*outbox)[0].kind, "summary");
  ASSERT_TRUE((*db)->RemoveOutbox((*outbox)[0].id).ok());
  EXPECT_EQ((*db)->LoadOutbox()->size(), 2u);
}

TEST(SyncToken, FromFileElseEnvironment) {
  TempDir dir;
  testing::AppendToFile(dir / "tok", "  s3cr3t-token\n");
  auto t = ResolveSyncToken(dir / "tok");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "s3cr3t-token");
  EXPECT_FALSE(ResolveSyncToken(dir / "missing").ok());
  testing::AppendToFile(dir / "empty", " \n");
  EXPECT_TRUE(ResolveSyncToken(dir / "empty").status().IsInvalidArgument());

  const char* saved = std::getenv("CCFS_SYNC_TOKEN");
  std::string saved_value = saved ? saved : "";
  setenv("CCFS_SYNC_TOKEN", "from-env", 1);
  t = ResolveSyncToken("");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "from-env");
  unsetenv("CCFS_SYNC_TOKEN");
  t = ResolveSyncToken("");
  EXPECT_TRUE(t.status().IsInvalidArgument());
  EXPECT_EQ(t.status().message().find("from-env"), std::string::npos);
  if (saved != nullptr) setenv("CCFS_SYNC_TOKEN", saved_value.c_str(), 1);
}

TEST(SyncStatusText, DescribesStateAndFiles) {
  SyncStatus s;
  s.state = SyncState::kStoppedUnauthorized;
  s.last_error = "HTTP 401";
  s.files = {{"projects/p/s.jsonl", 10, 7}};
  s.pending_lines = 3;
  std::string text = DescribeSyncStatus(s);
  EXPECT_NE(text.find("stopped: unauthorized"), std::string::npos);
  EXPECT_NE(text.find("7/10 lines synced"), std::string::npos);
  EXPECT_EQ(SyncStatusToJson(s)["files"][0]["lines_acked"], 7);
}

}  // namespace
}  // namespace ccfs
