// Which index segments a commit rewrites. A change touches the one segment
// whose path range holds (or would hold) its path; every other segment is
// reused by name, unread. So the metadata a commit reads and writes grows
// with what it changed, not with the tree (docs/layout-v2-plan.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/layout/root.h"

namespace ccfs {

// Set `path` to `entry`, or remove it when `entry` is empty.
struct SegmentChange {
  std::string path;
  std::optional<IndexEntry> entry;
};

// Reads the segment a ref names (from a cache or the store).
using SegmentLoader = std::function<Status(const SegmentRef& ref, IndexSegment* out)>;

struct SegmentToWrite {
  SegmentRef ref;
  std::string bytes;  // EncodeSegment output; ref.name is its SHA-256
};

struct SegmentPlan {
  std::vector<SegmentRef> segments;     // the new root's list, in path order
  std::vector<SegmentToWrite> written;  // the new segments among them
  size_t loaded = 0;                    // segments read to plan
  // How the tree's totals change: regular files, and their bytes.
  int64_t files_delta = 0;
  int64_t bytes_delta = 0;
};

// Applies `changes` (any order; a path at most once) to the tree the
// segments `old` describe. Touched segments are read with `load`, changed,
// and cut again into pieces of about `target_entries` once they pass twice
// that; a segment left empty is dropped.
Status PlanSegments(const std::vector<SegmentRef>& old, std::vector<SegmentChange> changes,
                    const SegmentLoader& load, size_t target_entries, SegmentPlan* out);

}  // namespace ccfs
