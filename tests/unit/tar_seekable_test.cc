// Round trips through the seekable tarball: PackDirectory -> ExtractTarGz,
// ReadSeekableIndex + ReadMemberRange from byte ranges, and the tarball
// read by the real GNU tar, bsdtar, Python tarfile and gzip.
#include <gtest/gtest.h>
#include <sys/stat.h>

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

const std::string kLongDir = std::string(200, 'L');
const std::string kLongPath =
    kLongDir + "/" + std::string(100, 'M') + "/file-" + std::string(60, 'N');
constexpr uint64_t kBlock = 256 * 1024;

void SetMtime(const std::string& path, int64_t t) {
  struct timespec ts[2] = {{t, 0}, {t, 0}};
  ::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

// A tree with every kind of thing the codec must carry.
void MakeTree(const std::string& root) {
  WriteFile(root + "/a/b/c/deep.txt", "deep content\n");
  WriteFile(root + "/a/empty.txt", "");
  WriteFile(root + "/a/secret.json", "{\"token\":\"x\"}\n", 0600);
  WriteFile(root + "/a/run.sh", "#!/bin/sh\necho hi\n", 0755);
  WriteFile(root + "/big.bin", tartest::PseudoRandomText(5 * 1000 * 1000, 7));
  for (int i = 0; i < 60; ++i) {
    WriteFile(root + "/small/f" + std::to_string(100 + i) + ".txt",
              tartest::PseudoRandomText(500 + i * 37, i));
  }
  WriteFile(root + "/日本語/ファイル-é.txt", "unicode\n");
  WriteFile(root + "/" + kLongPath, "long name\n");
  std::filesystem::create_directories(root + "/emptydir");
  ::chmod((root + "/emptydir").c_str(), 0700);
  ::symlink("a/b/c/deep.txt", (root + "/link").c_str());
  ::symlink("../run.sh", (root + "/a/b/uplink").c_str());
  ::symlink("a/b", (root + "/dirlink").c_str());
  // Fixed mtimes, directories last (writing into them bumps theirs).
  std::vector<std::string> dirs;
  for (auto& p : std::filesystem::recursive_directory_iterator(root)) {
    if (p.is_directory() && !p.is_symlink()) {
      dirs.push_back(p.path());
    } else {
      SetMtime(p.path(), 1650000000);
    }
  }
  for (const auto& d : dirs) SetMtime(d, 1640000000);
}

// The tree and its tarball are made once for the suite (the 5 MB file makes
// packing the slow part); each test gets its own scratch directory.
class SeekableTarTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new TempDir();
    MakeTree(*shared_ / "src");
    SeekableTarWriter::Options opts;
    opts.target_block_raw_size = kBlock;
    shared_index_ = new TarIndex();
    pack_status_ = new Status(PackDirectory(*shared_ / "src", nullptr, *shared_ / "home.tar.gz",
                                            opts, shared_index_, &shared_skipped_));
  }
  static void TearDownTestSuite() {
    delete shared_;
    delete shared_index_;
    delete pack_status_;
  }
  void SetUp() override {
    ASSERT_FALSE(shared_->path().empty());
    ASSERT_FALSE(tmp_.path().empty());
    ASSERT_TRUE(pack_status_->ok()) << pack_status_->ToString();
    ASSERT_TRUE(shared_skipped_.empty())
        << shared_skipped_[0].path << ": " << shared_skipped_[0].reason;
  }

  static inline TempDir* shared_ = nullptr;
  static inline TarIndex* shared_index_ = nullptr;
  static inline Status* pack_status_ = nullptr;
  static inline std::vector<SkippedEntry> shared_skipped_;

  TempDir tmp_;
  const std::string src_ = *shared_ / "src";
  const std::string tarball_ = *shared_ / "home.tar.gz";
  const TarIndex& index_ = *shared_index_;
};

