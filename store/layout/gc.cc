#include "store/layout/gc.h"

#include <set>
#include <vector>

#include "store/base/clock.h"
#include "store/layout/history.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

// Adds to `names` every object `root` names: its segments, and the packs and
// chunks their entries use. Segments already seen are not read again.
Status AddNamed(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                std::set<std::string>* seen_segments, std::set<std::string>* names) {
  for (const SegmentRef& ref : root.segments) {
    names->insert(SegmentKey(workspace, ref.name));
    if (!seen_segments->insert(ref.name).second) continue;
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg));
    for (const IndexEntry& e : seg.entries) {
      if (!e.pack.empty()) names->insert(PackKey(workspace, e.pack));
      for (const ChunkRef& c : e.chunks) names->insert(ChunkKey(workspace, c.name));
    }
  }
  return Status::OK();
}

}  // namespace

Status CollectGarbage(ObjectStore& store, const std::string& workspace, const GcOptions& options,
                      GcReport* report) {
  *report = GcReport{};
  const int64_t now = options.now_unix != 0 ? options.now_unix : NowUnixMs() / 1000;
  CurrentRoot current;
  CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, &current));
  std::vector<WorkspaceRoot> history;
  CCFS_RETURN_IF_ERROR(ListHistory(store, workspace, &history));

  // Which roots stay.
  std::set<uint64_t> kept_generations{current.root.generation};
  std::vector<const WorkspaceRoot*> kept{&current.root};
  for (size_t i = 0; i < history.size(); ++i) {
    const WorkspaceRoot& r = history[i];
    const bool newest = history.size() - i <= options.keep_generations;
    const bool recent = now - r.committed_unix_ms / 1000 <= options.keep_seconds;
    if ((newest || recent) && kept_generations.insert(r.generation).second) kept.push_back(&r);
  }
  report->roots_kept = kept_generations.size();

  std::set<std::string> live, seen_segments;
  for (const WorkspaceRoot* r : kept) {
    CCFS_RETURN_IF_ERROR(AddNamed(store, workspace, *r, &seen_segments, &live));
  }
  // A commit that landed while we read: what it names stays too.
  CurrentRoot again;
  CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, &again));
  if (again.etag != current.etag) {
    CCFS_RETURN_IF_ERROR(AddNamed(store, workspace, again.root, &seen_segments, &live));
    kept_generations.insert(again.root.generation);
  }

  auto collect = [&](const ObjectInfo& o, bool* deleted) -> Status {
    *deleted = false;
    if (now - o.mtime_unix < options.grace_seconds) {
      ++report->young_spared;
      return Status::OK();
    }
    if (!options.dry_run) {
      Status s = store.Delete(o.key);
      if (!s.ok() && !s.IsNotFound()) return s.Annotate("gc");
    }
    *deleted = true;
    report->bytes_freed += o.size;
    return Status::OK();
  };

  // Old history copies.
  ListResult listed;
  CCFS_RETURN_IF_ERROR(store.List({HistoryPrefix(workspace), ""}, &listed));
  for (const ObjectInfo& o : listed.objects) {
    bool keep = false;
    for (uint64_t g : kept_generations) {
      if (o.key.rfind(HistoryRootKey(workspace, g, ""), 0) == 0) keep = true;
    }
    if (keep) continue;
    bool deleted = false;
    CCFS_RETURN_IF_ERROR(collect(o, &deleted));
    if (deleted) ++report->history_deleted;
  }

  // Packs, chunks and segments no kept root names.
  for (const std::string& prefix :
       {SegmentKey(workspace, ""), PackKey(workspace, ""), ChunkKey(workspace, "")}) {
    std::string dir = prefix.substr(0, prefix.rfind('/') + 1);
    ListResult objects;
    CCFS_RETURN_IF_ERROR(store.List({dir, ""}, &objects));
    for (const ObjectInfo& o : objects.objects) {
      if (live.count(o.key) != 0) {
        ++report->objects_kept;
        continue;
      }
      bool deleted = false;
      CCFS_RETURN_IF_ERROR(collect(o, &deleted));
      if (deleted) ++report->objects_deleted;
    }
  }
  return Status::OK();
}

}  // namespace ccfs
