#include "store/layout/commit.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>

#include "store/base/clock.h"
#include "store/base/parallel.h"
#include "store/layout/chunks.h"
#include "store/layout/segment_plan.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

// Immutable objects (chunks, segments) PUT at once: what a v1 push used
// for its transcript objects.
constexpr size_t kParallelPuts = 8;
// Chunk bytes held in memory at once across those PUTs; a larger chunk
// goes alone.
constexpr uint64_t kChunkBytesInMemory = 64ull << 20;

// Bytes in flight, bounded: Hold blocks until its bytes fit under the cap
// (or nothing else is held, so one larger than the cap still goes).
class ByteBudget {
 public:
  explicit ByteBudget(uint64_t cap) : cap_(cap) {}

  class Hold {
   public:
    Hold(ByteBudget& b, uint64_t bytes) : b_(b), bytes_(bytes) {
      std::unique_lock<std::mutex> lock(b_.mu_);
      b_.cv_.wait(lock, [&] { return b_.used_ == 0 || b_.used_ + bytes_ <= b_.cap_; });
      b_.used_ += bytes_;
    }
    ~Hold() {
      {
        std::lock_guard<std::mutex> lock(b_.mu_);
        b_.used_ -= bytes_;
      }
      b_.cv_.notify_all();
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    ByteBudget& b_;
    const uint64_t bytes_;
  };

 private:
  const uint64_t cap_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t used_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace

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

  // 2. One chunk per grown transcript: only the appended bytes travel. A few
  // at a time (a new workspace has one per transcript: ~1,200 on the large
  // preset, where one PUT at a time leaves the link idle on round trips).
  for (const TranscriptAppend& a : input.appends) {
    if (a.new_size < a.base.size) {
      return Status::InvalidArgument(a.base.path + ": an append cannot shrink the file");
    }
    if (!a.base.pack.empty()) {
      return Status::InvalidArgument(a.base.path + ": kept in a pack; commit it as a file");
    }
  }
  std::vector<IndexEntry> appended(input.appends.size());
  std::atomic<uint64_t> chunk_bytes{0};
  ByteBudget in_memory(kChunkBytesInMemory);
  CCFS_RETURN_IF_ERROR(ParallelFor(input.appends.size(), kParallelPuts, [&](size_t i) -> Status {
    const TranscriptAppend& a = input.appends[i];
    IndexEntry e = a.base;
    e.mtime_ns = a.mtime_ns;
    e.mode = a.mode;
    if (a.new_size > a.base.size) {
      ByteBudget::Hold held(in_memory, a.new_size - a.base.size);
      NewChunk chunk;
      CCFS_RETURN_IF_ERROR(MakeChunk(a.fd, a.base.size, a.new_size, &chunk,
                                     ChunkStoredRaw(a.base.size, a.new_size)));
      CCFS_RETURN_IF_ERROR(PutImmutable(store, ChunkKey(workspace, chunk.ref.name), chunk.stored));
      chunk_bytes += chunk.stored.size();
      e.chunks.push_back(chunk.ref);
      e.size = a.new_size;
    }
    appended[i] = std::move(e);
    return Status::OK();
  }));
  report->bytes_uploaded += chunk_bytes.load();
  for (IndexEntry& e : appended) {
    std::string path = e.path;
    changes.push_back({std::move(path), std::move(e)});
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
  CCFS_RETURN_IF_ERROR(ParallelFor(plan.written.size(), kParallelPuts, [&](size_t i) {
    const SegmentToWrite& w = plan.written[i];
    return PutImmutable(store, SegmentKey(workspace, w.ref.name), w.bytes);
  }));
  for (const SegmentToWrite& w : plan.written) report->bytes_uploaded += w.bytes.size();
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
