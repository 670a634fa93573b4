#include "store/archive/tar_sanitize.h"

#include <gtest/gtest.h>

namespace ccfs {
namespace {

std::string Norm(const std::string& raw) {
  std::string out, why;
  if (!NormalizeMemberPath(raw, &out, &why)) return "REJECT: " + why;
  return out;
}

TEST(TarSanitizeTest, NormalizesPaths) {
  EXPECT_EQ(Norm("./a//b/"), "a/b");
  EXPECT_EQ(Norm("a/./b"), "a/b");
  EXPECT_EQ(Norm("a/../b"), "b");
  EXPECT_EQ(Norm("dir/"), "dir");
  EXPECT_EQ(Norm("."), "");
  EXPECT_EQ(Norm("./"), "");
  EXPECT_EQ(Norm(""), "");
  EXPECT_EQ(Norm("日本語/ファイル.txt"), "日本語/ファイル.txt");
}

TEST(TarSanitizeTest, RejectsAbsoluteAndEscapingPaths) {
  EXPECT_EQ(Norm("/etc/passwd"), "REJECT: absolute path");
  EXPECT_EQ(Norm("../x"), "REJECT: path escapes the archive root (..)");
  EXPECT_EQ(Norm("a/../../x"), "REJECT: path escapes the archive root (..)");
  EXPECT_EQ(Norm("./.."), "REJECT: path escapes the archive root (..)");
  EXPECT_EQ(Norm(std::string(256, 'n')), "REJECT: a path component is longer than 255 bytes");
  EXPECT_EQ(Norm(std::string("a\0b", 3)), "REJECT: name contains a NUL byte");
}

TEST(TarSanitizeTest, CanonicalPaths) {
  EXPECT_TRUE(IsCanonicalMemberPath("a"));
  EXPECT_TRUE(IsCanonicalMemberPath("a/b/c.txt"));
  EXPECT_FALSE(IsCanonicalMemberPath(""));
  EXPECT_FALSE(IsCanonicalMemberPath("/a"));
  EXPECT_FALSE(IsCanonicalMemberPath("a/"));
  EXPECT_FALSE(IsCanonicalMemberPath("a//b"));
  EXPECT_FALSE(IsCanonicalMemberPath("./a"));
  EXPECT_FALSE(IsCanonicalMemberPath("a/../b"));
  EXPECT_FALSE(IsCanonicalMemberPath(".."));
}

TEST(TarSanitizeTest, ModesLoseSpecialBitsAndGroupOtherWrite) {
  EXPECT_EQ(SanitizeMode(0600), 0600u);
  EXPECT_EQ(SanitizeMode(0755), 0755u);
  EXPECT_EQ(SanitizeMode(0644), 0644u);
  EXPECT_EQ(SanitizeMode(04755), 0755u);
  EXPECT_EQ(SanitizeMode(02775), 0755u);
  EXPECT_EQ(SanitizeMode(01777), 0755u);
  EXPECT_EQ(SanitizeMode(0666), 0644u);
  EXPECT_EQ(SanitizeMode(0100644), 0644u);  // type bits are not permission bits
}

TEST(TarSanitizeTest, SymlinkTargets) {
  std::string why;
  EXPECT_TRUE(SymlinkTargetStaysInside("a/l", "../b", &why));
  EXPECT_TRUE(SymlinkTargetStaysInside("a/b/l", "../../c", &why));
  EXPECT_TRUE(SymlinkTargetStaysInside("l", "./x/../y", &why));
  EXPECT_FALSE(SymlinkTargetStaysInside("l", "../x", &why));
  EXPECT_EQ(why, "symlink target escapes the tree");
  EXPECT_FALSE(SymlinkTargetStaysInside("a/b/l", "../../../c", &why));
  EXPECT_FALSE(SymlinkTargetStaysInside("l", "/etc/passwd", &why));
  EXPECT_EQ(why, "symlink target is absolute");
  EXPECT_FALSE(SymlinkTargetStaysInside("l", "", &why));
}

std::vector<std::string> Paths(const std::vector<TarEntry>& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.path);
  return out;
}

TarEntry Link(const std::string& path, const std::string& target) {
  TarEntry e;
  e.path = path;
  e.type = EntryType::kSymlink;
  e.link_target = target;
  return e;
}

TEST(TarSanitizeTest, DropsSymlinksEscapingThroughOtherSymlinks) {
  TarEntry file;
  file.path = "d/file";
  std::vector<TarEntry> entries = {
      file,
      Link("d/up", ".."),               // root: fine
      Link("esc", "d/up/.."),           // lexically "d", really the root's parent
      Link("esc2", "d/up/../outside"),  // same, one level further
      Link("ok", "d/up/d/file"),        // really "d/file": fine
      Link("current", "v2"),            // versioned-directory pattern: fine
      Link("bin", "current/bin"),
      Link("loop1", "loop2"),
      Link("loop2", "loop1"),
      Link("abs", "/etc"),
  };
  std::vector<SkippedEntry> skipped;
  DropEscapingSymlinks(&entries, &skipped);
  EXPECT_EQ(Paths(entries), (std::vector<std::string>{"d/file", "d/up", "ok", "current", "bin"}));
  ASSERT_EQ(skipped.size(), 5u);
  EXPECT_EQ(skipped[0].path, "esc");
  EXPECT_NE(skipped[0].reason.find("through another symlink"), std::string::npos)
      << skipped[0].reason;
  EXPECT_EQ(skipped[2].path, "loop1");
  EXPECT_NE(skipped[2].reason.find("loops"), std::string::npos);
  EXPECT_EQ(skipped[4].path, "abs");
}

}  // namespace
}  // namespace ccfs
