#include "store/layout/compact.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <set>
#include <string_view>

#include "store/base/unique_fd.h"
#include "store/layout/chunks.h"
#include "store/layout/file_reader.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

// BuildPack needs one open descriptor per file; this keeps a compaction of a
// tree of many small files within the process's descriptor limit.
constexpr size_t kMaxFilesPerCall = 512;

// A plan with the entries it moves, as the root planned from has them.
struct WorkPlan {
  CompactPlan plan;
  std::vector<IndexEntry> transcripts;
  std::vector<IndexEntry> pack_files;
};

// One pack named by the tree, and the tree's entries that live in it.
struct PackUse {
  CompactPack pack;
  std::vector<IndexEntry> entries;
};

double LiveFraction(const CompactPack& p) {
  return p.member_bytes == 0
             ? 1.0
             : static_cast<double>(p.live_bytes) / static_cast<double>(p.member_bytes);
}

Status MakePlan(ObjectStore& store, const std::string& workspace, const CurrentRoot& current,
                const CompactOptions& options, WorkPlan* out) {
  *out = WorkPlan{};
  out->plan.generation = current.root.generation;
  std::vector<IndexEntry> long_transcripts;
  std::map<std::string, PackUse> packs;
  for (const SegmentRef& ref : current.root.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(options.load_segment ? options.load_segment(ref, &seg)
                                              : LoadSegment(store, workspace, ref, &seg));
    for (IndexEntry& e : seg.entries) {
      if (e.type != EntryType::kFile) continue;
      if (e.chunks.size() > options.max_chunks) {
        long_transcripts.push_back(std::move(e));
      } else if (!e.pack.empty()) {
        PackUse& use = packs[e.pack];
        use.pack.live_bytes += e.size;
        ++use.pack.live_files;
        use.entries.push_back(std::move(e));
      }
    }
  }
  // Only a pack's own index says how much of it is dead.
  for (auto& [name, use] : packs) {
    use.pack.name = name;
    TarIndex index;
    CCFS_RETURN_IF_ERROR(ReadPackIndex(store, workspace, name, &index, &use.pack.stored_bytes));
    for (const TarEntry& t : index.entries) {
      if (t.type == EntryType::kFile) use.pack.member_bytes += t.size;
    }
  }

  // Candidates, most worthwhile first: the longest chunk lists, then the
  // deadest packs, then the small ones.
  std::sort(long_transcripts.begin(), long_transcripts.end(),
            [](const IndexEntry& a, const IndexEntry& b) {
              return a.chunks.size() != b.chunks.size() ? a.chunks.size() > b.chunks.size()
                                                        : a.path < b.path;
            });
  std::vector<PackUse*> dead, small;
  for (auto& [name, use] : packs) {
    if (LiveFraction(use.pack) < options.min_live_fraction) {
      dead.push_back(&use);
    } else if (use.pack.stored_bytes < options.small_pack_bytes) {
      small.push_back(&use);
    }
  }
  std::sort(dead.begin(), dead.end(), [](const PackUse* a, const PackUse* b) {
    return LiveFraction(a->pack) < LiveFraction(b->pack);
  });
  if (small.size() < options.min_small_packs) small.clear();
  std::sort(small.begin(), small.end(), [](const PackUse* a, const PackUse* b) {
    return a->pack.stored_bytes < b->pack.stored_bytes;
  });

  CompactPlan& plan = out->plan;
  size_t files = 0;
  auto fits = [&](uint64_t bytes, size_t n) {
    if (plan.bytes_to_move + bytes > options.byte_budget || files + n > kMaxFilesPerCall) {
      ++plan.deferred;
      plan.deferred_bytes += bytes;
      return false;
    }
    plan.bytes_to_move += bytes;
    files += n;
    return true;
  };
  for (IndexEntry& e : long_transcripts) {
    if (!fits(e.size, 0)) continue;
    plan.transcripts.push_back({e.path, e.chunks.size(), e.size});
    out->transcripts.push_back(std::move(e));
  }
  size_t small_taken = 0;
  auto take_pack = [&](PackUse* use, bool is_small) {
    if (!fits(use->pack.live_bytes, use->pack.live_files)) return;
    small_taken += is_small ? 1 : 0;
    plan.packs.push_back(use->pack);
    for (IndexEntry& e : use->entries) out->pack_files.push_back(std::move(e));
  };
  for (PackUse* use : dead) take_pack(use, false);
  for (PackUse* use : small) take_pack(use, true);
  // Rewriting one healthy small pack alone only renames it.
  if (plan.packs.size() == 1 && small_taken == 1) {
    plan.bytes_to_move -= plan.packs.front().live_bytes;
    plan.packs.clear();
    out->pack_files.clear();
  }
  return Status::OK();
}

// A scratch file, unlinked at once so that nothing is left behind whatever
// happens; the descriptor keeps it.
Status ScratchFile(const std::string& dir, UniqueFd* out) {
  static std::atomic<uint64_t> counter{0};
  const std::string path = dir + "/compact-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter.fetch_add(1)) + ".part";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno("compact: create " + path, errno);
  ::unlink(path.c_str());
  *out = std::move(fd);
  return Status::OK();
}

