#include "store/objects/s3_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "store/base/content_hash.h"
#include "store/objects/aws_config.h"
#include "store/objects/s3_client.h"
#include "store/objects/s3_multipart.h"
#include "store/objects/s3_xml.h"
#include "store/objects/sigv4.h"  // UriEncode

namespace ccfs {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool ValidBucketName(const std::string& b) {
  if (b.empty() || b.size() > 255) return false;
  return std::all_of(b.begin(), b.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

class S3Store : public ObjectStore {
 public:
  S3Store(AwsConfig config, std::string bucket, std::string prefix, const StoreOptions& opts)
      : endpoint_(config.endpoint),
        bucket_(bucket),
        prefix_(std::move(prefix)),
        opts_(opts),
        client_(std::move(config), std::move(bucket), opts, &stats_) {}

  Status Head(const std::string& key, ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    S3Response resp;
    CCFS_RETURN_IF_ERROR(client_.Execute({.method = "HEAD", .key = FullKey(key)}, &resp));
    if (info != nullptr) {
      *info = InfoFromHeaders(key, resp);
      info->size = ParseSize(resp.Header("content-length"));
    }
    return Status::OK();
  }

  Status Get(const std::string& key, const GetOptions& opts, const ByteSink& sink,
             ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    if (opts.range && opts.range->length == 0) return EmptyRead(key, opts, info);
    S3Response resp;
    Status s = client_.Execute({.method = "GET",
                                .key = FullKey(key),
                                .if_match = opts.if_match,
                                .range = opts.range,
                                .sink = &sink},
                               &resp);
    if (resp.status == 416) return EmptyRead(key, opts, info);  // starts at/after the end
    if (!s.ok()) return s;
    if (info != nullptr) {
      *info = InfoFromHeaders(key, resp);
      uint64_t start = 0;
      uint64_t total = 0;
      const std::string range = resp.Header("content-range");
      if (resp.status == 206 && ParseTotal(range, &start, &total)) {
        info->size = total;
      } else {
        info->size = ParseSize(resp.Header("content-length"));
      }
    }
    return Status::OK();
  }

  Status PutFile(const std::string& key, const std::string& local_path, const PutOptions& opts,
                 ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    Fd fd(open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno("open " + local_path, errno);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + local_path, errno);
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(local_path + " is not a regular file");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const bool conditional = !opts.if_match.empty() || opts.if_none_match_any;
    if (conditional && size > opts_.max_conditional_put) {
      return Status::NotSupported(
          "cannot write " + std::to_string(size) + " bytes to " + client_.ObjectUrl(FullKey(key)) +
          " conditionally: a conditional write must be a single PUT, and S3 limits one PUT to " +
          std::to_string(opts_.max_conditional_put) +
          " bytes (a multipart upload's condition is not enforced by every store, so it could "
          "overwrite another writer's version); make the workspace smaller or move the large "
          "file out of it");
    }
    if (!conditional && size > opts_.multipart_threshold) {
      Status s = MultipartPutFile(client_, FullKey(key), fd.get(), size, opts_.multipart_part_size,
                                  opts, info);
      if (s.ok() && info != nullptr) info->key = key;
      return s;
    }
    // The body is hashed before it is sent (one extra read, from the page
    // cache) rather than sent as UNSIGNED-PAYLOAD: over plain HTTP (RGW on
    // loopback, on-prem) the signature then covers the bytes, and a file
    // changed between hashing and sending is refused by the server
    // (XAmzContentSHA256Mismatch) instead of stored torn.
    ContentHashes hashes;
    CCFS_RETURN_IF_ERROR(HashFileRange(fd.get(), 0, size, &hashes));
    PutTarget target{.fd = fd.get(), .length = size};
    return PutOnce(key, target, hashes, opts, info);
  }

  Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                  ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    PutTarget target{.body = &body, .length = body.size()};
    return PutOnce(key, target, HashBytes(body), opts, info);
  }

  Status List(const ListOptions& opts, ListResult* out) override {
    *out = ListResult{};
    const std::string root = prefix_.empty() ? "" : prefix_ + "/";
    std::string token;
    do {
      QueryList query = {{"list-type", "2"},
                         {"prefix", root + opts.prefix},
                         {"max-keys", std::to_string(std::max(1, opts.max_keys_per_page))}};
      if (!opts.delimiter.empty()) query.emplace_back("delimiter", opts.delimiter);
      if (!token.empty()) query.emplace_back("continuation-token", token);
      S3Response resp;
      CCFS_RETURN_IF_ERROR(client_.Execute({.method = "GET", .key = "", .query = query}, &resp));
      ListObjectsPage page;
      CCFS_RETURN_IF_ERROR(ParseListObjectsV2(resp.body, &page).Annotate(client_.ObjectUrl("")));
      for (ObjectInfo& o : page.objects) {
        if (o.key.compare(0, root.size(), root) != 0) continue;  // not under our root
        o.key.erase(0, root.size());
        out->objects.push_back(std::move(o));
      }
      for (std::string& p : page.common_prefixes) {
        if (p.compare(0, root.size(), root) != 0) continue;
        out->common_prefixes.push_back(p.substr(root.size()));
      }
      token = page.is_truncated ? page.next_continuation_token : "";
    } while (!token.empty());
    // S3 already lists in byte order; sorting keeps the promise for any server.
    std::sort(out->objects.begin(), out->objects.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    std::sort(out->common_prefixes.begin(), out->common_prefixes.end());
    return Status::OK();
  }

  // CopyObject. Its conditions on the destination are not supported alike
  // by every S3-compatible server, so If-None-Match is checked with a HEAD
  // first: callers copy into content- or origin-named keys, where a racing
  // copy writes the same bytes. If-Match is refused.
  Status Copy(const std::string& src, const std::string& dst, const PutOptions& opts,
              ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(src));
    CCFS_RETURN_IF_ERROR(ValidateKey(dst));
    if (!opts.if_match.empty()) return Status::NotSupported("copy with If-Match");
    if (opts.if_none_match_any) {
      ObjectInfo existing;
      Status head = Head(dst, &existing);
      if (head.ok()) return Status::PreconditionFailed(dst + " exists");
      if (!head.IsNotFound()) return head;
    }
    std::vector<std::pair<std::string, std::string>> headers = {
        {"x-amz-copy-source", "/" + bucket_ + "/" + UriEncode(FullKey(src), true)}};
    if (!opts.copy_source_if_match.empty()) {
      // The same ETag form the store's If-Match takes (RGW: unquoted).
      const bool quoted = client_.etag_form() == S3Client::EtagForm::kQuoted;
      const std::string etag =
          quoted ? "\"" + opts.copy_source_if_match + "\"" : opts.copy_source_if_match;
      headers.emplace_back("x-amz-copy-source-if-match", etag);
      // Ceph RGW reads the condition under this older name.
      headers.emplace_back("x-amz-copy-if-match", etag);
    }
    S3Response resp;
    CCFS_RETURN_IF_ERROR(client_.Execute(
        {.method = "PUT", .key = FullKey(dst), .headers = std::move(headers)}, &resp));
    // A copy can fail after its 200 went out: the body then holds <Error>.
    if (resp.body.find("<Error>") != std::string::npos) {
      return Status::Unavailable("copy " + src + " -> " + dst +
                                 " failed: " + resp.body.substr(0, 200));
    }
    if (info != nullptr) {
      ObjectInfo copied;
      CCFS_RETURN_IF_ERROR(Head(dst, &copied));
      *info = copied;
    }
    return Status::OK();
  }

  Status Delete(const std::string& key) override {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    S3Response resp;
    Status s = client_.Execute({.method = "DELETE", .key = FullKey(key)}, &resp);
    if (s.IsNotFound() && resp.error.code != "NoSuchBucket") return Status::OK();
    return s;
  }

  std::string Describe() const override {
    return "s3://" + bucket_ + (prefix_.empty() ? "" : "/" + prefix_) + " (" + endpoint_ + ")";
  }

  bool CopyKeepsEtag() const override { return true; }

  std::string IfMatchForm() const override {
    return client_.etag_form() == S3Client::EtagForm::kUnquoted ? "unquoted" : "";
  }
  void SetIfMatchForm(const std::string& form) override {
    if (form == "unquoted") client_.set_etag_form(S3Client::EtagForm::kUnquoted);
  }

 private:
  struct PutTarget {
    const std::string* body = nullptr;
    int fd = -1;
    uint64_t length = 0;
  };

  std::string FullKey(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "/" + key;
  }

  static uint64_t ParseSize(const std::string& v) {
    return v.empty() ? 0 : std::strtoull(v.c_str(), nullptr, 10);
  }

  // "bytes a-b/total".
  static bool ParseTotal(const std::string& v, uint64_t* start, uint64_t* total) {
    size_t slash = v.find('/');
    if (v.rfind("bytes ", 0) != 0 || slash == std::string::npos) return false;
    *start = std::strtoull(v.c_str() + 6, nullptr, 10);
    *total = std::strtoull(v.c_str() + slash + 1, nullptr, 10);
    return true;
  }

  static ObjectInfo InfoFromHeaders(const std::string& key, const S3Response& resp) {
    ObjectInfo info;
    info.key = key;
    info.etag = UnquoteEtag(resp.Header("etag"));
    info.mtime_unix = ParseHttpDate(resp.Header("last-modified"));
    info.server_time_unix = ParseHttpDate(resp.Header("date"));
    return info;
  }

  // A read that yields no bytes still checks existence and If-Match.
  Status EmptyRead(const std::string& key, const GetOptions& opts, ObjectInfo* info) {
    ObjectInfo head;
    Status s = Head(key, &head);
    if (s.IsNotFound() && !opts.if_match.empty()) {
      return Status::PreconditionFailed(s.message() + " (If-Match on a missing object)")
          .WithHttpStatus(s.http_status());
    }
    if (!s.ok()) return s;
    if (!opts.if_match.empty() && head.etag != opts.if_match) {
      return Status::PreconditionFailed("s3 GET " + client_.ObjectUrl(FullKey(key)) +
                                        ": If-Match " + opts.if_match + " but the ETag is " +
                                        head.etag)
          .WithHttpStatus(412);
    }
    if (info != nullptr) *info = head;
    return Status::OK();
  }

  Status PutOnce(const std::string& key, const PutTarget& target, const ContentHashes& hashes,
                 const PutOptions& opts, ObjectInfo* info) {
    S3Response resp;
    Status s = client_.Execute({.method = "PUT",
                                .key = FullKey(key),
                                .headers = {{"Content-Type", opts.content_type}},
                                .if_match = opts.if_match,
                                .if_none_match_any = opts.if_none_match_any,
                                .body = target.body,
                                .body_fd = target.fd,
                                .body_length = target.fd >= 0 ? target.length : 0,
                                .payload_sha256 = hashes.sha256_hex},
                               &resp);
    std::string etag = UnquoteEtag(resp.Header("etag"));
    if (s.IsPreconditionFailed() && resp.attempts > 1) {
      // A retried conditional PUT is refused when the first attempt did
      // land but its response was lost. Then the object holds our bytes,
      // whose MD5 is their ETag: that is success, not a conflict.
      ObjectInfo now;
      if (Head(key, &now).ok() && now.etag == hashes.md5_hex && now.size == target.length) {
        s = Status::OK();
        etag = now.etag;
      }
    }
    if (!s.ok()) return s;
    if (info != nullptr) {
      info->key = key;
      info->etag = etag;
      info->size = target.length;
      info->mtime_unix = 0;
    }
    return Status::OK();
  }

  std::string endpoint_;
  std::string bucket_;
  std::string prefix_;
  StoreOptions opts_;
  S3Client client_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket_and_prefix,
                                                 const StoreOptions& opts) {
  const size_t slash = bucket_and_prefix.find('/');
  std::string bucket = bucket_and_prefix.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : bucket_and_prefix.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!ValidBucketName(bucket)) {
    return Status::InvalidArgument("bad S3 bucket name in s3://" + bucket_and_prefix);
  }
  if (!prefix.empty() && !ValidateKey(prefix).ok()) {
    return Status::InvalidArgument("bad S3 prefix in s3://" + bucket_and_prefix);
  }
  Result<AwsConfig> config = ResolveAwsConfig(opts, bucket);
  if (!config.ok()) return config.status();
  return std::unique_ptr<ObjectStore>(
      new S3Store(std::move(config.value()), std::move(bucket), std::move(prefix), opts));
}

}  // namespace ccfs
