// HttpClient: one HTTP/1.1 exchange over libcurl, on a curl handle that the
// calling thread keeps per origin, so keep-alive connections are reused from
// request to request. No retries here: the caller (S3Client) decides, since
// retrying needs re-signing and knows which errors are safe to repeat.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "store/objects/sigv4.h"

namespace ccfs {

struct HttpRequest {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string url;     // full URL, path and query already encoded
  HeaderList headers;  // sent as given (a "Host" here replaces curl's own)

  // Request body, at most one of: an in-memory string, or `body_length`
  // bytes of the open file `body_fd` from `body_offset`. The file is read
  // with pread, so every attempt sends it from its start.
  const std::string* body = nullptr;
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;

  // Receives the body of a 2xx response as it arrives; returning false
  // aborts the transfer. Bodies of other responses (and of all responses
  // when unset) go to HttpResponse::body.
  std::function<bool(const char* data, size_t len)> sink;

  int connect_timeout_ms = 5000;
  int timeout_ms = 0;  // 0: no overall limit; the low-speed limit still applies
  // A transfer slower than 1 byte/s for this long is aborted (as a timeout),
  // so a server that stops answering cannot hang us.
  int low_speed_time_s = 30;
};

struct HttpResponse {
  int status = 0;                              // 0 when no response was received
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;                            // non-sink body (errors: first 1 MiB)
  int curl_code = 0;                           // CURLE_OK when the exchange completed
  std::string curl_error;                      // curl's message when curl_code != 0
  bool aborted_by_sink = false;
  bool body_read_failed = false;  // the request body file could not be read
  int body_read_errno = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t sink_bytes = 0;  // body bytes handed to the sink
};

// Performs one exchange on this thread's handle for the URL's origin.
void HttpPerform(const HttpRequest& req, HttpResponse* resp);

// Transport failures worth another attempt: refused/reset connections,
// timeouts, truncated or empty replies, TLS handshake hiccups.
bool IsRetryableCurlCode(int curl_code);

// Header value or "" ("content-length", lowercase).
std::string HeaderValue(const HttpResponse& resp, const std::string& name);

}  // namespace ccfs
