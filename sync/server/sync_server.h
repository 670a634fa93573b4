// SyncServer: the reference implementation of the sync API (docs/sync-api.md)
// over cpp-httplib and SQLite, run by `ccfs sync-server` and, in process, by
// tests. Bearer-token auth on every endpoint, 16 MiB body limit (413), line
// continuity (overlap skipped, 409 on a gap), read-back endpoints, and — when
// enabled — test endpoints to inject faults and count requests:
//   POST   /api/v1/_test/faults  {"status", "count", "retry_after", "path", "rewind", "delay_ms"}
//          or a steady rate {"rate", "seed", "kinds", "after_apply"} (server_faults.h);
//          replies {"status": "ok", "seed": N}
//   DELETE /api/v1/_test/faults
//   GET    /api/v1/_test/stats   {"requests": N, "unauthorized": N, "by_path": {...}}
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "store/base/status.h"

namespace ccfs {

struct SyncServerOptions {
  std::string db_path;
  std::string token;
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  bool enable_test_endpoints = false;
  size_t max_body_bytes = 16u << 20;
};

class SyncServer {
 public:
  // Opens the DB, binds the address and starts serving on a thread.
  static Result<std::unique_ptr<SyncServer>> Start(const SyncServerOptions& options);
  ~SyncServer();  // Stop()
  SyncServer(const SyncServer&) = delete;
  SyncServer& operator=(const SyncServer&) = delete;

  // Stops accepting, finishes in-flight requests, joins the thread. Idempotent.
  void Stop();
  int port() const;
  // "http://HOST:PORT"
  std::string url() const;

 private:
  struct Impl;
  explicit SyncServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "HOST:PORT" (or "[v6]:PORT", or ":PORT" meaning 127.0.0.1) -> host, port.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& addr);

}  // namespace ccfs
