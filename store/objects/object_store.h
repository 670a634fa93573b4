// ObjectStore: the one interface ccfs talks to buckets through. Two backends
// (S3 over libcurl, a local directory) share it and one conformance suite
// (tests/unit/store_conformance_test.cc) runs against both.
//
// Keys are relative to the store root: for "s3://bucket/pre/fix" the key
// "ws/claude-home.tar.gz" names object "pre/fix/ws/claude-home.tar.gz".
// Keys never start with '/', never contain "//", "." or ".." segments.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;        // without surrounding quotes
  int64_t mtime_unix = 0;  // Last-Modified, seconds since epoch (0 if unknown)
  // The store's clock when it answered (HTTP Date), seconds since epoch; 0
  // when the store does not say (a file:// store's clock is the local one).
  // Leases judge expiry by it, so that no machine's clock offset matters.
  int64_t server_time_unix = 0;
};

// Half-open byte range [offset, offset + length).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct GetOptions {
  std::optional<ByteRange> range;
  // When set, the read fails with PreconditionFailed unless the object's ETag
  // is this one, so bytes of two versions of an object are never mixed.
  std::string if_match;
};

struct PutOptions {
  std::string if_match;            // replace only this version
  bool if_none_match_any = false;  // create only: fail if the key exists
  std::string content_type = "application/octet-stream";
  // Copy only: copy only this version of the source (PreconditionFailed
  // otherwise), so a name derived from the source's ETag never holds the
  // bytes of another version.
  std::string copy_source_if_match;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;  // "" lists recursively; "/" groups into common_prefixes
  // Page size asked of the server; the call still returns every page.
  int max_keys_per_page = 1000;
};

struct ListResult {
  std::vector<ObjectInfo> objects;           // sorted by key (byte order)
  std::vector<std::string> common_prefixes;  // sorted, each ends with the delimiter
};

// Receives a streamed body. Returning a non-OK status aborts the transfer
// and the Get returns that status.
using ByteSink = std::function<Status(const char* data, size_t len)>;

// Counters for tests and `ccfs status`: how much crossed the wire.
struct StoreStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_received{0};  // body bytes of every response (GET, LIST, errors)
  std::atomic<uint64_t> bytes_sent{0};      // body bytes of every request (PUT, parts, POST XML)
  std::atomic<uint64_t> retries{0};
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Status Head(const std::string& key, ObjectInfo* info) = 0;

  // Streams the object (or the asked range) into `sink`. `info`, if given,
  // receives the object's ETag and full size. A range past the end is
  // clipped; a range that starts at or past the end yields no bytes.
  virtual Status Get(const std::string& key, const GetOptions& opts, const ByteSink& sink,
                     ObjectInfo* info) = 0;

  // Uploads the file at `local_path` (streamed). `info`, if given, receives
  // the new ETag and size. A conditional upload (If-Match / If-None-Match)
  // is always one PUT, whose condition the store checks atomically with the
  // write; only unconditional uploads above the backend's threshold go
  // multipart (see StoreOptions::max_conditional_put).
  virtual Status PutFile(const std::string& key, const std::string& local_path,
                         const PutOptions& opts, ObjectInfo* info) = 0;

  // Uploads a small in-memory body.
  virtual Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                          ObjectInfo* info) = 0;

  virtual Status List(const ListOptions& opts, ListResult* out) = 0;

  // Copies object `src` to `dst` inside the store: the bytes do not pass
  // through this machine and do not count in stats().bytes_*. `opts`
  // conditions the write of `dst` as for a PUT. NotFound when `src` is
  // missing; NotSupported from a store that cannot copy (the caller then
  // downloads and uploads).
  virtual Status Copy(const std::string& src, const std::string& dst, const PutOptions& opts,
                      ObjectInfo* info) {
    (void)src;
    (void)dst;
    (void)opts;
    (void)info;
    return Status::NotSupported(Describe() + ": no server-side copy");
  }

  // Deleting a missing key succeeds (as on S3).
  virtual Status Delete(const std::string& key) = 0;

  // The store's URL, for messages. Never contains a secret.
  virtual std::string Describe() const = 0;

  // How the store wants the ETag in If-Match: "" (quoted, as HTTP says) or
  // "unquoted" (RGW 16.2 compares the bare ETag). A store learns it from its
  // first refused If-Match (which costs that request's body twice); one
  // told up front (from a remembered probe: store/objects/condition_probe.h) never
  // has to.
  // Whether Copy of a single-part object gives the copy the source's ETag
  // (S3: the MD5 of the same bytes), so a caller can check what it copied.
  virtual bool CopyKeepsEtag() const { return false; }

  virtual std::string IfMatchForm() const { return ""; }
  virtual void SetIfMatchForm(const std::string& form) { (void)form; }

  StoreStats& stats() { return stats_; }

 protected:
  StoreStats stats_;
};

// Convenience: the whole object (or range) into a string.
Status GetToString(ObjectStore& store, const std::string& key, const GetOptions& opts,
                   std::string* out, ObjectInfo* info = nullptr);

// Checks that `key` is a well-formed relative key (see top of file).
Status ValidateKey(const std::string& key);

// Where the S3 backend gets its endpoint and credentials when the
// environment does not say (flags of the ccfs CLI map onto these).
struct StoreOptions {
  std::string endpoint;    // full URL with scheme; "" = from env, else AWS
  std::string region;      // "" = from env/profile, else us-east-1
  std::string profile;     // "" = $AWS_PROFILE, else "default"
  std::string addressing;  // "path", "virtual" or "" (auto: virtual only for amazonaws.com)
  int max_retries = 5;     // attempts after the first for retryable errors
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 0;  // 0 = no overall limit (large bodies); low-speed limit still applies
  // A request that moves no byte for this long is given up (and retried):
  // $CCFS_S3_STALL_TIMEOUT seconds when set, else 30.
  int stall_timeout_s = 30;
  // Unconditional uploads above this go multipart (new objects nobody else
  // writes). Conditional ones never do: RGW 16.2 ignores conditions on
  // CompleteMultipartUpload, so a composed write could silently replace a
  // version another writer committed while the parts were uploading.
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t multipart_part_size = 16ull << 20;
  // The largest conditional upload: S3's single-PUT limit (5 GiB). Larger
  // conditional uploads are refused with an error naming the limit.
  uint64_t max_conditional_put = 5ull << 30;
};

// Opens "s3://bucket[/prefix]" or "file:///abs/dir" (the directory is
// created on first write).
Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url,
                                               const StoreOptions& opts = {});

// The default store URL: $CCFS_STORE, else file://$HOME/.local/share/ccfs/store.
std::string DefaultStoreUrl();

}  // namespace ccfs
