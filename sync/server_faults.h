// SyncFaultInjector: errors the reference server returns on purpose, switched on
// at run time by tests through POST /api/v1/_test/faults (only when the
// server runs with test endpoints enabled). No mocks: the client under test
// talks to the real server and meets real 409/413/429/500 replies.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "store/status.h"

namespace ccfs {

struct SyncFaultRule {
  int status = 500;                           // HTTP status to return
  int count = 1;                              // how many matching requests fail
  int retry_after_s = -1;                     // Retry-After header when >= 0
  std::string path_prefix = "/api/v1/sync/";  // which requests (non-GET only)
  // 409 on a chunk: report last_synced_line as (real last - rewind), so the
  // client resends lines the server already holds.
  int64_t rewind = 0;
  int delay_ms = 0;  // sleep before replying (slow server)
};

class SyncFaultInjector {
 public:
  // Spec: {"status": 500, "count": 3, "retry_after": 1, "path": "/api/v1/sync/chunk",
  //        "rewind": 0, "delay_ms": 0}. Rules queue up and apply in order.
  Status AddFromJson(const nlohmann::json& spec);
  void Clear();
  // Consumes one use of the first rule matching this request, if any.
  std::optional<SyncFaultRule> Take(const std::string& method, const std::string& path);

 private:
  std::mutex mu_;
  std::deque<SyncFaultRule> rules_;
};

}  // namespace ccfs
