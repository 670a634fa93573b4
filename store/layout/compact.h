// Compaction of a layout-v2 workspace (docs/layout-v2-plan.md, "Garbage
// collection and compaction"). Every flush adds a pack and every append a
// transcript chunk, so without it the object count grows with the number of
// turns. A compaction:
//   - rewrites a transcript of many chunks as one chunk;
//   - rewrites the live files of packs that are mostly dead (or of many
//     small packs) into one new pack;
// and commits the result as a new generation exactly like a flush
// (CommitOnce: If-Match on the root it planned from). File contents and
// metadata never change: only where the bytes are stored does. The objects
// no longer named are left for `ccfs gc` and its grace period (gc.h).
//
// A compaction is bounded: it moves at most `byte_budget` bytes of file
// contents per call (read and written again), so a flush that runs one after
// its commit never stalls long; what does not fit is left for a later call.
//
// On a 412 (another commit landed meanwhile) it reads the root again and plans
// again from it, so it only ever re-points entries of the root it commits
// against: nothing another writer committed can be lost.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/commit.h"
#include "store/layout/root_store.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct CompactOptions {
  // A transcript of more chunks than this is rewritten as one chunk.
  size_t max_chunks = 16;
  // A pack whose live files hold less than this share of its files' bytes is
  // rewritten.
  double min_live_fraction = 0.5;
  // Packs smaller than `small_pack_bytes` (stored) are merged once there are
  // at least `min_small_packs` of them: one file per turn would otherwise
  // leave one small, fully live pack per turn.
  uint64_t small_pack_bytes = 1ull << 20;
  size_t min_small_packs = 8;
  // File content bytes moved per call; candidates that would pass it wait.
  uint64_t byte_budget = 64ull << 20;
  // Plans and commits at most this many times (each 412 costs one).
  int max_attempts = 3;
  RootWriter writer;
  std::string scratch_dir;  // temporary copies of the files moved
  size_t segment_entries = 2000;
  // Where segments come from; unset: GET from the store.
  SegmentLoader load_segment;
};

struct CompactTranscript {
  std::string path;
  size_t chunks = 0;  // before
  uint64_t bytes = 0;
};

struct CompactPack {
  std::string name;
  uint64_t stored_bytes = 0;  // the pack object
  uint64_t member_bytes = 0;  // all its files' bytes
  uint64_t live_bytes = 0;    // the bytes of files the root still names in it
  size_t live_files = 0;
};

struct CompactPlan {
  uint64_t generation = 0;  // of the root planned from
  std::vector<CompactTranscript> transcripts;
  std::vector<CompactPack> packs;
  uint64_t bytes_to_move = 0;  // file bytes rewritten by this plan
  // Candidates left out because the budget was spent.
  size_t deferred = 0;
  uint64_t deferred_bytes = 0;
  bool empty() const { return transcripts.empty() && packs.empty(); }
};

struct CompactReport {
  CompactPlan plan;         // the plan that was committed (or the last tried)
  uint64_t generation = 0;  // committed generation; 0 when nothing was committed
  int attempts = 0;
  uint64_t bytes_read = 0;  // file bytes read back from the store
  uint64_t bytes_uploaded = 0;
  // On success: the commit itself (changed entries, written segments), so a
  // mount can update its copy of the tree as after its own flush.
  CommitReport commit;
};

// What a compaction of `current` would do, read-only (segments and pack
// indexes are read; no file bytes).
Status PlanCompaction(ObjectStore& store, const std::string& workspace, const CurrentRoot& current,
                      const CompactOptions& options, CompactPlan* plan);

// Whether `entries` (a whole tree, by path) may need compaction, judged
// without a request: a transcript of more than max_chunks chunks, or at
// least `min_packs` packs named. PlanCompaction decides; this only spares a
// flush that reading when there is clearly nothing to do.
bool CompactionMayHelp(const std::map<std::string, IndexEntry>& entries,
                       const CompactOptions& options, size_t min_packs);

// One attempt onto `base`, which must be the current root: plans from it,
// rewrites, commits If-Match its ETag. PreconditionFailed when another commit
// came first (nothing of the tree changed; the objects uploaded are left for
// gc). OK with report->generation == 0 when there was nothing to do.
Status CompactOnto(ObjectStore& store, const std::string& workspace, const CurrentRoot& base,
                   const CompactOptions& options, CompactReport* report);

// Plans from the current root and, when the plan is not empty, rewrites and
// commits it. OK with report->generation == 0 when there was nothing to do.
// PreconditionFailed when every attempt lost the race to another writer.
Status Compact(ObjectStore& store, const std::string& workspace, const CompactOptions& options,
               CompactReport* report);

}  // namespace ccfs
