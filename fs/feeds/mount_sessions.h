// MountSessions: the mount's session index (sync/sessions/session_index.h) at
// <cache>/sessions.db, kept current from the same feed the sync sidecar
// reads, so `ccfs sessions ls|show|grep --dir MOUNTPOINT` never walks the
// tree: it asks the mount (control op "sessions") to catch up and reads the
// index directly (SQLite WAL: readers beside this writer).
//
// One thread does all the work; the FUSE write path only queues names
// (through TranscriptWatch: no I/O, a short mutex).
//  - "transcript X grew": RefreshLocalFile on X's content file (only the
//    appended complete lines are read and parsed, once); a transcript gone
//    from its name, or only in the store, is forgotten under that name.
//  - the store's transcripts: every transcript the tree shows as remote is
//    fetched straight from the store (its object, If-Match the ETag the tree
//    has; never through the mount's cache, so nothing is hydrated) into the
//    index under its tree path, unless the index has that ETag already: a
//    warm remount sends no request. Then a reconcile with the tree:
//    transcripts not in it (deleted, moved out) are forgotten, and every
//    local one (written here, or hydrated) is brought up to date from its
//    content file; a clean local copy gets the store's ETag recorded, so it
//    is not fetched again if it goes back to remote. Nothing the store lacks
//    is ever dropped: transcripts created here and not flushed stay. Done
//    at the first catch-up, not at start: a lazy mount (`ccfs exec` turn)
//    moves only the bytes it touches, and a background mount's hydrator is
//    fetching the same transcripts already (by the first request, those it
//    brought in are local and read from disk, not downloaded twice).
//  - names moved or went away: remembered; the next catch-up reconciles
//    (and fetches a remote transcript moved to a new name under it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "fs/feeds/transcript_watch.h"
#include "store/base/status.h"
#include "store/objects/object_store.h"
#include "sync/sessions/session_index.h"
#include "sync/sessions/session_source.h"

namespace ccfs {

// Streams the bytes of the remote transcript `origin` at version `etag` (a
// node's origin) into a sink; the Mount supplies one that knows its base's
// layout. Unset: the v1 transcript object, GET If-Match `etag`.
using RemoteTranscriptReader =
    std::function<Status(const std::string& origin, const std::string& etag, const ByteSink& sink)>;

struct MountSessionsOptions {
  std::string db_path;  // <cache>/sessions.db
  std::string workspace;
  RemoteTranscriptReader read_remote;
};

class MountSessions {
 public:
  // Opens (creating, 0600) the index, subscribes to `watch` and starts the
  // thread. `store` and `watch` must outlive the MountSessions.
  static Result<std::unique_ptr<MountSessions>> Start(const MountSessionsOptions& options,
                                                      ObjectStore* store, TranscriptWatch* watch);
  ~MountSessions();  // Stop()
  MountSessions(const MountSessions&) = delete;
  MountSessions& operator=(const MountSessions&) = delete;

  // Unsubscribes, lets the pass under way end, joins the thread.
  void Stop();

  // Waits (at most `timeout`) until everything notified before the call is
  // indexed, the store's transcripts too, and moved names are reconciled.
  // Unavailable on timeout; the store refresh's error if it failed (it is
  // tried again at the next call).
  Status CatchUp(std::chrono::milliseconds timeout);

  const std::string& db_path() const { return options_.db_path; }
  // {"index", "pending", "store_indexed", "transcripts_read", "last_error"}
  nlohmann::json StatusJson() const;

 private:
  MountSessions(const MountSessionsOptions& options, ObjectStore* store, TranscriptWatch* watch,
                std::unique_ptr<SessionIndex> index);
  void Run();
  void OnGrew(const std::string& rel);
  // One pass's pieces (thread only).
  Status IndexStore();
  Status IndexRemote(const std::string& rel, const std::string& origin, const std::string& etag,
                     uint64_t* bytes);
  Status Reconcile();
  void IndexGrown(const std::string& rel);
  // RefreshLocalFile of a content file valid from `valid_from` on; a
  // tail-only file that needs its earlier bytes is completed first only if
  // `may_complete` (else left for the next reconcile).
  Status RefreshLocal(const std::string& rel, const std::string& local, uint64_t valid_from,
                      bool may_complete, RefreshStats* stats);
  void NoteError(const std::string& what, const Status& s);

  const MountSessionsOptions options_;
  ObjectStore* store_;
  TranscriptWatch* watch_;
  std::unique_ptr<SessionIndex> index_;
  uint64_t subscription_ = 0;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the thread: work or stop
  std::condition_variable done_;  // CatchUp: a pass ended
  std::set<std::string> pending_;
  uint64_t requested_ = 0;  // bumped by each notification and catch-up
  uint64_t processed_ = 0;  // requests covered by finished passes
  bool names_dirty_ = false;
  bool reconcile_wanted_ = false;  // a catch-up asked for it
  bool store_wanted_ = false;      // at start (unless lazy) or by a catch-up
  bool store_running_ = false;
  bool store_indexed_ = false;
  Status store_status_;
  std::string last_error_;
  uint64_t transcripts_read_ = 0;  // refreshes that read bytes
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ccfs
