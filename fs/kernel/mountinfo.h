// The mount table of this process's mount namespace (/proc/self/mountinfo),
// parsed once for everyone who asks "is this path mounted, and as what":
// recovery of a dead daemon's mount and the CLI's checks before mounting.
#pragma once

#include <string>
#include <vector>

namespace ccfs {

struct MountEntry {
  std::string mountpoint;  // unescaped (mountinfo writes a space as \040)
  std::string fstype;      // e.g. "fuse.ccfs", "ext4"
  std::string source;
};

// Every mount in `table_path`'s order (later mounts over the same path hide
// earlier ones). Malformed lines are skipped.
std::vector<MountEntry> ReadMountTable(const std::string& table_path = "/proc/self/mountinfo");

// The filesystem type of the visible mount at exactly `path` (absolute),
// "" when `path` is not a mountpoint.
std::string MountedFsType(const std::string& path,
                          const std::string& table_path = "/proc/self/mountinfo");

// Mountinfo escapes space, tab, newline and backslash as \ooo (octal).
std::string UnescapeMountinfo(const std::string& field);

}  // namespace ccfs
