// Hydrator: brings remote file content into the local cache.
//
// - EnsureLocal(ino): on first read/write of a remote file, fetch just that
//   file at once: a tarball member's blocks (one ranged GET, If-Match the
//   base ETag) or its transcript object (If-Match the transcript's ETag).
//   Every other remote member lying wholly in the fetched blocks is filled
//   too: those bytes are already paid for (a block holds many small files).
// - Background mode: one thread streams the whole tarball in archive order
//   (a few large ranged GETs), filling every still-remote member, then a
//   small pool prefetches the transcripts. On-demand fetches never wait for
//   the stream unless it is already writing that very file.
// - A layout-v2 base (fs/hydrate/remote_tree_v2.h): a file's bytes come from
//   its pack member or transcript chunks (store/layout/file_reader.h); the
//   background pass fetches the remote files a few at a time. A 404 on a
//   pack or chunk means gc removed what this mount's (old) root named: the
//   root is read again and the file read from there if it is the same file,
//   only moved (MovedV2Entry).
// - DiscardRemote(ino): a remote file truncated to 0 becomes an empty local
//   file without fetching anything.
// Every state change out of "remote" goes through a per-inode claim, so an
// on-demand fetch, the stream and a truncate never race on one file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fs/hydrate/block_cache.h"
#include "fs/tree/base_version.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "store/layout/file_reader.h"
#include "store/objects/object_store.h"

namespace ccfs {

enum class HydrateMode { kBackground, kLazy };

struct HydrationStats {
  std::atomic<uint64_t> on_demand_files{0};
  std::atomic<uint64_t> streamed_files{0};
  std::atomic<uint64_t> prefetched_files{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> tail_files{0};       // fetched from their last page only
  std::atomic<uint64_t> completed_files{0};  // tail-only files made whole
  std::atomic<uint64_t> moved_files{0};      // read from a newer root after a 404
  std::atomic<bool> stream_running{false};
  std::atomic<bool> stream_done{false};
};

class Hydrator {
 public:
  Hydrator(ObjectStore* store, std::string workspace, InodeTable* table, ContentCache* content,
           BaseVersion* base, BlockCache* blocks = nullptr);
  ~Hydrator();
  Hydrator(const Hydrator&) = delete;
  Hydrator& operator=(const Hydrator&) = delete;

  // 0 once `ino` has all its content local (or is not a file): a remote
  // file is fetched, a tail-only one (NodeRecord::local_from) completed;
  // EIO when the fetch failed (last_error() says why), ENOENT for an unknown
  // inode.
  int EnsureLocal(uint64_t ino);
  // 0 once the content file holds valid bytes of `ino` from `from` on, all
  // that a read or write at `from` touches. A remote transcript of a
  // layout-v2 base stored as chunks, asked from at or past the start of the
  // page holding its end (an append, or the kernel reading that page for
  // it), gets only its bytes from that page boundary on: the content file
  // is made sparse at the full size and the file becomes tail-only. Anything
  // else is EnsureLocal.
  int EnsureFrom(uint64_t ino, uint64_t from);
  // For a truncate to 0: a remote or tail-only file becomes empty and
  // local, unfetched.
  int DiscardRemote(uint64_t ino);

  // Starts the background stream (tarball, then transcripts) if not running.
  void StartBackground(size_t transcript_parallelism = 4);
  // Stops it and waits (a flush does this before swapping the base).
  void StopBackground();

  // Fetches every still-remote member of the base tarball now, in one pass
  // (a flush that repacks needs them all). Background must be stopped.
  Status HydrateTarballMembers() { return StreamTarball(); }

  const HydrationStats& stats() const { return stats_; }
  std::string last_error() const;

