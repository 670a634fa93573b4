#include "store/base/content_hash.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace ccfs {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string Hex(const unsigned char* data, unsigned int len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string FinalHex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  return Hex(digest, len);
}

// SHA-256 and MD5 fed together.
class DualHasher {
 public:
  DualHasher() : sha_(EVP_MD_CTX_new()), md5_(EVP_MD_CTX_new()) {
    ok_ = sha_ && md5_ && EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) == 1 &&
          EVP_DigestInit_ex(md5_.get(), EVP_md5(), nullptr) == 1;
  }
  bool ok() const { return ok_; }
  void Update(const void* data, size_t len) {
    EVP_DigestUpdate(sha_.get(), data, len);
    EVP_DigestUpdate(md5_.get(), data, len);
  }
  ContentHashes Finish() { return {FinalHex(sha_.get()), FinalHex(md5_.get())}; }

 private:
  MdCtx sha_;
  MdCtx md5_;
  bool ok_ = false;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

ContentHashes HashBytes(const std::string& data) {
  DualHasher h;
  h.Update(data.data(), data.size());
  return h.Finish();
}

Status HashFileRange(int fd, uint64_t offset, uint64_t length, ContentHashes* out) {
  DualHasher h;
  if (!h.ok()) return Status::IOError("OpenSSL digest init failed");
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(1 << 20, length - done));
    ssize_t got = pread(fd, buf.get(), want, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Status::FromErrno("read upload body", errno);
    if (got == 0) return Status::IOError("upload body file shrank while being read");
    h.Update(buf.get(), static_cast<size_t>(got));
    done += static_cast<uint64_t>(got);
  }
  *out = h.Finish();
  return Status::OK();
}

std::string MultipartEtag(const std::vector<std::string>& part_md5_hex) {
  std::string concat;
  for (const std::string& hex : part_md5_hex) {
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      concat.push_back(static_cast<char>(HexValue(hex[i]) * 16 + HexValue(hex[i + 1])));
    }
  }
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) return "";
  EVP_DigestUpdate(ctx.get(), concat.data(), concat.size());
  return FinalHex(ctx.get()) + "-" + std::to_string(part_md5_hex.size());
}

}  // namespace ccfs
