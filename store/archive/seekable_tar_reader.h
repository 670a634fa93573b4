// Reading a seekable tarball from byte ranges only: the fixed-size trailer at
// the end, then the index member it points at, then just the gzip blocks a
// read needs. Every block is CRC-checked before any of its bytes are handed
// out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/objects/object_store.h"
#include "store/archive/seekable_tar_format.h"  // kSeekableTrailerSize
#include "store/base/status.h"
#include "store/archive/tar_index.h"
#include "store/archive/tar_sanitize.h"

namespace ccfs {

// Fetches object bytes [offset, offset+length) into *out (replacing it).
// Typically a ranged GET with If-Match on the base ETag.
using RangeFetcher = std::function<Status(uint64_t offset, uint64_t length, std::string* out)>;

// Reads and validates the index of an object of `object_size` bytes with two
// fetches (trailer, then index member).
// - NotFound: the object has no ccfs trailer (a foreign tarball; scan it with
//   TarScanner instead), including objects smaller than the trailer.
// - Corruption: the trailer or index is ours but damaged or inconsistent.
// - NotSupported: written by a newer ccfs.
// Symlinks that escape the tree through other symlinks are dropped from the
// index and, if `dropped` is not null, reported there.
Status ReadSeekableIndex(uint64_t object_size, const RangeFetcher& fetch, TarIndex* index,
                         std::vector<SkippedEntry>* dropped = nullptr);

// Streams raw tar bytes [raw_offset, raw_offset+length) into sink, fetching
// the compressed range of the covering blocks in one fetch and verifying each
// block's CRC before emitting its bytes. Memory: the fetched range plus one block.
Status ReadRawRange(const TarIndex& index, uint64_t raw_offset, uint64_t length,
                    const RangeFetcher& fetch, const ByteSink& sink);

// Reads bytes [offset, offset+length) of a regular-file member (clipped to
// its size; offset past the end yields nothing) into sink.
Status ReadMemberRange(const TarIndex& index, const TarEntry& entry, uint64_t offset,
                       uint64_t length, const RangeFetcher& fetch, const ByteSink& sink);

}  // namespace ccfs
