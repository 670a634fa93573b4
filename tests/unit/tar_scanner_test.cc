// Foreign tarballs (made by GNU tar, bsdtar, Python): scanned, indexed and
// extracted like ours, and recognised as having no ccfs index.
#include "store/archive/tar_scanner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "store/archive/safe_extract.h"
#include "store/archive/seekable_tar_reader.h"
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

void MakeTree(const std::string& root) {
  WriteFile(root + "/a/b/deep.txt", "deep\n");
  WriteFile(root + "/a/empty", "");
  WriteFile(root + "/a/secret.json", "{}\n", 0600);
  WriteFile(root + "/run.sh", "#!/bin/sh\n", 0755);
  WriteFile(root + "/medium.txt", tartest::PseudoRandomText(300000, 3));
  WriteFile(root + "/日本語/é.txt", "unicode\n");
  WriteFile(root + "/" + std::string(150, 'x') + "/" + std::string(150, 'y'), "long\n");
  std::filesystem::create_directories(root + "/emptydir");
  ::symlink("a/b/deep.txt", (root + "/link").c_str());
}

class ForeignTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    MakeTree(src_);
  }
  // Makes a tarball with a shell command (%S source dir, %T tarball).
  std::string Make(const std::string& name, std::string cmd) {
    const std::string t = tmp_ / name;
    cmd.replace(cmd.find("%T"), 2, t);
    cmd.replace(cmd.find("%S"), 2, src_);
    std::string out;
    EXPECT_EQ(RunShell(cmd, &out), 0) << cmd << ": " << out;
    return t;
  }
  TempDir tmp_;
  const std::string src_ = tmp_ / "src";
};

TEST_F(ForeignTarTest, ToolMadeTarballsExtractAndIndex) {
  const std::vector<std::pair<std::string, std::string>> makers = {
      {"gnu.tgz", "tar -czf %T -C %S ."},
      {"gnu-pax.tgz", "tar --format=pax -czf %T -C %S ."},
      {"bsd.tgz", "cd %S && bsdtar -czf %T ."},
      {"python.tgz",
       "python3 -c \"import sys, tarfile; t = tarfile.open(sys.argv[1], 'w:gz'); "
       "t.add(sys.argv[2], arcname='.'); t.close()\" %T %S"},
  };
  const auto want = Snapshot(src_);
  for (const auto& [name, cmd] : makers) {
    SCOPED_TRACE(name);
    const std::string tarball = Make(name, cmd);
    FileFetcher fetcher{tarball};
    TarIndex idx;
    Status s = ReadSeekableIndex(std::filesystem::file_size(tarball), std::ref(fetcher), &idx);
    EXPECT_TRUE(s.IsNotFound()) << s.ToString();

    const std::string dest = tmp_ / ("out-" + name);
    std::vector<SkippedEntry> skipped;
    s = ExtractTarGz(tarball, dest, &skipped, nullptr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(skipped.empty());
    auto got = Snapshot(dest);
    EXPECT_EQ(got, want) << "want:\n" << Describe(want) << "got:\n" << Describe(got);

    s = IndexTarGzFile(tarball, &idx, &skipped);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(idx.blocks.empty());
    // Such an index can be cached as text and read back.
    Result<TarIndex> cached = TarIndex::Parse(idx.Serialize());
    ASSERT_TRUE(cached.ok()) << cached.status().ToString();
    EXPECT_EQ(cached->Serialize(), idx.Serialize());
    ASSERT_EQ(idx.entries.size(), want.size());
    for (const auto& e : idx.entries) {
      auto it = want.find(e.path);
      ASSERT_NE(it, want.end()) << "[" << e.path << "]";
      if (e.type == EntryType::kFile) {
        EXPECT_EQ(e.size, it->second.content.size()) << e.path;
        EXPECT_EQ(e.mode, it->second.mode) << e.path;
      }
    }
  }
}

// Offsets reported for a foreign tarball point at the member's bytes in the
// decompressed stream; a pull source with odd chunk sizes works.
TEST_F(ForeignTarTest, PullSourceAndOffsets) {
  const std::string tarball = Make("gnu.tgz", "tar -czf %T -C %S .");
  std::string raw_tar;
  ASSERT_EQ(RunShell("gzip -dc " + tarball + " > " + (tmp_ / "raw.tar"), &raw_tar), 0);
  raw_tar = ReadFile(tmp_ / "raw.tar");
  const std::string gz = ReadFile(tarball);
  size_t pos = 0;
  auto sc = TarScanner::OpenSource([&](std::string* chunk) {
    size_t n = std::min<size_t>(777, gz.size() - pos);
    chunk->assign(gz, pos, n);
    pos += n;
    return Status::OK();
  });
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  int files = 0;
  for (bool done = false;;) {
    TarEntry e;
    Status s = (*sc)->Next(&e, &done);
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (done) break;
    if (e.type != EntryType::kFile) continue;
    std::string data;
    ASSERT_TRUE((*sc)
                    ->ReadData([&](const char* d, size_t n) {
                      data.append(d, n);
                      return Status::OK();
                    })
                    .ok());
    EXPECT_EQ(data, ReadFile(src_ + "/" + e.path)) << e.path;
    EXPECT_EQ(raw_tar.substr(e.data_offset, e.size), data) << e.path;
    EXPECT_LT(e.header_offset, e.data_offset);
    ++files;
  }
  EXPECT_EQ(files, 7);
  EXPECT_EQ((*sc)->raw_size(), raw_tar.size());
}

TEST_F(ForeignTarTest, MultiMemberGzipAndTrailingZeros) {
  const std::string tarball = Make("gnu.tgz", "tar -czf %T -C %S .");
  std::string out;
  ASSERT_EQ(RunShell("gzip -dc " + tarball + " > " + (tmp_ / "raw.tar"), &out), 0);
  const std::string raw = ReadFile(tmp_ / "raw.tar");
  // The tar stream split at an arbitrary point into two gzip members, then
  // padded with zeros (as some tape-style writers do).
  std::string gz = tartest::Gzip(raw.substr(0, 12345)) + tartest::Gzip(raw.substr(12345)) +
                   std::string(300, '\0');
  WriteFile(tmp_ / "multi.tgz", gz);
  Status s = ExtractTarGz(tmp_ / "multi.tgz", tmp_ / "out", nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Snapshot(tmp_ / "out"), Snapshot(src_));
}

TEST_F(ForeignTarTest, SparseFileComesBackWithItsHoles) {
  TempDir sparse_src;
  const std::string f = sparse_src / "sparse.bin";
  WriteFile(f, "");
  {
    ScopedFd fd(::open(f.c_str(), O_WRONLY));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd.get(), "middle", 6, 3 << 20), 6);
    ASSERT_EQ(::ftruncate(fd.get(), 5 << 20), 0);
  }
  const std::string t = tmp_ / "sparse.tgz";
  std::string out;
  ASSERT_EQ(RunShell("tar -S -czf " + t + " -C " + sparse_src.path() + " sparse.bin", &out), 0)
      << out;
  Status s = ExtractTarGz(t, tmp_ / "out", nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(ReadFile(tmp_ / "out/sparse.bin") == ReadFile(f));
}

}  // namespace
}  // namespace ccfs
