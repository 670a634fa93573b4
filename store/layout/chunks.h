// Transcript chunks: the bytes a transcript gained between two commits, each
// stored once as one gzip member named by the SHA-256 of its stored bytes. A
// transcript is its chunk list in order, so a commit uploads only what was
// appended and never downloads the earlier bytes (docs/layout-v2-plan.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/objects/object_store.h"

namespace ccfs {

// A chunk ready to upload: ChunkRef{name, raw size} and the stored bytes.
struct NewChunk {
  ChunkRef ref;
  std::string stored;  // one gzip member, or the bytes as they are (ref.raw)
};

// A chunk that holds a whole file (a new or rewritten transcript, a push, a
// compaction) of at least this many bytes is stored raw, as v1 stored
// transcripts: a ranged GET then reads its end, so an append on a cold
// cache fetches the last page, not the whole file. Appended chunks, and
// small files, are gzip members.
inline constexpr uint64_t kRawChunkMinBytes = 64 << 10;
inline bool ChunkStoredRaw(uint64_t from, uint64_t to) {
  return from == 0 && to >= kRawChunkMinBytes;
}

// Packs bytes [from, to) of the open file `fd` (pread) as a chunk, gzip or
// (`raw`) as they are; either way named by the SHA-256 of the stored bytes.
// Fails if the file is shorter than `to`.
Status MakeChunk(int fd, uint64_t from, uint64_t to, NewChunk* out, bool raw = false);

// Unpacks a stored chunk, checking its CRC and that it holds `ref.size`
// bytes.
Status OpenChunk(const ChunkRef& ref, std::string_view stored, std::string* raw);

// Streams bytes [offset, offset + length) of the file whose chunks are
// `chunks` (clipped to their total) into `sink`, fetching each chunk the
// range touches with one GET of W/v2/chunks/<name>. NotFound when a chunk is
// gone (a collector raced an old root: read the root again).
Status ReadChunks(ObjectStore& store, const std::string& workspace,
                  const std::vector<ChunkRef>& chunks, uint64_t offset, uint64_t length,
                  const ByteSink& sink);

}  // namespace ccfs
