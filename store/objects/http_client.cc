#include "store/objects/http_client.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "store/objects/curl_handle.h"

namespace ccfs {
namespace {

constexpr size_t kMaxErrorBody = 1 << 20;
// Handles kept per thread: one per origin, the least recently used dropped.
constexpr size_t kHandlesPerThread = 4;
constexpr uint64_t kExpectContinueMin = 1 << 20;

// "scheme://host:port" of a URL: the key under which a handle (and so its
// connection cache) is kept.
std::string Origin(const std::string& url) {
  size_t sep = url.find("://");
  size_t slash = sep == std::string::npos ? std::string::npos : url.find('/', sep + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

// This thread's curl handles. A handle busy in an outer request (a sink that
// itself issues a request) is never handed out twice.
class HandlePool {
 public:
  struct Lease {
    CURL* handle = nullptr;
    CurlEasy owned;  // set when the pool had no free handle: freed after use
    bool* busy = nullptr;
    ~Lease() {
      if (busy != nullptr) *busy = false;
    }
  };

  void Acquire(const std::string& origin, Lease* lease) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i]->origin == origin && !entries_[i]->busy) {
        std::rotate(entries_.begin(), entries_.begin() + i, entries_.begin() + i + 1);
        entries_[0]->busy = true;
        lease->handle = entries_[0]->handle.get();
        lease->busy = &entries_[0]->busy;
        return;
      }
    }
    CurlEasy fresh = NewCurlEasy();
    bool all_busy = std::all_of(entries_.begin(), entries_.end(), [](auto& e) { return e->busy; });
    if (fresh == nullptr || (entries_.size() >= kHandlesPerThread && all_busy)) {
      lease->handle = fresh.get();
      lease->owned = std::move(fresh);
      return;
    }
    if (entries_.size() >= kHandlesPerThread) {
      // Drop the least recently used idle handle.
      for (size_t i = entries_.size(); i-- > 0;) {
        if (!entries_[i]->busy) {
          entries_.erase(entries_.begin() + i);
          break;
        }
      }
    }
    auto entry = std::make_unique<Entry>();
    entry->origin = origin;
    entry->handle = std::move(fresh);
    entry->busy = true;
    lease->handle = entry->handle.get();
    lease->busy = &entry->busy;
    entries_.insert(entries_.begin(), std::move(entry));
  }

 private:
  struct Entry {
    std::string origin;
    CurlEasy handle;
    bool busy = false;
  };
  std::vector<std::unique_ptr<Entry>> entries_;  // most recently used first
};

thread_local HandlePool tls_pool;

struct TransferState {
  const HttpRequest* req;
  HttpResponse* resp;
  uint64_t upload_pos = 0;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after "100 Continue", or a redirect): start over.
    st->resp->headers.clear();
    size_t sp = line.find(' ');
    st->resp->status = sp == std::string::npos ? 0 : std::atoi(line.c_str() + sp + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    size_t b = value.find_first_not_of(" \t");
    value = b == std::string::npos ? "" : value.substr(b);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    st->resp->headers[Lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  size_t len = size * n;
  const int status = st->resp->status;
  if (st->req->sink && status >= 200 && status < 300) {
    if (!st->req->sink(data, len)) {
      st->resp->aborted_by_sink = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    st->resp->sink_bytes += len;
    return len;
  }
  if (status >= 200 && status < 300) {  // a small document (list, multipart)
    st->resp->body.append(data, len);
  } else if (st->resp->body.size() < kMaxErrorBody) {
    st->resp->body.append(data, std::min(len, kMaxErrorBody - st->resp->body.size()));
  }
  return len;
}

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const HttpRequest& req = *st->req;
  const uint64_t total = req.body != nullptr ? req.body->size() : req.body_length;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, total - st->upload_pos));
  if (want == 0) return 0;
  if (req.body != nullptr) {
    std::memcpy(buffer, req.body->data() + st->upload_pos, want);
    st->upload_pos += want;
    return want;
  }
  ssize_t got;
  do {
    got = pread(req.body_fd, buffer, want, static_cast<off_t>(req.body_offset + st->upload_pos));
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {  // error, or the file shrank under us
    st->resp->body_read_failed = true;
    st->resp->body_read_errno = got < 0 ? errno : EIO;
    return CURL_READFUNC_ABORT;
  }
  st->upload_pos += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

// curl resends a request by itself when a reused keep-alive connection
// turns out dead while the request is being sent; it must rewind the body
// first. Without this callback that rewind fails (CURLE_SEND_FAIL_REWIND)
// and the whole request is lost.
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* st = static_cast<TransferState*>(user);
  const HttpRequest& req = *st->req;
  const uint64_t total = req.body != nullptr ? req.body->size() : req.body_length;
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > total) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  st->upload_pos = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

void HttpPerform(const HttpRequest& req, HttpResponse* resp) {
  *resp = HttpResponse{};
  HandlePool::Lease lease;
  tls_pool.Acquire(Origin(req.url), &lease);
  CURL* h = lease.handle;
  if (h == nullptr) {
    resp->curl_code = CURLE_FAILED_INIT;
    resp->curl_error = "curl_easy_init failed";
    return;
  }
  // Reset clears every option but keeps the connection cache: that is
  // what makes the handle worth keeping.
  curl_easy_reset(h);

  TransferState st{&req, resp};
  char errbuf[CURL_ERROR_SIZE] = {0};
  CurlSlist headers;
  bool headers_ok = true;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) {
      headers_ok = false;
      return;
    }
    headers.release();  // `next` is the same list, grown
    headers.reset(next);
  };
  for (const auto& [name, value] : req.headers) append(name + ": " + value);
  const bool has_body = req.body != nullptr || req.body_fd >= 0;
  const uint64_t body_len = req.body != nullptr ? req.body->size() : req.body_length;
  // Large bodies ask for 100-continue, so a server that refuses the request
  // (412, 403) does so before we send megabytes; small ones are not worth
  // the extra round trip. Explicit either way: curl's default varies by version.
  if (has_body) append(body_len >= kExpectContinueMin ? "Expect: 100-continue" : "Expect:");
  if (!headers_ok) {
    resp->curl_code = CURLE_OUT_OF_MEMORY;
    resp->curl_error = "out of memory building headers";
    return;
  }

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // the path is signed as sent
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout_ms));
  if (req.timeout_ms > 0)
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.low_speed_time_s));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);  // PUT semantics: a sized, streamed body
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_len));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &st);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &st);
    if (req.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  resp->curl_code = rc;
  if (rc != CURLE_OK) {
    resp->curl_error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    while (!resp->curl_error.empty() && resp->curl_error.back() == '\n')
      resp->curl_error.pop_back();
  }
  curl_off_t uploaded = 0;
  if (curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK && uploaded > 0) {
    resp->bytes_uploaded = static_cast<uint64_t>(uploaded);
  }
  // Options point at locals (headers, errbuf, st): clear them before they die.
  curl_easy_reset(h);
}

bool IsRetryableCurlCode(int code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SEND_FAIL_REWIND:  // curl's own resend failed; ours starts the body over
      return true;
    default:
      return false;
  }
}

std::string HeaderValue(const HttpResponse& resp, const std::string& name) {
  auto it = resp.headers.find(name);
  return it == resp.headers.end() ? std::string() : it->second;
}

}  // namespace ccfs
