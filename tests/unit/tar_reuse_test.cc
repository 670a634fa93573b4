// Block reuse: a new tarball made of verbatim runs of an old one's blocks
// plus freshly written members reads back right everywhere.
#include <gtest/gtest.h>

#include "store/archive/pack_dir.h"
#include "store/archive/safe_extract.h"
#include "store/archive/seekable_tar_reader.h"
#include "store/archive/seekable_tar_writer.h"
#include "tar_test_util.h"

namespace ccfs {
namespace {

using tartest::Describe;
using tartest::FileFetcher;
using tartest::ReadFile;
using tartest::RunShell;
using tartest::Snapshot;
using tartest::TempDir;
using tartest::WriteFile;

class BlockReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    for (int i = 0; i < 40; ++i) {
      WriteFile(src_ + "/d/f" + std::to_string(10 + i) + ".txt",
                tartest::PseudoRandomText(3000 + 100 * i, i));
    }
    WriteFile(src_ + "/m.bin", tartest::PseudoRandomText(300000, 99));
    WriteFile(src_ + "/z/last.txt", "last");
    ::symlink("d/f10.txt", (src_ + "/link").c_str());
    opts_.target_block_raw_size = 16 * 1024;
    ASSERT_TRUE(PackDirectory(src_, nullptr, old_, opts_, &old_index_, nullptr).ok());
    old_bytes_ = ReadFile(old_);
  }

  std::string CompressedRun(size_t first, size_t last) const {
    const auto& b = old_index_.blocks;
    uint64_t begin = b[first].comp_offset;
    return old_bytes_.substr(begin, b[last].comp_offset + b[last].comp_size - begin);
  }

  Status AddFresh(SeekableTarWriter* w, const TarEntry& e) {
    switch (e.type) {
      case EntryType::kDir:
        return w->AddDirectory(e);
      case EntryType::kSymlink:
        return w->AddSymlink(e);
      case EntryType::kFile:
        return w->AddFile(e, src_ + "/" + e.path);
    }
    return Status::OK();
  }

  TempDir tmp_;
  const std::string src_ = tmp_ / "src";
  const std::string old_ = tmp_ / "old.tar.gz";
  SeekableTarWriter::Options opts_;
  TarIndex old_index_;
  std::string old_bytes_;
};

