// SyncFaultInjector: errors the reference server returns on purpose, switched on
// at run time by tests through POST /api/v1/_test/faults (only when the
// server runs with test endpoints enabled). No mocks: the client under test
// talks to the real server and meets real 409/413/429/500 replies, and real
// connections cut in the middle of a reply.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "store/base/status.h"

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
  // > 0: a steady fault rate instead of a count: each matching request fails
  // with this probability (drawn from a generator seeded by `seed`), and the
  // rule stays until Clear().
  double rate = 0;
  uint64_t seed = 1;
  // With a rate: each fault is one of these, drawn at random: "500", "503",
  // "429" (both with Retry-After: retry_after_s, 1 s when unset) or "drop"
  // (the connection is cut after half of the reply). Empty: always `status`.
  std::vector<std::string> kinds;
  // Share of the faults that strike after the server applied the request
  // (the client hears a failure for a request that took effect).
  double after_apply = 0;
};

// One request chosen to fail, and how.
struct SyncFault {
  int status = 500;
  int retry_after_s = -1;
  int64_t rewind = 0;
  int delay_ms = 0;
  bool drop = false;         // cut the connection mid-reply instead of a status
  bool after_apply = false;  // apply the request first
};

class SyncFaultInjector {
 public:
  // Spec: {"status": 500, "count": 3, "retry_after": 1, "path": "/api/v1/sync/chunk",
  //        "rewind": 0, "delay_ms": 0} or, for a steady rate, {"rate": 0.15,
  //        "seed": 7, "kinds": ["500", "503", "429", "drop"], "after_apply": 0.5}
  //        (no "seed": one is drawn). Rules queue up and apply in order.
  // Returns the rule as taken, with its seed (tests print it to replay a run).
  Result<SyncFaultRule> AddFromJson(const nlohmann::json& spec);
  void Clear();
  // Consumes one use of the first rule matching this request, if any.
  std::optional<SyncFault> Take(const std::string& method, const std::string& path);

 private:
  std::mutex mu_;
  std::deque<SyncFaultRule> rules_;  // GUARDED_BY(mu_)
  std::mt19937_64 rng_;              // GUARDED_BY(mu_): for rate rules
};

}  // namespace ccfs
