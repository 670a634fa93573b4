// Flusher: writes a mount's local changes back to the store.
//
//  1. Plan from a snapshot of the tree: transcripts new or changed here,
//     transcripts gone, and whether anything on the tarball side differs
//     from the base index.
//  2. Precheck: HEAD the tarball (and each transcript to delete) so a base
//     that moved on is a conflict before anything is written.
//  3. Upload changed transcripts (parallel), each If-Match its base ETag
//     (If-None-Match: * when new).
//  4. Compose the new tarball (unchanged runs of base blocks copied as
//     compressed bytes, the rest packed anew: fs/flush/tarball_compose.h) and PUT
//     it If-Match the base ETag (If-None-Match: * for a new workspace): the
//     commit point.
//  5. Delete transcripts removed here; the new ETags become the base.
// A refused precondition means the store moved on: its new version is merged
// with the local tree (fs/flush/merge.h, fs/flush/flush_merge.h: theirs taken where only
// they changed, conflict copies where both did) and the flush is retried onto
// it, a few rounds at most. Only when that fails is it a conflict: nothing
// local is dropped, the error is PreconditionFailed and explains how to go on
// (--force skips the merge and writes ours). Writes racing a flush keep their
// files dirty for the next one.
//
// A layout-v2 base (docs/layout-v2-plan.md) replaces steps 2-5 with one
// commit whose cost follows what changed (fs/flush/flush_v2.cc); planning
// and merging are shared.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "fs/flush/flush_merge.h"
#include "fs/hydrate/block_cache.h"
#include "fs/hydrate/hydrator.h"
#include "fs/tree/base_version.h"
#include "fs/tree/cache_dir.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct FlushOptions {
  // Overwrite whatever the store has now instead of requiring the base.
  bool force = false;
  size_t parallel_uploads = 8;
};

struct FlushReport {
  bool nothing_to_flush = false;
  std::string base_etag;    // the tarball version the flush started from
  std::string new_etag;     // the version after it (same when not rewritten)
  std::string remote_etag;  // on a conflict: what the store has now ("" = nothing)
  bool tarball_written = false;
  uint64_t tarball_bytes = 0;
  size_t tarball_entries = 0;
  size_t blocks_copied = 0;  // base blocks copied as compressed bytes
  uint64_t bytes_copied = 0;
  size_t entries_rewritten = 0;  // members packed and compressed anew
  size_t transcripts_uploaded = 0;
  size_t transcripts_deleted = 0;
  uint64_t bytes_uploaded = 0;
  std::vector<std::string> skipped;  // entries the tarball cannot hold
  bool clean_after = false;          // nothing changed while flushing
  double seconds = 0;
  // Set when the store had moved on and was merged with (fs/flush/merge.h).
  struct Merged {
    std::string path;
    bool from_remote = false;  // true: now as the store has it; false: our change applied
  };
  struct ConflictCopy {
    std::string path;  // theirs stays here
    std::string copy;  // ours, beside it
  };
  uint64_t generation = 0;  // layout v2: the generation committed (0: none)
  size_t merge_rounds = 0;
  std::vector<Merged> merged;
  std::vector<ConflictCopy> conflicts;
};

class Flusher {
 public:
  Flusher(ObjectStore* store, std::string workspace, const CacheDir* cache, MetaDb* db,
          InodeTable* table, ContentCache* content, Hydrator* hydrator, BaseVersion* base,
          BlockCache* blocks = nullptr)
      : store_(store),
        workspace_(std::move(workspace)),
        cache_(cache),
        db_(db),
        table_(table),
        content_(content),
        hydrator_(hydrator),
        base_(base),
        blocks_(blocks) {}

  // One flush at a time; concurrent callers wait.
  Status Flush(const FlushOptions& options, FlushReport* report);

  // Told which names and inodes a merge changed (the kernel's caches).
  void set_invalidator(KernelInvalidator fn) { invalidator_ = std::move(fn); }

  // Merge-and-retry rounds before a moving store is reported as a conflict.
  static constexpr int kMaxMergeRounds = 3;

 private:
  struct Plan;
  Status MakePlan(const FlushOptions& options, Plan* plan, FlushReport* report);
  Status Precheck(const FlushOptions& options, Plan* plan, FlushReport* report);
  Status UploadTranscripts(const FlushOptions& options, Plan* plan, FlushReport* report);
  // The error of a flush whose scratch files (v1: the new tarball; v2: the
  // settled copies and the pack) do not fit in the cache: `what` it builds
  // there, how much it needs and how much there is. Changes are kept.
  Status NoSpaceInCache(const std::string& what, uint64_t need, const Status& why) const;
  Status NoSpaceForTarball(const Plan& plan, const Status& why) const;
  // v2: about twice the bytes of the files this flush uploads (a settled
  // copy of each, then the pack built from them).
  Status NoSpaceForPack(const Plan& plan, const Status& why) const;
  Status WriteTarball(Plan* plan, FlushReport* report);
  Status ComposeTarball(Plan* plan, bool allow_copy, const std::string& out, TarIndex* index,
                        FlushReport* report);
  Status DeleteTranscripts(const FlushOptions& options, Plan* plan, FlushReport* report);
  // Transcript modes changed here (chmod, or a new transcript whose mode is
  // not the default) go to the modes object, merged onto the store's.
  Status WriteModes(Plan* plan);
  Status Conflict(const std::string& what, const std::string& remote_etag, FlushReport* report);
  // A layout-v2 base (fs/flush/flush_v2.cc): what changed against the base
  // tree goes up as one commit (a pack of the changed files, a chunk per
  // grown .jsonl, the touched index segments, the root If-Match).
  Status FlushV2(const FlushOptions& options, Plan* plan, FlushReport* report);
  // Whether bytes [from, b.size) of the copy open as `fd` are the stored
  // file `b`'s (one ranged read of it).
  Status SameAsStored(const IndexEntry& b, uint64_t from, int fd, bool* same);
  Status Merge(const std::string& host, const std::string& time, FlushReport* report);
  // After a layout-v2 commit (fs/flush/compact_after_flush.cc): one bounded
  // compaction when the tree may need it, then a merge onto the compacted
  // root. Failures are logged only: the flush stands.
  void CompactAfterFlush(const std::string& host, const std::string& time);

  ObjectStore* store_;
  std::string workspace_;
  const CacheDir* cache_;
  MetaDb* db_;
  InodeTable* table_;
  ContentCache* content_;
  Hydrator* hydrator_;
  BaseVersion* base_;
  BlockCache* blocks_;
  KernelInvalidator invalidator_;
  std::mutex mu_;
  // Packs the tree named when a compaction plan last found nothing to do:
  // the plan reads every pack's index, so it is not redone until more packs
  // came (GUARDED_BY(mu_)).
  size_t packs_at_empty_plan_ = 0;
};

}  // namespace ccfs
