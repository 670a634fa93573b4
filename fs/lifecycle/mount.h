// Mount: one workspace mounted at one directory. Prepare() readies the cache
// and the tree (HEAD + index + LIST, or the cache when nothing changed);
// Start() mounts it (libfuse low-level, multi-threaded loop on its own
// thread) and opens the control socket; Finish() runs after the kernel ended
// the session (any unmount: `ccfs umount`, `fusermount3 -u`, a signal, the
// end of `ccfs exec`) and flushes what changed.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/flush/flusher.h"
#include "fs/hydrate/block_cache.h"
#include "fs/hydrate/hydrator.h"
#include "fs/kernel/fuse_ops.h"
#include "fs/kernel/fuse_session.h"
#include "fs/lifecycle/control.h"
#include "fs/ops/filesystem.h"
#include "fs/tree/base_version.h"
#include "fs/tree/cache_dir.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"
#include "store/base/unique_fd.h"
#include "store/objects/object_store.h"

namespace ccfs {

class MountSync;
class MountSessions;
class MountLease;
class TranscriptWatch;
class RecoveryFlush;

struct MountOptions {
  std::string store_url;  // for messages and the default cache location
  std::string workspace;
  std::string mountpoint;  // absolute
  std::string cache_root;  // "" = DefaultCacheRoot(store_url, CacheName(*this))
  bool read_only = false;
  HydrateMode hydrate = HydrateMode::kBackground;
  bool discard_local = false;  // drop unflushed local state first
  bool allow_other = false;
  bool writeback_cache = true;
  size_t max_threads = 16;
  // > 0: a writable mount takes the workspace lease with this ttl
  // (fs/lifecycle/mount_lease.h); 0: none (tests that drive Mount directly).
  int lease_ttl_seconds = 0;
  // Transcript sync (sync/client/sidecar.h): off when sync_url is "".
  std::string sync_url;
  std::string sync_token;  // never logged nor shown
  // Seconds the unmount keeps sending; the rest goes after the next mount.
  double sync_drain_timeout_s = 10;
  // Layout v2 (docs/layout-v2-plan.md): a workspace that has a v2 root is
  // always mounted as v2. With this set, a new workspace is created as v2,
  // and a v1 workspace (its cache holding no unflushed changes) is adopted
  // into v2 first, by server-side copies.
  bool layout_v2 = false;
  // A past generation of a layout-v2 workspace (`ccfs mount WS@GEN`), read
  // from history; 0: the workspace as it is now. History is never written:
  // such a mount must be read_only, and its cache is its own (CacheName).
  uint64_t generation = 0;
};

// Whom a mount's cache belongs to: the workspace, or "WS@GEN" for a past
// generation. It names the default cache dir and is recorded in meta.db, so
// a past generation's tree never lands in (nor reuses) the cache of the
// workspace's current one, whose unflushed changes it would otherwise hide
// or be mistaken for.
std::string CacheName(const MountOptions& options);

// JSON for a flush's outcome: {"ok", "exit_code" (0, 3 conflict, 1 other),
// "error", "report": {...}}.
nlohmann::json FlushResultJson(const Status& s, const FlushReport& report);

class Mount {
 public:
  static Result<std::unique_ptr<Mount>> Prepare(std::unique_ptr<ObjectStore> store,
                                                const MountOptions& options);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  Status Start();
  // The session index (fs/feeds/mount_sessions.h); Start() calls it. Exposed for
  // tests that drive the filesystem without a kernel mount.
  Status StartSessionIndex();
  MountSessions* sessions() { return sessions_.get(); }
  void WaitUntilUnmounted();
  // Unmounts from inside this process (lazily if busy and allowed).
  Status RequestUnmount(bool lazy_if_busy);
  // Writes back local changes now (the kernel's dirty pages first).
  Status Flush(const FlushOptions& options, FlushReport* report);
  // After the session ended: final flush, tell the `ccfs umount` waiting,
  // close the control socket.
  Status Finish(FlushReport* report);

