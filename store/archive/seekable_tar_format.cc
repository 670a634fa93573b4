#include "store/archive/seekable_tar_format.h"

#include <zlib.h>

#include <cstring>

#include "store/archive/gzip_codec.h"

namespace ccfs {

namespace {

constexpr char kMagic[8] = {'c', 'c', 'f', 's', '-', 't', 'g', 'z'};
constexpr size_t kPayloadSize = 36;
constexpr size_t kCrcCoveredSize = kPayloadSize - 4;

void PutLE(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(char((v >> (8 * i)) & 0xff));
}

uint64_t GetLE(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(in[pos + i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (!data.empty()) {
    uInt n = uInt(std::min<size_t>(data.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), n);
    data.remove_prefix(n);
  }
  return uint32_t(crc);
}

std::string EncodeSeekableTrailer(const SeekableTrailer& t) {
  std::string payload(kMagic, sizeof(kMagic));
  PutLE(&payload, kSeekableFormatVersion, 4);
  PutLE(&payload, t.index_offset, 8);
  PutLE(&payload, t.index_length, 8);
  PutLE(&payload, t.index_crc, 4);
  PutLE(&payload, Crc32(payload), 4);
  std::string extra = {'C', 'C'};
  PutLE(&extra, payload.size(), 2);
  extra += payload;
  return BuildEmptyGzipMember(extra, "");
}

Status DecodeSeekableTrailer(std::string_view bytes, SeekableTrailer* t) {
  std::string extra, comment;
  if (bytes.size() != kSeekableTrailerSize || !ParseEmptyGzipMember(bytes, &extra, &comment) ||
      !comment.empty() || extra.size() != 4 + kPayloadSize || extra[0] != 'C' || extra[1] != 'C' ||
      GetLE(extra, 2, 2) != kPayloadSize ||
      std::memcmp(extra.data() + 4, kMagic, sizeof(kMagic)) != 0) {
    return Status::NotFound("no ccfs seekable-index trailer");
  }
  std::string_view payload = std::string_view(extra).substr(4);
  if (Crc32(payload.substr(0, kCrcCoveredSize)) != GetLE(payload, kCrcCoveredSize, 4)) {
    return Status::Corruption("seekable trailer: checksum mismatch");
  }
  uint32_t version = uint32_t(GetLE(payload, 8, 4));
  if (version != kSeekableFormatVersion) {
    return Status::NotSupported("seekable trailer: format version " + std::to_string(version) +
                                " is newer than this ccfs understands");
  }
  t->index_offset = GetLE(payload, 12, 8);
  t->index_length = GetLE(payload, 20, 8);
  t->index_crc = uint32_t(GetLE(payload, 28, 4));
  return Status::OK();
}

std::string EncodeIndexMember(const std::string& index_text) {
  return BuildEmptyGzipMember("", index_text);
}

Status DecodeIndexMember(std::string_view member, uint32_t expected_crc, std::string* index_text) {
  std::string extra;
  if (!ParseEmptyGzipMember(member, &extra, index_text) || !extra.empty() || index_text->empty()) {
    return Status::Corruption("seekable index: the index member is malformed");
  }
  if (Crc32(*index_text) != expected_crc) {
    return Status::Corruption("seekable index: checksum mismatch");
  }
  return Status::OK();
}

}  // namespace ccfs
