#include "store/archive/gzip_codec.h"

#include <cstring>

namespace ccfs {

namespace {

constexpr size_t kOutChunk = 64 * 1024;
// Windows bits for deflate/inflate with a gzip wrapper (15 + 16).
constexpr int kGzipWindowBits = 31;

Bytef* In(const char* p) { return reinterpret_cast<Bytef*>(const_cast<char*>(p)); }

std::string ZMessage(const z_stream& z, int rc) {
  if (z.msg != nullptr) return z.msg;
  return "zlib error " + std::to_string(rc);
}

}  // namespace

// ---- GzipMemberDeflater ----------------------------------------------------

GzipMemberDeflater::GzipMemberDeflater(int level) : level_(level) {}

GzipMemberDeflater::~GzipMemberDeflater() {
  if (init_ok_) deflateEnd(&z_);
}

Status GzipMemberDeflater::Begin() {
  if (!init_ok_) {
    if (deflateInit2(&z_, level_, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return Status::InvalidArgument("gzip: deflateInit2 failed (compression level " +
                                     std::to_string(level_) + ")");
    }
    init_ok_ = true;
    return Status::OK();
  }
  if (deflateReset(&z_) != Z_OK) return Status::IOError("gzip: deflateReset failed");
  return Status::OK();
}

Status GzipMemberDeflater::Pump(int flush, const ByteSink& out) {
  char buf[kOutChunk];
  while (true) {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof(buf);
    int rc = deflate(&z_, flush);
    if (rc == Z_STREAM_ERROR) return Status::IOError("gzip: deflate failed");
    size_t have = sizeof(buf) - z_.avail_out;
    if (have > 0) CCFS_RETURN_IF_ERROR(out(buf, have));
    if (flush == Z_FINISH) {
      if (rc == Z_STREAM_END) return Status::OK();
    } else if (z_.avail_in == 0 && z_.avail_out != 0) {
      return Status::OK();
    }
  }
}

Status GzipMemberDeflater::Write(const char* data, size_t len, const ByteSink& out) {
  while (len > 0) {
    uInt n = uInt(std::min<size_t>(len, 1u << 30));
    z_.next_in = In(data);
    z_.avail_in = n;
    CCFS_RETURN_IF_ERROR(Pump(Z_NO_FLUSH, out));
    data += n;
    len -= n;
  }
  return Status::OK();
}

Status GzipMemberDeflater::Finish(const ByteSink& out) {
  z_.next_in = nullptr;
  z_.avail_in = 0;
  return Pump(Z_FINISH, out);
}

// ---- InflateGzipMember -----------------------------------------------------

Status InflateGzipMember(std::string_view member, uint64_t expected_raw_size, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindowBits) != Z_OK) return Status::IOError("gzip: inflateInit failed");
  out->clear();
  out->resize(expected_raw_size + 1);  // one spare byte detects an over-long payload
  z.next_in = In(member.data());
  z.avail_in = uInt(member.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = uInt(out->size());
  int rc = inflate(&z, Z_FINISH);
  std::string msg = ZMessage(z, rc);
  uint64_t produced = z.total_out;
  uInt left_in = z.avail_in;
  inflateEnd(&z);
  if (rc == Z_DATA_ERROR) return Status::Corruption("gzip block: " + msg);
  if (rc != Z_STREAM_END) return Status::Corruption("gzip block is truncated or over-long");
  if (left_in != 0) return Status::Corruption("gzip block is followed by unexpected bytes");
  if (produced != expected_raw_size) {
    return Status::Corruption("gzip block inflates to " + std::to_string(produced) +
                              " bytes, index says " + std::to_string(expected_raw_size));
  }
  out->resize(produced);
  return Status::OK();
}

// ---- GzipStreamDecoder -----------------------------------------------------

GzipStreamDecoder::GzipStreamDecoder(CompressedSource source) : source_(std::move(source)) {
  init_ok_ = inflateInit2(&z_, kGzipWindowBits) == Z_OK;
}

GzipStreamDecoder::~GzipStreamDecoder() {
  if (init_ok_) inflateEnd(&z_);
}

Status GzipStreamDecoder::Fail(Status s) {
  error_ = s;
  return s;
}

Status GzipStreamDecoder::Refill(bool* eof) {
  comp_offset_ += chunk_.size();
  chunk_.clear();
  *eof = false;
  while (chunk_.empty()) {
    std::string next;
    Status s = source_(&next);
    if (!s.ok()) return Fail(s);
    if (next.empty()) {
      *eof = true;
      z_.next_in = nullptr;
      z_.avail_in = 0;
      return Status::OK();
    }
    chunk_ = std::move(next);
  }
  saw_any_input_ = true;
  z_.next_in = In(chunk_.data());
  z_.avail_in = uInt(chunk_.size());
  return Status::OK();
}

Status GzipStreamDecoder::Read(char* buf, size_t cap, size_t* got) {
  *got = 0;
  if (!error_.ok()) return error_;
  if (!init_ok_) return Fail(Status::IOError("gzip: inflateInit failed"));
  while (*got == 0 && state_ != State::kDone) {
    if (z_.avail_in == 0) {
      bool eof = false;
      CCFS_RETURN_IF_ERROR(Refill(&eof));
      if (eof) {
        if (!saw_any_input_)
          return Fail(Status::Corruption("gzip: empty input, not a gzip stream"));
        if (state_ == State::kMember) {
          return Fail(Status::Corruption("gzip: stream is truncated (member starting at offset " +
                                         std::to_string(member_start_) + " has no end)"));
        }
        state_ = State::kDone;
        break;
      }
    }
    uint64_t consumed_before = comp_offset_ + (chunk_.size() - z_.avail_in);
    switch (state_) {
      case State::kMember: {
        z_.next_out = reinterpret_cast<Bytef*>(buf);
        z_.avail_out = uInt(std::min<size_t>(cap, 1u << 30));
        int rc = inflate(&z_, Z_NO_FLUSH);
        size_t produced = std::min<size_t>(cap, 1u << 30) - z_.avail_out;
        *got = produced;
        raw_offset_ += produced;
        if (rc == Z_STREAM_END) {
          state_ = State::kBetweenMembers;
        } else if (rc == Z_DATA_ERROR) {
          // Damage before the first output byte is most often "not gzip at all".
          std::string what = raw_offset_ == 0 ? "not a valid gzip stream: " : "";
          return Fail(Status::Corruption("gzip: " + what + ZMessage(z_, rc) +
                                         " (member at compressed offset " +
                                         std::to_string(member_start_) + ")"));
        } else if (rc == Z_MEM_ERROR) {
          return Fail(Status::IOError("gzip: out of memory"));
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
          return Fail(Status::Corruption("gzip: " + ZMessage(z_, rc)));
        }
        break;
      }
      case State::kBetweenMembers: {
        uint8_t next = uint8_t(*z_.next_in);
        if (next == 0x1f) {
          if (inflateReset(&z_) != Z_OK) return Fail(Status::IOError("gzip: inflateReset failed"));
          member_start_ = consumed_before;
          state_ = State::kMember;
        } else if (next == 0) {
          state_ = State::kTrailingZeros;
        } else {
          return Fail(
              Status::Corruption("gzip: unexpected bytes after the member ending at offset " +
                                 std::to_string(consumed_before)));
        }
        break;
      }
      case State::kTrailingZeros: {
        while (z_.avail_in > 0) {
          if (*z_.next_in != 0) {
            return Fail(
                Status::Corruption("gzip: garbage after the last member at offset " +
                                   std::to_string(comp_offset_ + chunk_.size() - z_.avail_in)));
          }
          ++z_.next_in;
          --z_.avail_in;
        }
        break;
      }
      case State::kDone:
        break;
    }
  }
  return Status::OK();
}

// ---- Empty members ---------------------------------------------------------

namespace {
// The deflate encoding of an empty payload: one final fixed-Huffman block
// holding only the end-of-block code.
constexpr char kEmptyDeflate[] = {0x03, 0x00};
constexpr size_t kGzipFixedHeader = 10;
constexpr size_t kGzipTail = sizeof(kEmptyDeflate) + 8;  // + CRC32(0) + ISIZE(0)
}  // namespace

std::string BuildEmptyGzipMember(std::string_view extra, std::string_view comment) {
  uint8_t flags = (extra.empty() ? 0 : kGzipFlagExtra) | (comment.empty() ? 0 : kGzipFlagComment);
  // ID1 ID2 CM FLG MTIME(4) XFL OS(255 = unknown)
  std::string m = {char(0x1f), char(0x8b), 8, char(flags), 0, 0, 0, 0, 0, char(0xff)};
  if (!extra.empty()) {
    m.push_back(char(extra.size() & 0xff));
    m.push_back(char(extra.size() >> 8));
    m.append(extra);
  }
  if (!comment.empty()) {
    m.append(comment);
    m.push_back('\0');
  }
  m.append(kEmptyDeflate, sizeof(kEmptyDeflate));
  m.append(8, '\0');
  return m;
}

bool ParseEmptyGzipMember(std::string_view m, std::string* extra, std::string* comment) {
  extra->clear();
  comment->clear();
  if (m.size() < kGzipFixedHeader + kGzipTail) return false;
  if (uint8_t(m[0]) != 0x1f || uint8_t(m[1]) != 0x8b || m[2] != 8) return false;
  uint8_t flags = uint8_t(m[3]);
  if ((flags & ~(kGzipFlagExtra | kGzipFlagComment)) != 0) return false;
  size_t pos = kGzipFixedHeader;
  size_t body_end = m.size() - kGzipTail;
  if (flags & kGzipFlagExtra) {
    if (body_end - pos < 2) return false;
    size_t xlen = uint8_t(m[pos]) | (size_t(uint8_t(m[pos + 1])) << 8);
    pos += 2;
    if (body_end - pos < xlen) return false;
    extra->assign(m.substr(pos, xlen));
    pos += xlen;
  }
  if (flags & kGzipFlagComment) {
    size_t nul = m.find('\0', pos);
    if (nul == std::string_view::npos || nul >= body_end) return false;
    comment->assign(m.substr(pos, nul - pos));
    pos = nul + 1;
  }
  if (pos != body_end) return false;
  return std::memcmp(m.data() + body_end, kEmptyDeflate, sizeof(kEmptyDeflate)) == 0 &&
         m.substr(body_end + sizeof(kEmptyDeflate)) == std::string_view("\0\0\0\0\0\0\0\0", 8);
}

}  // namespace ccfs
