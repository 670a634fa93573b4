#include "store/layout/commit.h"

#include <unistd.h>

#include <random>

#include "store/base/clock.h"
#include "store/layout/chunks.h"
#include "store/layout/segment_plan.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

Status CommitOnce(ObjectStore& store, const std::string& workspace, const CurrentRoot* base,
                  const CommitInput& input, CommitReport* report) {
  *report = CommitReport{};
  std::vector<SegmentChange> changes;

  // 1. The pack of new and rewritten files.
  if (!input.files.empty()) {
    const std::string pack_path = input.scratch_dir + "/pack-" + std::to_string(::getpid()) + "-" +
                                  NewRootNonce() + ".tar.gz";
    BuiltPack pack;
    Status built = BuildPack(pack_path, input.files, &pack);
    if (built.ok()) built = PutPack(store, workspace, pack.name, pack.path);
    ::unlink(pack_path.c_str());
    CCFS_RETURN_IF_ERROR(built.Annotate("pack"));
    report->bytes_uploaded += pack.bytes;
    for (IndexEntry& e : pack.entries) changes.push_back({e.path, std::move(e)});
  }

  // 2. One chunk per grown transcript: only the appended bytes travel.
  for (const TranscriptAppend& a : input.appends) {
    IndexEntry e = a.base;
    e.mtime_ns = a.mtime_ns;
    e.mode = a.mode;
    if (a.new_size < a.base.size) {
      return Status::InvalidArgument(e.path + ": an append cannot shrink the file");
    }
    if (!a.base.pack.empty()) {
      return Status::InvalidArgument(e.path + ": kept in a pack; commit it as a file");
    }
    if (a.new_size > a.base.size) {
      NewChunk chunk;
      CCFS_RETURN_IF_ERROR(MakeChunk(a.fd, a.base.size, a.new_size, &chunk,
                                     ChunkStoredRaw(a.base.size, a.new_size)));
      CCFS_RETURN_IF_ERROR(PutImmutable(store, ChunkKey(workspace, chunk.ref.name), chunk.stored));
      report->bytes_uploaded += chunk.stored.size();
      e.chunks.push_back(chunk.ref);
      e.size = a.new_size;
    }
    changes.push_back({e.path, std::move(e)});
  }
  for (const IndexEntry& e : input.entries) changes.push_back({e.path, e});
  std::vector<IndexEntry> changed;
  for (const SegmentChange& c : changes) {
    if (c.entry.has_value()) changed.push_back(*c.entry);
  }
  for (const std::string& p : input.removed) changes.push_back({p, std::nullopt});

  // 3. The touched segments.
  SegmentPlan plan;
  const std::vector<SegmentRef> none;
  CCFS_RETURN_IF_ERROR(PlanSegments(
      base != nullptr ? base->root.segments : none, std::move(changes),
      [&](const SegmentRef& ref, IndexSegment* out) {
        return input.load_segment ? input.load_segment(ref, out)
                                  : LoadSegment(store, workspace, ref, out);
      },
      input.segment_entries, &plan));
  report->segments_read = plan.loaded;
  for (const SegmentToWrite& w : plan.written) {
    CCFS_RETURN_IF_ERROR(PutImmutable(store, SegmentKey(workspace, w.ref.name), w.bytes));
    report->bytes_uploaded += w.bytes.size();
  }
  report->segments_written = plan.written.size();
  std::vector<std::pair<std::string, std::string>> written_segments;
  for (SegmentToWrite& w : plan.written)
    written_segments.emplace_back(w.ref.name, std::move(w.bytes));

  // 4. The root.
  WorkspaceRoot next;
  next.generation = base != nullptr ? base->root.generation + 1 : 1;
  next.parent_generation = base != nullptr ? base->root.generation : 0;
  next.nonce = NewRootNonce();
  next.writer = input.writer;
  next.committed_unix_ms = NowUnixMs();
  next.segments = plan.segments;
  next.adopted_v1_etag = !input.adopted_v1_etag.empty() ? input.adopted_v1_etag
                         : base != nullptr              ? base->root.adopted_v1_etag
                                                        : "";
  const int64_t files =
      (base != nullptr ? static_cast<int64_t>(base->root.files) : 0) + plan.files_delta;
  const int64_t bytes =
      (base != nullptr ? static_cast<int64_t>(base->root.bytes) : 0) + plan.bytes_delta;
  next.files = files > 0 ? static_cast<uint64_t>(files) : 0;
  next.bytes = bytes > 0 ? static_cast<uint64_t>(bytes) : 0;
  Status s = CommitRoot(store, workspace, next, base != nullptr ? base->etag : "", &report->etag);
  report->bytes_uploaded += EncodeRoot(next).size();
  if (s.IsPreconditionFailed()) {
    CurrentRoot won;
    if (ReadRoot(store, workspace, &won).ok()) {
      report->root = std::move(won.root);
      report->etag = won.etag;
    }
    return s;
  }
  CCFS_RETURN_IF_ERROR(s);
  report->root = std::move(next);
  report->changed = std::move(changed);
  report->written_segments = std::move(written_segments);
  return Status::OK();
}

}  // namespace ccfs
