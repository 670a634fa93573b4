// GC keeps everything a kept root names and nothing younger than the grace
// period; what it deletes is only what no kept root can reach.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "store/base/clock.h"
#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/gc.h"
#include "store/layout/history.h"
#include "store/layout/tree_reader.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

class LayoutGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-gc-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    auto store = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PackFile File(const std::string& path, const std::string& content) {
    std::string local = dir_ + "/f" + std::to_string(fds_.size());
    std::ofstream(local, std::ios::binary) << content;
    fds_.emplace_back(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    PackFile f;
    f.entry.path = path;
    f.fd = fds_.back().get();
    return f;
  }
  TranscriptAppend Append(const IndexEntry& base, const std::string& content) {
    std::string local = dir_ + "/f" + std::to_string(fds_.size());
    std::ofstream(local, std::ios::binary) << content;
    fds_.emplace_back(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    TranscriptAppend a;
    a.base = base;
    a.fd = fds_.back().get();
    a.new_size = content.size();
    return a;
  }
  WorkspaceRoot Commit(CommitInput input) {
    input.scratch_dir = dir_;
    input.segment_entries = 2;
    CurrentRoot cur;
    Status read = ReadRoot(*store_, "ws", &cur);
    CommitReport report;
    Status s = CommitOnce(*store_, "ws", read.ok() ? &cur : nullptr, input, &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return report.root;
  }
  // Every object `root` names is there.
  void ExpectReadable(const WorkspaceRoot& root) {
    for (const SegmentRef& ref : root.segments) {
      IndexSegment seg;
      ASSERT_TRUE(LoadSegment(*store_, "ws", ref, &seg).ok()) << "generation " << root.generation;
      for (const IndexEntry& e : seg.entries) {
        ObjectInfo info;
        if (!e.pack.empty()) {
          EXPECT_TRUE(store_->Head(PackKey("ws", e.pack), &info).ok()) << e.path;
        }
        for (const ChunkRef& c : e.chunks) {
          EXPECT_TRUE(store_->Head(ChunkKey("ws", c.name), &info).ok()) << e.path;
        }
      }
    }
  }
  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<UniqueFd> fds_;
};

TEST_F(LayoutGcTest, KeepsWhatKeptRootsNameAndSparesTheYoung) {
  CommitInput c1;
  c1.files = {File("a", "a1"), File("b", "b"), File("c", "c")};
  IndexEntry t;
  t.path = "projects/p/s.jsonl";
  t.mode = 0600;
  c1.appends.push_back(Append(t, "line 1\n"));
  std::vector<WorkspaceRoot> roots{Commit(std::move(c1))};
  std::string transcript = "line 1\n";
  for (int g = 2; g <= 6; ++g) {
    IndexEntry base;
    ASSERT_TRUE(LookupEntry(*store_, "ws", roots.back(), t.path, &base).ok());
    transcript += "line " + std::to_string(g) + "\n";
    CommitInput c;
    c.files = {File("a", "a" + std::to_string(g))};  // a new pack each time
    c.appends.push_back(Append(base, transcript));
    roots.push_back(Commit(std::move(c)));
  }
  ASSERT_EQ(roots.back().generation, 6u);

  GcOptions opts;
  opts.keep_generations = 2;
  opts.keep_seconds = 5;
  opts.now_unix = NowUnixMs() / 1000 + 10;  // the roots are past keep_seconds, not the grace
  GcReport young;
  ASSERT_TRUE(CollectGarbage(*store_, "ws", opts, &young).ok());
  EXPECT_EQ(young.objects_deleted + young.history_deleted, 0u);  // all within the grace period
  EXPECT_GT(young.young_spared, 0u);

  opts.now_unix = NowUnixMs() / 1000 + 2 * 86400;  // two days later
  GcReport dry;
  opts.dry_run = true;
  ASSERT_TRUE(CollectGarbage(*store_, "ws", opts, &dry).ok());
  opts.dry_run = false;
  GcReport old;
  ASSERT_TRUE(CollectGarbage(*store_, "ws", opts, &old).ok());
  EXPECT_EQ(old.roots_kept, 2u);
  EXPECT_EQ(old.history_deleted, 4u);
  EXPECT_GT(old.objects_deleted, 0u);
  EXPECT_EQ(dry.objects_deleted, old.objects_deleted);
  std::printf("gc: kept %llu objects, deleted %llu (%llu B) and %llu history copies\n",
              static_cast<unsigned long long>(old.objects_kept),
              static_cast<unsigned long long>(old.objects_deleted),
              static_cast<unsigned long long>(old.bytes_freed),
              static_cast<unsigned long long>(old.history_deleted));

  // The kept generations read in full; the transcript's early chunks stay
  // because the current entry still lists them.
  ExpectReadable(roots[4]);
  ExpectReadable(roots[5]);
  std::vector<WorkspaceRoot> history;
  ASSERT_TRUE(ListHistory(*store_, "ws", &history).ok());
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].generation, 5u);
  GcReport again;
  ASSERT_TRUE(CollectGarbage(*store_, "ws", opts, &again).ok());
  EXPECT_EQ(again.objects_deleted + again.history_deleted, 0u);
}

}  // namespace
}  // namespace ccfs
