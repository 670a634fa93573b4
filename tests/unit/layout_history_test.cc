// History: every commit's root is kept; a generation can be read back and
// two generations compared path by path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/history.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

class LayoutHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-history-XXXXXX").string();
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
  // Commits `input` on the current root; returns the new root.
  WorkspaceRoot Commit(CommitInput input) {
    input.scratch_dir = dir_;
    input.segment_entries = 2;  // several segments even for a small tree
    CurrentRoot cur;
    Status read = ReadRoot(*store_, "ws", &cur);
    EXPECT_TRUE(read.ok() || read.IsNotFound()) << read.ToString();
    CommitReport report;
    Status s = CommitOnce(*store_, "ws", read.ok() ? &cur : nullptr, input, &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return report.root;
  }
  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<UniqueFd> fds_;
};

TEST_F(LayoutHistoryTest, GenerationsAreListedReadAndCompared) {
  CommitInput c1;
  for (const char* p : {"a", "b", "c", "d", "e", "f"}) c1.files.push_back(File(p, p));
  WorkspaceRoot g1 = Commit(std::move(c1));
  CommitInput c2;
  c2.files.push_back(File("b", "bb"));  // changed
  WorkspaceRoot g2 = Commit(std::move(c2));
  CommitInput c3;
  c3.removed = {"e"};
  c3.files.push_back(File("g", "g"));  // added
  WorkspaceRoot g3 = Commit(std::move(c3));

  std::vector<WorkspaceRoot> roots;
  ASSERT_TRUE(ListHistory(*store_, "ws", &roots).ok());
  ASSERT_EQ(roots.size(), 3u);
  EXPECT_EQ(roots[0].generation, 1u);
  EXPECT_EQ(roots[2].generation, 3u);
  EXPECT_EQ(roots[2].nonce, g3.nonce);
  EXPECT_EQ(roots[2].files, 6u);

  WorkspaceRoot read2;
  ASSERT_TRUE(ReadGeneration(*store_, "ws", 2, &read2).ok());
  EXPECT_EQ(EncodeRoot(read2), EncodeRoot(g2));
  EXPECT_TRUE(ReadGeneration(*store_, "ws", 9, &read2).IsNotFound());

  TreeDiff d;
  ASSERT_TRUE(DiffRoots(*store_, "ws", g1, g3, &d).ok());
  EXPECT_EQ(d.added, std::vector<std::string>{"g"});
  EXPECT_EQ(d.changed, std::vector<std::string>{"b"});
  EXPECT_EQ(d.removed, std::vector<std::string>{"e"});
  ASSERT_TRUE(DiffRoots(*store_, "ws", g3, g3, &d).ok());
  EXPECT_TRUE(d.added.empty() && d.changed.empty() && d.removed.empty());

  // Restore: generation 4 holds generation 1's tree.
  WorkspaceRoot g4;
  ASSERT_TRUE(RestoreGeneration(*store_, "ws", 1, RootWriter{"b", 1, ""}, &g4).ok());
  EXPECT_EQ(g4.generation, 4u);
  ASSERT_TRUE(DiffRoots(*store_, "ws", g1, g4, &d).ok());
  EXPECT_TRUE(d.added.empty() && d.changed.empty() && d.removed.empty());
  CurrentRoot now;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &now).ok());
  EXPECT_EQ(now.root.nonce, g4.nonce);
  EXPECT_TRUE(RestoreGeneration(*store_, "ws", 42, RootWriter{}, &g4).IsNotFound());

  // A damaged history copy is reported and skipped; the rest still lists.
  ASSERT_TRUE(
      store_->PutBytes(HistoryRootKey("ws", 2, g2.nonce), "garbage", PutOptions{}, nullptr).ok());
  std::vector<std::string> damaged;
  ASSERT_TRUE(ListHistory(*store_, "ws", &roots, &damaged).ok());
  EXPECT_EQ(roots.size(), 3u);
  EXPECT_EQ(damaged, std::vector<std::string>{HistoryRootKey("ws", 2, g2.nonce)});
}

}  // namespace
}  // namespace ccfs