TEST_F(SeekableTarTest, IndexDescribesBlocksCutAtMemberBoundaries) {
  const TarEntry* big = index_.Find("big.bin");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->size, 5000000u);
  size_t first = 0, last = 0;
  index_.BlocksCovering(big->data_offset, big->size, &first, &last);
  EXPECT_GE(last - first + 1, 19u) << "a 5 MB file must span many 256 KiB blocks";
  // Small members share blocks.
  EXPECT_LT(index_.blocks.size(), index_.entries.size());
  EXPECT_LE(index_.blocks.size(), 30u);
  // Every block starts at a member header, except cuts inside the big file
  // and the end-of-archive marker.
  for (size_t i = 0; i < index_.blocks.size(); ++i) {
    const TarBlock& b = index_.blocks[i];
    bool at_header = false;
    for (const auto& e : index_.entries) at_header |= e.header_offset == b.raw_offset;
    bool inside_big =
        b.raw_offset > big->header_offset && b.raw_offset < big->data_offset + big->size;
    bool at_end = b.raw_offset + 1024 == index_.raw_size;
    EXPECT_TRUE(at_header || inside_big || at_end) << "block " << i << " at " << b.raw_offset;
    if (i > 0) {
      EXPECT_EQ(b.raw_offset, index_.blocks[i - 1].raw_offset + index_.blocks[i - 1].raw_size);
      EXPECT_EQ(b.comp_offset, index_.blocks[i - 1].comp_offset + index_.blocks[i - 1].comp_size);
    }
    EXPECT_LE(b.raw_size, 2 * kBlock);
  }
  // Archive order is sorted and directories come before their contents.
  EXPECT_EQ(index_.entries.front().path, kLongDir);  // "L..." sorts before "a"
  EXPECT_EQ(index_.entries[1].path, kLongDir + "/" + std::string(100, 'M'));
  EXPECT_EQ(index_.Find("a/secret.json")->mode, 0600u);
  EXPECT_EQ(index_.Find("a/run.sh")->mode, 0755u);
  EXPECT_EQ(index_.Find("emptydir")->type, EntryType::kDir);
  EXPECT_EQ(index_.Find("link")->link_target, "a/b/c/deep.txt");
  EXPECT_NE(index_.Find(kLongPath), nullptr);
}

TEST_F(SeekableTarTest, ExtractReproducesTheTree) {
  const std::string dest = tmp_ / "out/nested";  // parents are created
  std::vector<SkippedEntry> skipped;
  TarIndex entries;
  Status s = ExtractTarGz(tarball_, dest, &skipped, &entries);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(skipped.empty());
  auto want = Snapshot(src_);
  auto got = Snapshot(dest);
  EXPECT_EQ(got, want) << "want:\n" << Describe(want) << "got:\n" << Describe(got);
  for (const auto& [path, node] : want) {
    if (node.type == 'l') continue;
    EXPECT_EQ(got[path].mtime, node.mtime) << path;
  }
  ASSERT_EQ(entries.entries.size(), index_.entries.size());
  for (size_t i = 0; i < entries.entries.size(); ++i) {
    EXPECT_EQ(entries.entries[i].path, index_.entries[i].path);
    EXPECT_EQ(entries.entries[i].header_offset, index_.entries[i].header_offset);
    EXPECT_EQ(entries.entries[i].data_offset, index_.entries[i].data_offset);
  }
  EXPECT_EQ(entries.raw_size, index_.raw_size);
}

