// IndexSegment: the metadata of a contiguous path range of a layout-v2 tree
// (docs/layout-v2-plan.md). A segment is immutable and named by the SHA-256
// of its bytes; the root lists the segments in path order. A commit rewrites
// only the segments whose range holds a change, so changing .claude.json
// costs one segment and the root, not the tree.
//
// Every entry keeps what a mount shows (type, mode, mtime to the nanosecond,
// size, link target) and where a regular file's bytes are: a member of a
// pack (a seekable tar.gz written by one flush), or, for a transcript, a list
// of chunks (each the bytes appended between two flushes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/archive/tar_index.h"  // EntryType
#include "store/base/status.h"

namespace ccfs {

// A run of a transcript's bytes, stored as the object `name`: one gzip
// member, or the bytes as they are (`raw`) for a chunk copied from a v1
// transcript object, which adoption copies inside the store.
struct ChunkRef {
  std::string name;
  uint64_t size = 0;
  bool raw = false;
};

struct IndexEntry {
  std::string path;  // canonical member path (IsCanonicalMemberPath)
  EntryType type = EntryType::kFile;
  uint32_t mode = 0644;  // permission bits
  int64_t mtime_ns = 0;
  uint64_t size = 0;        // regular files; 0 otherwise
  std::string link_target;  // symlinks only
  // Regular files with bytes: exactly one of `pack` (the pack's name and the
  // offset of the member's data in its tar stream) and `chunks` (sizes add
  // up to `size`). Neither for empty files, directories and symlinks.
  std::string pack;
  uint64_t pack_data_offset = 0;
  std::vector<ChunkRef> chunks;
};

struct IndexSegment {
  std::vector<IndexEntry> entries;  // sorted by path, no duplicates
};

inline constexpr std::string_view kSegmentFormat = "ccfs-index-2";

// The stored form: the text below as one gzip member. The same segment always
// encodes to the same bytes, so its name (the SHA-256 of them) is stable.
Result<std::string> EncodeSegment(const IndexSegment& segment);
// Inflates (CRC-checked, at most 256 MiB) and parses a stored segment.
Result<IndexSegment> DecodeSegment(std::string_view stored);

// The text: one JSON object per line, a header line (format, entry count, the
// table of packs the entries use), then one line per entry in path order. An
// entry names its pack by its place in the table, so a segment whose files
// share a pack does not repeat the 64-digit name on every line.
std::string EncodeSegmentText(const IndexSegment& segment);
// Parses and checks the text: canonical paths in strictly ascending order,
// each entry's location consistent with its type and size. Corruption names
// the first bad line; NotSupported for a newer format.
Result<IndexSegment> DecodeSegmentText(std::string_view text);

// A short tag naming where a regular file's bytes are (size, pack member or
// chunk list): two entries with the same tag hold the same bytes, and a
// commit that leaves a file alone leaves its tag alone. Readers use it as a
// v1 transcript object's ETag is used: to see that a file changed.
std::string EntryBytesTag(const IndexEntry& e);

// The name of an immutable object with these bytes (lower-case SHA-256 hex).
std::string ObjectNameOf(std::string_view bytes);

// Cuts a sorted tree into segments of about `target_entries` entries each.
// Cuts fall only between entries, so every path lands in exactly one
// segment; an empty tree gives no segments.
std::vector<IndexSegment> SplitIntoSegments(const std::vector<IndexEntry>& sorted,
                                            size_t target_entries);

}  // namespace ccfs
