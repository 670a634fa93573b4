// The entry policy every tar read path applies (and the writers enforce), so
// that no archive — ours, another tool's, or a hostile one — can make ccfs
// write outside a tree, create devices, or hand out setuid files:
//
// - Paths are normalised ("./a//b/" -> "a/b", "a/./b" -> "a/b", "a/../b" ->
//   "b"). A path that is absolute or whose ".." climbs above the root is
//   skipped; the root itself (".") is dropped silently.
// - Regular files, directories and symlinks are kept. Hard links, character
//   and block devices, FIFOs, sockets and unknown types are skipped.
// - Symlinks must be relative and stay inside the tree, also when followed
//   through other symlinks of the same tree (DropEscapingSymlinks).
// - Modes keep their permission bits minus setuid/setgid/sticky and
//   group/other write: 0600 stays 0600, 0755 stays 0755, 04777 becomes 0755.
//
// Skipped entries are reported as SkippedEntry (path as written in the
// archive + a reason); they are never an error by themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/archive/tar_index.h"

namespace ccfs {

struct SkippedEntry {
  std::string path;    // as found (raw archive name or path relative to the tree)
  std::string reason;  // why it was left out, for the user
};

// Limits on names: longer ones cannot be created on Linux anyway.
constexpr size_t kMaxMemberPathBytes = 4095;
constexpr size_t kMaxMemberNameBytes = 255;

// Normalises a raw member name. Returns true with *out set ("" for the root
// itself), or false with *reason set when the name is absolute, escapes the
// root, is too long, or contains a NUL byte.
bool NormalizeMemberPath(std::string_view raw, std::string* out, std::string* reason);

// True if `path` is already in normal form and names something below the
// root: non-empty, relative, no "", "." or ".." segments, within the limits.
bool IsCanonicalMemberPath(std::string_view path);

// Permission bits with setuid/setgid/sticky and group/other write removed.
inline uint32_t SanitizeMode(uint32_t mode) { return mode & 0755u; }

// True if the symlink at `link_path` (canonical) with `target` is relative
// and, resolved lexically from the link's directory, stays inside the tree.
// On false, *reason says why. Other symlinks are not considered here.
bool SymlinkTargetStaysInside(std::string_view link_path, std::string_view target,
                              std::string* reason);

// Removes every symlink entry whose target, resolved through the other
// symlinks in `entries`, leaves the tree (e.g. "d/up" -> ".." plus
// "esc" -> "d/up/.."), or loops more than 40 times. Appends each removed
// entry to *skipped (if not null). Lexically-escaping symlinks are removed too.
void DropEscapingSymlinks(std::vector<TarEntry>* entries, std::vector<SkippedEntry>* skipped);

}  // namespace ccfs
