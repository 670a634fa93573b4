// InodeTable: the mounted tree in memory (the namespace FUSE asks about on
// every call), written through to MetaDb on every change so that the tree and
// each file's state survive a crash. A namespace change (create, mkdir,
// rename, unlink, rmdir, setattr, a file's first write) is recorded in one
// MetaDb transaction *before* the tree changes, together with the durable
// "local changes" flag: when it cannot be recorded (a full cache filesystem)
// the call fails with that errno (ENOSPC) and nothing changed, so no success
// is ever undone by a crash. All methods are thread-safe (one mutex: calls
// are short; data I/O happens outside, see fs/ops/filesystem.h). Errors are
// errno values because every caller maps them straight onto a FUSE reply.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/tree/meta_db.h"

namespace ccfs {

inline constexpr uint64_t kRootIno = 1;

// What FUSE needs to answer getattr/lookup/readdirplus.
struct NodeInfo : NodeRecord {
  uint64_t data_gen = 0;     // bumped by every content change
  uint64_t rewrite_gen = 0;  // bumped by every change of bytes the file already had
  // The lowest byte offset changed since the content last matched its origin
  // (UINT64_MAX: none). A transcript changed only at or past its origin's
  // size only grew, so a layout-v2 flush uploads just the new bytes. Not
  // persisted: after a restart a dirty file counts as changed from byte 0.
  uint64_t low_change = UINT64_MAX;
  // Names the node has, as stat reports them (not persisted; set by the
  // InodeTable on the way out): a directory 2 + its subdirectories, a file
  // or symlink 1, and 0 once unlinked (open, nameless).
  uint32_t nlink = 1;
};

struct DirEntryInfo {
  std::string name;
  uint64_t ino = 0;
  NodeType type = NodeType::kFile;
};

// One live file, directory or symlink as the flush sees it.
struct SnapshotEntry {
  std::string path;  // tree-relative, '/'-separated ("" is never listed: the root)
  NodeInfo node;
};

class InodeTable {
 public:
  explicit InodeTable(MetaDb* db) : db_(db) {}

  // Replaces the in-memory tree with `records` (must include the root,
  // ino kRootIno). Does not write to the DB.
  Status Load(const std::vector<NodeRecord>& records);

  int Lookup(uint64_t parent, const std::string& name, bool count_lookup, NodeInfo* out);
  // Drops `n` kernel references. Inodes that are gone for good (no name, no
  // reference) are appended to `dropped` so their content can be removed.
  void Forget(uint64_t ino, uint64_t n, std::vector<uint64_t>* dropped);
  // One more kernel reference (an entry handed out by readdirplus).
  void AddLookup(uint64_t ino);
  int Get(uint64_t ino, NodeInfo* out);
  int Path(uint64_t ino, std::string* out);

  // An inode number for a Create to come (its content file can then exist
  // before the name does).
  uint64_t ReserveIno();
  // Creates a name (EEXIST when it exists), with inode `ino` from
  // ReserveIno() or, when 0, a new one.
  // `uid`/`gid`: the new node's owner (kMountOwner: the mounting user); in
  // a set-group-ID directory the group is the directory's.
  int Create(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
             const std::string& link_target, int64_t now_ns, NodeInfo* out, uint64_t ino = 0,
             uint32_t uid = kMountOwner, uint32_t gid = kMountOwner);
  int Remove(uint64_t parent, const std::string& name, bool is_dir, int64_t now_ns,
             std::vector<uint64_t>* dropped);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  int Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
             const std::string& new_name, unsigned flags, int64_t now_ns,
             std::vector<uint64_t>* dropped);
  int List(uint64_t ino, std::vector<DirEntryInfo>* out);

