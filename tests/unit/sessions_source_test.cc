// Refreshing a SessionIndex from a local directory and from a store
// (file:// backend): first read, nothing re-read when unchanged, only the
// appended bytes read when a transcript grew, whole re-read when rewritten,
// forgotten when deleted, partial last lines held back, malformed lines kept.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>

#include "scoped_env.h"
#include "sessions_test_util.h"
#include "store/objects/object_store.h"
#include "sync/sessions/session_feed.h"
#include "sync/sessions/session_source.h"
#include "sync_test_util.h"

namespace ccfs {
namespace {

using namespace ccfs::testing;
namespace fs = std::filesystem;

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::vector<std::string> Turn(const std::string& p, int64_t in) {
  return {UserLine(p + "u", "", "prompt " + p),
          AssistantLine(p + "a", p + "u", "msg_" + p, "req_" + p, TextBlock("reply " + p),
                        {in, 1, 0, 0})};
}

void WriteFile(const std::string& path, const std::string& data, bool append = false) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  f << data;
}

// Moves the mtime so that (size, mtime) changes even within one clock tick.
void Touch(const std::string& path, int seconds_later) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  struct timeval tv[2] = {{st.st_atim.tv_sec, 0}, {st.st_mtim.tv_sec + seconds_later, 0}};
  ASSERT_EQ(::utimes(path.c_str(), tv), 0);
}

int64_t Tokens(SessionIndex& index, const std::string& id) {
  auto s = index.GetSession(id);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? s->tokens.input : -1;
}

class SessionsDirSource : public ::testing::Test {
 protected:
  void SetUp() override {
    auto idx = SessionIndex::Open(":memory:");
    ASSERT_TRUE(idx.ok());
    index_ = std::move(idx).value();
  }
  RefreshStats Refresh() {
    RefreshStats st;
    Status s = RefreshFromDir(dir_.path(), *index_, RefreshOptions{}, &st);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return st;
  }
  std::string Abs(const std::string& rel) { return dir_ / rel; }

  TempDir dir_;
  std::unique_ptr<SessionIndex> index_;
};

TEST_F(SessionsDirSource, ReadsOnlyWhatChanged) {
  WriteFile(Abs(MainPath("s1")), Join(Turn("a", 10)));
  WriteFile(Abs(AgentPath("s1", "x")), Join(Turn("x", 5)));
  WriteFile(Abs(MainPath("s2")), Join(Turn("b", 100)));
  WriteFile(Abs("projects/" + std::string(kEnc) + "/notes.txt"), "not a transcript\n");
  WriteFile(Abs("history.jsonl"), "{}\n");

  RefreshStats st = Refresh();
  EXPECT_EQ(st.files, 3u);
  EXPECT_EQ(st.reread, 3u);
  EXPECT_EQ(Tokens(*index_, "s1"), 15);
  EXPECT_EQ(Tokens(*index_, "s2"), 100);

  st = Refresh();
  EXPECT_EQ(st.unchanged, 3u);
  EXPECT_EQ(st.bytes_read, 0u);

  // Appended: only the new bytes (and the tail check) are read.
  std::string more = Join(Turn("c", 1000));
  WriteFile(Abs(MainPath("s1")), more, /*append=*/true);
  Touch(Abs(MainPath("s1")), 5);
  uint64_t old_size = Join(Turn("a", 10)).size();
  st = Refresh();
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(st.unchanged, 2u);
  EXPECT_EQ(st.bytes_read, more.size() + std::min<uint64_t>(old_size, kTailHashBytes));
  EXPECT_EQ(Tokens(*index_, "s1"), 1015);
  auto next = index_->NextLineNumber(MainPath("s1"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), 5);

  // Rewritten in place (same length, other bytes near the top): read whole.
  std::string rewritten = Join(Turn("a", 70)) + Join(Turn("c", 2000));
  ASSERT_EQ(rewritten.size(), fs::file_size(Abs(MainPath("s1"))));
  WriteFile(Abs(MainPath("s1")), rewritten);
  Touch(Abs(MainPath("s1")), 10);
  st = Refresh();
  EXPECT_EQ(st.reread, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 70 + 2000 + 5);

  // Deleted: forgotten.
  fs::remove(Abs(MainPath("s2")));
  st = Refresh();
  EXPECT_EQ(st.forgotten, 1u);
  EXPECT_TRUE(index_->GetSession("s2").status().IsNotFound());
}

