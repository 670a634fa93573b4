// Reading a file's bytes out of a layout-v2 tree, wherever they are: a pack
// member (ranged GETs through the pack's own seekable index, read once per
// pack and kept) or a transcript's chunks.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "store/archive/seekable_tar_reader.h"
#include "store/archive/tar_index.h"
#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Ranged GETs of object `key` (If-Match `if_match` unless ""), for the
// seekable tar.gz reader (store/archive/seekable_tar_reader.h).
RangeFetcher ObjectRangeFetcher(ObjectStore& store, std::string key, std::string if_match = "");

// The seekable index of pack `pack` (a HEAD for its size, then the trailer
// and index by range). *size gets the pack's size when not null.
Status ReadPackIndex(ObjectStore& store, const std::string& workspace, const std::string& pack,
                     TarIndex* index, uint64_t* size = nullptr);

// Thread-safe.
class TreeFileReader {
 public:
  TreeFileReader(ObjectStore& store, std::string workspace)
      : store_(store), workspace_(std::move(workspace)) {}

  // Streams bytes [offset, offset + length) of regular file `e` (clipped to
  // its size) into `sink`. NotFound when an object it needs is gone.
  Status Read(const IndexEntry& e, uint64_t offset, uint64_t length, const ByteSink& sink);

 private:
  // The pack's seekable index, fetched once. The pointer stays valid for the
  // reader's life (std::map nodes do not move).
  Status PackIndex(const std::string& pack, const TarIndex** out);

  ObjectStore& store_;
  std::string workspace_;
  // Reads run on several threads (a mount's hydration); two fetching the
  // same pack's index at once is harmless, the first one kept.
  std::mutex mu_;
  std::map<std::string, TarIndex> pack_indexes_;  // GUARDED_BY(mu_); packs never change
};

}  // namespace ccfs
