// SyncSidecar: streams appended transcript lines to the sync API from a
// background thread of the mount process.
//
// How the mount uses it:
//   auto sidecar = SyncSidecar::Create(options);        // at mount
//   sidecar->NotifyGrew("projects/-home-u-app/<session>.jsonl");  // after each
//       // write/append to a transcript: cheap, never blocks on I/O
//   sidecar->Snapshot();                                 // for `ccfs status`
//   sidecar->Drain(deadline);                            // at unmount
//   sidecar.reset();                                     // stops the thread
//
// The thread reads new complete lines from the local file the mount names
// (options.local_path), redacts secrets, and sends them in chunks; progress
// is kept in a SQLite DB after every ack, so what a drain leaves behind (or
// a crash interrupts) goes out after the next Create with the same DB,
// without loss or duplicates. Files the DB knows are re-checked at start.
// Retries: 409 resend from the server's line, 413 split, 429/503 Retry-After
// then backoff (for that file; for every file when two come in a row;
// bounded), other failures capped exponential
// backoff with jitter per file (a success of that file resets it; the other
// files go on meanwhile: see backoff.h), 401/403 stop (state
// kStoppedUnauthorized, logged once, no loop). While a drain waits, no file
// backs off more than 1 s and a Retry-After holds everything at most 2 s.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "store/base/status.h"
#include "sync/client/sync_status.h"

namespace ccfs {

class ProgressDb;
class SyncClient;
class TranscriptUploader;

struct SyncSidecarOptions {
  std::string url;               // sync API base URL, "https://sync.example.com"
  std::string token;             // bearer token (see ResolveSyncToken in sync_common.h)
  std::string progress_db_path;  // SQLite file; its directory must exist
  // Tree-relative transcript path -> local file holding its bytes ("" if
  // none). Called on the sidecar thread only.
  std::function<std::string(const std::string& rel_path)> local_path;
  std::string hostname;                            // "" = this machine's
  std::string username;                            // "" = this user's
  std::chrono::milliseconds drain_timeout{10000};  // Drain() without a deadline

  // Tuning; defaults are for production, tests shrink them.
  size_t max_chunk_bytes = 14u << 20;
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{60000};
  std::chrono::milliseconds max_retry_after{300000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{120000};
};

class SyncSidecar {
 public:
  // Opens the progress DB, checks the options and starts the thread.
  static Result<std::unique_ptr<SyncSidecar>> Create(SyncSidecarOptions options);
  // Stops the thread (aborting a request in flight) without draining.
  ~SyncSidecar();
  SyncSidecar(const SyncSidecar&) = delete;
  SyncSidecar& operator=(const SyncSidecar&) = delete;

  // A transcript at tree-relative `rel_path` grew. Non-blocking: records the
  // path under a short mutex and wakes the thread. Other paths are ignored.
  void NotifyGrew(const std::string& rel_path);

  // Sends every complete line written so far, then session_end for sessions
  // that grew since Create, waiting at most until `deadline`. OK when all of
  // it went out; Unavailable when time ran out (the rest goes after the next
  // Create); PermissionDenied when the server refused the token.
  Status Drain(std::chrono::steady_clock::time_point deadline);
  Status Drain() { return Drain(std::chrono::steady_clock::now() + options_.drain_timeout); }

  // A consistent copy of the current status (for `ccfs status`);
  // queued_files counts the files that grew since it was published.
  SyncStatus Snapshot() const;

 private:
  explicit SyncSidecar(SyncSidecarOptions options);
  void Run();
  void Publish(SyncState state, const std::string& error);

  SyncSidecarOptions options_;
  std::unique_ptr<ProgressDb> db_;
  std::unique_ptr<SyncClient> client_;
  std::unique_ptr<TranscriptUploader> uploader_;  // sidecar thread only
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;            // guards the fields below; never held during I/O
  std::condition_variable wake_;     // the thread waits for work here
  std::condition_variable drained_;  // Drain waits here
  std::unordered_set<std::string> notified_;
  uint64_t drain_requests_ = 0;  // bumped by each Drain call
  uint64_t drains_done_ = 0;     // the last request fully drained
  bool unauthorized_ = false;
  size_t unpublished_ = 0;  // files taken from notified_ whose counts are not published yet

  mutable std::mutex status_mu_;
  SyncStatus status_;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace ccfs
