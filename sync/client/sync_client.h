// SyncClient: the sync API (docs/sync-api.md) over one reused libcurl easy handle
// (keep-alive). Every call returns an ApiReply that classifies the outcome for
// the sidecar's retry policy; nothing throws. Not thread-safe: one client per
// thread. Transfers are bounded by connect/total timeouts and abort promptly
// when the caller's abort flag is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "store/base/status.h"

namespace ccfs {

struct ApiReply {
  enum class Kind {
    kOk,            // 2xx with a JSON body
    kConflict,      // 409: body has last_synced_line
    kTooLarge,      // 413: split the chunk
    kRateLimited,   // 429, 503: wait Retry-After, then back off
    kRetryable,     // other 5xx, 408, timeouts, resets, refused connections
    kUnauthorized,  // 401, 403: stop syncing
    kRejected,      // other 4xx: the request itself is wrong
    kAborted,       // the abort flag was set
  };
  Kind kind = Kind::kRetryable;
  long http_status = 0;  // 0 for transport errors
  nlohmann::json body;   // parsed reply (null when not JSON)
  int retry_after_s = -1;
  std::string error;  // for logs and `ccfs status`; never contains the token
  bool ok() const { return kind == Kind::kOk; }
};

const char* ApiReplyKindName(ApiReply::Kind kind);

struct SyncClientOptions {
  std::string base_url;  // "http://host:port" (a trailing "/" is ignored)
  std::string token;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{120000};
  const std::atomic<bool>* abort_flag = nullptr;  // optional; aborts transfers when true
};

class SyncClient {
 public:
  static Result<std::unique_ptr<SyncClient>> Create(const SyncClientOptions& options);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  ApiReply Init(const std::string& external_id, const std::string& transcript_path,
                const nlohmann::json& metadata);
  // `body` is a complete chunk request (see chunk_builder.h).
  ApiReply UploadChunk(const std::string& body);
  ApiReply SendEvent(const std::string& session_id, const std::string& event_type,
                     const std::string& timestamp, const nlohmann::json& payload);
  ApiReply UpdateSummary(const std::string& external_id, const std::string& summary);
  ApiReply LinkGitHub(const std::string& session_id, const std::string& url,
                      const std::string& title);

  // Any request: `path` starts with "/api/...".
  ApiReply Call(const char* method, const std::string& path, const std::string& body);

  // Requests attempted so far (for tests and status).
  int64_t requests() const { return requests_; }

 private:
  struct Impl;
  explicit SyncClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t requests_ = 0;
};

}  // namespace ccfs