  // Attribute changes (any of them may be absent).
  struct AttrChange {
    bool set_mode = false;
    uint32_t mode = 0;
    bool set_size = false;
    uint64_t size = 0;
    bool set_mtime = false;
    int64_t mtime_ns = 0;
    bool set_atime = false;
    int64_t atime_ns = 0;
    bool set_uid = false;
    uint32_t uid = kMountOwner;
    bool set_gid = false;
    uint32_t gid = kMountOwner;
    int64_t ctime_ns = 0;  // always applied
  };
  // Setting the size of a file requires its content to be local already
  // (the caller hydrated it, and completed a tail-only one: EIO otherwise);
  // the content file is resized by the caller.
  // A change of owner or atime alone is recorded but is no change for the
  // store (which keeps neither): it does not make the tree need a flush.
  int SetAttr(uint64_t ino, const AttrChange& change, NodeInfo* out);
  // Relatime: a read moves the atime forward when it is not after the mtime
  // or over a day old. In memory only (a read never writes meta.db); it is
  // recorded with the node's next recorded change.
  void NoteRead(uint64_t ino, int64_t now_ns);

  // Content bookkeeping. NoteWrite marks a local file dirty and grows its size
  // to at least `end` (persisting only the first transition, not every write).
  int NoteWrite(uint64_t ino, uint64_t end, int64_t now_ns);
  // A remote file's content arrived (state remote -> cached). Returns false
  // (and changes nothing) unless the file is still remote with this origin.
  bool NoteHydrated(uint64_t ino, OriginKind kind, const std::string& origin_path);
  // A remote file whose old bytes are not needed (truncated to 0) becomes a
  // local dirty file without being fetched.
  int DropRemoteContent(uint64_t ino);
  // A hydrated file's content vanished from the cache: back to remote.
  void NoteContentLost(uint64_t ino);

  // Tail-only content (NodeRecord::local_from). A remote file whose content
  // file now holds its origin's bytes from `local_from` on (the rest a hole)
  // becomes cached with that watermark; false (nothing changes) unless it is
  // still remote with this origin. Recorded before it counts: 0 or the errno.
  int NoteTailFetched(uint64_t ino, OriginKind kind, const std::string& origin_path,
                      const std::string& origin_etag, uint64_t local_from);
  // The bytes below `local_from` are now in the content file (and durable
  // there): the file is whole. Recorded in meta.db before memory changes, as
  // a later write below the old watermark must never be overwritten by a
  // second completion after a restart. EAGAIN if the watermark moved.
  int NoteCompleted(uint64_t ino, uint64_t local_from);

  // Rewrites in flight: every change of a content file (a write between
  // its pwrite and its bookkeeping, a truncate, a fallocate) runs inside a
  // ContentChangeScope. One that starts below the file's size may change
  // bytes the file already has (a rewrite): it counts as in flight until
  // its end, which bumps rewrite_gen even when it failed half way. Appends
  // do not count: a copy racing them is a prefix of the file, as any reader
  // may see. So a reader that saw no rewrite in flight and the same
  // rewrite_gen before and after copying the bytes holds a copy no write
  // tore (fs/tree/settled_copy.h). Begin returns whether it counted the change.
  bool BeginContentChange(uint64_t ino, uint64_t offset);
  void EndContentChange(uint64_t ino);
  // Like Get, but EAGAIN while a rewrite is in flight, and ENOENT for a
  // file that lost its last name (open but unlinked).
  int GetSettled(uint64_t ino, NodeInfo* out);

  // Flush support. Every live node the store keeps (not FIFOs or sockets)
  // with its path, in sorted depth-first order.
  void Snapshot(std::vector<SnapshotEntry>* out);
  // After `path`'s content went up to the store: origin becomes the new
  // object; state becomes cached if nothing was written since `seen_gen`.
  void NoteFlushed(uint64_t ino, uint64_t seen_gen, OriginKind kind, const std::string& origin_path,
                   const std::string& origin_etag);
  // Counts changes to detect writes racing a flush.
  uint64_t change_count();
  // After a flush that started at change_count() == `count`: true (and the
  // table is clean again, durably) if nothing changed meanwhile.
  bool MarkCleanIf(uint64_t count);
  // Whether anything changed since the last clean state (restored by Load
  // from the owner's durable flag).
  bool has_changes();
  void set_has_changes(bool v);
  // Persists the sizes and mtimes of files written since the last call.
  Status PersistWrittenFiles();

  // The live node at tree path `path` ("" = the root), in one lock.
  int Resolve(const std::string& path, NodeInfo* out);

