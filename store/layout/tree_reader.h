// Reading a layout-v2 tree: a segment by its ref (checked against its name),
// and one entry by path, reading the one segment whose range holds it.
#pragma once

#include <string>

#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/layout/root.h"
#include "store/objects/object_store.h"

namespace ccfs {

// GETs W/v2/index/<ref.name> and decodes it. Corruption when the bytes do not
// hash to the name (a damaged or substituted object); NotFound when it is gone
// (a collector raced an old root: read the root again).
Status LoadSegment(ObjectStore& store, const std::string& workspace, const SegmentRef& ref,
                   IndexSegment* out);

// The index of the segment in `root` whose range would hold `path`: the first
// ending at or after it, else the last. root.segments must not be empty.
size_t SegmentIndexFor(const WorkspaceRoot& root, const std::string& path);

// The entry at `path`, or NotFound.
Status LookupEntry(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                   const std::string& path, IndexEntry* out);

}  // namespace ccfs
