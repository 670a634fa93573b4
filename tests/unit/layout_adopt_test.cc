// Adopting a v1 workspace (pushed by today's ccfs) into layout v2 copies its
// objects inside the store, downloads only the tarball's index, and yields a
// generation whose export is the pushed tree.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/layout/export.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/workspace/adopt_v1.h"
#include "store/workspace/workspace.h"

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

}  // namespace
}  // namespace ccfs