  // Merge support (fs/flush/flush_merge.h): the tree takes the store's newer version.
  // Node `ino` becomes the remote `theirs` (same type): attributes and
  // origin; a file is remote again unless `keep_content` (its bytes already
  // are theirs). EAGAIN (and nothing changes) if written since `seen_gen`.
  int AdoptRemote(uint64_t ino, uint64_t seen_gen, const NodeRecord& theirs, bool keep_content);
  // Creates `theirs` at `path`, with missing parent directories (implicit).
  int InsertRemote(const std::string& path, const NodeRecord& theirs, NodeInfo* out);
  // A tarball origin at `old_etag` now names the same member of `new_etag`.
  void Retarget(uint64_t ino, const std::string& old_etag, const std::string& new_etag);

  // Counters for status.
  struct Counts {
    size_t files = 0, dirs = 0, symlinks = 0;
    size_t remote = 0, cached = 0, dirty = 0;
    uint64_t remote_bytes = 0, local_bytes = 0;
  };
  Counts Count();

  // Visits every file in state remote (under the lock; keep fn short).
  void ForEachRemote(const std::function<void(const NodeInfo&)>& fn);

 private:
  struct Node : NodeInfo {
    uint64_t nlookup = 0;
    bool unlinked = false;
    bool size_unsaved = false;  // size/mtime changed by writes, not yet in the DB
    uint32_t rewrites_in_flight = 0;
    std::map<std::string, uint64_t> children;
    // How many of `children` are directories (each adds its ".." to this
    // directory's link count). Kept by AttachChild/DetachChild, so a getattr
    // costs the same in a directory of 10 entries and of 100,000.
    uint32_t subdirs = 0;
  };

  Node* Find(uint64_t ino);
  // *out = n, with NodeInfo::nlink counted.
  void Export(const Node& n, NodeInfo* out);
  Node* Child(Node* dir, const std::string& name);
  // The only ways `children` changes (they keep `subdirs`). AttachChild
  // replaces an entry of the same name, which the caller detached first or
  // is swapping (RENAME_EXCHANGE).
  void AttachChild(Node* dir, const std::string& name, const Node& child);
  void DetachChild(Node* dir, const std::string& name);
  // Best effort, for bookkeeping a crash may lose (hydrated, flushed): the
  // next mount finds the same state again from the store.
  void Persist(const Node& n);
  // Records `change` (plus the local-changes flag) in one transaction, then
  // counts it; 0, or the errno why it could not be recorded.
  int Commit(MetaChange change);
  void Changed();
  void AddDirsTouched(const Node* from_dir, const Node* to_dir, int64_t now_ns, MetaChange* change);
  // Detaches `victim` from its name; drops it when nothing references it.
  void Unname(Node* victim, std::vector<uint64_t>* dropped);
  void MaybeDrop(Node* n, std::vector<uint64_t>* dropped);
  std::string PathLocked(const Node* n);
  bool IsAncestor(uint64_t maybe_ancestor, uint64_t ino);

  MetaDb* db_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Node> nodes_;
  uint64_t next_ino_ = 2;
  uint64_t changes_ = 0;
  bool had_change_ = false;
  std::vector<uint64_t> written_;  // inodes with size_unsaved
};

// One content change of an inode, starting at byte `offset`, for the
// scope's lifetime (InodeTable::BeginContentChange).
class ContentChangeScope {
 public:
  ContentChangeScope() = default;
  ContentChangeScope(InodeTable* table, uint64_t ino, uint64_t offset) : ino_(ino) {
    if (table->BeginContentChange(ino, offset)) table_ = table;
  }
  ContentChangeScope(ContentChangeScope&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)), ino_(other.ino_) {}
  ContentChangeScope& operator=(ContentChangeScope&& other) noexcept {
    if (this != &other) {
      End();
      table_ = std::exchange(other.table_, nullptr);
      ino_ = other.ino_;
    }
    return *this;
  }
  ContentChangeScope(const ContentChangeScope&) = delete;
  ContentChangeScope& operator=(const ContentChangeScope&) = delete;
  ~ContentChangeScope() { End(); }

 private:
  void End() {
    if (table_ != nullptr) std::exchange(table_, nullptr)->EndContentChange(ino_);
  }
  InodeTable* table_ = nullptr;
  uint64_t ino_ = 0;
};

}  // namespace ccfs
