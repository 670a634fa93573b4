// TarIndex serialization. Text form: "ccfs-index-v1:" + base64(zlib(body)),
// where body is a compact binary encoding (all integers LEB128 varints):
//
//   raw_size, data_comp_size, block_count, {comp_size, raw_size}*   (offsets
//       are implied: blocks are contiguous from 0 in both spaces)
//   entry_count, then per entry:
//       type(1 byte), mode, size, zigzag(mtime),
//       shared-prefix length with the previous path, suffix length, suffix,
//       header_offset - previous header_offset, data_offset - header_offset,
//       [symlinks: target length, target]
//
// Prefix-sharing paths plus zlib keep ~25k realistic entries well under 1 MB
// of text. Parse() trusts nothing: every count, offset and name is checked,
// and entries must already satisfy the sanitising policy (our writer never
// produces anything else), so a damaged or forged index is Corruption.
#include "store/archive/tar_index.h"

#include <zlib.h>

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "store/archive/tar_sanitize.h"

namespace ccfs {

namespace {

constexpr std::string_view kIndexMagic = "ccfs-index-v1:";
// An index inflating beyond this is refused (a forged one could be a bomb).
constexpr uint64_t kMaxIndexBodyBytes = 256ull << 20;
// Parse refuses blocks larger than this (readers inflate one block in memory).
constexpr uint64_t kMaxBlockRawSize = 64ull << 20;

constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kBase64Chars[v >> 18];
    out += kBase64Chars[(v >> 12) & 63];
    out += kBase64Chars[(v >> 6) & 63];
    out += kBase64Chars[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out += kBase64Chars[v >> 18];
    out += kBase64Chars[(v >> 12) & 63];
    out += rest == 2 ? kBase64Chars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  out->clear();
  out->reserve(in.size() / 4 * 3);
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int d = k >= 4 - pad ? 0 : val(in[i + k]);
      if (d < 0) return false;
      v = (v << 6) | uint32_t(d);
    }
    out->push_back(char(v >> 16));
    if (pad < 2) out->push_back(char((v >> 8) & 0xff));
    if (pad < 1) out->push_back(char(v & 0xff));
  }
  return true;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(char((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(char(v));
}

uint64_t ZigZag(int64_t v) { return (uint64_t(v) << 1) ^ uint64_t(v >> 63); }
int64_t UnZigZag(uint64_t v) { return int64_t(v >> 1) ^ -int64_t(v & 1); }

// Bounds-checked reader over the decoded body.
class BodyReader {
 public:
  explicit BodyReader(std::string_view s) : s_(s) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= s_.size()) return false;
      uint8_t b = uint8_t(s_[pos_++]);
      *v |= uint64_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return shift < 63 || b <= 1;
    }
    return false;
  }
  bool Byte(uint8_t* b) {
    if (pos_ >= s_.size()) return false;
    *b = uint8_t(s_[pos_++]);
    return true;
  }
  bool Bytes(uint64_t n, std::string* out) {
    if (n > s_.size() - pos_) return false;
    out->assign(s_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t remaining() const { return s_.size() - pos_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

Status Deflate(std::string_view in, std::string* out) {
  uLongf cap = compressBound(in.size());
  out->resize(cap);
  int rc = compress2(reinterpret_cast<Bytef*>(out->data()), &cap,
                     reinterpret_cast<const Bytef*>(in.data()), in.size(), 9);
  if (rc != Z_OK) return Status::IOError("index: zlib compress failed");
  out->resize(cap);
  return Status::OK();
}

Status Inflate(std::string_view in, std::string* out) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return Status::IOError("index: zlib inflateInit failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  out->clear();
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out->append(buf, sizeof(buf) - z.avail_out);
    if (out->size() > kMaxIndexBodyBytes) {
      inflateEnd(&z);
      return Status::Corruption("index: body inflates beyond the size limit");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;  // input ended early
  }
  bool clean = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  if (!clean) return Status::Corruption("index: compressed body is damaged or truncated");
  return Status::OK();
}

Status Bad(const std::string& what) { return Status::Corruption("index: " + what); }

// The policy checks on one decoded entry (see tar_sanitize.h).
Status ValidateEntry(const TarEntry& e, uint64_t raw_size) {
  if (!IsCanonicalMemberPath(e.path)) return Bad("entry has a non-canonical path");
  if (e.mode != SanitizeMode(e.mode)) return Bad("entry '" + e.path + "' has unsanitised mode");
  if (e.header_offset % 512 != 0 || e.data_offset % 512 != 0 || e.data_offset <= e.header_offset ||
      e.data_offset > raw_size || e.size > raw_size - e.data_offset) {
    return Bad("entry '" + e.path + "' lies outside the tar stream");
  }
  switch (e.type) {
    case EntryType::kFile:
      if (!e.link_target.empty()) return Bad("file entry carries a link target");
      break;
    case EntryType::kDir:
      if (e.size != 0 || !e.link_target.empty()) return Bad("directory entry carries data");
      break;
    case EntryType::kSymlink: {
      std::string why;
      if (e.size != 0) return Bad("symlink entry carries data");
      if (!SymlinkTargetStaysInside(e.path, e.link_target, &why)) {
        return Bad("symlink '" + e.path + "': " + why);
      }
      break;
    }
  }
  return Status::OK();
}

}  // namespace

std::string TarIndex::Serialize() const {
  std::string body;
  body.reserve(64 + blocks.size() * 8 + entries.size() * 48);
  PutVarint(&body, raw_size);
  PutVarint(&body, data_comp_size);
  PutVarint(&body, blocks.size());
  for (const auto& b : blocks) {
    PutVarint(&body, b.comp_size);
    PutVarint(&body, b.raw_size);
  }
  PutVarint(&body, entries.size());
  std::string_view prev_path;
  uint64_t prev_header = 0;
  for (const auto& e : entries) {
    body.push_back(char(e.type));
    PutVarint(&body, e.mode);
    PutVarint(&body, e.size);
    PutVarint(&body, ZigZag(e.mtime));
    size_t shared = 0;
    size_t limit = std::min(prev_path.size(), e.path.size());
    while (shared < limit && prev_path[shared] == e.path[shared]) ++shared;
    PutVarint(&body, shared);
    PutVarint(&body, e.path.size() - shared);
    body.append(e.path, shared, std::string::npos);
    PutVarint(&body, e.header_offset - prev_header);
    PutVarint(&body, e.data_offset - e.header_offset);
    if (e.type == EntryType::kSymlink) {
      PutVarint(&body, e.link_target.size());
      body += e.link_target;
    }
    prev_path = e.path;
    prev_header = e.header_offset;
  }
  std::string packed;
  if (!Deflate(body, &packed).ok()) return std::string();  // only on allocation failure
  return std::string(kIndexMagic) + Base64Encode(packed);
}

Result<TarIndex> TarIndex::Parse(const std::string& text) {
  if (text.compare(0, kIndexMagic.size(), kIndexMagic) != 0) return Bad("missing magic prefix");
  std::string packed, body;
  if (!Base64Decode(std::string_view(text).substr(kIndexMagic.size()), &packed)) {
    return Bad("invalid base64");
  }
  Status s = Inflate(packed, &body);
  if (!s.ok()) return s;

  BodyReader r(body);
  TarIndex idx;
  uint64_t nblocks = 0;
  if (!r.Varint(&idx.raw_size) || !r.Varint(&idx.data_comp_size) || !r.Varint(&nblocks)) {
    return Bad("truncated header");
  }
  if (nblocks > r.remaining() / 2) return Bad("block count exceeds the data");
  idx.blocks.reserve(nblocks);
  uint64_t comp = 0, raw = 0;
  for (uint64_t i = 0; i < nblocks; ++i) {
    TarBlock b;
    if (!r.Varint(&b.comp_size) || !r.Varint(&b.raw_size)) return Bad("truncated block list");
    // 18 bytes is the smallest possible gzip member.
    if (b.comp_size < 18 || b.raw_size == 0 || b.raw_size > kMaxBlockRawSize) {
      return Bad("block has an impossible size");
    }
    b.comp_offset = comp;
    b.raw_offset = raw;
    if (b.comp_size > idx.data_comp_size - comp || b.raw_size > idx.raw_size - raw) {
      return Bad("blocks exceed the stream sizes");
    }
    comp += b.comp_size;
    raw += b.raw_size;
    idx.blocks.push_back(b);
  }
  // An index without blocks describes a plain tar.gz (indexed by streaming,
  // cached locally); one with blocks must cover the whole stream.
  if (nblocks == 0 ? idx.data_comp_size != 0
                   : (comp != idx.data_comp_size || raw != idx.raw_size)) {
    return Bad("blocks do not cover the stream");
  }

  uint64_t nentries = 0;
  if (!r.Varint(&nentries)) return Bad("truncated entry count");
  if (nentries > r.remaining() / 8) return Bad("entry count exceeds the data");
  idx.entries.reserve(nentries);
  std::string prev_path, suffix;
  uint64_t prev_header = 0;
  std::unordered_set<std::string> seen;
  for (uint64_t i = 0; i < nentries; ++i) {
    TarEntry e;
    uint8_t type = 0;
    uint64_t mode = 0, mtime = 0, shared = 0, suffix_len = 0, header_delta = 0, data_delta = 0;
    if (!r.Byte(&type) || !r.Varint(&mode) || !r.Varint(&e.size) || !r.Varint(&mtime) ||
        !r.Varint(&shared) || !r.Varint(&suffix_len) || !r.Bytes(suffix_len, &suffix) ||
        !r.Varint(&header_delta) || !r.Varint(&data_delta)) {
      return Bad("truncated entry");
    }
    if (type > uint8_t(EntryType::kSymlink)) return Bad("unknown entry type");
    if (mode > 07777) return Bad("invalid mode");
    if (shared > prev_path.size()) return Bad("invalid path prefix");
    e.type = EntryType(type);
    e.mode = uint32_t(mode);
    e.mtime = UnZigZag(mtime);
    e.path = prev_path.substr(0, shared) + suffix;
    if (header_delta > idx.raw_size - prev_header || (i > 0 && header_delta == 0)) {
      return Bad("entry offsets are not ascending");
    }
    e.header_offset = prev_header + header_delta;
    if (data_delta > idx.raw_size - e.header_offset) return Bad("entry offset out of range");
    e.data_offset = e.header_offset + data_delta;
    if (e.type == EntryType::kSymlink) {
      uint64_t len = 0;
      if (!r.Varint(&len) || !r.Bytes(len, &e.link_target)) return Bad("truncated link target");
    }
    CCFS_RETURN_IF_ERROR(ValidateEntry(e, idx.raw_size));
    if (!seen.insert(e.path).second) return Bad("duplicate path '" + e.path + "'");
    prev_path = e.path;
    prev_header = e.header_offset;
    idx.entries.push_back(std::move(e));
  }
  if (r.remaining() != 0) return Bad("trailing bytes after the entries");
  return idx;
}

void TarIndex::BlocksCovering(uint64_t offset, uint64_t len, size_t* first, size_t* last) const {
  *first = 1;
  *last = 0;
  if (len == 0 || blocks.empty() || offset >= raw_size) return;
  uint64_t end = std::min(raw_size, offset + std::min(len, raw_size - offset)) - 1;  // inclusive
  auto block_of = [this](uint64_t pos) {
    auto it = std::upper_bound(blocks.begin(), blocks.end(), pos,
                               [](uint64_t p, const TarBlock& b) { return p < b.raw_offset; });
    return size_t(it - blocks.begin()) - 1;
  };
  *first = block_of(offset);
  *last = block_of(end);
}

const TarEntry* TarIndex::Find(const std::string& path) const {
  for (const auto& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

}  // namespace ccfs