TEST_F(SessionsDirSource, PartialLastLineWaitsForItsNewline) {
  std::string first = Join(Turn("a", 10));
  std::string second = AssistantLine("z", "au", "msg_z", "req_z", TextBlock("late"), {50, 0, 0, 0});
  WriteFile(Abs(MainPath("s1")), first + second.substr(0, 20));
  Refresh();
  EXPECT_EQ(Tokens(*index_, "s1"), 10);
  std::vector<MalformedLine> bad;
  ASSERT_TRUE(index_->ListMalformed(&bad).ok());
  EXPECT_TRUE(bad.empty());  // not indexed at all, so not malformed either

  WriteFile(Abs(MainPath("s1")), second.substr(20) + "\n", /*append=*/true);
  Touch(Abs(MainPath("s1")), 3);
  RefreshStats st = Refresh();
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 60);
}

TEST_F(SessionsDirSource, MalformedLinesAreSkippedAndReported) {
  auto lines = Turn("a", 10);
  lines.insert(lines.begin() + 1, "{\"type\":\"user\",\"message\":{\"content\":\"cut");
  auto more = Turn("b", 20);
  lines.insert(lines.end(), more.begin(), more.end());
  WriteFile(Abs(MainPath("s1")), Join(lines));
  Refresh();
  EXPECT_EQ(Tokens(*index_, "s1"), 30);
  std::vector<MalformedLine> bad;
  ASSERT_TRUE(index_->ListMalformed(&bad).ok());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].rel_path, MainPath("s1"));
  EXPECT_EQ(bad[0].line_no, 2);
}

TEST_F(SessionsDirSource, LargeFileSpansBatches) {
  // More than one TranscriptFeed batch: line numbers stay continuous.
  std::string data;
  int64_t expected = 0;
  std::string pad(2000, 'p');
  int n = static_cast<int>(TranscriptFeed::kBatchBytes / 2000) + 50;
  for (int i = 0; i < n; ++i) {
    std::string id = std::to_string(i);
    data += AssistantLine("a" + id, i ? "a" + std::to_string(i - 1) : "", "m" + id, "r" + id,
                          TextBlock(pad), {1, 0, 0, 0}) +
            "\n";
    ++expected;
  }
  WriteFile(Abs(MainPath("big")), data);
  Refresh();
  EXPECT_EQ(Tokens(*index_, "big"), expected);
  auto next = index_->NextLineNumber(MainPath("big"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), n + 1);
}

TEST_F(SessionsDirSource, OneLocalFileAsTheMountFeedsIt) {
  // The mount's cache copy lives elsewhere under another name.
  std::string cache = dir_ / "cache-content-17";
  WriteFile(cache, Join(Turn("a", 10)));
  RefreshStats st;
  ASSERT_TRUE(RefreshLocalFile(*index_, MainPath("s1"), cache, &st).ok());
  EXPECT_EQ(st.reread, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 10);
  ASSERT_TRUE(RefreshLocalFile(*index_, MainPath("s1"), cache, &st).ok());
  EXPECT_EQ(st.unchanged, 1u);
  WriteFile(cache, Join(Turn("b", 5)), /*append=*/true);
  Touch(cache, 2);
  ASSERT_TRUE(RefreshLocalFile(*index_, MainPath("s1"), cache, &st).ok());
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 15);
  ::unlink(cache.c_str());
  ASSERT_TRUE(RefreshLocalFile(*index_, MainPath("s1"), cache, &st).ok());
  EXPECT_EQ(st.forgotten, 1u);
  EXPECT_TRUE(index_->GetSession("s1").status().IsNotFound());
  EXPECT_TRUE(RefreshLocalFile(*index_, "settings.json", cache, &st).IsInvalidArgument());
}

TEST_F(SessionsDirSource, NoProjectsFolderMeansNoSessions) {
  RefreshStats st = Refresh();
  EXPECT_EQ(st.files, 0u);
  std::vector<SessionSummary> out;
  ASSERT_TRUE(index_->ListSessions({}, &out).ok());
  EXPECT_TRUE(out.empty());
}

class SessionsStoreSource : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenStore("file://" + (dir_ / "bucket"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto idx = SessionIndex::Open(dir_ / "index.db");
    ASSERT_TRUE(idx.ok());
    index_ = std::move(idx).value();
  }
  void Put(const std::string& rel, const std::string& body) {
    ASSERT_TRUE(store_->PutBytes("ws/" + rel, body, PutOptions{}, nullptr).ok());
  }
  RefreshStats Refresh() {
    RefreshStats st;
    Status s = RefreshFromStore(*store_, "ws", *index_, RefreshOptions{}, &st);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return st;
  }

  TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<SessionIndex> index_;
};

