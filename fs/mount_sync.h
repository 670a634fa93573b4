// MountSync: the mount's side of transcript sync. It owns the SyncSidecar
// (sync/sidecar.h), turns the FUSE write path's "inode N changed" into
// "transcript projects/.../x.jsonl grew", and tells the sidecar which local
// file holds a transcript's bytes.
//
// The write-path hook (OnContentChanged) costs one hash lookup under a short
// mutex once an inode's path is known: the path (and whether it is a
// transcript) is computed once per inode with InodeTable::Path and cached
// until a rename/unlink invalidates the cache. No I/O, no waiting.
//
// Lifecycle, driven by Mount:
//   Create (at prepare: progress DB <cache>/sync.db, thread started, every
//     local dirty transcript announced so lines written before a crash go out)
//   ... OnContentChanged / OnNamesChanged from FUSE threads ...
//   BeginDrain (at unmount, before the final flush: drains on a helper thread
//     with the drain timeout) then FinishDrain (after the flush: waits, logs)
//   destruction stops the sidecar; what is left goes out after the next mount.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "fs/content_cache.h"
#include "fs/filesystem.h"
#include "fs/inode_table.h"
#include "fs/mount.h"
#include "store/status.h"
#include "sync/sidecar.h"

namespace ccfs {

struct MountSyncOptions {
  std::string url;    // sync API base URL
  std::string token;  // bearer token (never logged)
  std::string progress_db_path;
  std::chrono::milliseconds drain_timeout{10000};
};

class MountSync {
 public:
  // Starts the sidecar and installs the change listener on `fs` (before the
  // mount serves). `table`, `content` and `fs` must outlive the MountSync,
  // and `fs` must not call the listener after it is gone.
  static Result<std::unique_ptr<MountSync>> Create(const MountSyncOptions& options,
                                                   InodeTable* table, ContentCache* content,
                                                   Filesystem* fs);
  ~MountSync();
  MountSync(const MountSync&) = delete;
  MountSync& operator=(const MountSync&) = delete;

  // FUSE write path: inode `ino`'s bytes changed or it got a new name.
  void OnContentChanged(uint64_t ino);
  // FUSE namespace changes: cached paths may be stale.
  void OnNamesChanged();

  // Starts draining (deadline = now + drain timeout) without blocking.
  void BeginDrain();
  // Waits for the drain started by BeginDrain (starting one if none was),
  // logs the outcome and returns it.
  Status FinishDrain();

  SyncStatus Snapshot() const { return sidecar_->Snapshot(); }
  // {"url": "<no credentials>", "state", "last_error", "pending_lines", ...}
  nlohmann::json StatusJson() const;

 private:
  MountSync(const MountSyncOptions& options, InodeTable* table, ContentCache* content);
  // The local content file of the transcript at `rel` ("" when remote-only
  // or absent). Called on the sidecar thread.
  std::string LocalPath(const std::string& rel) const;
  void AnnounceLocalDirtyTranscripts();

  MountSyncOptions options_;
  InodeTable* table_;
  ContentCache* content_;

  std::mutex mu_;  // guards the cache below; held only for map operations
  std::unordered_map<uint64_t, std::string> paths_;  // ino -> transcript path, "" = not one
  uint64_t names_gen_ = 0;                           // bumped by each invalidation

  std::future<Status> drain_;
  std::unique_ptr<SyncSidecar> sidecar_;  // last: its thread calls LocalPath
};

// Fills options->sync_* from the command line: nothing when `url` is ""
// (then `token_file` must be "" too); else the token from `token_file` or
// $CCFS_SYNC_TOKEN (ResolveSyncToken). InvalidArgument on bad input; the
// message never holds the token.
Status ConfigureMountSync(const std::string& url, const std::string& token_file,
                          double drain_timeout_s, MountOptions* options);

// The sync URL without user:password@ (for status and logs).
std::string SyncUrlForDisplay(const std::string& url);

// `ccfs status` lines for the "sync" object of a mount's status JSON.
std::string DescribeSyncStatusJson(const nlohmann::json& sync);

}  // namespace ccfs
