// Export: a v2 tree (packs, transcript chunks, directories, symlinks, empty
// files) comes out as a tar.gz that plain `tar xzf` extracts byte for byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/export.h"
#include "store/layout/tree_reader.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(LayoutExportTest, TarExtractsTheTreeByteForByte) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-export-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/store");
  auto opened = OpenFileStore(dir + "/store");
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectStore> store = std::move(opened).value();
  std::vector<UniqueFd> fds;
  auto local = [&](const std::string& content) {
    std::string p = dir + "/f" + std::to_string(fds.size());
    std::ofstream(p, std::ios::binary) << content;
    fds.emplace_back(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    return fds.back().get();
  };
  std::string big(2 << 20, 'b');
  for (size_t i = 0; i < big.size(); i += 1000) big[i] = static_cast<char>('0' + i % 10);

  CommitInput c;
  c.scratch_dir = dir;
  c.segment_entries = 3;
  for (auto [path, content] : std::vector<std::pair<std::string, std::string>>{
           {".claude.json", "{}"}, {"plugins/x/big.bin", big}, {"todos/a.json", "[1]"}}) {
    PackFile f;
    f.entry.path = path;
    f.entry.mode = 0644;
    f.entry.mtime_ns = 1700000000000000000;
    f.fd = local(content);
    c.files.push_back(f);
  }
  IndexEntry t;
  t.path = "projects/p/s.jsonl";
  t.mode = 0600;
  TranscriptAppend a;
  a.base = t;
  a.fd = local("{\"a\":1}\n{\"b\":2}\n");
  a.new_size = 16;
  a.mode = 0600;
  c.appends.push_back(a);
  IndexEntry d, l, empty;
  d.path = "projects/p";
  d.type = EntryType::kDir;
  d.mode = 0755;
  l.path = "todos/link";
  l.type = EntryType::kSymlink;
  l.mode = 0777;
  l.link_target = "a.json";
  empty.path = "todos/empty";
  c.entries = {d, l, empty};
  CommitReport r;
  ASSERT_TRUE(CommitOnce(*store, "ws", nullptr, c, &r).ok());

  ExportReport report;
  Status s = ExportTree(*store, "ws", r.root, dir + "/out.tar.gz", dir, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.entries, 7u);
  std::filesystem::create_directories(dir + "/x");
  ASSERT_EQ(std::system(("tar xzf " + dir + "/out.tar.gz -C " + dir + "/x").c_str()), 0);
  EXPECT_EQ(Slurp(dir + "/x/plugins/x/big.bin"), big);
  EXPECT_EQ(Slurp(dir + "/x/projects/p/s.jsonl"), "{\"a\":1}\n{\"b\":2}\n");
  EXPECT_EQ(Slurp(dir + "/x/.claude.json"), "{}");
  EXPECT_EQ(std::filesystem::read_symlink(dir + "/x/todos/link"), "a.json");
  EXPECT_EQ(std::filesystem::file_size(dir + "/x/todos/empty"), 0u);
  EXPECT_EQ(std::filesystem::status(dir + "/x/projects/p/s.jsonl").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // A pack gone (gc raced an old root) is an error that says so, and leaves
  // no partial file behind.
  for (auto& e : std::filesystem::recursive_directory_iterator(dir + "/store")) {
    if (e.path().string().find("/packs/") != std::string::npos && e.is_regular_file()) {
      std::filesystem::remove(e.path());
      break;
    }
  }
  s = ExportTree(*store, "ws", r.root, dir + "/out2.tar.gz", dir, &report);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir + "/out2.tar.gz"));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ccfs
