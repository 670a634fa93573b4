// Committing layout-v2 roots: two writers racing lose nothing and every
// success is generation + 1; a PUT whose answer was lost is resolved by
// reading the root back.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "store/layout/root_store.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

class LayoutCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-layout-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = OpenFileStore(dir_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::string Nonce(std::mt19937_64& rng) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    return buf;
  }

  // The next root on top of `parent` (nullptr: the first).
  static WorkspaceRoot Next(const WorkspaceRoot* parent, const std::string& nonce,
                            const std::string& host) {
    WorkspaceRoot r;
    r.generation = parent == nullptr ? 1 : parent->generation + 1;
    r.parent_generation = parent == nullptr ? 0 : parent->generation;
    r.nonce = nonce;
    r.writer.host = host;
    r.files = r.generation;  // stands in for "what this commit changed"
    return r;
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LayoutCommitTest, RacingWritersEachSucceedOnlyAtGenerationPlusOne) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  constexpr int kCommitsPerWriter = 100;
  std::mutex mu;
  std::map<uint64_t, std::string> committed;  // generation -> nonce
  std::atomic<int> conflicts{0};
  auto writer = [&](int id) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(id));
    for (int done = 0; done < kCommitsPerWriter;) {
      CurrentRoot cur;
      Status read = ReadRoot(*store_, "ws", &cur);
      ASSERT_TRUE(read.ok() || read.IsNotFound()) << read.ToString();
      WorkspaceRoot next =
          Next(read.ok() ? &cur.root : nullptr, Nonce(rng), "w" + std::to_string(id));
      std::string etag;
      Status s = CommitRoot(*store_, "ws", next, read.ok() ? cur.etag : "", &etag);
      if (s.IsPreconditionFailed()) {
        ++conflicts;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s.ToString();
      std::lock_guard<std::mutex> lock(mu);
      ASSERT_TRUE(committed.emplace(next.generation, next.nonce).second)
          << "generation " << next.generation << " committed twice";
      ++done;
    }
  };
  std::thread a(writer, 0), b(writer, 1);
  a.join();
  b.join();
  ASSERT_EQ(committed.size(), 2u * kCommitsPerWriter);
  EXPECT_EQ(committed.begin()->first, 1u);
  EXPECT_EQ(committed.rbegin()->first, 2u * kCommitsPerWriter);  // no gaps
  std::printf("%d conflicts\n", conflicts.load());

  CurrentRoot last;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &last).ok());
  EXPECT_EQ(last.root.generation, 2u * kCommitsPerWriter);
  ListResult history;
  ASSERT_TRUE(store_->List({HistoryPrefix("ws"), ""}, &history).ok());
  ASSERT_EQ(history.objects.size(), committed.size());
  size_t i = 0;
  for (const auto& [gen, nonce] : committed) {
    EXPECT_EQ(history.objects[i++].key, HistoryRootKey("ws", gen, nonce));
  }
}

TEST_F(LayoutCommitTest, LostAnswerIsResolvedByReadingTheRootBack) {
  std::mt19937_64 rng(7);
  FaultStore faults(store_.get());
  WorkspaceRoot first = Next(nullptr, Nonce(rng), "a");
  std::string etag;
  ASSERT_TRUE(CommitRoot(faults, "ws", first, "", &etag).ok());

  // The PUT lands but its answer is lost: the commit is ours.
  WorkspaceRoot second = Next(&first, Nonce(rng), "a");
  faults.Inject({.op = StoreOp::kPut,
                 .times = 1,
                 .status = Status::Unavailable("timeout"),
                 .key_prefix = RootKey("ws"),
                 .after_call = true});
  std::string etag2;
  Status s = CommitRoot(faults, "ws", second, etag, &etag2);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CurrentRoot cur;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
  EXPECT_EQ(cur.root.nonce, second.nonce);
  EXPECT_EQ(cur.etag, etag2);

  // The PUT never arrives: the root is still the parent, and the error says
  // so rather than claiming a conflict.
  WorkspaceRoot third = Next(&second, Nonce(rng), "a");
  faults.Inject({.op = StoreOp::kPut,
                 .times = 1,
                 .status = Status::Unavailable("connection reset"),
                 .key_prefix = RootKey("ws"),
                 .after_call = false});
  s = CommitRoot(faults, "ws", third, etag2, nullptr);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  ASSERT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
  EXPECT_EQ(cur.root.generation, 2u);
}

