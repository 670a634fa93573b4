// zlib-based gzip pieces for the tar.gz codec:
// - GzipMemberDeflater: compresses one gzip member at a time (the blocks of a
//   seekable tarball: each block its own header, CRC32 and ISIZE);
// - InflateGzipMember: inflates exactly one complete member, verifying CRC32,
//   ISIZE and that nothing follows it;
// - GzipStreamDecoder: decodes a whole multi-member .gz from a pull source,
//   verifying every member's CRC, for sequential scans of any tar.gz;
// - BuildEmptyGzipMember / ParseEmptyGzipMember: members with no payload that
//   carry metadata in FEXTRA or FCOMMENT (the seekable index and trailer).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

class GzipMemberDeflater {
 public:
  // level: zlib 0..9 (or -1 for the default).
  explicit GzipMemberDeflater(int level);
  ~GzipMemberDeflater();
  GzipMemberDeflater(const GzipMemberDeflater&) = delete;
  GzipMemberDeflater& operator=(const GzipMemberDeflater&) = delete;

  // Starts a new member. Compressed output of Write/Finish goes to `out`.
  Status Begin();
  Status Write(const char* data, size_t len, const ByteSink& out);
  // Ends the member: flushes the deflate stream and the CRC32/ISIZE trailer.
  Status Finish(const ByteSink& out);

 private:
  Status Pump(int flush, const ByteSink& out);
  z_stream z_{};
  bool init_ok_ = false;
  int level_;
};

// Inflates `member`, which must be exactly one gzip member whose payload is
// `expected_raw_size` bytes, into *out. Corruption on any damage (bad header,
// CRC or length mismatch, truncation, trailing bytes, wrong size).
Status InflateGzipMember(std::string_view member, uint64_t expected_raw_size, std::string* out);

// Pulls compressed bytes: sets *chunk to the next bytes, or to "" at the end.
using CompressedSource = std::function<Status(std::string* chunk)>;

// Decodes a multi-member gzip stream. Trailing zero bytes after the last
// member are tolerated (as gzip does); anything else there is Corruption.
class GzipStreamDecoder {
 public:
  explicit GzipStreamDecoder(CompressedSource source);
  ~GzipStreamDecoder();
  GzipStreamDecoder(const GzipStreamDecoder&) = delete;
  GzipStreamDecoder& operator=(const GzipStreamDecoder&) = delete;

  // Fills buf with up to cap decompressed bytes; *got == 0 means the whole
  // stream ended cleanly (every member verified).
  Status Read(char* buf, size_t cap, size_t* got);
  // Decompressed bytes produced so far.
  uint64_t raw_offset() const { return raw_offset_; }

 private:
  enum class State { kMember, kBetweenMembers, kTrailingZeros, kDone };
  Status Refill(bool* eof);
  Status Fail(Status s);

  CompressedSource source_;
  std::string chunk_;
  z_stream z_{};
  bool init_ok_ = false;
  State state_ = State::kMember;
  bool saw_any_input_ = false;
  uint64_t comp_offset_ = 0;   // compressed bytes consumed before chunk_
  uint64_t member_start_ = 0;  // compressed offset of the current member
  uint64_t raw_offset_ = 0;
  Status error_;  // sticky
};

// Gzip header flag bits (RFC 1952).
constexpr uint8_t kGzipFlagExtra = 0x04;
constexpr uint8_t kGzipFlagComment = 0x10;

// A complete gzip member with an empty payload whose header carries `extra`
// (as the FEXTRA field, already subfield-formatted) and/or `comment` (FCOMMENT,
// must not contain NUL). Either may be empty to omit the field.
std::string BuildEmptyGzipMember(std::string_view extra, std::string_view comment);

// Parses a member produced by BuildEmptyGzipMember: exactly the header (with
// the FEXTRA/FCOMMENT fields, no others), an empty deflate block, and a zero
// CRC/ISIZE. Returns false if `member` is anything else.
bool ParseEmptyGzipMember(std::string_view member, std::string* extra, std::string* comment);

}  // namespace ccfs
