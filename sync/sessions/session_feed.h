// TranscriptFeed: turns a transcript's bytes, as they arrive (a streamed GET,
// file reads), into numbered complete lines for SessionIndex::AddLines, in
// batches, and at the end records how far the source was read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "sync/sessions/session_index.h"

namespace ccfs {

class TranscriptFeed {
 public:
  // Continues a file after `start.indexed_lines` lines / `start.indexed_bytes`
  // bytes (zero state: from the top). `tail` holds the bytes just before
  // indexed_bytes the caller verified (up to kTailHashBytes), so the hash
  // recorded at the end covers the right bytes even when little is appended.
  TranscriptFeed(SessionIndex* index, std::string rel_path, const FileSourceState& start,
                 std::string tail);

  // Consumes bytes; indexes complete lines every ~`batch_bytes`.
  Status Feed(const char* data, size_t len);
  // Indexes what is left and stores `state` (size, mtime, etag from the
  // caller; offsets, line count and tail hash from what was fed).
  Status Finish(FileSourceState state);

  uint64_t bytes_fed() const { return bytes_fed_; }

  static constexpr size_t kBatchBytes = 4u << 20;

 private:
  Status Flush(const FileSourceState* state);

  SessionIndex* index_;
  std::string rel_path_;
  std::string pending_;  // bytes of a line not terminated yet
  std::vector<std::string> batch_;
  size_t batch_bytes_ = 0;
  int64_t batch_first_line_;
  int64_t next_line_;  // number the next complete line gets
  uint64_t offset_;    // just past the last complete line
  std::string tail_;   // the last bytes up to offset_ (at least kTailHashBytes when available)
  uint64_t bytes_fed_ = 0;
};

// The byte count a TailHash covers ("<n>:<hex>" -> n); 0 when unreadable.
size_t TailHashLength(const std::string& tail_hash);

}  // namespace ccfs
