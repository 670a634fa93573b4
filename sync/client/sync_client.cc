#include "sync/client/sync_client.h"

#include <strings.h>

#include <ctime>
#include <mutex>

#include "store/objects/curl_handle.h"

namespace ccfs {
namespace {

using nlohmann::json;

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Retry-After: delta-seconds or an HTTP date.
int ParseRetryAfter(std::string value) {
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.pop_back();
  }
  size_t b = value.find_first_not_of(' ');
  if (b == std::string::npos) return -1;
  value = value.substr(b);
  if (value.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return static_cast<int>(std::min<long long>(std::stoll(value), 24 * 3600));
    } catch (const std::exception&) {
      return -1;
    }
  }
  time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return -1;
  time_t now = time(nullptr);
  return when > now ? static_cast<int>(std::min<time_t>(when - now, 24 * 3600)) : 0;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  static constexpr char kName[] = "retry-after:";
  if (line.size() > sizeof(kName) - 1 && strncasecmp(line.c_str(), kName, sizeof(kName) - 1) == 0) {
    *static_cast<int*>(user) = ParseRetryAfter(line.substr(sizeof(kName) - 1));
  }
  return size * n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort_flag = static_cast<const std::atomic<bool>*>(user);
  return abort_flag != nullptr && abort_flag->load() ? 1 : 0;
}

ApiReply::Kind Classify(long status) {
  if (status >= 200 && status < 300) return ApiReply::Kind::kOk;
  if (status == 401 || status == 403) return ApiReply::Kind::kUnauthorized;
  if (status == 409) return ApiReply::Kind::kConflict;
  if (status == 413) return ApiReply::Kind::kTooLarge;
  if (status == 429 || status == 503) return ApiReply::Kind::kRateLimited;
  if (status >= 500 || status == 408) return ApiReply::Kind::kRetryable;
  return ApiReply::Kind::kRejected;
}

}  // namespace

const char* ApiReplyKindName(ApiReply::Kind kind) {
  switch (kind) {
    case ApiReply::Kind::kOk:
      return "ok";
    case ApiReply::Kind::kConflict:
      return "conflict";
    case ApiReply::Kind::kTooLarge:
      return "too large";
    case ApiReply::Kind::kRateLimited:
      return "rate limited";
    case ApiReply::Kind::kRetryable:
      return "retryable";
    case ApiReply::Kind::kUnauthorized:
      return "unauthorized";
    case ApiReply::Kind::kRejected:
      return "rejected";
    case ApiReply::Kind::kAborted:
      return "aborted";
  }
  return "?";
}

struct SyncClient::Impl {
  SyncClientOptions options;
  CurlEasy easy;
  CurlSlist headers;
  char error_buf[CURL_ERROR_SIZE] = {};

  std::string Escape(const std::string& segment) {
    CurlString e(curl_easy_escape(easy.get(), segment.c_str(), static_cast<int>(segment.size())));
    return e ? std::string(e.get()) : segment;
  }
};

SyncClient::SyncClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyncClient::~SyncClient() = default;

Result<std::unique_ptr<SyncClient>> SyncClient::Create(const SyncClientOptions& options) {
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("sync URL must start with http:// or https://: " +
                                   options.base_url);
  }
  if (options.token.empty()) return Status::InvalidArgument("sync token is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  while (!impl->options.base_url.empty() && impl->options.base_url.back() == '/') {
    impl->options.base_url.pop_back();
  }
  impl->easy = NewCurlEasy();
  if (!impl->easy) return Status::IOError("curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const std::string& h :
       {std::string("Content-Type: application/json"), std::string("Accept: application/json"),
        // No "Expect: 100-continue" round trip before large bodies.
        std::string("Expect:"), "Authorization: Bearer " + options.token}) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (next == nullptr) {
      curl_slist_free_all(list);
      return Status::IOError("curl_slist_append failed");
    }
    list = next;
  }
  impl->headers.reset(list);
  return std::unique_ptr<SyncClient>(new SyncClient(std::move(impl)));
}

ApiReply SyncClient::Call(const char* method, const std::string& path, const std::string& body) {
  ++requests_;
  CURL* h = impl_->easy.get();
  const SyncClientOptions& o = impl_->options;
  std::string url = o.base_url + path;
  std::string response;
  int retry_after = -1;
  impl_->error_buf[0] = '\0';

  curl_easy_reset(h);  // keeps the connection cache: keep-alive survives
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, impl_->headers.get());
  if (std::string_view(method) != "GET") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, impl_->error_buf);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, o.abort_flag);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);

  ApiReply reply;
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    reply.kind =
        rc == CURLE_ABORTED_BY_CALLBACK ? ApiReply::Kind::kAborted : ApiReply::Kind::kRetryable;
    reply.error = std::string(method) + " " + path + ": " +
                  (impl_->error_buf[0] != '\0' ? impl_->error_buf : curl_easy_strerror(rc));
    return reply;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.http_status);
  reply.retry_after_s = retry_after;
  reply.kind = Classify(reply.http_status);
  reply.body = json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  if (reply.kind == ApiReply::Kind::kOk && !reply.body.is_object()) {
    reply.kind = ApiReply::Kind::kRetryable;
    reply.error = std::string(method) + " " + path + ": HTTP " + std::to_string(reply.http_status) +
                  " without a JSON object";
  } else if (reply.kind != ApiReply::Kind::kOk) {
    std::string detail;
    if (reply.body.is_object() && reply.body.contains("error") && reply.body["error"].is_string()) {
      detail = ": " + reply.body["error"].get<std::string>();
    }
    reply.error =
        std::string(method) + " " + path + ": HTTP " + std::to_string(reply.http_status) + detail;
  }
  return reply;
}

ApiReply SyncClient::Init(const std::string& external_id, const std::string& transcript_path,
                          const json& metadata) {
  json body = {{"external_id", external_id}, {"transcript_path", transcript_path}};
  if (metadata.is_object() && !metadata.empty()) body["metadata"] = metadata;
  return Call("POST", "/api/v1/sync/init",
              body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ApiReply SyncClient::UploadChunk(const std::string& body) {
  return Call("POST", "/api/v1/sync/chunk", body);
}

ApiReply SyncClient::SendEvent(const std::string& session_id, const std::string& event_type,
                               const std::string& timestamp, const json& payload) {
  json body = {{"session_id", session_id},
               {"event_type", event_type},
               {"timestamp", timestamp},
               {"payload", payload.is_object() ? payload : json::object()}};
  return Call("POST", "/api/v1/sync/event",
              body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ApiReply SyncClient::UpdateSummary(const std::string& external_id, const std::string& summary) {
  json body = {{"summary", summary}};
  return Call("PATCH", "/api/v1/sessions/" + impl_->Escape(external_id) + "/summary",
              body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ApiReply SyncClient::LinkGitHub(const std::string& session_id, const std::string& url,
                                const std::string& title) {
  json body = {{"url", url}, {"source", "cli_hook"}};
  if (!title.empty()) body["title"] = title;
  return Call("POST", "/api/v1/sessions/" + impl_->Escape(session_id) + "/github-links",
              body.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace ccfs
