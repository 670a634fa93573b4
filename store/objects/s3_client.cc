#include "store/objects/s3_client.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <limits>
#include <random>
#include <thread>

#include "store/objects/http_client.h"

namespace ccfs {
namespace {

constexpr int kBackoffBaseMs = 100;
constexpr int kBackoffCapMs = 5000;
constexpr int kRetryAfterCapMs = 20000;  // a server asking for longer is not waited for
constexpr size_t kMaxServerMessage = 200;

uint64_t ParseU64(const std::string& s, bool* ok) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  *ok = ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  return v;
}

// "bytes START-END/TOTAL" -> START and TOTAL (TOTAL may be "*").
bool ParseContentRange(const std::string& v, uint64_t* start, uint64_t* total) {
  if (v.rfind("bytes ", 0) != 0) return false;
  size_t dash = v.find('-', 6);
  size_t slash = v.find('/', 6);
  if (dash == std::string::npos || slash == std::string::npos || dash > slash) return false;
  bool ok = false;
  *start = ParseU64(v.substr(6, dash - 6), &ok);
  if (!ok) return false;
  *total = ParseU64(v.substr(slash + 1), &ok);
  if (!ok) *total = 0;
  return true;
}

// Exponential backoff with "equal jitter": half the step fixed, half random,
// so retries spread out but never collapse to zero delay.
int BackoffMs(int retry_index) {
  thread_local std::mt19937 rng{std::random_device{}()};
  int64_t step = static_cast<int64_t>(kBackoffBaseMs) << std::min(retry_index, 16);
  step = std::min<int64_t>(step, kBackoffCapMs);
  std::uniform_int_distribution<int64_t> jitter(0, step / 2);
  return static_cast<int>(step / 2 + jitter(rng));
}

// Retry-After in seconds (the HTTP-date form is not used by S3); -1 if absent.
int RetryAfterMs(const std::string& value) {
  bool ok = false;
  uint64_t s = ParseU64(value, &ok);
  if (!ok) return -1;
  return static_cast<int>(std::min<uint64_t>(s * 1000, kRetryAfterCapMs));
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return nullptr;
  }
}

}  // namespace

std::string S3Response::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

