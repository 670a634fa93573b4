// The metadata members at the end of a seekable tarball (layout v1):
//
//   [data blocks: gzip members of tar bytes] [index member] [trailer member]
//
// Index member: a gzip member with an empty payload whose FCOMMENT is
// TarIndex::Serialize() (ASCII, no NUL).
// Trailer member: a fixed-size (kSeekableTrailerSize) gzip member with an
// empty payload and one FEXTRA subfield, SI1='C' SI2='C', LEN=36, holding
// (little endian):
//   magic "ccfs-tgz" (8) | version u32 = 1 | index member offset u64 |
//   index member length u64 | CRC32 of the index text u32 |
//   CRC32 of the preceding 32 payload bytes u32
// Both members decompress to nothing, so tar tools never see them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/base/status.h"

namespace ccfs {

constexpr uint64_t kSeekableTrailerSize = 62;
constexpr uint32_t kSeekableFormatVersion = 1;

struct SeekableTrailer {
  uint64_t index_offset = 0;  // compressed offset of the index member
  uint64_t index_length = 0;  // its length in bytes
  uint32_t index_crc = 0;     // CRC32 of the serialized index text
};

std::string EncodeSeekableTrailer(const SeekableTrailer& t);

// NotFound if `bytes` is not a ccfs trailer at all (a foreign .tar.gz);
// Corruption if it is ours but damaged; NotSupported for a newer version.
Status DecodeSeekableTrailer(std::string_view bytes, SeekableTrailer* t);

// The index member for `index_text`, and the inverse (Corruption on damage,
// including a CRC mismatch against `expected_crc`).
std::string EncodeIndexMember(const std::string& index_text);
Status DecodeIndexMember(std::string_view member, uint32_t expected_crc, std::string* index_text);

uint32_t Crc32(std::string_view data);

}  // namespace ccfs