TEST_F(LayoutCommitTest, StaleParentIsRefusedAndImmutableObjectsAreWrittenOnce) {
  std::mt19937_64 rng(11);
  WorkspaceRoot first = Next(nullptr, Nonce(rng), "a");
  std::string etag1;
  ASSERT_TRUE(CommitRoot(*store_, "ws", first, "", &etag1).ok());
  // A second creator loses: the root exists.
  EXPECT_TRUE(CommitRoot(*store_, "ws", Next(nullptr, Nonce(rng), "b"), "", nullptr)
                  .IsPreconditionFailed());
  WorkspaceRoot second = Next(&first, Nonce(rng), "a");
  ASSERT_TRUE(CommitRoot(*store_, "ws", second, etag1, nullptr).ok());
  // Committing on the old parent again is refused.
  EXPECT_TRUE(CommitRoot(*store_, "ws", Next(&first, Nonce(rng), "b"), etag1, nullptr)
                  .IsPreconditionFailed());

  ASSERT_TRUE(PutImmutable(*store_, ChunkKey("ws", std::string(64, 'a')), "bytes").ok());
  // Already there (same name, same bytes): success, nothing replaced.
  ASSERT_TRUE(PutImmutable(*store_, ChunkKey("ws", std::string(64, 'a')), "bytes").ok());

  // A corrupt root is an error, never an empty tree.
  ASSERT_TRUE(store_->PutBytes(RootKey("ws"), "{oops", PutOptions{}, nullptr).ok());
  CurrentRoot cur;
  EXPECT_TRUE(ReadRoot(*store_, "ws", &cur).IsCorruption());
}

}  // namespace
}  // namespace ccfs

namespace ccfs {
namespace {

// Server-side copy, which adopting a v1 workspace uses: no bytes through
// this machine, and the destination's condition holds.
TEST_F(LayoutCommitTest, CopyInsideTheStoreMovesNoBytesAndKeepsConditions) {
  FaultStore faults(store_.get());
  ASSERT_TRUE(
      faults.PutBytes("ws/workspace.tar.gz", std::string(100000, 'z'), PutOptions{}, nullptr).ok());
  const uint64_t sent = store_->stats().bytes_sent.load();
  PutOptions create;
  create.if_none_match_any = true;
  ObjectInfo info;
  ASSERT_TRUE(
      faults.Copy("ws/workspace.tar.gz", PackKey("ws", std::string(64, 'a')), create, &info).ok());
  EXPECT_EQ(info.size, 100000u);
  EXPECT_EQ(store_->stats().bytes_sent.load(), sent);
  EXPECT_TRUE(
      faults.Copy("ws/workspace.tar.gz", PackKey("ws", std::string(64, 'a')), create, nullptr)
          .IsPreconditionFailed());
  EXPECT_TRUE(faults.Copy("ws/missing", "ws/x", PutOptions{}, nullptr).IsNotFound());

  // Pinned to the source's version: a stale ETag copies nothing.
  ObjectInfo src;
  ASSERT_TRUE(faults.Head("ws/workspace.tar.gz", &src).ok());
  PutOptions pinned;
  pinned.copy_source_if_match = src.etag;
  EXPECT_TRUE(faults.Copy("ws/workspace.tar.gz", "ws/pinned", pinned, nullptr).ok());
  pinned.copy_source_if_match = "not-" + src.etag;
  EXPECT_TRUE(
      faults.Copy("ws/workspace.tar.gz", "ws/stale", pinned, nullptr).IsPreconditionFailed());
  EXPECT_TRUE(faults.Head("ws/stale", &src).IsNotFound());
}

}  // namespace
}  // namespace ccfs
