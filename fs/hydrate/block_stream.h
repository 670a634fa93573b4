// The background hydration stream's view of a seekable tarball: runs of
// blocks, each fetched with one ranged GET (If-Match the version's ETag) or
// taken from the block cache, and decoded by ReadBlocks
// (store/archive/seekable_tar_reader.h, the one decoder of the format);
// MemberWriter collects one member's data from the blocks it spans. Unlike
// ReadMemberRange (used for single files) one pass here fills every member a
// block holds.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "fs/hydrate/block_cache.h"
#include "fs/tree/base_version.h"
#include "store/archive/seekable_tar_reader.h"  // ReadBlocks, BlockVisitor
#include "store/base/unique_fd.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Visits blocks [first, last] of `version` in order. A run of blocks is
// fetched per GET, up to `max_request` compressed bytes (at least one block).
// `cancel`, if set and true, stops the stream between blocks (Status
// Unavailable "cancelled").
// Blocks found in `cache` (if given) are read from it; fetched ones are
// stored in it. The visitor also sees the block's compressed bytes.
Status StreamBlocks(ObjectStore& store, const std::string& key, const TarballVersion& version,
                    size_t first, size_t last, uint64_t max_request, const BlockVisitor& visit,
                    const std::atomic<bool>* cancel = nullptr, BlockCache* cache = nullptr);

// Indices of the blocks holding member data [data_offset, data_offset+size).
// False when the member has no data (size 0) or the index does not cover it.
bool BlocksOfMember(const TarballVersion& version, const TarEntry& entry, size_t* first,
                    size_t* last);

// Writes the part of a member's data found in each raw block to a file.
class MemberWriter {
 public:
  MemberWriter(const TarEntry& entry, UniqueFd fd) : entry_(entry), fd_(std::move(fd)) {}
  // Copies the overlap of `raw` (block at raw offset block.raw_offset) with
  // the member's data into the file.
  Status Consume(const TarBlock& block, const std::string& raw);
  bool complete() const { return written_ == entry_.size; }
  const TarEntry& entry() const { return entry_; }
  // Closes the file, reporting a deferred write error.
  Status Close(const std::string& what);

 private:
  TarEntry entry_;
  UniqueFd fd_;
  uint64_t written_ = 0;
};

}  // namespace ccfs
