// A v1 tarball written after the workspace moved to layout v2 (an older
// ccfs flushing on the version it read) is taken in by a three-way merge:
// their changes where ours left a path alone, a conflict copy where both
// changed it, a file they changed and ours removed back, and nothing of
// theirs dropped; a second look finds nothing new.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fs_test_util.h"
#include "store/layout/commit.h"
#include "store/layout/export.h"
#include "store/objects/file_store.h"
#include "store/workspace/adopt_v1.h"
#include "store/workspace/late_v1.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

using fstest::ReadFile;
using fstest::WriteFile;

class LateV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-late-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    auto opened = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(opened.ok());
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A v1 push of `src` as workspace `ws`, as today's ccfs without v2 does.
  void PushV1(const std::string& src, const std::string& ws) {
    PushOptions push;
    push.temp_dir = dir_;
    push.force = true;
    push.lease_ttl_seconds = 0;
    PushResult pushed;
    Status s = PushWorkspace(*store_, src, ws, push, &pushed);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The tree of the current root, extracted.
  std::string Extract(const CurrentRoot& root, const std::string& name) {
    ExportReport exported;
    const std::string tgz = dir_ + "/" + name + ".tar.gz";
    Status s = ExportTree(*store_, "ws", root.root, tgz, dir_, &exported);
    EXPECT_TRUE(s.ok()) << s.ToString();
    const std::string out = dir_ + "/" + name;
    std::filesystem::create_directories(out);
    EXPECT_EQ(std::system(("tar xzf " + tgz + " -C " + out).c_str()), 0);
    return out;
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LateV1Test, ALateTarballIsMergedIntoTheNextGeneration) {
  const std::string src = dir_ + "/src";
  WriteFile(src + "/a.txt", "a0");
  WriteFile(src + "/b.txt", "b0");
  WriteFile(src + "/c/gone-here.txt", "c0");
  WriteFile(src + "/same.txt", "untouched");
  PushV1(src, "ws");
  AdoptReport adopted;
  Status s = AdoptV1(*store_, "ws", RootWriter{"new", 1, ""}, &adopted, dir_);
  ASSERT_TRUE(s.ok()) << s.ToString();

  // Ours, on v2: b.txt rewritten, c/gone-here.txt removed.
  CurrentRoot current{adopted.root, ""};
  ASSERT_TRUE(ReadRoot(*store_, "ws", &current).ok());
  WriteFile(dir_ + "/ours-b", "b-ours");
  int fd = ::open((dir_ + "/ours-b").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  CommitInput ours;
  IndexEntry b;
  b.path = "b.txt";
  b.type = EntryType::kFile;
  b.mtime_ns = 1750000000ll * 1000000000;
  ours.files.push_back(PackFile{b, fd});
  ours.removed.push_back("c/gone-here.txt");
  ours.scratch_dir = dir_;
  CommitReport cr;
  s = CommitOnce(*store_, "ws", &current, ours, &cr);
  ::close(fd);
  ASSERT_TRUE(s.ok()) << s.ToString();
  current = CurrentRoot{cr.root, cr.etag};

  // Theirs, an old writer's v1 flush on the adopted version: a.txt, b.txt and
  // c/gone-here.txt changed, new.txt created, same.txt left alone.
  const std::string old_src = dir_ + "/old";
  WriteFile(old_src + "/a.txt", "a-theirs");
  WriteFile(old_src + "/b.txt", "b-theirs!");
  WriteFile(old_src + "/c/gone-here.txt", "c-theirs");
  WriteFile(old_src + "/new.txt", "new from the old writer");
  std::filesystem::copy_file(src + "/same.txt", old_src + "/same.txt");
  std::filesystem::last_write_time(old_src + "/same.txt",
                                   std::filesystem::last_write_time(src + "/same.txt"));
  PushV1(old_src, "other");
  ASSERT_TRUE(store_->Copy(TarballKey("other"), TarballKey("ws"), PutOptions{}, nullptr).ok());

  LateV1Report late;
  s = MergeLateV1Tarball(*store_, "ws", RootWriter{"new", 2, ""}, dir_, &current, &late);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(late.found);
  ASSERT_TRUE(late.merged);
  EXPECT_EQ(late.generation, 3u);
  EXPECT_EQ(current.root.generation, 3u);
  ObjectInfo head;
  ASSERT_TRUE(store_->Head(TarballKey("ws"), &head).ok());
  EXPECT_EQ(current.root.adopted_v1_etag, head.etag);
  ASSERT_EQ(late.conflicts.size(), 1u);
  EXPECT_EQ(late.conflicts[0].first, "b.txt");

  const std::string tree = Extract(current, "merged");
  EXPECT_EQ(ReadFile(tree + "/a.txt"), "a-theirs");
  EXPECT_EQ(ReadFile(tree + "/b.txt"), "b-ours");
  EXPECT_EQ(ReadFile(tree + "/" + late.conflicts[0].second), "b-theirs!");
  EXPECT_EQ(ReadFile(tree + "/c/gone-here.txt"), "c-theirs");
  EXPECT_EQ(ReadFile(tree + "/new.txt"), "new from the old writer");
  EXPECT_EQ(ReadFile(tree + "/same.txt"), "untouched");

  // Taken in once: the next look finds the version the root names.
  LateV1Report again;
  s = MergeLateV1Tarball(*store_, "ws", RootWriter{"new", 3, ""}, dir_, &current, &again);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(again.found);
  EXPECT_EQ(current.root.generation, 3u);
}

TEST_F(LateV1Test, NoTarballOrTheAdoptedOneIsNothingToDo) {
  const std::string src = dir_ + "/src";
  WriteFile(src + "/a.txt", "a0");
  PushV1(src, "ws");
  AdoptReport adopted;
  ASSERT_TRUE(AdoptV1(*store_, "ws", RootWriter{"new", 1, ""}, &adopted, dir_).ok());
  CurrentRoot current;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &current).ok());
  LateV1Report late;
  Status s = MergeLateV1Tarball(*store_, "ws", RootWriter{}, dir_, &current, &late);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(late.found);
  EXPECT_EQ(current.root.generation, 1u);
}

}  // namespace
}  // namespace ccfs