int64_t ParseHttpDate(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

S3Client::S3Client(AwsConfig config, std::string bucket, const StoreOptions& opts,
                   StoreStats* stats)
    : config_(std::move(config)),
      bucket_(std::move(bucket)),
      max_retries_(std::max(0, opts.max_retries)),
      connect_timeout_ms_(opts.connect_timeout_ms > 0 ? opts.connect_timeout_ms : 5000),
      request_timeout_ms_(std::max(0, opts.request_timeout_ms)),
      stall_timeout_s_(opts.stall_timeout_s > 0 ? opts.stall_timeout_s : 30),
      stats_(stats) {
  size_t sep = config_.endpoint.find("://");
  scheme_ = config_.endpoint.substr(0, sep);
  endpoint_host_ = config_.endpoint.substr(sep + 3);
}

std::string S3Client::Host() const {
  return config_.virtual_hosted ? bucket_ + "." + endpoint_host_ : endpoint_host_;
}

std::string S3Client::PathFor(const std::string& key) const {
  if (config_.virtual_hosted) return "/" + UriEncode(key, true);
  return "/" + bucket_ + (key.empty() ? "" : "/" + UriEncode(key, true));
}

std::string S3Client::ObjectUrl(const std::string& key) const {
  return scheme_ + "://" + Host() + PathFor(key);
}

std::string S3Client::Scrub(std::string text) const {
  for (const std::string* secret : {&config_.secret_key, &config_.session_token}) {
    if (secret->empty()) continue;
    for (size_t p = text.find(*secret); p != std::string::npos; p = text.find(*secret, p)) {
      text.replace(p, secret->size(), "***");
    }
  }
  return text;
}

Status S3Client::MapFailure(const S3Request& req, const std::string& url, const S3Response& resp,
                            int retries) const {
  const int code = resp.status;
  std::string msg = "s3 " + req.method + " " + url + ": HTTP " + std::to_string(code);
  if (!resp.error.code.empty()) {
    msg += " " + resp.error.code;
  } else if (const char* reason = ReasonPhrase(code)) {
    msg += std::string(" ") + reason;  // HEAD and some errors carry no <Code>
  }
  if (!resp.error.message.empty()) {
    msg += " (" + resp.error.message.substr(0, kMaxServerMessage) + ")";
  }
  if (retries > 0) msg += " (gave up after " + std::to_string(retries) + " retries)";
  msg = Scrub(std::move(msg));
  Status s;
  if (code == 412 || (code == 409 && resp.error.code == "ConditionalRequestConflict")) {
    s = Status::PreconditionFailed(msg);
  } else if (code == 404 && !req.if_match.empty()) {
    // AWS answers If-Match on a missing key with 404, RGW with 412: the
    // caller asked for a version that is not there either way.
    s = Status::PreconditionFailed(msg + " (If-Match on a missing object)");
  } else if (code == 404) {
    s = Status::NotFound(msg);
  } else if (code == 401 || code == 403) {
    s = Status::PermissionDenied(msg);
  } else if (code == 405 || code == 501) {
    s = Status::NotSupported(msg);
  } else if (code >= 500 || code == 429) {
    s = Status::Unavailable(msg);
  } else if (code >= 400) {
    s = Status::InvalidArgument(msg);
  } else {
    s = Status::IOError(msg + " (unexpected status)");
  }
  return s.WithHttpStatus(code);
}

bool S3Client::IfMatchRefusedForQuoting(const std::string& key, const std::string& etag) {
  S3Request head{.method = "HEAD", .key = key};
  S3Response r;
  if (!Execute(head, &r).ok() || UnquoteEtag(r.Header("etag")) != etag) return false;
  etag_form_.store(EtagForm::kUnquoted);
  return true;
}

Status S3Client::Execute(const S3Request& req, S3Response* resp) {
  const std::string host = Host();
  const std::string path = PathFor(req.key);
  const std::string query = CanonicalQueryString(req.query);
  const std::string url = scheme_ + "://" + host + path + (query.empty() ? "" : "?" + query);
  std::string payload_hash = req.payload_sha256;
  if (payload_hash.empty())
    payload_hash = req.body != nullptr ? Sha256Hex(*req.body) : kEmptySha256;
  const SigV4Credentials creds{config_.access_key, config_.secret_key, config_.session_token};

  // Streamed GET state, kept across attempts so a retry resumes.
  const uint64_t base = req.range ? req.range->offset : 0;
  // One past the last byte wanted; "to the end" when unbounded (or when
  // offset + length would overflow).
  constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();
  const uint64_t end = req.range && req.range->length <= kToEnd - req.range->offset
                           ? req.range->offset + req.range->length
                           : kToEnd;
  uint64_t delivered = 0;
  std::string pinned_etag = req.if_match;
  Status sink_status;

  bool quoting_checked = false;
  int retries = 0;
  *resp = S3Response{};
  for (int attempt = 1;; ++attempt) {
    HeaderList headers = req.headers;
    headers.emplace_back("x-amz-content-sha256", payload_hash);
    // A resumed read must continue the same object version.
    const std::string if_match = delivered > 0 ? pinned_etag : req.if_match;
    const EtagForm form = etag_form_.load();
    if (!if_match.empty()) {
      headers.emplace_back("If-Match",
                           form == EtagForm::kQuoted ? "\"" + if_match + "\"" : if_match);
    }
    if (req.if_none_match_any) headers.emplace_back("If-None-Match", "*");
    if (req.method == "GET" && (req.range || delivered > 0)) {
      std::string range = "bytes=" + std::to_string(base + delivered) + "-";
      if (end != kToEnd) range += std::to_string(end - 1);
      headers.emplace_back("Range", range);
    }

    SigV4Signature sig = SignV4({.method = req.method,
                                 .host = host,
                                 .canonical_uri = path,
                                 .query = req.query,
                                 .headers = headers,
                                 .payload_hash = payload_hash},
                                creds, config_.region, "s3", AmzDateNow());
    HttpRequest http;
    http.method = req.method;
    http.url = url;
    http.headers = std::move(headers);
    http.headers.emplace_back("Host", host);
    for (auto& h : sig.added_headers) http.headers.push_back(std::move(h));
    http.headers.emplace_back("Authorization", std::move(sig.authorization));
    http.body = req.body;
    http.body_fd = req.body_fd;
    http.body_offset = req.body_offset;
    http.body_length = req.body_length;
    http.connect_timeout_ms = connect_timeout_ms_;
    http.timeout_ms = request_timeout_ms_;
    http.low_speed_time_s = stall_timeout_s_;

    HttpResponse hr;
    uint64_t body_pos = 0;  // bytes of this response's body seen so far
    bool response_checked = false;
    uint64_t response_start = 0;
    if (req.sink != nullptr) {
      http.sink = [&](const char* data, size_t len) -> bool {
        if (!response_checked) {
          response_checked = true;
          const std::string etag = UnquoteEtag(HeaderValue(hr, "etag"));
          if (pinned_etag.empty()) {
            pinned_etag = etag;
          } else if (!etag.empty() && etag != pinned_etag) {
            sink_status = Status::PreconditionFailed("s3 GET " + url + ": object changed (ETag " +
                                                     etag + ", expected " + pinned_etag + ")")
                              .WithHttpStatus(hr.status);
            return false;
          }
          uint64_t total = 0;
          if (hr.status != 206 ||
              !ParseContentRange(HeaderValue(hr, "content-range"), &response_start, &total)) {
            response_start = 0;  // a 200 carries the whole object
          }
        }
        stats_->bytes_received += len;
        // Deliver only the bytes not yet delivered and inside the range; a
        // server that ignored Range (200) is skipped forward.
        const uint64_t pos = response_start + body_pos;
        body_pos += len;
        const uint64_t need = base + delivered;
        if (pos > need) {
          sink_status = Status::Corruption("s3 GET " + url + ": response skipped bytes " +
                                           std::to_string(need) + ".." + std::to_string(pos));
          return false;
        }
        uint64_t skip = need - pos;
        if (skip >= len || need >= end) return true;
        uint64_t take = std::min<uint64_t>(len - skip, end - need);
        Status s = (*req.sink)(data + skip, static_cast<size_t>(take));
        if (!s.ok()) {
          sink_status = s;
          return false;
        }
        delivered += take;
        return true;
      };
    }

    HttpPerform(http, &hr);
    ++stats_->requests;
    // Every body on the wire counts: uploads and the XML of multipart
    // completions and batch deletes out; LIST pages, error documents and
    // copy results in (a sink's GET bytes were counted as they came).
    stats_->bytes_sent += hr.bytes_uploaded;
    if (req.sink == nullptr) stats_->bytes_received += hr.body.size();
    resp->attempts = attempt;
    resp->status = hr.status;
    resp->headers = std::move(hr.headers);
    resp->body = std::move(hr.body);
    resp->error = S3Error{};
    if (resp->status >= 300) ParseS3Error(resp->body, &resp->error);

    if (hr.aborted_by_sink) return sink_status;
    if (hr.body_read_failed) {
      return Status::FromErrno("s3 " + req.method + " " + url + ": read request body",
                               hr.body_read_errno);
    }

    int delay_ms = -1;  // >= 0: retry after this long
    if (hr.curl_code != 0) {
      if (!IsRetryableCurlCode(hr.curl_code) || retries >= max_retries_) {
        std::string msg = "s3 " + req.method + " " + url + ": curl error " +
                          std::to_string(hr.curl_code) + ": " + hr.curl_error;
        if (retries > 0) msg += " (gave up after " + std::to_string(retries) + " retries)";
        return Status::Unavailable(Scrub(std::move(msg)));
      }
      delay_ms = BackoffMs(retries);
    } else if (resp->status >= 200 && resp->status < 300) {
      return Status::OK();
    } else if (resp->status == 412 && !if_match.empty() && form == EtagForm::kQuoted &&
               !quoting_checked) {
      quoting_checked = true;
      if (IfMatchRefusedForQuoting(req.key, if_match)) continue;  // resend, bare ETag
      return MapFailure(req, url, *resp, retries);
    } else if ((resp->status >= 500 || resp->status == 429) && retries < max_retries_) {
      delay_ms = BackoffMs(retries);
      if (resp->status == 429 || resp->status == 503) {
        delay_ms = std::max(delay_ms, RetryAfterMs(resp->Header("retry-after")));
      }
    } else {
      return MapFailure(req, url, *resp, retries);
    }
    ++retries;
    ++stats_->retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
}

}  // namespace ccfs