  nlohmann::json StatusJson();
  const std::string& cache_root() const { return cache_.root(); }
  // The pieces, for tests that drive the filesystem without a kernel mount.
  Filesystem* filesystem() { return fs_.get(); }
  Hydrator* hydrator() { return hydrator_.get(); }
  InodeTable* table() { return table_.get(); }
  ContentCache* content() { return &content_; }
  ObjectStore* store() { return store_.get(); }
  const MountOptions& options() const { return options_; }

 private:
  Mount(std::unique_ptr<ObjectStore> store, const MountOptions& options);
  Status LoadState();
  Status FreshTree(const ObjectInfo& head);
  // The v2 counterpart: the tree of `root` (segments from the cache by name).
  Status FreshTreeV2(const CurrentRoot& root);
  // A cache holding unflushed changes made on v1 tarball `v1_etag` of a
  // workspace since adopted into v2: its nodes re-based onto the adoption's
  // generation (the same tree), so the next flush merges them.
  // Merges a v1 tarball written after the move to v2 into *root (a new
  // generation) on a writable mount; appends what happened to *note.
  Status TakeInLateV1(CurrentRoot* root, std::string* note);
  // The v1 transcript objects an older ccfs wrote while it held the lease
  // (lease_->older_writer()), taken in as a generation; appends to *note.
  Status TakeInLateTranscripts(CurrentRoot* root, std::string* note);
  Status ResumeV1OntoV2(const std::string& v1_etag, std::vector<NodeRecord>* nodes);
  // Reads the v2 root (adopting a v1 workspace first when asked); *v2 false
  // for a workspace that stays v1.
  Status FindV2Root(const ObjectInfo& head, bool local_changes, CurrentRoot* root, bool* v2);
  // The root of options_.generation from history, for a past-generation mount.
  Status ReadPastRoot(CurrentRoot* root);
  void FixUpContent(std::vector<NodeRecord>* nodes);
  void CollectGarbage(const std::vector<NodeRecord>& nodes);
  void HandleControl(const nlohmann::json& request, std::shared_ptr<ControlConnection> conn);
  // Control op "sessions": catch the index up (bounded), answer its path.
  void HandleSessionsRequest(const nlohmann::json& request, ControlConnection* conn);
  void SyncKernelCache();

  MountOptions options_;
  std::unique_ptr<ObjectStore> store_;
  CacheDir cache_;
  UniqueFd cache_lock_;
  std::unique_ptr<MetaDb> db_;
  std::unique_ptr<InodeTable> table_;
  ContentCache content_;
  BlockCache blocks_;
  BaseVersion base_;
  std::unique_ptr<Hydrator> hydrator_;
  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<Flusher> flusher_;
  FuseContext fuse_ctx_;

  FuseSession fuse_;
  std::unique_ptr<ControlServer> control_;
  std::mutex mu_;  // guards the fields below
  std::vector<std::shared_ptr<ControlConnection>> exit_waiters_;
  nlohmann::json last_flush_;
  int64_t started_ns_ = 0;
  std::string prepare_note_;                 // how the tree was obtained (fresh, reused, resumed)
  std::unique_ptr<MountLease> lease_;        // writable mounts of the CLI
  std::unique_ptr<RecoveryFlush> recovery_;  // flush of a resumed state (fs/lifecycle/recovery.h)
  // FUSE writes -> "transcript grew", for sync_ and sessions_ (outlives both).
  std::unique_ptr<TranscriptWatch> watch_;
  std::unique_ptr<MountSessions> sessions_;  // its thread reads the table and the store
  // Last: destroyed first (its thread reads the table and the content cache).
  std::unique_ptr<MountSync> sync_;
};

// Fills options->sync_* from the command line: nothing when `url` is ""
// (then `token_file` must be "" too); else the token from `token_file` or
// $CCFS_SYNC_TOKEN (ResolveSyncToken). InvalidArgument on bad input; the
// message never holds the token.
Status ConfigureMountSync(const std::string& url, const std::string& token_file,
                          double drain_timeout_s, MountOptions* options);

}  // namespace ccfs
