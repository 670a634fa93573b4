// What only the file:// backend promises (the bucket is a plain directory,
// locking across threads and processes), and the FaultStore decorator. The
// behaviour both backends share is in store_conformance_test.cc.
#include "store/objects/file_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store/objects/fault_store.h"
#include "store/objects/object_store.h"

namespace ccfs {
namespace {

namespace fs = std::filesystem;

PutOptions CreateOnly() {
  PutOptions o;
  o.if_none_match_any = true;
  return o;
}
PutOptions PutIfMatch(const std::string& etag) {
  PutOptions o;
  o.if_match = etag;
  return o;
}
ListOptions Listing(const std::string& prefix, const std::string& delimiter = "") {
  ListOptions o;
  o.prefix = prefix;
  o.delimiter = delimiter;
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ccfs-file-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ + "/store/root";
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  std::unique_ptr<ObjectStore> Open() {
    auto r = OpenFileStore(root_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::string Get(const std::string& key, ObjectInfo* info = nullptr) {
    std::string out;
    Status s = GetToString(*store_, key, {}, &out, info);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  std::vector<std::string> AllKeys() {
    ListResult r;
    EXPECT_TRUE(store_->List({}, &r).ok());
    std::vector<std::string> keys;
    for (const auto& o : r.objects) keys.push_back(o.key);
    return keys;
  }

  std::string tmp_;
  std::string root_;
  std::unique_ptr<ObjectStore> store_;
};

TEST(FileStoreOpenTest, NeedsAnAbsoluteRoot) {
  EXPECT_TRUE(OpenFileStore("relative/dir").status().IsInvalidArgument());
  EXPECT_TRUE(OpenFileStore("").status().IsInvalidArgument());
  EXPECT_TRUE(OpenFileStore("/").status().IsInvalidArgument());
  EXPECT_TRUE(OpenStore("file://relative").status().IsInvalidArgument());
  auto r = OpenStore("file:///tmp/some/where/");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Describe(), "file:///tmp/some/where");
}

TEST_F(FileStoreTest, ReadsOfAMissingRootFindNothingAndCreateNothing) {
  ObjectInfo info;
  EXPECT_TRUE(store_->Head("a", &info).IsNotFound());
  std::string out;
  EXPECT_TRUE(GetToString(*store_, "a", {}, &out).IsNotFound());
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("", "/"), &r).ok());
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(store_->Delete("a").ok());
  EXPECT_FALSE(fs::exists(root_));
}

TEST_F(FileStoreTest, ObjectsAreFilesAtTheirKeyPathsUnderA0700Root) {
  ASSERT_TRUE(store_->PutBytes("ws/projects/-home-x/s.jsonl", "{}\n", {}, nullptr).ok());
  EXPECT_EQ(ReadFile(root_ + "/ws/projects/-home-x/s.jsonl"), "{}\n");
  struct stat st;
  ASSERT_EQ(stat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(store_->Describe(), "file://" + root_);
  // Bookkeeping is hidden, and no temp file outlives its PUT.
  EXPECT_TRUE(fs::is_directory(root_ + "/.ccfs-store"));
  EXPECT_TRUE(fs::is_empty(root_ + "/.ccfs-store/tmp"));
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"ws/projects/-home-x/s.jsonl"});
  ListResult r;
  ASSERT_TRUE(store_->List(Listing(".ccfs"), &r).ok());
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(store_->PutBytes(".ccfs-store/lock", "x", {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(store_->PutBytes("../escape", "x", {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(store_->PutBytes("a//b", "x", {}, nullptr).IsInvalidArgument());
}

TEST_F(FileStoreTest, KeyThatCollidesWithADirectoryIsInvalid) {
  ASSERT_TRUE(store_->PutBytes("a/b", "1", {}, nullptr).ok());
  Status s = store_->PutBytes("a", "2", {}, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("a/"), std::string::npos) << s.message();
  ASSERT_TRUE(store_->PutBytes("f", "3", {}, nullptr).ok());
  s = store_->PutBytes("f/g", "4", {}, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("'f' exists"), std::string::npos) << s.message();
  s = store_->PutBytes("f/g/h", "5", {}, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  // Neither object was disturbed, and no stray temp file remains.
  EXPECT_EQ(Get("a/b"), "1");
  EXPECT_EQ(Get("f"), "3");
  EXPECT_TRUE(fs::is_empty(root_ + "/.ccfs-store/tmp"));
  // A directory is no object to HEAD, GET or DELETE.
  ObjectInfo info;
  EXPECT_TRUE(store_->Head("a", &info).IsNotFound());
  std::string out;
  EXPECT_TRUE(GetToString(*store_, "a", {}, &out).IsNotFound());
  EXPECT_TRUE(GetToString(*store_, "f/g", {}, &out).IsNotFound());
  EXPECT_TRUE(store_->Delete("a").ok());
  EXPECT_EQ(Get("a/b"), "1");
}

TEST_F(FileStoreTest, DeletePrunesEmptyDirectoriesButNotTheRoot) {
  ASSERT_TRUE(store_->PutBytes("w/p/q/one", "1", {}, nullptr).ok());
  ASSERT_TRUE(store_->PutBytes("w/two", "2", {}, nullptr).ok());
  ASSERT_TRUE(store_->Delete("w/p/q/one").ok());
  EXPECT_FALSE(fs::exists(root_ + "/w/p"));
  EXPECT_TRUE(fs::exists(root_ + "/w/two"));
  ASSERT_TRUE(store_->Delete("w/two").ok());
  EXPECT_FALSE(fs::exists(root_ + "/w"));
  EXPECT_TRUE(fs::is_directory(root_));
  // Now "w" can be an object itself.
  EXPECT_TRUE(store_->PutBytes("w", "3", {}, nullptr).ok());
}

TEST_F(FileStoreTest, EmptyDirectoriesAreNotObjects) {
  ASSERT_TRUE(store_->PutBytes("x/real", "1", {}, nullptr).ok());
  fs::create_directories(root_ + "/x/empty/deeper");
  fs::create_directories(root_ + "/hollow");
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("", "/"), &r).ok());
  EXPECT_EQ(r.common_prefixes, std::vector<std::string>{"x/"});
  ASSERT_TRUE(store_->List(Listing("x/", "/"), &r).ok());
  EXPECT_TRUE(r.common_prefixes.empty());
  ASSERT_EQ(r.objects.size(), 1u);
  // A leftover empty directory does not block a PUT of that key.
  EXPECT_TRUE(store_->PutBytes("hollow", "h", {}, nullptr).ok());
  EXPECT_EQ(Get("hollow"), "h");
}

TEST_F(FileStoreTest, EtagTracksEveryReplacementAndOutsideEdits) {
  ObjectInfo a, b;
  ASSERT_TRUE(store_->PutBytes("k", "same", {}, &a).ok());
  ASSERT_TRUE(store_->PutBytes("k", "same", {}, &b).ok());
  EXPECT_NE(a.etag, b.etag) << "a replacement is a new version even with equal bytes";
  EXPECT_EQ(a.etag.size(), 32u);
  // Quoted ETags, as S3 sends them, are accepted as preconditions.
  ObjectInfo c;
  ASSERT_TRUE(store_->PutBytes("k", "next", PutIfMatch("\"" + b.etag + "\""), &c).ok());
  {
    std::ofstream f(root_ + "/k", std::ios::app);
    f << " edited";
  }
  ObjectInfo head;
  ASSERT_TRUE(store_->Head("k", &head).ok());
  EXPECT_NE(head.etag, c.etag) << "an edit behind the store's back is a new version";
  EXPECT_TRUE(store_->PutBytes("k", "x", PutIfMatch(c.etag), nullptr).IsPreconditionFailed());
  // Deleting and recreating (possibly reusing the inode) is a new version too.
  ASSERT_TRUE(store_->Delete("k").ok());
  ObjectInfo d;
  ASSERT_TRUE(store_->PutBytes("k", "next edited", {}, &d).ok());
  EXPECT_NE(d.etag, head.etag);
  EXPECT_NE(d.etag, c.etag);
}

TEST_F(FileStoreTest, GetStreamsInBoundedChunksAndCountsBytes) {
  const std::string body(1000 * 1000, 'z');
  ASSERT_TRUE(store_->PutBytes("big", body, {}, nullptr).ok());
  size_t calls = 0, total = 0, largest = 0;
  ASSERT_TRUE(store_
                  ->Get(
                      "big", {},
                      [&](const char*, size_t len) {
                        ++calls;
                        total += len;
                        largest = std::max(largest, len);
                        return Status::OK();
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(total, body.size());
  EXPECT_LE(largest, 256u * 1024);
  EXPECT_GE(calls, 4u);
  EXPECT_EQ(store_->stats().bytes_received.load(), body.size());
  EXPECT_EQ(store_->stats().bytes_sent.load(), body.size());
  EXPECT_EQ(store_->stats().requests.load(), 2u);
}

TEST_F(FileStoreTest, PutFileFromAMissingLocalFileFailsCleanly) {
  Status s = store_->PutFile("k", tmp_ + "/does-not-exist", {}, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.IsNotFound()) << "a missing local file is not a missing object";
  EXPECT_TRUE(fs::is_empty(root_ + "/.ccfs-store/tmp"));
  EXPECT_TRUE(AllKeys().empty());
}

TEST_F(FileStoreTest, RacingCreatesFromThreadsHaveExactlyOneWinner) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; ++round) {
    const std::string key = "ws/lease-" + std::to_string(round);
    std::atomic<int> wins{0}, refusals{0}, others{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Each thread its own store object, as separate mounts would be.
        auto store = OpenFileStore(root_);
        Status s = (*store)->PutBytes(key, "holder " + std::to_string(t), CreateOnly(), nullptr);
        if (s.ok()) {
          wins++;
        } else if (s.IsPreconditionFailed()) {
          refusals++;
        } else {
          others++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wins.load(), 1) << key;
    EXPECT_EQ(refusals.load(), kThreads - 1) << key;
    EXPECT_EQ(others.load(), 0) << key;
  }
}

// Runs `child` in `n` forked processes; returns their exit codes (or -1 for a
// child that did not exit normally). Children are killed by alarm() if they hang.
std::vector<int> ForkAndWait(int n, const std::function<int(int)>& child) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(30);
      _exit(child(i));
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
      codes.push_back(-1);
    } else {
      codes.push_back(WEXITSTATUS(status));
    }
  }
  return codes;
}

TEST_F(FileStoreTest, RacingCreatesFromProcessesHaveExactlyOneWinner) {
  for (int round = 0; round < 10; ++round) {
    const std::string key = "ws/lease-" + std::to_string(round);
    std::vector<int> codes = ForkAndWait(6, [&](int i) {
      auto store = OpenFileStore(root_);
      if (!store.ok()) return 3;
      Status s = (*store)->PutBytes(key, "process " + std::to_string(i), CreateOnly(), nullptr);
      return s.ok() ? 0 : s.IsPreconditionFailed() ? 1 : 2;
    });
    EXPECT_EQ(std::count(codes.begin(), codes.end(), 0), 1) << key;
    EXPECT_EQ(std::count(codes.begin(), codes.end(), 1), 5) << key;
    EXPECT_EQ(Get(key).rfind("process ", 0), 0u);
  }
}

// Compare-and-swap increments: with If-Match no update is ever lost.
int IncrementWithRetries(ObjectStore& store, const std::string& key, int times) {
  for (int done = 0; done < times;) {
    std::string value;
    ObjectInfo info;
    if (!GetToString(store, key, {}, &value, &info).ok()) return 2;
    Status s =
        store.PutBytes(key, std::to_string(std::stoi(value) + 1), PutIfMatch(info.etag), nullptr);
    if (s.ok()) {
      ++done;
    } else if (!s.IsPreconditionFailed()) {
      return 3;
    }
  }
  return 0;
}

TEST_F(FileStoreTest, ConditionalUpdatesLoseNothingAcrossThreadsAndProcesses) {
  ASSERT_TRUE(store_->PutBytes("counter", "0", {}, nullptr).ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto store = OpenFileStore(root_);
      if (IncrementWithRetries(**store, "counter", 25) != 0) failures++;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Get("counter"), "100");

  std::vector<int> codes = ForkAndWait(4, [&](int) {
    auto store = OpenFileStore(root_);
    return store.ok() ? IncrementWithRetries(**store, "counter", 25) : 4;
  });
  EXPECT_EQ(codes, std::vector<int>(4, 0));
  EXPECT_EQ(Get("counter"), "200");
}

TEST_F(FileStoreTest, ReadersSeeOneWholeVersionDuringReplacement) {
  const std::string a(600 * 1024, 'a'), b(700 * 1024, 'b');
  ASSERT_TRUE(store_->PutBytes("tar", a, {}, nullptr).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 60 && !stop; ++i) {
      EXPECT_TRUE(store_->PutBytes("tar", i % 2 ? a : b, {}, nullptr).ok());
    }
    stop = true;
  });
  int reads = 0, mixed = 0;
  while (!stop || reads < 20) {
    std::string out;
    ObjectInfo info;
    ASSERT_TRUE(GetToString(*store_, "tar", {}, &out, &info).ok());
    ++reads;
    if (!(out == a || out == b) || out.size() != info.size) ++mixed;
  }
  writer.join();
  EXPECT_EQ(mixed, 0) << "of " << reads << " reads";
}

// --- FaultStore -----------------------------------------------------------

TEST_F(FileStoreTest, FaultStoreFailsTheNextCallsOfAnOperation) {
  FaultStore faulty(store_.get());
  ASSERT_TRUE(faulty.PutBytes("k", "v", {}, nullptr).ok());
  faulty.FailNext(StoreOp::kHead, 2, Status::Unavailable("injected 503"));
  ObjectInfo info;
  EXPECT_TRUE(faulty.Head("k", &info).IsUnavailable());
  EXPECT_TRUE(faulty.Head("k", &info).IsUnavailable());
  EXPECT_TRUE(faulty.Head("k", &info).ok());
  EXPECT_EQ(faulty.calls(StoreOp::kHead), 3u);
  EXPECT_EQ(faulty.calls(StoreOp::kPut), 1u);
  EXPECT_EQ(faulty.faults_injected(), 2u);
  EXPECT_EQ(store_->stats().requests.load(), 2u) << "failed calls never reached the store";
  EXPECT_EQ(faulty.Describe(), "fault+" + store_->Describe());

  faulty.FailNext(StoreOp::kDelete, 1, Status::IOError("disk"));
  EXPECT_FALSE(faulty.Delete("k").ok());
  EXPECT_EQ(Get("k"), "v");
  faulty.FailNext(StoreOp::kList, 1, Status::Unavailable("x"));
  ListResult r;
  EXPECT_TRUE(faulty.List({}, &r).IsUnavailable());
  EXPECT_TRUE(faulty.List({}, &r).ok());
  faulty.FailNext(StoreOp::kGet, 5, Status::Unavailable("x"));
  faulty.ClearFaults();
  std::string out;
  EXPECT_TRUE(GetToString(faulty, "k", {}, &out).ok());
}

TEST_F(FileStoreTest, FaultStoreFiltersByKeyPrefix) {
  FaultStore faulty(store_.get());
  FaultRule rule;
  rule.op = StoreOp::kPut;
  rule.times = 1;
  rule.status = Status::Unavailable("transcripts down");
  rule.key_prefix = "ws/projects/";
  faulty.Inject(rule);
  EXPECT_TRUE(faulty.PutBytes("ws/claude-home.tar.gz", "t", {}, nullptr).ok());
  EXPECT_TRUE(faulty.PutBytes("ws/projects/p/s.jsonl", "s", {}, nullptr).IsUnavailable());
  EXPECT_TRUE(faulty.PutBytes("ws/projects/p/s.jsonl", "s", {}, nullptr).ok());
}

TEST_F(FileStoreTest, FaultStoreCutsAGetAfterKBytes) {
  const std::string body(1 << 20, 'q');
  ASSERT_TRUE(store_->PutBytes("big", body, {}, nullptr).ok());
  auto owned = OpenFileStore(root_);
  FaultStore faulty(std::move(owned).value());
  faulty.FailGetAfterBytes(300000, Status::Unavailable("connection reset"));
  std::string out;
  Status s = GetToString(faulty, "big", {}, &out);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_EQ(out.size(), 300000u);
  EXPECT_EQ(faulty.stats().bytes_received.load(), 300000u);
  // Spent: the next GET is whole.
  EXPECT_TRUE(GetToString(faulty, "big", {}, &out).ok());
  EXPECT_EQ(out.size(), body.size());
  // A budget the body never reaches still fails at the end.
  faulty.FailGetAfterBytes(5u << 20, Status::Unavailable("late reset"));
  EXPECT_TRUE(GetToString(faulty, "big", {}, &out).IsUnavailable());
  EXPECT_EQ(out.size(), body.size());
}

TEST_F(FileStoreTest, FaultStoreCanLoseTheAnswerOfAWriteThatHappened) {
  FaultStore faulty(store_.get());
  FaultRule rule;
  rule.op = StoreOp::kPut;
  rule.status = Status::Unavailable("timeout after the body was sent");
  rule.after_call = true;
  faulty.Inject(rule);
  EXPECT_TRUE(faulty.PutBytes("lease", "mine", CreateOnly(), nullptr).IsUnavailable());
  EXPECT_EQ(Get("lease"), "mine") << "the write happened";
  // The retry a client would make now meets its own write.
  EXPECT_TRUE(faulty.PutBytes("lease", "mine", CreateOnly(), nullptr).IsPreconditionFailed());
}

}  // namespace
}  // namespace ccfs
