// The one mountinfo parser: escaped paths (a space is \040), optional
// fields before the "-" separator, the last mount on a path being the
// visible one, and malformed lines skipped.
#include <gtest/gtest.h>

#include "fs/kernel/mountinfo.h"
#include "fs_test_util.h"

namespace ccfs {
namespace {

using fstest::TempDir;
using fstest::WriteFile;

TEST(MountinfoTest, ParsesEscapesOptionalFieldsAndStacking) {
  TempDir dir;
  const std::string table = dir / "mountinfo";
  WriteFile(table,
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
            "90 22 0:50 / /home/dev/my\\040claude rw,nosuid shared:7 master:2 - fuse.ccfs ccfs:ws "
            "rw,user_id=0\n"
            "garbage line\n"
            "91 22 0:51 / /mnt/stack rw - tmpfs tmpfs rw\n"
            "92 91 0:52 / /mnt/stack rw - fuse.ccfs ccfs:other rw\n"
            "93 22 0:53 / /mnt/back\\134slash rw - ext4 /dev/sdb1 rw\n");
  auto mounts = ReadMountTable(table);
  ASSERT_EQ(mounts.size(), 5u);
  EXPECT_EQ(mounts[1].mountpoint, "/home/dev/my claude");
  EXPECT_EQ(mounts[1].fstype, "fuse.ccfs");
  EXPECT_EQ(mounts[1].source, "ccfs:ws");
  EXPECT_EQ(MountedFsType("/home/dev/my claude", table), "fuse.ccfs");
  EXPECT_EQ(MountedFsType("/home/dev/my\\040claude", table), "");
  EXPECT_EQ(MountedFsType("/mnt/stack", table), "fuse.ccfs");  // the later mount hides tmpfs
  EXPECT_EQ(MountedFsType("/mnt/back\\slash", table), "ext4");
  EXPECT_EQ(MountedFsType("/nowhere", table), "");
  EXPECT_TRUE(ReadMountTable(dir / "missing").empty());
}

TEST(MountinfoTest, UnescapeLeavesNonOctalAlone) {
  EXPECT_EQ(UnescapeMountinfo("a\\040b\\011c"), "a b\tc");
  EXPECT_EQ(UnescapeMountinfo("a\\9xyz"), "a\\9xyz");
  EXPECT_EQ(UnescapeMountinfo("tail\\04"), "tail\\04");
}

}  // namespace
}  // namespace ccfs
