// BuildPack: one seekable tar.gz per commit, whose entries point at each
// file's bytes, and which plain `tar xzf` extracts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/archive/seekable_tar_reader.h"
#include "store/base/unique_fd.h"
#include "store/layout/pack_builder.h"

namespace ccfs {
namespace {

class LayoutPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-pack-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PackFile Add(const std::string& path, const std::string& content) {
    std::string local = dir_ + "/in-" + std::to_string(fds_.size());
    std::ofstream(local, std::ios::binary) << content;
    fds_.emplace_back(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    PackFile f;
    f.entry.path = path;
    f.entry.mode = 0600;
    f.entry.mtime_ns = 1777000000123456789;
    f.fd = fds_.back().get();
    return f;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
  std::vector<UniqueFd> fds_;
};

TEST_F(LayoutPackTest, EntriesPointAtTheirBytesAndTarExtractsThePack) {
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  std::vector<PackFile> files = {Add(".claude.json", "{\"numStartups\": 3}"),
                                 Add("todos/a.json", "[]"), Add("file-history/s/h@v1", big),
                                 Add("todos/empty.json", "")};
  BuiltPack pack;
  Status s = BuildPack(dir_ + "/pack.tar.gz", files, &pack);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(pack.name.size(), 64u);
  ASSERT_EQ(pack.entries.size(), 4u);
  EXPECT_EQ(pack.entries[2].size, big.size());
  EXPECT_EQ(pack.entries[2].mtime_ns, 1777000000123456789);  // the index keeps nanoseconds
  EXPECT_TRUE(pack.entries[3].pack.empty());

  // Each entry's bytes, read by range like a mount reads them.
  std::string object = Slurp(pack.path);
  EXPECT_EQ(object.size(), pack.bytes);
  RangeFetcher fetch = [&](uint64_t off, uint64_t len, std::string* out) {
    *out = object.substr(off, len);
    return Status::OK();
  };
  TarIndex index;
  ASSERT_TRUE(ReadSeekableIndex(object.size(), fetch, &index).ok());
  for (const IndexEntry& e : pack.entries) {
    if (e.size == 0) continue;
    EXPECT_EQ(e.pack, pack.name);
    const TarEntry* te = index.Find(e.path);
    ASSERT_NE(te, nullptr) << e.path;
    EXPECT_EQ(te->data_offset, e.pack_data_offset);
    std::string got;
    ASSERT_TRUE(ReadMemberRange(index, *te, 0, e.size, fetch, [&](const char* d, size_t n) {
                  got.append(d, n);
                  return Status::OK();
                }).ok());
    EXPECT_EQ(got, e.path == ".claude.json"   ? "{\"numStartups\": 3}"
                   : e.path == "todos/a.json" ? "[]"
                                              : big);
  }

  std::string out = dir_ + "/x";
  std::filesystem::create_directories(out);
  ASSERT_EQ(std::system(("tar xzf " + pack.path + " -C " + out).c_str()), 0);
  EXPECT_EQ(Slurp(out + "/file-history/s/h@v1"), big);
  EXPECT_EQ(Slurp(out + "/.claude.json"), "{\"numStartups\": 3}");
}

TEST_F(LayoutPackTest, SameFilesMakeTheSameNameAndDirectoriesAreRefused) {
  BuiltPack a, b;
  ASSERT_TRUE(BuildPack(dir_ + "/a.tar.gz", {Add("x", "1"), Add("y", "22")}, &a).ok());
  ASSERT_TRUE(BuildPack(dir_ + "/b.tar.gz", {Add("x", "1"), Add("y", "22")}, &b).ok());
  EXPECT_EQ(a.name, b.name);  // content-named: a retried commit reuses its pack

  PackFile dir = Add("d", "");
  dir.entry.type = EntryType::kDir;
  BuiltPack c;
  EXPECT_TRUE(BuildPack(dir_ + "/c.tar.gz", {dir}, &c).IsInvalidArgument());
}

}  // namespace
}  // namespace ccfs
