// PackDirectory's walk policy: what is kept, skipped, excluded.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "store/archive/pack_dir.h"
#include "store/archive/safe_extract.h"
#include "tar_test_util.h"

namespace ccfs {
namespace {

using tartest::ReadFile;
using tartest::Snapshot;
using tartest::TempDir;
using tartest::WriteFile;

std::string ReasonFor(const std::vector<SkippedEntry>& skipped, const std::string& path) {
  for (const auto& s : skipped) {
    if (s.path == path) return s.reason;
  }
  return "(not skipped)";
}

TEST(PackDirTest, KeepsTreeSkipsSpecialsAndEscapes) {
  TempDir tmp;
  const std::string src = tmp / "src";
  WriteFile(src + "/settings.json", "{}", 0644);
  WriteFile(src + "/suid-tool", "x", 04755);
  WriteFile(src + "/shared", "one inode, two names");
  ASSERT_EQ(::link((src + "/shared").c_str(), (src + "/shared-hardlink").c_str()), 0);
  ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0644), 0);
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = src + "/sock";
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::copy(sock_path.begin(), sock_path.end(), addr.sun_path);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(sock);
  std::filesystem::create_directories(src + "/d");
  ASSERT_EQ(::symlink("/etc/passwd", (src + "/abs-link").c_str()), 0);
  ASSERT_EQ(::symlink("../../outside", (src + "/d/escaping").c_str()), 0);
  ASSERT_EQ(::symlink("..", (src + "/d/up").c_str()), 0);
  ASSERT_EQ(::symlink("d/up/..", (src + "/chain").c_str()), 0);
  ASSERT_EQ(::symlink("settings.json", (src + "/good-link").c_str()), 0);
  // Excluded: a transcript file and a whole directory.
  WriteFile(src + "/projects/p/session.jsonl", "{}\n");
  WriteFile(src + "/projects/p/keep.txt", "keep");
  WriteFile(src + "/cache/big", std::string(1000, 'c'));

  auto exclude = [](const std::string& rel) {
    return rel == "cache" || (rel.rfind("projects/", 0) == 0 && rel.size() > 6 &&
                              rel.compare(rel.size() - 6, 6, ".jsonl") == 0);
  };
  TarIndex idx;
  std::vector<SkippedEntry> skipped;
  Status s = PackDirectory(src, exclude, tmp / "out.tar.gz", {}, &idx, &skipped);
  ASSERT_TRUE(s.ok()) << s.ToString();

  EXPECT_EQ(ReasonFor(skipped, "fifo"), "FIFO");
  EXPECT_EQ(ReasonFor(skipped, "sock"), "socket");
  EXPECT_EQ(ReasonFor(skipped, "abs-link"), "symlink target is absolute (-> /etc/passwd)");
  EXPECT_EQ(ReasonFor(skipped, "d/escaping"), "symlink target escapes the tree (-> ../../outside)");
  EXPECT_NE(ReasonFor(skipped, "chain").find("through another symlink"), std::string::npos);
  EXPECT_EQ(skipped.size(), 5u);

  std::vector<std::string> paths;
  for (const auto& e : idx.entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"d", "d/up", "good-link", "projects", "projects/p",
                                             "projects/p/keep.txt", "settings.json", "shared",
                                             "shared-hardlink", "suid-tool"}));
  EXPECT_EQ(idx.Find("suid-tool")->mode, 0755u);
  EXPECT_EQ(idx.Find("shared-hardlink")->type, EntryType::kFile);

  s = ExtractTarGz(tmp / "out.tar.gz", tmp / "back", nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(tmp / "back/shared-hardlink"), "one inode, two names");
  struct stat a, b;
  ASSERT_EQ(::stat((tmp / "back/shared").c_str(), &a), 0);
  ASSERT_EQ(::stat((tmp / "back/shared-hardlink").c_str(), &b), 0);
  EXPECT_NE(a.st_ino, b.st_ino) << "hard links come back as independent files";
}

TEST(PackDirTest, MissingDirectoryIsAnError) {
  TempDir tmp;
  Status s = PackDirectory(tmp / "nope", nullptr, tmp / "out.tar.gz", {}, nullptr, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(tmp / "out.tar.gz"));
}

}  // namespace
}  // namespace ccfs