TEST_F(BlockReuseTest, UnchangedRunsAreCopiedChangedMembersRewritten) {
  // The repack of a tree where one file changed.
  WriteFile(src_ + "/d/f17.txt", "changed\n");
  const std::string fresh = tmp_ / "new.tar.gz";
  auto w = SeekableTarWriter::Create(fresh, opts_);
  ASSERT_TRUE(w.ok());
  const size_t n = old_index_.blocks.size();
  size_t copied_blocks = 0, i = 0;
  uint64_t next_fresh = 0;  // header offset (old) of the first entry not yet written
  while (i < n) {
    // The shortest member-aligned run starting at block i, if any.
    std::vector<TarEntry> run;
    size_t j = i;
    while (j < n && !SeekableTarWriter::EntriesInBlockRun(old_index_, i, j, &run).ok()) ++j;
    bool changed = false;
    for (const auto& e : run) changed |= e.path == "d/f17.txt";
    if (j < n && !changed && old_index_.blocks[i].raw_offset == next_fresh) {
      Status s = (*w)->AppendBlocks(old_index_, i, j, CompressedRun(i, j));
      ASSERT_TRUE(s.ok()) << s.ToString();
      copied_blocks += j - i + 1;
      next_fresh = old_index_.blocks[j].raw_offset + old_index_.blocks[j].raw_size;
      i = j + 1;
      continue;
    }
    // Rewrite the members that start in block i from the tree.
    const uint64_t block_end = old_index_.blocks[i].raw_offset + old_index_.blocks[i].raw_size;
    for (const auto& e : old_index_.entries) {
      if (e.header_offset >= next_fresh && e.header_offset < block_end) {
        ASSERT_TRUE(AddFresh(w->get(), e).ok()) << e.path;
        next_fresh = e.data_offset + (e.size + 511) / 512 * 512;
      }
    }
    // A member continuing past this block is complete now: skip its blocks.
    while (i < n && old_index_.blocks[i].raw_offset + old_index_.blocks[i].raw_size <= next_fresh) {
      ++i;
    }
    if (i < n && old_index_.blocks[i].raw_offset < next_fresh) ++i;
  }
  TarIndex index;
  ASSERT_TRUE((*w)->Finish(&index).ok());
  EXPECT_GT(copied_blocks, n / 2) << "most blocks should have been reused";
  EXPECT_EQ(index.entries.size(), old_index_.entries.size());

  // Copied blocks are byte-identical to the old ones.
  const std::string fresh_bytes = ReadFile(fresh);
  size_t identical = 0;
  for (const auto& b : index.blocks) {
    std::string mine = fresh_bytes.substr(b.comp_offset, b.comp_size);
    for (const auto& o : old_index_.blocks) {
      identical +=
          o.comp_size == b.comp_size && old_bytes_.substr(o.comp_offset, o.comp_size) == mine;
    }
  }
  EXPECT_GE(identical, copied_blocks);

  // Everyone reads the result as the current tree.
  const auto want = Snapshot(src_);
  ASSERT_TRUE(ExtractTarGz(fresh, tmp_ / "ours", nullptr, nullptr).ok());
  EXPECT_EQ(Snapshot(tmp_ / "ours"), want) << Describe(Snapshot(tmp_ / "ours"));
  std::filesystem::create_directories(tmp_ / "gnu");
  std::string out;
  EXPECT_EQ(RunShell("tar -xzf " + fresh + " -C " + (tmp_ / "gnu"), &out), 0) << out;
  EXPECT_EQ(Snapshot(tmp_ / "gnu"), want);
  EXPECT_EQ(RunShell("gzip -t " + fresh, &out), 0) << out;
  FileFetcher fetcher{fresh};
  TarIndex read_back;
  ASSERT_TRUE(ReadSeekableIndex(fresh_bytes.size(), std::ref(fetcher), &read_back).ok());
  for (const auto& e : read_back.entries) {
    if (e.type != EntryType::kFile) continue;
    std::string got;
    ASSERT_TRUE(
        ReadMemberRange(read_back, e, 0, e.size, std::ref(fetcher), [&](const char* d, size_t len) {
          got.append(d, len);
          return Status::OK();
        }).ok());
    EXPECT_EQ(got, ReadFile(src_ + "/" + e.path)) << e.path;
  }
}

TEST_F(BlockReuseTest, MisusedRunsAreRefused) {
  const size_t n = old_index_.blocks.size();
  std::vector<TarEntry> run;
  // The last block carries the end-of-archive marker.
  EXPECT_TRUE(
      SeekableTarWriter::EntriesInBlockRun(old_index_, n - 1, n - 1, &run).IsInvalidArgument());
  // A run starting inside the big file.
  const TarEntry* big = old_index_.Find("m.bin");
  size_t first = 0, last = 0;
  old_index_.BlocksCovering(big->data_offset, big->size, &first, &last);
  ASSERT_GT(last, first + 1);
  EXPECT_TRUE(
      SeekableTarWriter::EntriesInBlockRun(old_index_, first + 1, last, &run).IsInvalidArgument());
  ASSERT_TRUE(SeekableTarWriter::EntriesInBlockRun(old_index_, 0, 0, &run).ok());

  auto w = SeekableTarWriter::Create(tmp_ / "x.tar.gz", opts_);
  ASSERT_TRUE(w.ok());
  std::string damaged = CompressedRun(0, 0);
  damaged[damaged.size() - 6] ^= 0x10;  // inside the stored CRC
  EXPECT_TRUE((*w)->AppendBlocks(old_index_, 0, 0, damaged).IsCorruption());
  EXPECT_TRUE((*w)->AppendBlocks(old_index_, 0, 0, "short").IsInvalidArgument());
  ASSERT_TRUE((*w)->AppendBlocks(old_index_, 0, 0, CompressedRun(0, 0)).ok());
  EXPECT_TRUE((*w)->AppendBlocks(old_index_, 0, 0, CompressedRun(0, 0)).IsInvalidArgument())
      << "the same paths twice";
  TarIndex idx;
  ASSERT_TRUE((*w)->Finish(&idx).ok());
  std::string out;
  EXPECT_EQ(RunShell("gzip -t " + (tmp_ / "x.tar.gz"), &out), 0) << out;
}

}  // namespace
}  // namespace ccfs
