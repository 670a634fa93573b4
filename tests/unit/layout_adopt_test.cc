// Adopting a v1 workspace (pushed by today's ccfs) into layout v2 copies its
// objects inside the store, downloads only the tarball's index, and yields a
// generation whose export is the pushed tree.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/layout/export.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/workspace/adopt_v1.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

TEST(LayoutAdoptTest, AV1WorkspaceIsAdoptedWithoutBeingDownloaded) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-adopt-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/store");
  auto opened = OpenFileStore(dir + "/store");
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectStore> base = std::move(opened).value();
  FaultStore store(base.get());

  const std::string src = dir + "/src";
  std::string big(1 << 20, 'q');
  for (size_t i = 0; i < big.size(); i += 777) big[i] = static_cast<char>('a' + i % 26);
  Write(src + "/.claude.json", "{\"numStartups\":1}");
  Write(src + "/plugins/m/data.bin", big);
  Write(src + "/projects/-home-u/s1.jsonl", "{\"t\":1}\n{\"t\":2}\n");
  Write(src + "/projects/-home-u/s2.jsonl", "{\"t\":3}\n");
  ::chmod((src + "/projects/-home-u/s2.jsonl").c_str(), 0644);
  std::filesystem::create_directories(src + "/todos");
  PushOptions push;
  push.temp_dir = dir;
  PushResult pushed;
  Status s = PushWorkspace(store, src, "ws", push, &pushed);
  ASSERT_TRUE(s.ok()) << s.ToString();

  const uint64_t received = store.stats().bytes_received.load();
  AdoptReport report;
  s = AdoptV1(store, "ws", RootWriter{"laptop", 1, ""}, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const uint64_t downloaded = store.stats().bytes_received.load() - received;
  std::printf(
      "adopted %llu files and %llu transcripts; copied %llu B in the store, downloaded %llu B\n",
      static_cast<unsigned long long>(report.files),
      static_cast<unsigned long long>(report.transcripts),
      static_cast<unsigned long long>(report.bytes_copied),
      static_cast<unsigned long long>(downloaded));
  EXPECT_EQ(report.transcripts, 2u);
  EXPECT_LT(downloaded, 64u * 1024) << "only the tarball's index and small objects";
  EXPECT_EQ(report.root.generation, 1u);
  EXPECT_FALSE(report.root.adopted_v1_etag.empty());

  IndexEntry s2;
  ASSERT_TRUE(LookupEntry(store, "ws", report.root, "projects/-home-u/s2.jsonl", &s2).ok());
  EXPECT_EQ(s2.mode, 0644u);  // from the v1 modes object
  ASSERT_EQ(s2.chunks.size(), 1u);
  EXPECT_TRUE(s2.chunks[0].raw);

  ExportReport exported;
  s = ExportTree(store, "ws", report.root, dir + "/out.tar.gz", dir, &exported);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::filesystem::create_directories(dir + "/x");
  ASSERT_EQ(std::system(("tar xzf " + dir + "/out.tar.gz -C " + dir + "/x").c_str()), 0);
  EXPECT_EQ(Slurp(dir + "/x/plugins/m/data.bin"), big);
  EXPECT_EQ(Slurp(dir + "/x/.claude.json"), "{\"numStartups\":1}");
  EXPECT_EQ(Slurp(dir + "/x/projects/-home-u/s1.jsonl"), "{\"t\":1}\n{\"t\":2}\n");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/x/todos"));

  // Once adopted, adopting again is refused rather than forking history.
  EXPECT_TRUE(AdoptV1(store, "ws", RootWriter{}, &report).IsPreconditionFailed());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A tar.gz made by `tar czf` has no ccfs index: adoption reads it once,
// packs it again, and the generation it commits is the same tree, mtimes and
// modes included, with the tarball's ETag recorded as adopted.
TEST(LayoutAdoptTest, AForeignTarGzIsReadOnceAndPackedAgain) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-adopt-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/store");
  auto opened = OpenFileStore(dir + "/store");
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectStore> base = std::move(opened).value();
  FaultStore store(base.get());

  const std::string src = dir + "/src";
  std::string big(300000, 'x');
  for (size_t i = 0; i < big.size(); i += 331) big[i] = static_cast<char>('a' + i % 26);
  Write(src + "/.claude.json", "{\"numStartups\":7}");
  Write(src + "/plugins/p/blob.bin", big);
  Write(src + "/projects/-home-u/old.jsonl", "{\"t\":1}\n");
  ::chmod((src + "/plugins/p/blob.bin").c_str(), 0755);
  std::filesystem::create_directories(src + "/todos");
  std::filesystem::create_symlink("../.claude.json", src + "/plugins/link");
  // 40 days old, as Claude Code's cleanup would judge it.
  struct timeval old_times[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimes((src + "/projects/-home-u/old.jsonl").c_str(), old_times), 0);
  const std::string tgz = dir + "/plain.tar.gz";
  ASSERT_EQ(std::system(("tar czf " + tgz + " -C " + src + " .").c_str()), 0);
  PutOptions put;
  Status s = store.PutFile(TarballKey("ws"), tgz, put, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const uint64_t tgz_size = std::filesystem::file_size(tgz);

  const uint64_t received = store.stats().bytes_received.load();
  AdoptReport report;
  s = AdoptV1(store, "ws", RootWriter{"laptop", 1, ""}, &report, dir);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const uint64_t downloaded = store.stats().bytes_received.load() - received;
  std::printf("foreign tar.gz of %llu B: downloaded %llu B, uploaded %llu B\n",
              static_cast<unsigned long long>(tgz_size),
              static_cast<unsigned long long>(downloaded),
              static_cast<unsigned long long>(report.bytes_uploaded));
  EXPECT_TRUE(report.foreign);
  EXPECT_TRUE(report.skipped.empty());
  EXPECT_EQ(report.files, 3u);
  EXPECT_EQ(report.bytes_downloaded, tgz_size);
  // Read once: the tarball plus an index probe of at most a few KiB.
  EXPECT_LT(downloaded, tgz_size + 64 * 1024);
  EXPECT_GT(report.bytes_uploaded, 0u);
  EXPECT_EQ(report.root.generation, 1u);
  ObjectInfo head;
  ASSERT_TRUE(store.Head(TarballKey("ws"), &head).ok());
  EXPECT_EQ(report.root.adopted_v1_etag, head.etag);

  IndexEntry e;
  ASSERT_TRUE(LookupEntry(store, "ws", report.root, "projects/-home-u/old.jsonl", &e).ok());
  EXPECT_EQ(e.mtime_ns / 1000000000, 1700000000);
  ASSERT_TRUE(LookupEntry(store, "ws", report.root, "plugins/p/blob.bin", &e).ok());
  EXPECT_EQ(e.mode & 0777, 0755u);
  ASSERT_TRUE(LookupEntry(store, "ws", report.root, "plugins/link", &e).ok());
  EXPECT_EQ(e.link_target, "../.claude.json");

  ExportReport exported;
  s = ExportTree(store, "ws", report.root, dir + "/out.tar.gz", dir, &exported);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::filesystem::create_directories(dir + "/x");
  ASSERT_EQ(std::system(("tar xzf " + dir + "/out.tar.gz -C " + dir + "/x").c_str()), 0);
  EXPECT_EQ(Slurp(dir + "/x/plugins/p/blob.bin"), big);
  EXPECT_EQ(Slurp(dir + "/x/.claude.json"), "{\"numStartups\":7}");
  EXPECT_EQ(Slurp(dir + "/x/projects/-home-u/old.jsonl"), "{\"t\":1}\n");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/x/todos"));
  // Nothing of the scratch work is left behind.
  for (const auto& ent : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(ent.path().filename().string().rfind("ccfs-adopt-", 0), std::string::npos)
        << ent.path();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ccfs
