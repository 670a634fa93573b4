// BlockCache: the compressed blocks of the base tarball fetched so far, kept
// on disk (<cache>/blocks/<etag>.gz, sparse, at their offsets in the object,
// plus <etag>.map with one byte per block), so that a flush can copy
// unchanged blocks into the next tarball without fetching them again, and a
// remount can hydrate from them. Only the current base version is kept.
// Blocks are CRC-checked whenever they are used (StreamBlocks inflates them).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fs/tree/base_version.h"
#include "store/base/status.h"
#include "store/base/unique_fd.h"

namespace ccfs {

class BlockCache {
 public:
  explicit BlockCache(std::string dir) : dir_(std::move(dir)) {}

  // Switches to `version` (opening or creating its files, deleting those of
  // other versions). A version without blocks disables the cache.
  Status Use(const TarballVersion& version);

  bool Has(const std::string& etag, size_t block);
  // The compressed bytes of `block` (NotFound when not cached).
  Status Read(const TarballVersion& version, size_t block, std::string* out);
  // Takes the whole object at `path` (just uploaded as `version`) as that
  // version's cache: every block present. Renames the file.
  Status Adopt(const TarballVersion& version, const std::string& path);

  // Stores blocks [first, first+n) whose compressed bytes are `data`, unless
  // that would leave less than min_free_bytes() free on the cache
  // filesystem: the space kept for metadata (ContentCache's reserve) is
  // what lets rm free a full cache, and a cache of blocks is not worth it.
  void Write(const TarballVersion& version, size_t first, size_t n, std::string_view data);

  void set_min_free_bytes(uint64_t bytes) { min_free_bytes_ = bytes; }
  uint64_t min_free_bytes() const { return min_free_bytes_; }

 private:
  std::mutex mu_;
  std::string dir_;
  std::string etag_;
  UniqueFd data_;
  UniqueFd map_;
  std::vector<bool> present_;
  std::atomic<uint64_t> min_free_bytes_{8ull << 20};  // as ContentCache's reserve
};

}  // namespace ccfs
