#include "sync/client/sync_status.h"

namespace ccfs {

nlohmann::json SyncStatusToJson(const SyncStatus& status) {
  nlohmann::json files = nlohmann::json::array();
  for (const SyncFileStatus& f : status.files) {
    files.push_back(
        {{"path", f.rel_path}, {"lines_written", f.lines_written}, {"lines_acked", f.lines_acked}});
  }
  return {{"state", SyncStateName(status.state)},  {"last_error", status.last_error},
          {"pending_lines", status.pending_lines}, {"queued_files", status.queued_files},
          {"requests", status.requests},           {"files", std::move(files)}};
}

std::string DescribeSyncStatus(const SyncStatus& status) {
  std::string out =
      "transcript sync: " + std::string(SyncStateName(status.state)) + " (" +
      std::to_string(status.files.size()) + " files, " + std::to_string(status.pending_lines) +
      " lines pending" +
      (status.queued_files > 0 ? ", " + std::to_string(status.queued_files) + " files being read"
                               : std::string()) +
      ")\n";
  if (!status.last_error.empty()) out += "  last error: " + status.last_error + "\n";
  for (const SyncFileStatus& f : status.files) {
    out += "  " + f.rel_path + "  " + std::to_string(f.lines_acked) + "/" +
           std::to_string(f.lines_written) + " lines synced\n";
  }
  return out;
}

}  // namespace ccfs
