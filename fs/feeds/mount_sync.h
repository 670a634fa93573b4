// MountSync: the mount's side of transcript sync. It owns the SyncSidecar
// (sync/client/sidecar.h), subscribes to the mount's TranscriptWatch (which turns
// the FUSE write path's "inode N changed" into "transcript
// projects/.../x.jsonl grew") and tells the sidecar which local file holds a
// transcript's bytes.
//
// Lifecycle, driven by Mount:
//   Create (at prepare: progress DB <cache>/sync.db, thread started, every
//     local dirty transcript announced so lines written before a crash go out)
//   ... "grew" from FUSE threads, through the TranscriptWatch ...
//   BeginDrain (at unmount, before the final flush: drains on a helper thread
//     with the drain timeout) then FinishDrain (after the flush: waits, logs)
//   destruction stops the sidecar; what is left goes out after the next mount.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fs/feeds/transcript_watch.h"
#include "fs/tree/inode_table.h"
#include "store/base/status.h"
#include "sync/client/sidecar.h"

namespace ccfs {

struct MountSyncOptions {
  std::string url;    // sync API base URL
  std::string token;  // bearer token (never logged)
  std::string progress_db_path;
  std::chrono::milliseconds drain_timeout{10000};
};

class MountSync {
 public:
  // Starts the sidecar and subscribes to `watch` (before the mount serves).
  // `table` and `watch` must outlive the MountSync.
  static Result<std::unique_ptr<MountSync>> Create(const MountSyncOptions& options,
                                                   InodeTable* table, TranscriptWatch* watch);
  ~MountSync();
  MountSync(const MountSync&) = delete;
  MountSync& operator=(const MountSync&) = delete;

  // Starts draining (deadline = now + drain timeout) without blocking.
  void BeginDrain();
  // Waits for the drain started by BeginDrain (starting one if none was),
  // logs the outcome and returns it.
  Status FinishDrain();

  SyncStatus Snapshot() const { return sidecar_->Snapshot(); }
  // {"url": "<no credentials>", "state", "last_error", "pending_lines", ...}
  nlohmann::json StatusJson() const;

 private:
  MountSync(const MountSyncOptions& options, InodeTable* table, TranscriptWatch* watch);
  void AnnounceLocalDirtyTranscripts();

  MountSyncOptions options_;
  InodeTable* table_;
  TranscriptWatch* watch_;
  uint64_t subscription_ = 0;  // 0 = not subscribed

  std::future<Status> drain_;
  std::chrono::steady_clock::time_point drain_started_;  // for the log: how long it took
  // Last: its thread asks watch_ for local paths.
  std::unique_ptr<SyncSidecar> sidecar_;
};

// The sync URL without user:password@ (for status and logs).
std::string SyncUrlForDisplay(const std::string& url);

// `ccfs status` lines for the "sync" object of a mount's status JSON.
std::string DescribeSyncStatusJson(const nlohmann::json& sync);

}  // namespace ccfs
