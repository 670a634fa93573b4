// MetaDb: the mount's durable metadata in SQLite (<cache>/meta.db): the inode
// table with every file's state and origin, the base ETags the mount started
// from, and small key/value facts. Every namespace change is written through
// at once (WAL, synchronous=NORMAL: survives SIGKILL; Checkpoint() makes it
// survive power loss too), so a crashed mount's unflushed state is found by
// the next one. Thread-safe (one connection behind a mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "store/base/status.h"
#include "store/workspace/transcript_modes.h"

namespace ccfs {

class SqliteDb;

// FIFOs and sockets live only in the mount (the kernel carries their data);
// they are never stored (README, "POSIX semantics").
enum class NodeType : uint8_t { kFile = 0, kDir = 1, kSymlink = 2, kFifo = 3, kSocket = 4 };

// Whether a node of this type is written to the store by a flush.
inline bool IsStoredType(NodeType t) {
  return t == NodeType::kFile || t == NodeType::kDir || t == NodeType::kSymlink;
}

// An owner (uid or gid) that is whoever mounts the workspace: the mounting
// user's own files, and everything read from a store (which keeps no owners).
inline constexpr uint32_t kMountOwner = UINT32_MAX;

// Where a file's bytes are while they are not (or not only) local.
enum class ContentState : uint8_t {
  kRemote = 0,  // only in the store (origin says where)
  kCached = 1,  // content file equals the origin
  kDirty = 2,   // content file is newer than anything in the store
};

enum class OriginKind : uint8_t {
  kNone = 0,        // created here
  kTarball = 1,     // member `origin_path` of the base tarball
  kTranscript = 2,  // transcript object `origin_path` with ETag `origin_etag`
};

struct NodeRecord {
  uint64_t ino = 0;
  uint64_t parent = 0;  // 0 for the root
  std::string name;     // "" for the root
  NodeType type = NodeType::kFile;
  uint32_t mode = 0644;  // permission bits
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::string link_target;
  ContentState state = ContentState::kCached;
  OriginKind origin_kind = OriginKind::kNone;
  std::string origin_path;
  std::string origin_etag;
  // A directory implied by transcript keys but absent from the tarball: it is
  // not written into the tarball unless something makes it real.
  bool implicit = false;
  // A file whose content file holds valid bytes only from this offset on
  // (0: all of them). [0, local_from) are the origin's bytes, not fetched:
  // the content file is sparse there, and its holes read as zeros, so every
  // reader of bytes below it completes the file first (Hydrator). Persisted,
  // so a restart never takes the holes for content. Only while the file is
  // not remote, and only ever a layout-v2 transcript's tail (an append that
  // did not download what it appended to).
  uint64_t local_from = 0;
  // Owner and access time, kept in meta.db while the tree lives in this
  // cache (the store keeps neither). kMountOwner: the mounting user's.
  uint32_t uid = kMountOwner;
  uint32_t gid = kMountOwner;
  int64_t atime_ns = 0;  // 0: never set; shown as the mtime
};

// One transcript object of the base the mount started from (or last flushed).
struct BaseTranscript {
  std::string path;  // tree-relative ("projects/x/y.jsonl")
  std::string etag;
  uint64_t size = 0;
  int64_t mtime = 0;
  // From the modes object (store/workspace/transcript_modes.h).
  uint32_t mode = kDefaultTranscriptMode;
};

// The meta key that says the tree holds changes not yet in the store (the
// next mount then resumes them instead of taking the store's tree afresh).
inline constexpr const char* kLocalChangesKey = "local_changes";

// One namespace change as MetaDb::Apply writes it: `deletes` removed, then
// `puts` written, then `values` set.
struct MetaChange {
  std::vector<NodeRecord> puts = {};
  std::vector<uint64_t> deletes = {};
  std::vector<std::pair<std::string, std::string>> values = {};
};

class MetaDb {
 public:
  static Result<std::unique_ptr<MetaDb>> Open(const std::string& path);
  ~MetaDb();
  MetaDb(const MetaDb&) = delete;
  MetaDb& operator=(const MetaDb&) = delete;

  // Key/value facts ("base_etag", "workspace", "store", "local_changes", ...).
  Status GetValue(const std::string& key, std::string* value);  // NotFound if absent
  Status SetValue(const std::string& key, const std::string& value);

  Status PutNode(const NodeRecord& node);  // insert or replace
  Status DeleteNode(uint64_t ino);
  // One namespace change, all or nothing, in one transaction. On failure
  // nothing of it is kept and the Status carries the errno (ENOSPC when the
  // cache filesystem is full).
  Status Apply(const MetaChange& change);
  Status LoadNodes(std::vector<NodeRecord>* out);

  Status PutBaseTranscript(const BaseTranscript& t);
  Status DeleteBaseTranscript(const std::string& path);
  Status LoadBaseTranscripts(std::vector<BaseTranscript>* out);

  // Replaces the whole tree and base listing in one transaction (a fresh
  // mount of a new remote version).
  Status ReplaceAll(const std::vector<NodeRecord>& nodes,
                    const std::vector<BaseTranscript>& transcripts);

  // Groups many writes into one transaction (fewer syncs).
  Status Begin();
  Status Commit();

  // Makes everything committed so far durable against power loss.
  Status Checkpoint();

  // Tests: while `err` is not 0, every Apply runs its statements and then
  // fails as SQLite's COMMIT does on a full disk (with errno `err`), rolling
  // them back. tests/integration/mount_cache_full_test.sh fills a real one.
  void SetCommitFaultForTest(int err) { commit_fault_ = err; }

 private:
  struct Statements;  // the writes prepared once at Open (meta_db.cc)

  explicit MetaDb(std::unique_ptr<SqliteDb> db);
  Status Exec(const std::string& sql);
  // Adds `column` (a fixed name from this file) to `table` unless present.
  Status AddColumnIfMissing(const std::string& table, const std::string& column,
                            const std::string& declaration);
  Status PrepareStatements();
  Status PutNodeLocked(const NodeRecord& node);
  Status DeleteNodeLocked(uint64_t ino);
  Status PutBaseTranscriptLocked(const BaseTranscript& t);

  // Recursive: Apply calls SetValue, and Begin holds it until Commit while
  // the same thread writes. Guards db_ and statements_ (the connection is
  // opened without SQLite's own mutex).
  std::recursive_mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Statements> statements_;  // declared after db_: finalized first
  std::atomic<int> commit_fault_{0};
};

}  // namespace ccfs
