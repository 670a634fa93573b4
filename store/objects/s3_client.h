// S3Client: signed S3 requests with retries, for one bucket. It builds the
// URL (path-style or virtual-hosted), signs every attempt with SigV4
// (x-amz-content-sha256 always present), retries what is safe to retry with
// exponential backoff and jitter, resumes interrupted GETs, sends If-Match in
// the ETag form the server understands, and turns HTTP outcomes into Status.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>

#include "store/objects/aws_config.h"
#include "store/objects/object_store.h"
#include "store/objects/s3_xml.h"
#include "store/objects/sigv4.h"

namespace ccfs {

struct S3Request {
  std::string method;      // GET HEAD PUT POST DELETE
  std::string key;         // full object key; "" addresses the bucket itself
  QueryList query{};       // raw names and values
  HeaderList headers{};    // extra headers, signed (e.g. Content-Type)
  std::string if_match{};  // unquoted ETag; sent as If-Match (see EtagForm)
  bool if_none_match_any = false;

  // Body, at most one (see HttpRequest). `payload_sha256` is required for a
  // file body; for a string body it is computed when empty.
  const std::string* body = nullptr;
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  std::string payload_sha256{};

  // GET only: the byte range to read (length > 0), and where a 2xx body goes.
  // With a sink, an attempt that fails after delivering bytes is resumed
  // from the next byte, pinned to the ETag first seen, never re-delivered.
  std::optional<ByteRange> range{};
  const ByteSink* sink = nullptr;
};

struct S3Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;                            // non-sink body
  S3Error error;                               // parsed when body is an <Error>
  int attempts = 0;                            // HTTP attempts made (>1: retried)

  std::string Header(const std::string& name) const;
};

class S3Client {
 public:
  S3Client(AwsConfig config, std::string bucket, const StoreOptions& opts, StoreStats* stats);

  // Runs `req` to a final outcome. OK for a 2xx response; otherwise the
  // mapped error: PreconditionFailed (412; 409 ConditionalRequestConflict;
  // 404 when If-Match was sent), NotFound (404), PermissionDenied (401/403),
  // InvalidArgument (other 4xx), Unavailable (5xx/429 or transport failure
  // after retries). `resp` holds the last response either way.
  Status Execute(const S3Request& req, S3Response* resp);

  // The URL of `key` (query omitted), for messages. Never holds a secret.
  std::string ObjectUrl(const std::string& key) const;
  const std::string& endpoint() const { return config_.endpoint; }
  const std::string& bucket() const { return bucket_; }

  // How If-Match values are quoted on the wire. Servers disagree: AWS takes
  // the quoted form, RGW 16.2 only the bare hex. We start quoted; when a 412
  // comes back although a HEAD shows exactly the ETag we sent, the server
  // wants the bare form, and the store remembers that.
  enum class EtagForm { kQuoted, kUnquoted };
  EtagForm etag_form() const { return etag_form_.load(); }
  void set_etag_form(EtagForm form) { etag_form_.store(form); }

 private:
  bool IfMatchRefusedForQuoting(const std::string& key, const std::string& etag);
  std::string Host() const;
  std::string PathFor(const std::string& key) const;
  Status MapFailure(const S3Request& req, const std::string& url, const S3Response& resp,
                    int retries) const;
  // Removes the secret key and session token from text bound for a message.
  std::string Scrub(std::string text) const;

  AwsConfig config_;
  std::string bucket_;
  std::string scheme_;
  std::string endpoint_host_;  // host[:port] of the endpoint
  int max_retries_;
  int connect_timeout_ms_;
  int request_timeout_ms_;
  int stall_timeout_s_;
  StoreStats* stats_;
  std::atomic<EtagForm> etag_form_{EtagForm::kQuoted};
};

// Parses an HTTP date ("Tue, 15 Nov 1994 08:12:31 GMT"); 0 when unparsable.
int64_t ParseHttpDate(const std::string& text);

}  // namespace ccfs
