// Composing the next tarball at flush without recompressing what did not
// change. The tarball side of the tree is cut into segments, in tree order:
//  - copy: a run of base blocks that starts and ends on member boundaries
//    and holds only members unchanged here, in the same order: its gzip
//    members go into the new tarball byte for byte
//    (SeekableTarWriter::AppendBlocks), read from the block cache or fetched
//    with ranged GETs If-Match the base ETag, CRC-checked on the way;
//  - write: everything else, packed and compressed anew.
#pragma once

#include <string>
#include <vector>

#include "fs/hydrate/block_cache.h"
#include "fs/tree/base_version.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "store/archive/tar_index.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct ComposePlan {
  struct Segment {
    bool copy = false;
    size_t first_block = 0, last_block = 0;  // copy: base blocks [first, last]
    size_t first_base_entry = 0;             // copy: base entry of side[side_begin]
    size_t side_begin = 0, side_end = 0;     // the side entries [begin, end)
  };
  std::vector<Segment> segments;
};

struct ComposeStats {
  size_t blocks_copied = 0;
  uint64_t bytes_copied = 0;   // compressed bytes copied as they were
  size_t entries_written = 0;  // entries packed (and compressed) anew
  size_t entries_copied = 0;
};

// Splits `side` (tarball-side entries in tree order) into segments; with
// `allow_copy` false, into one write segment.
ComposePlan PlanCompose(const std::vector<const SnapshotEntry*>& side, const TarballVersion& base,
                        bool allow_copy = true);

// Writes the tarball that `plan` describes to `out_path`; *index receives
// its index. Files of write segments must have local content.
Status WriteComposed(const ComposePlan& plan, const std::vector<const SnapshotEntry*>& side,
                     const TarballVersion& base, ObjectStore& store, const std::string& key,
                     BlockCache* blocks, InodeTable& table, ContentCache& content,
                     const std::string& out_path, TarIndex* index, ComposeStats* stats);

}  // namespace ccfs
