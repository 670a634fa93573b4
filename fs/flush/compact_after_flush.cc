// Flusher::CompactAfterFlush: automatic compaction after a layout-v2 commit
// (store/layout/compact.h), so a workspace's object count stops growing with
// the number of turns.
//
// It runs on the thread that flushed, under the flush lock, right after the
// commit: one bounded compaction onto the root just committed (a single
// attempt; if another writer came first it is left for a later flush). The
// mount then takes the compacted root in through the merge a 412 would run
// (fs/flush/flush_merge.h): files only moved are re-pointed, and anything
// written since the flush stays ours (a file whose store copy only moved is
// not a conflict: MergeInputs::theirs_same_as_base). Should that merge fail,
// the next flush meets the compacted root as another writer's commit and
// merges then; nothing local is lost either way.
//
// CCFS_AUTO_COMPACT=0 turns it off.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>

#include "fs/flush/flush_merge.h"
#include "fs/flush/flusher.h"
#include "fs/hydrate/remote_tree_v2.h"
#include "store/layout/compact.h"

namespace ccfs {

namespace {

constexpr uint64_t kFlushCompactBudget = 4ull << 20;

bool AutoCompactEnabled() {
  const char* v = std::getenv("CCFS_AUTO_COMPACT");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

size_t PacksNamed(const V2Tree& tree) {
  std::set<std::string_view> packs;
  for (const auto& [path, e] : tree.entries) {
    if (!e.pack.empty()) packs.insert(e.pack);
  }
  return packs.size();
}

}  // namespace

void Flusher::CompactAfterFlush(const std::string& host, const std::string& time) {
  if (!AutoCompactEnabled()) return;
  std::shared_ptr<const TarballVersion> version = base_->tarball();
  if (version->v2 == nullptr || version->v2->root.etag.empty()) return;
  const V2Tree& tree = *version->v2;
  CompactOptions opts;
  // A turn pays for what it touched: at a flush, compaction moves little
  // (small packs, short transcripts). A long transcript of many chunks is
  // rewritten whole, so it waits for `ccfs gc` (64 MiB by default).
  opts.byte_budget = kFlushCompactBudget;
  const size_t packs = PacksNamed(tree);
  // Planning reads every pack's index: only when a transcript is long, or
  // enough packs came since a plan last found nothing.
  const size_t min_packs = std::max(opts.min_small_packs, packs_at_empty_plan_ + 4);
  if (!CompactionMayHelp(tree.entries, opts, min_packs)) return;
  opts.scratch_dir = cache_->TmpDir();
  opts.writer = RootWriter{host, static_cast<int64_t>(::getpid()), ""};
  opts.load_segment = [this](const SegmentRef& ref, IndexSegment* out) {
    return LoadV2Segment(*store_, workspace_, *cache_, ref, out);
  };
  CompactReport r;
  Status s = CompactOnto(*store_, workspace_, tree.root, opts, &r);
  if (!s.ok()) {
    spdlog::warn("compaction after the flush: {} (the flush stands; a later one retries)",
                 s.ToString());
    return;
  }
  if (r.generation == 0) {
    packs_at_empty_plan_ = packs;
    return;
  }
  packs_at_empty_plan_ = 0;
  spdlog::info(
      "compaction: generation {} ({} transcripts, {} packs rewritten; {} B read, {} B up; "
      "{} left for later)",
      r.generation, r.plan.transcripts.size(), r.plan.packs.size(), r.bytes_read, r.bytes_uploaded,
      r.plan.deferred);
  for (const auto& [name, bytes] : r.commit.written_segments) {
    IgnoreError(SaveV2Segment(*cache_, name, bytes), "the merge fetches it instead");
  }
  FlushReport merged;
  Status m = Merge(host, time, &merged);
  if (!m.ok()) {
    spdlog::warn("taking in the compacted root: {} (the next flush merges it)", m.ToString());
  }
}

}  // namespace ccfs