// Copies file `e`'s bytes out of the store into a scratch file.
Status FetchFile(TreeFileReader& reader, const IndexEntry& e, const std::string& dir,
                 UniqueFd* out) {
  UniqueFd fd;
  CCFS_RETURN_IF_ERROR(ScratchFile(dir, &fd));
  uint64_t got = 0;
  CCFS_RETURN_IF_ERROR(reader
                           .Read(e, 0, e.size,
                                 [&](const char* data, size_t len) {
                                   while (len > 0) {
                                     ssize_t n = ::write(fd.get(), data, len);
                                     if (n < 0) {
                                       if (errno == EINTR) continue;
                                       return Status::FromErrno("compact: write", errno);
                                     }
                                     data += n;
                                     len -= static_cast<size_t>(n);
                                     got += static_cast<uint64_t>(n);
                                   }
                                   return Status::OK();
                                 })
                           .Annotate(e.path));
  if (got != e.size) {
    return Status::Corruption(e.path + ": read " + std::to_string(got) + " bytes of " +
                              std::to_string(e.size));
  }
  *out = std::move(fd);
  return Status::OK();
}

// Rewrites what `work` names and commits it on top of `current`.
Status RewriteAndCommit(ObjectStore& store, const std::string& workspace,
                        const CurrentRoot& current, const CompactOptions& options,
                        const WorkPlan& work, CompactReport* report) {
  TreeFileReader reader(store, workspace);
  CommitInput input;
  input.writer = options.writer;
  input.scratch_dir = options.scratch_dir;
  input.segment_entries = options.segment_entries;
  input.load_segment = options.load_segment;

  // A transcript's chunks become one chunk of the same bytes. Concatenating
  // the stored gzip members would also be valid gzip, but OpenChunk reads a
  // chunk as one member, and raw (adopted) chunks are not gzip at all.
  for (const IndexEntry& e : work.transcripts) {
    UniqueFd fd;
    CCFS_RETURN_IF_ERROR(FetchFile(reader, e, options.scratch_dir, &fd));
    report->bytes_read += e.size;
    NewChunk chunk;
    CCFS_RETURN_IF_ERROR(
        MakeChunk(fd.get(), 0, e.size, &chunk, ChunkStoredRaw(0, e.size)).Annotate(e.path));
    CCFS_RETURN_IF_ERROR(PutImmutable(store, ChunkKey(workspace, chunk.ref.name), chunk.stored));
    report->bytes_uploaded += chunk.stored.size();
    IndexEntry moved = e;
    moved.chunks = {chunk.ref};
    input.entries.push_back(std::move(moved));
  }

  // The live files of the chosen packs go into one new pack, with their
  // metadata as the index has it (BuildPack keeps it and fills in the
  // location).
  std::vector<UniqueFd> fds;
  fds.reserve(work.pack_files.size());
  for (const IndexEntry& e : work.pack_files) {
    fds.emplace_back();
    CCFS_RETURN_IF_ERROR(FetchFile(reader, e, options.scratch_dir, &fds.back()));
    report->bytes_read += e.size;
    PackFile f;
    f.entry = e;
    f.fd = fds.back().get();
    input.files.push_back(std::move(f));
  }

  CommitReport cr;
  Status s = CommitOnce(store, workspace, &current, input, &cr);
  report->bytes_uploaded += cr.bytes_uploaded;
  CCFS_RETURN_IF_ERROR(s);
  report->generation = cr.root.generation;
  report->commit = std::move(cr);
  return Status::OK();
}

}  // namespace

Status PlanCompaction(ObjectStore& store, const std::string& workspace, const CurrentRoot& current,
                      const CompactOptions& options, CompactPlan* plan) {
  WorkPlan work;
  CCFS_RETURN_IF_ERROR(MakePlan(store, workspace, current, options, &work));
  *plan = std::move(work.plan);
  return Status::OK();
}

bool CompactionMayHelp(const std::map<std::string, IndexEntry>& entries,
                       const CompactOptions& options, size_t min_packs) {
  std::set<std::string_view> packs;
  for (const auto& [path, e] : entries) {
    if (e.chunks.size() > options.max_chunks) return true;
    if (!e.pack.empty()) packs.insert(e.pack);
  }
  return packs.size() >= min_packs;
}

Status CompactOnto(ObjectStore& store, const std::string& workspace, const CurrentRoot& base,
                   const CompactOptions& options, CompactReport* report) {
  const int attempts = report->attempts;
  *report = CompactReport{};
  report->attempts = attempts + 1;
  if (options.scratch_dir.empty()) return Status::InvalidArgument("compact: no scratch dir");
  WorkPlan work;
  CCFS_RETURN_IF_ERROR(MakePlan(store, workspace, base, options, &work));
  report->plan = work.plan;
  if (work.plan.empty()) return Status::OK();
  return RewriteAndCommit(store, workspace, base, options, work, report)
      .Annotate("compacting generation " + std::to_string(base.root.generation));
}

Status Compact(ObjectStore& store, const std::string& workspace, const CompactOptions& options,
               CompactReport* report) {
  *report = CompactReport{};
  Status last = Status::OK();
  for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
    CurrentRoot current;
    CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, &current));
    // Another commit winning makes this PreconditionFailed: plan again from
    // the new root, so that only entries of the root committed against are
    // ever re-pointed.
    last = CompactOnto(store, workspace, current, options, report);
    if (!last.IsPreconditionFailed()) return last;
  }
  return last.Annotate("compaction lost the race " + std::to_string(report->attempts) + " times");
}

}  // namespace ccfs
