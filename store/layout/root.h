// WorkspaceRoot: the root object of a layout-v2 workspace, the only object of
// a workspace that is ever replaced (docs/layout-v2-plan.md). It names the
// index segments, and through them every pack and transcript chunk, so a
// mount reads the root and the segments it lacks and needs no LIST.
//
// A commit PUTs a new root with If-Match on the one it started from (or
// If-None-Match: * for the first), so two writers never both succeed from
// the same parent: every success is generation + 1. The nonce lets a writer
// whose PUT timed out find out, by reading the root back, whether it landed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

// Who committed a root (for `ccfs log` and for the lease holder to recognise
// its own commit).
struct RootWriter {
  std::string host;
  int64_t pid = 0;
  std::string holder;  // the lease holder id, "" when none
};

// One index segment: the entries of the path range [first_path, last_path],
// stored as the immutable object named `name` (the SHA-256 of its bytes).
struct SegmentRef {
  std::string name;
  std::string first_path;
  std::string last_path;
  uint64_t entries = 0;
  uint64_t bytes = 0;  // size of the segment object
};

struct WorkspaceRoot {
  uint64_t generation = 0;         // 1 for the first commit
  uint64_t parent_generation = 0;  // the root this commit started from, 0 for none
  std::string nonce;               // 32 hex digits, random per commit
  RootWriter writer;
  int64_t committed_unix_ms = 0;
  // Sorted by path range; ranges do not overlap. Empty for an empty tree.
  std::vector<SegmentRef> segments;
  // ETag of the v1 tarball whose tree this history adopted ("" if none): a
  // v1 tarball with another ETag was PUT by an older ccfs after adoption.
  std::string adopted_v1_etag;
  // Totals of the tree, for `ccfs ls` and `ccfs log`.
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// The format name written in every root; a root with another "ccfs-root-N"
// is NotSupported (written by a newer ccfs), anything else is Corruption.
inline constexpr std::string_view kRootFormat = "ccfs-root-2";

// JSON text, stable field order (the same root always encodes the same).
std::string EncodeRoot(const WorkspaceRoot& root);

// Parses and checks a root: the format, generation > parent generation,
// object names that are SHA-256 hex, segment ranges in order and disjoint.
// Corruption names what is wrong; NotSupported for a newer format.
Result<WorkspaceRoot> DecodeRoot(std::string_view text);

// Lower-case hex SHA-256 names every immutable v2 object (segment, pack,
// chunk). True for a well-formed name.
bool IsObjectName(std::string_view name);

}  // namespace ccfs