 private:
  struct MemberRef {
    size_t entry;  // position in the version's index
    uint64_t ino;
  };
  // Claims `ino` for a state change; returns false if another claim is in
  // flight (then waits for it to finish when `wait` is set).
  bool TryClaim(uint64_t ino, bool wait);
  // Adds the member asked for to the neighbours a fetch fills (archive order).
  static void IncludeMember(std::vector<MemberRef>* members, MemberRef self);
  void Release(uint64_t ino);
  int Fetch(const NodeInfo& node);
  Status FetchTarballMember(const NodeInfo& node);
  // Remote members of `version` whose data lies wholly in blocks [first, last].
  std::vector<MemberRef> MembersInBlocks(const TarballVersion& version, size_t first, size_t last);
  // Streams blocks [first, last] once, filling `members` (archive order).
  // `claimed` (0 = none) is already claimed by the caller; the others are
  // claimed here as reached, skipped if someone else holds them.
  // `key` is the object the blocks are read from: the v1 tarball (then
  // through the block cache) or a v2 pack (`version` then being the pack's).
  Status FillMembers(const TarballVersion& version, const std::string& key, size_t first,
                     size_t last, const std::vector<MemberRef>& members, uint64_t claimed,
                     std::atomic<uint64_t>* counter, const std::atomic<bool>* cancel);
  // A v2 pack as a seekable tarball version (its index, read once).
  Status PackVersion(const std::string& pack, std::shared_ptr<const TarballVersion>* out);
  // Remote files of the v2 base whose bytes are members of `pack` lying
  // wholly in its blocks [first, last].
  std::vector<MemberRef> PackMembersInBlocks(const TarballVersion& base, const std::string& pack,
                                             const TarballVersion& pack_version, size_t first,
                                             size_t last);
  Status FetchV2PackMember(const NodeInfo& node, const IndexEntry& entry);
  Status FetchTranscript(const NodeInfo& node, const std::string& tmp);
  // The base entry a v2 file's origin names (PreconditionFailed when the
  // base moved on without it).
  Status CurrentV2Entry(const NodeInfo& node, IndexEntry* out);
  // Tail-only content: the origin's bytes from `from` (a page boundary) to
  // the end, into a sparse content file of the full size. `ino` is claimed.
  int FetchTail(const NodeInfo& node, uint64_t from);
  // Fills [0, local_from) of a tail-only file in place from its origin, then
  // records it whole. `ino` is claimed.
  int Complete(const NodeInfo& node);
  // The entry the store's current root has for the file `node` whose bytes,
  // as `gone` names them, are no longer stored (`why`: the 404). It stands
  // for the same bytes when it is a regular file of the same size and mtime
  // (to the nanosecond): what compaction does when it moves a file's bytes.
  // Anything else (the file deleted or rewritten since) is NotFound, saying
  // that this mount's base is older than what the store keeps.
  Status MovedV2Entry(const NodeInfo& node, const IndexEntry& gone, const Status& why,
                      IndexEntry* out);
  // Streams [from, from + length) of `node` through `entry` into `sink`. On
  // a 404 from the store (not from the sink), calls `restart` to drop what
  // the sink got, and reads again through MovedV2Entry's entry.
  Status ReadV2Bytes(const NodeInfo& node, const IndexEntry& entry, uint64_t from, uint64_t length,
                     const std::function<Status()>& restart, const ByteSink& sink);
  // FetchV2PackMember, and on a 404 the same through MovedV2Entry's entry
  // (*moved gets it when it is not a pack member, for the caller to read).
  Status FetchV2PackMemberOrMoved(const NodeInfo& node, const IndexEntry& entry, IndexEntry* moved,
                                  bool* installed);
  // A file of a layout-v2 base, through its entry: chunks into `tmp`, or a
  // pack member installed directly (*installed) with its block neighbours.
  Status FetchV2(const NodeInfo& node, const std::string& tmp, bool* installed);
  // The background pass for a v2 base: every remote file, a few at a time.
  Status StreamV2(const TarballVersion& version);
  void NoteError(const std::string& what, const Status& s);
  void RunBackground(size_t transcript_parallelism);
  Status StreamTarball();
  // Streams the blocks holding `todo` (members of `version`, the object
  // `key`) in runs, each block fetched once.
  Status StreamRuns(const TarballVersion& version, const std::string& key,
                    std::vector<MemberRef> todo);

  ObjectStore* store_;
  std::string workspace_;
  InodeTable* table_;
  ContentCache* content_;
  BaseVersion* base_;
  BlockCache* blocks_;
  TreeFileReader v2_reader_;  // transcript chunks of a v2 base
  HydrationStats stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, bool> claimed_;
  std::string last_error_;
  // Remote tarball members by origin path, for the version `members_etag_`
  // (origins change only when a flush installs a new version).
  std::string members_etag_;
  std::unordered_map<std::string, uint64_t> members_;
  // v2: each pack's index as a version (packs never change), and the remote
  // files by "<pack>/<path>" for the base `pack_members_tag_`.
  std::unordered_map<std::string, std::shared_ptr<const TarballVersion>> packs_;
  std::string pack_members_tag_;
  std::unordered_map<std::string, uint64_t> pack_members_;

  std::thread background_;
  std::atomic<bool> cancel_{false};
};

}  // namespace ccfs