TEST_F(SessionsStoreSource, ReadsOnlyWhatChanged) {
  std::string a = Join(Turn("a", 10));
  Put(MainPath("s1"), a);
  Put(AgentPath("s1", "x"), Join(Turn("x", 5)));
  Put(MainPath("s2"), Join(Turn("b", 100)));
  Put("claude-home.tar.gz", "not read");
  Put("projects/" + std::string(kEnc) + "/memory/notes.jsonl", "{}\n");  // not a session path

  RefreshStats st = Refresh();
  EXPECT_EQ(st.files, 3u);
  EXPECT_EQ(st.reread, 3u);
  EXPECT_EQ(Tokens(*index_, "s1"), 15);

  uint64_t requests = store_->stats().requests.load();
  st = Refresh();
  EXPECT_EQ(st.unchanged, 3u);
  EXPECT_EQ(st.bytes_read, 0u);
  // The root (a v1 workspace has none: one 404) and the LIST only.
  EXPECT_EQ(store_->stats().requests.load() - requests, 2u);

  // Appended: a ranged GET of the tail check plus the new bytes.
  std::string more = Join(Turn("c", 1000));
  Put(MainPath("s1"), a + more);
  st = Refresh();
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(st.bytes_read, more.size() + a.size());  // a is shorter than the tail window
  EXPECT_EQ(Tokens(*index_, "s1"), 1015);

  // Rewritten with a different prefix: the tail check fails, read whole.
  std::string other = Join(Turn("d", 7)) + Join(Turn("e", 9)) + Join(Turn("f", 11));
  Put(MainPath("s1"), other);
  st = Refresh();
  EXPECT_EQ(st.reread, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 7 + 9 + 11 + 5);

  ASSERT_TRUE(store_->Delete("ws/" + AgentPath("s1", "x")).ok());
  st = Refresh();
  EXPECT_EQ(st.forgotten, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 27);
  EXPECT_EQ(index_->GetSession("s1")->subagents, 0);
}

TEST_F(SessionsStoreSource, EmptyAndUnterminatedObjects) {
  std::string line = UserLine("u1", "", "hello");
  Put(MainPath("s1"), line);  // no '\n' yet: nothing complete to index
  Put(AgentPath("s1", "x"), "");
  RefreshStats st = Refresh();
  EXPECT_EQ(st.reread, 2u);
  auto s = index_->GetSession("s1");
  ASSERT_TRUE(s.ok()) << s.status().ToString();  // known by its files
  EXPECT_EQ(s->lines, 0);
  EXPECT_EQ(s->subagents, 1);
  Put(MainPath("s1"), line + "\n");
  st = Refresh();
  EXPECT_EQ(st.reread, 1u);
  EXPECT_EQ(st.unchanged, 1u);
  EXPECT_EQ(index_->GetSession("s1")->lines, 1);
  EXPECT_EQ(index_->GetSession("s1")->title, "hello");
}

TEST_F(SessionsStoreSource, WarmIndexSurvivesReopen) {
  Put(MainPath("s1"), Join(Turn("a", 10)));
  Refresh();
  index_.reset();
  auto idx = SessionIndex::Open(dir_ / "index.db");
  ASSERT_TRUE(idx.ok());
  index_ = std::move(idx).value();
  RefreshStats st = Refresh();
  EXPECT_EQ(st.unchanged, 1u);
  EXPECT_EQ(Tokens(*index_, "s1"), 10);
}

TEST_F(SessionsStoreSource, BadWorkspaceName) {
  RefreshStats st;
  EXPECT_TRUE(RefreshFromStore(*store_, "../x", *index_, {}, &st).IsInvalidArgument());
}

TEST(SessionsCachePaths, PerStoreAndWorkspace) {
  ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
  std::string a = StoreIndexPath("s3://b/p", "ws42");
  EXPECT_EQ(a.rfind("/xdg/ccfs/sessions/", 0), 0u) << a;
  EXPECT_EQ(a.substr(a.size() - 8), "/ws42.db");
  EXPECT_NE(a, StoreIndexPath("s3://b/q", "ws42"));
  EXPECT_NE(a, StoreIndexPath("s3://b/p", "ws43"));
  EXPECT_EQ(DirIndexPath("/home/u/.claude").rfind("/xdg/ccfs/sessions/dir-", 0), 0u);
  ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/u");
  EXPECT_EQ(SessionCacheRoot(), "/home/u/.cache/ccfs/sessions");
}

TEST(SessionsCachePaths, OpenCachedIndexMakesPrivateDirsAndReplacesJunk) {
  TempDir dir;
  std::string db = dir / "a/b/ws.db";
  {
    auto idx = OpenCachedIndex(db);
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  }
  struct stat st;
  ASSERT_EQ(::stat((dir / "a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);    // it holds transcript text
  WriteFile(db, std::string(8192, 'j'));  // not a database
  ::unlink((db + "-wal").c_str());
  ::unlink((db + "-shm").c_str());
  auto idx = OpenCachedIndex(db);
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  std::vector<SessionSummary> out;
  EXPECT_TRUE(idx.value()->ListSessions({}, &out).ok());
}

}  // namespace
}  // namespace ccfs
