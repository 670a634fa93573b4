// What `ccfs status` shows about transcript sync: the overall state, the
// last error, and per transcript the complete lines written locally vs the
// lines the server has acknowledged.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ccfs {

enum class SyncState {
  kOk,                   // in step with the server, or sending
  kBackingOff,           // the last request failed; retrying later
  kStoppedUnauthorized,  // the server refused the token (401/403): not retrying
};

inline const char* SyncStateName(SyncState s) {
  switch (s) {
    case SyncState::kOk:
      return "ok";
    case SyncState::kBackingOff:
      return "backing off";
    case SyncState::kStoppedUnauthorized:
      return "stopped: unauthorized";
  }
  return "?";
}

struct SyncFileStatus {
  std::string rel_path;
  int64_t lines_written = 0;  // complete lines seen in the local file
  int64_t lines_acked = 0;    // lines the server holds
};

struct SyncStatus {
  SyncState state = SyncState::kOk;
  std::string last_error;  // "" when none since the last success
  std::vector<SyncFileStatus> files;
  int64_t pending_lines = 0;  // written but not yet acknowledged, over all files
  // Files that grew since the counts above were taken (their new lines are
  // not in lines_written yet). 0 with pending_lines 0: in step with the
  // server as of this snapshot.
  int64_t queued_files = 0;
  int64_t requests = 0;  // HTTP requests attempted since start
};

// {"state": "ok", "last_error": "", "pending_lines": 0, "requests": 12,
//  "files": [{"path": "projects/...", "lines_written": 40, "lines_acked": 40}]}
// for a control socket or `ccfs status --json`.
nlohmann::json SyncStatusToJson(const SyncStatus& status);

// Human-readable lines for `ccfs status`:
//   transcript sync: ok (2 files, 0 lines pending)
//     projects/-home-u-app/<id>.jsonl  40/40 lines synced
std::string DescribeSyncStatus(const SyncStatus& status);

}  // namespace ccfs