TEST_F(SeekableTarTest, ExtractRefusesNonEmptyDestination) {
  WriteFile(tmp_ / "busy/x", "x");
  Status s = ExtractTarGz(tarball_, tmp_ / "busy", nullptr, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = ExtractTarGz(tarball_, tmp_ / "busy/x", nullptr, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

TEST_F(SeekableTarTest, ReadsEveryMemberFromRanges) {
  const uint64_t size = std::filesystem::file_size(tarball_);
  FileFetcher fetcher{tarball_};
  TarIndex idx;
  Status s = ReadSeekableIndex(size, std::ref(fetcher), &idx);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(fetcher.calls, 2u) << "trailer + index";
  EXPECT_EQ(idx.Serialize(), index_.Serialize());

  int files = 0;
  for (const auto& e : idx.entries) {
    if (e.type != EntryType::kFile) continue;
    std::string got;
    s = ReadMemberRange(idx, e, 0, e.size, std::ref(fetcher), [&](const char* d, size_t n) {
      got.append(d, n);
      return Status::OK();
    });
    ASSERT_TRUE(s.ok()) << e.path << ": " << s.ToString();
    EXPECT_EQ(got, ReadFile(src_ + "/" + e.path)) << e.path;
    ++files;
  }
  EXPECT_GE(files, 66);

  // A slice of the big file crossing block boundaries; clipping at the end.
  const TarEntry* big = idx.Find("big.bin");
  const std::string content = ReadFile(src_ + "/big.bin");
  std::string got;
  auto sink = [&](const char* d, size_t n) {
    got.append(d, n);
    return Status::OK();
  };
  ASSERT_TRUE(ReadMemberRange(idx, *big, 300000, 700000, std::ref(fetcher), sink).ok());
  EXPECT_EQ(got, content.substr(300000, 700000));
  got.clear();
  ASSERT_TRUE(ReadMemberRange(idx, *big, 4999990, 100, std::ref(fetcher), sink).ok());
  EXPECT_EQ(got, content.substr(4999990));
  got.clear();
  ASSERT_TRUE(ReadMemberRange(idx, *big, 6000000, 100, std::ref(fetcher), sink).ok());
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(
      ReadMemberRange(idx, *idx.Find("a"), 0, 1, std::ref(fetcher), sink).IsInvalidArgument());
}

TEST_F(SeekableTarTest, SmallMemberReadFetchesOnlyItsBlock) {
  const uint64_t size = std::filesystem::file_size(tarball_);
  FileFetcher fetcher{tarball_};
  TarIndex idx;
  ASSERT_TRUE(ReadSeekableIndex(size, std::ref(fetcher), &idx).ok());
  const uint64_t index_bytes = fetcher.bytes;
  EXPECT_LT(index_bytes, size / 50) << "trailer + index must be small";

  const TarEntry* e = idx.Find("a/secret.json");
  ASSERT_NE(e, nullptr);
  size_t first = 0, last = 0;
  idx.BlocksCovering(e->data_offset, e->size, &first, &last);
  ASSERT_EQ(first, last);
  std::string got;
  ASSERT_TRUE(ReadMemberRange(idx, *e, 0, e->size, std::ref(fetcher), [&](const char* d, size_t n) {
                got.append(d, n);
                return Status::OK();
              }).ok());
  EXPECT_EQ(got, "{\"token\":\"x\"}\n");
  const uint64_t read_bytes = fetcher.bytes - index_bytes;
  EXPECT_EQ(fetcher.calls, 3u) << "one fetch for the member";
  EXPECT_EQ(read_bytes, idx.blocks[first].comp_size);
  EXPECT_LT(read_bytes * 10, size) << "fetched " << read_bytes << " of " << size;
}

TEST_F(SeekableTarTest, SameTreeGivesSameBytes) {
  SeekableTarWriter::Options opts;
  opts.target_block_raw_size = kBlock;
  const std::string again = tmp_ / "again.tar.gz";
  ASSERT_TRUE(PackDirectory(src_, nullptr, again, opts, nullptr, nullptr).ok());
  EXPECT_TRUE(ReadFile(again) == ReadFile(tarball_));
}

// The tarball is an ordinary .tar.gz for every common reader.
TEST_F(SeekableTarTest, ExternalToolsReadIt) {
  const auto want = Snapshot(src_);
  struct Tool {
    std::string name;
    std::string cmd;  // %T tarball, %D destination
  };
  const std::vector<Tool> tools = {
      {"GNU tar", "tar -xzf %T -C %D"},
      {"bsdtar", "bsdtar -xzf %T -C %D"},
      {"python tarfile",
       "python3 -c \"import sys, tarfile; t = tarfile.open(sys.argv[1], mode='r:gz'); "
       "t.extractall(sys.argv[2], **({'filter': 'tar'} if hasattr(tarfile, 'data_filter') else "
       "{}))\" %T %D"},
  };
  for (const auto& tool : tools) {
    const std::string dest = tmp_ / ("tool-" + std::to_string(&tool - tools.data()));
    std::filesystem::create_directories(dest);
    std::string cmd = tool.cmd;
    cmd.replace(cmd.find("%T"), 2, tarball_);
    cmd.replace(cmd.find("%D"), 2, dest);
    std::string out;
    EXPECT_EQ(RunShell(cmd, &out), 0) << tool.name << ": " << out;
    EXPECT_EQ(out, "") << tool.name << " complained";
    auto got = Snapshot(dest);
    EXPECT_EQ(got, want) << tool.name << " want:\n" << Describe(want) << "got:\n" << Describe(got);
    for (const auto& [path, node] : want) {
      if (node.type == 'f') {
        EXPECT_EQ(got[path].mtime, node.mtime) << tool.name << " " << path;
      }
    }
  }
  std::string out;
  EXPECT_EQ(RunShell("gzip -t " + tarball_, &out), 0) << out;
  EXPECT_EQ(out, "");
  EXPECT_EQ(RunShell("tar -tzf " + tarball_ + " | wc -l", &out), 0);
  EXPECT_EQ(std::stoul(out), index_.entries.size());
}

TEST(SeekableTarEmptyTest, EmptyTreeRoundTrips) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "src");
  TarIndex idx;
  ASSERT_TRUE(PackDirectory(tmp / "src", nullptr, tmp / "e.tar.gz", {}, &idx, nullptr).ok());
  EXPECT_TRUE(idx.entries.empty());
  EXPECT_EQ(idx.raw_size, 1024u);
  FileFetcher fetcher{tmp / "e.tar.gz"};
  TarIndex back;
  Status s =
      ReadSeekableIndex(std::filesystem::file_size(tmp / "e.tar.gz"), std::ref(fetcher), &back);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(back.entries.empty());
  s = ExtractTarGz(tmp / "e.tar.gz", tmp / "out", nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Snapshot(tmp / "out").empty());
  std::string out;
  std::filesystem::create_directories(tmp / "gnu");
  EXPECT_EQ(RunShell("tar -xzf " + (tmp / "e.tar.gz") + " -C " + (tmp / "gnu"), &out), 0) << out;
  EXPECT_EQ(RunShell("gzip -t " + (tmp / "e.tar.gz"), &out), 0) << out;
}

TEST(SeekableTarWriterTest, RejectsUnsanitisedInput) {
  TempDir tmp;
  auto w = SeekableTarWriter::Create(tmp / "w.tar.gz", {});
  ASSERT_TRUE(w.ok());
  TarEntry e;
  e.path = "../x";
  EXPECT_TRUE((*w)->AddFileFromBytes(e, "x").IsInvalidArgument());
  e.path = "./x";
  EXPECT_TRUE((*w)->AddFileFromBytes(e, "x").IsInvalidArgument());
  e.path = "l";
  e.link_target = "/etc/passwd";
  EXPECT_TRUE((*w)->AddSymlink(e).IsInvalidArgument());
  e.link_target = "../up";
  EXPECT_TRUE((*w)->AddSymlink(e).IsInvalidArgument());
  e.path = "f";
  e.mode = 04777;
  ASSERT_TRUE((*w)->AddFileFromBytes(e, "data").ok());
  EXPECT_TRUE((*w)->AddFileFromBytes(e, "again").IsInvalidArgument());
  TarIndex idx;
  ASSERT_TRUE((*w)->Finish(&idx).ok());
  ASSERT_EQ(idx.entries.size(), 1u);
  EXPECT_EQ(idx.entries[0].mode, 0755u);

  SeekableTarWriter::Options bad;
  bad.target_block_raw_size = 100;
  EXPECT_TRUE(SeekableTarWriter::Create(tmp / "bad.tar.gz", bad).status().IsInvalidArgument());
}

TEST(SeekableTarWriterTest, UnfinishedOutputIsRemoved) {
  TempDir tmp;
  {
    auto w = SeekableTarWriter::Create(tmp / "w.tar.gz", {});
    ASSERT_TRUE(w.ok());
    TarEntry e;
    e.path = "f";
    ASSERT_TRUE((*w)->AddFileFromBytes(e, "data").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "w.tar.gz"));
}

}  // namespace
}  // namespace ccfs
