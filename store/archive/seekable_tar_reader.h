// Reading a seekable tarball from byte ranges only: the fixed-size trailer at
// the end, then the index member it points at, then just the gzip blocks a
// read needs. Every block is CRC-checked before any of its bytes are handed
// out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "store/archive/seekable_tar_format.h"  // kSeekableTrailerSize
#include "store/archive/tar_index.h"
#include "store/archive/tar_sanitize.h"
#include "store/base/status.h"
#include "store/objects/object_store.h"

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

// Sees one block: its raw tar bytes (inflated, CRC and length checked) and
// its compressed bytes (exactly the block's gzip member).
using BlockVisitor = std::function<Status(const TarBlock& block, const std::string& raw,
                                          std::string_view compressed)>;

// The one decoder of a seekable tarball's data: fetches the compressed range
// of blocks [first, last] of `index` in one fetch, then inflates and checks
// each block in order and hands it to `visit`. A block that fails its check
// ends the read before any of its bytes are seen. When `run` is not null the
// fetched compressed range is left there (for a cache). Memory: the range
// plus one block.
Status ReadBlocks(const TarIndex& index, size_t first, size_t last, const RangeFetcher& fetch,
                  const BlockVisitor& visit, std::string* run = nullptr);

// Inflates block `i` of `index` from its gzip member `compressed` (read from
// a cache, say), checking CRC and length.
Status InflateBlock(const TarIndex& index, size_t i, std::string_view compressed, std::string* raw);

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
