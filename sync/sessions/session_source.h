// Refreshers: bring a SessionIndex up to date with the transcripts of a
// workspace, read straight from a store (no mount) or from a local directory
// (~/.claude, a mounted workspace, a pulled copy). Each reads only what
// changed since the index last saw the source:
//  - store: one LIST of <W>/projects/; an object whose ETag is unchanged is
//    not fetched; a changed object that grew is fetched from where the index
//    stopped (a ranged GET pinned with If-Match), after checking that the
//    bytes before that point are still the same (TailHash); anything else is
//    fetched whole and re-indexed;
//  - directory: a walk of <dir>/projects/; (size, mtime) unchanged means
//    unchanged; a grown file is read from where the index stopped, checked
//    the same way.
// Only complete lines are indexed; a partial last line waits for its '\n'.
#pragma once

#include <cstdint>
#include <string>

#include "store/objects/object_store.h"
#include "sync/sessions/session_index.h"

namespace ccfs {

struct RefreshOptions {
  size_t parallel = 8;  // transcripts fetched / read at once
};

struct RefreshStats {
  size_t files = 0;      // transcripts in the source
  size_t unchanged = 0;  // nothing read
  size_t appended = 0;   // only the new bytes read
  size_t reread = 0;     // read whole (new, rewritten, or not an append)
  size_t forgotten = 0;  // in the index, gone from the source
  uint64_t bytes_read = 0;
};

// Workspace `workspace` of `store`.
Status RefreshFromStore(ObjectStore& store, const std::string& workspace, SessionIndex& index,
                        const RefreshOptions& opts, RefreshStats* stats);

// The config tree at `dir` (its projects/ folder; a tree without one has no
// sessions).
Status RefreshFromDir(const std::string& dir, SessionIndex& index, const RefreshOptions& opts,
                      RefreshStats* stats);

// One transcript whose bytes are in `local_path` (for the mount: its cache
// copy of tree-relative `rel_path`), brought up to date the same way: only
// appended complete lines are read; a rewritten file is re-read; a missing
// one is forgotten. Meant to be called after each append (the sidecar's
// NotifyGrew feed); cheap when nothing changed (one stat, one small query).
// A file valid only from `valid_from` on (a mount's tail-only transcript)
// is read only from there: when that is not enough (not indexed that far,
// or rewritten), Unavailable with errno ERANGE and nothing changed.
Status RefreshLocalFile(SessionIndex& index, const std::string& rel_path,
                        const std::string& local_path, RefreshStats* stats,
                        uint64_t valid_from = 0);

// Where the CLI caches indexes: $XDG_CACHE_HOME/ccfs/sessions, else
// ~/.cache/ccfs/sessions.
std::string SessionCacheRoot();
// <root>/<first 16 hex of sha256(store_url)>/<workspace>.db
std::string StoreIndexPath(const std::string& store_url, const std::string& workspace);
// <root>/dir-<first 16 hex of sha256(absolute dir)>.db
std::string DirIndexPath(const std::string& abs_dir);

// Opens a cached index at `db_path`, creating its directory (0700: the
// index holds transcript text). An unreadable cache file is a cache miss:
// it is removed and built again.
Result<std::unique_ptr<SessionIndex>> OpenCachedIndex(const std::string& db_path);

}  // namespace ccfs
