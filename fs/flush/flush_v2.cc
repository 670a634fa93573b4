// Flusher::FlushV2: a flush onto a layout-v2 base (docs/layout-v2-plan.md).
//
// The snapshot is diffed against the base tree entry by entry: a file whose
// origin is still the base entry at its path (same tag, not written) is left
// alone, so the commit carries only what this mount changed:
//   - .jsonl files changed only at or past their stored size (appends, as
//     Claude Code writes transcripts and history) get one chunk of the new
//     bytes; any other change to one is a single fresh chunk of the file;
//   - other changed files go into one new pack, from settled copies;
//   - metadata-only changes, directories, symlinks and empty files are
//     entries; paths the tree lost are removed.
// CommitOnce uploads those and swaps the root If-Match the base's. A 412
// returns PreconditionFailed: Flush merges with the root that won and calls
// this again (uploads are content-named, so a retry finds them in place).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "fs/flush/flush_plan.h"
#include "fs/flush/flusher.h"
#include "fs/hydrate/remote_tree_v2.h"
#include "fs/tree/settled_copy.h"
#include "store/archive/tar_sanitize.h"
#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/file_reader.h"

namespace ccfs {

namespace {

int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

// A transcript of more chunks than this is rewritten as one chunk, so a
// long-lived session does not read hundreds of small objects.
constexpr size_t kMaxChunksPerFile = 64;

// How far below its stored size a transcript's writes may start and still
// be compared with the store's bytes (one ranged read) to tell an append
// from a rewrite.
constexpr uint64_t kMaxRecheckBytes = 1ull << 20;

// Whether file node `n` at `path` still holds the bytes of base entry `b`.
bool SameBytesAsBase(const NodeInfo& n, const std::string& path, const IndexEntry* b) {
  return b != nullptr && b->type == EntryType::kFile && n.state != ContentState::kDirty &&
         n.origin_kind == OriginKind::kTranscript && n.origin_path == path &&
         n.origin_etag == V2FileTag(*b) && n.size == b->size;
}

// One file whose bytes go up: a settled copy held open until the commit.
struct Upload {
  std::string path;
  uint64_t ino = 0;
  uint64_t data_gen = 0;  // of the copy: a write since keeps the file dirty
  std::unique_ptr<SettledCopy> copy;
  UniqueFd fd;
};

}  // namespace

Status Flusher::SameAsStored(const IndexEntry& b, uint64_t from, int fd, bool* same) {
  *same = false;
  TreeFileReader reader(*store_, workspace_);
  uint64_t at = from;
  bool differs = false;
  std::string buf;
  Status s = reader.Read(b, from, b.size - from, [&](const char* data, size_t len) {
    buf.resize(len);
    size_t got = 0;
    while (got < len) {
      ssize_t r = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(at + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    if (got != len || std::memcmp(buf.data(), data, len) != 0) {
      differs = true;
      return Status::Corruption("differs");  // stops the read: the answer is known
    }
    at += len;
    return Status::OK();
  });
  if (differs) return Status::OK();
  CCFS_RETURN_IF_ERROR(s);
  *same = at == b.size;
  return Status::OK();
}

Status Flusher::FlushV2(const FlushOptions& options, Plan* plan, FlushReport* report) {
  std::shared_ptr<const V2Tree> against = plan->base->v2;
  if (options.force) {
    // Ours over whatever the store has now: diff against that root instead.
    CurrentRoot now;
    Status r = ReadRoot(*store_, workspace_, &now);
    if (r.ok() && now.etag != against->root.etag) {
      CCFS_RETURN_IF_ERROR(LoadV2Tree(*store_, workspace_, *cache_, now, &against));
    } else if (r.IsNotFound() && !against->root.etag.empty()) {
      against = std::make_shared<const V2Tree>();
    } else if (!r.ok() && !r.IsNotFound()) {
      return r.Annotate("reading the workspace root");
    }
  }
  const bool creating = against->root.etag.empty();

  CommitInput input;
  std::vector<std::unique_ptr<Upload>> uploads;
  std::set<std::string> live;
  for (const SnapshotEntry& e : plan->snapshot) {
    const NodeInfo& n = e.node;
    std::string why;
    if (n.type == NodeType::kSymlink && !SymlinkTargetStaysInside(e.path, n.link_target, &why)) {
      continue;  // never stored; MakePlan named it in report->skipped
    }
    // Directories only files imply are not entries of their own.
    if (n.type == NodeType::kDir && n.implicit) continue;
    live.insert(e.path);
    auto found = against->entries.find(e.path);
    const IndexEntry* b = found == against->entries.end() ? nullptr : &found->second;
    IndexEntry entry;
    entry.path = e.path;
    entry.mode = SanitizeMode(n.mode);
    entry.mtime_ns = n.mtime_ns;
    switch (n.type) {
      case NodeType::kDir:
        if (b == nullptr || b->type != EntryType::kDir || b->mode != entry.mode) {
          entry.type = EntryType::kDir;
          input.entries.push_back(std::move(entry));
        }
        continue;
      case NodeType::kSymlink:
        if (b == nullptr || b->type != EntryType::kSymlink || b->mode != entry.mode ||
            b->link_target != n.link_target) {
          entry.type = EntryType::kSymlink;
          entry.link_target = n.link_target;
          input.entries.push_back(std::move(entry));
        }
        continue;
      case NodeType::kFifo:
      case NodeType::kSocket:
        continue;  // never stored (Snapshot leaves them out)
      case NodeType::kFile:
        break;
    }
    if (SameBytesAsBase(n, e.path, b)) {
      if (b->mode != entry.mode || Seconds(b->mtime_ns) != Seconds(n.mtime_ns)) {
        IndexEntry meta = *b;  // same bytes where they are; new mode or mtime
        meta.mode = entry.mode;
        meta.mtime_ns = n.mtime_ns;
        input.entries.push_back(std::move(meta));
      }
      continue;
    }
    // The bytes changed: a settled copy of them, local first. A transcript
    // that may only have grown since its base entry (the same object, not
    // written below its stored size) becomes one chunk of the new bytes; a
    // tail-only one (NodeRecord::local_from) then needs none of the bytes
    // below its watermark, so it is copied as it is, holes and all, and only
    // [base size, size) of the copy is read.
    const bool append_candidate =
        StoredAsChunks(e.path) && b != nullptr && b->type == EntryType::kFile && b->pack.empty() &&
        b->chunks.size() < kMaxChunksPerFile && n.origin_kind == OriginKind::kTranscript &&
        n.origin_path == e.path && n.origin_etag == V2FileTag(*b);
    bool tail_only = append_candidate && n.local_from != 0 && n.low_change >= n.local_from;
    auto up = std::make_unique<Upload>();
    up->path = e.path;
    up->ino = n.ino;
    bool skip = false, grew = false;
    uint64_t size = 0;
    for (;;) {
      int err =
          tail_only ? hydrator_->EnsureFrom(n.ino, n.local_from) : hydrator_->EnsureLocal(n.ino);
      if (err == ENOENT) {
        // Removed since the snapshot: its removal is the next flush's change.
        skip = true;
        break;
      } else if (err != 0) {
        std::string cause = hydrator_->last_error();
        return Status::IOError("cannot read " + e.path +
                               " to flush it: " + (cause.empty() ? std::strerror(err) : cause))
            .WithErrno(err);
      }
      up->fd = UniqueFd();
      up->copy = std::make_unique<SettledCopy>();
      Status copied = CopySettled(*table_, *content_, n.ino, up->copy.get(),
                                  {.max_in_memory = 0, .allow_tail_only = tail_only})
                          .Annotate("copying " + e.path + " to flush it");
      if (copied.sys_errno() == ENOSPC) return NoSpaceForPack(*plan, copied);
      CCFS_RETURN_IF_ERROR(copied);
      if (up->copy->gone) {
        skip = true;
        break;
      }
      int fd = ::open(up->copy->temp_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno("open " + up->copy->temp_path, errno);
      up->fd = UniqueFd(fd);
      struct stat st {};
      if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + up->copy->temp_path, errno);
      size = static_cast<uint64_t>(st.st_size);
      const NodeInfo& c = up->copy->node;
      grew = false;
      if (append_candidate && size >= b->size) {
        uint64_t low = c.low_change;
        if (low < b->size && b->size - low <= kMaxRecheckBytes && low >= c.local_from) {
          // Written below the stored size, but perhaps with the bytes that
          // were there (the kernel writes whole pages back; after a restart
          // a tail-only file counts as changed from its watermark): compare
          // that stretch with the store's.
          bool same = false;
          CCFS_RETURN_IF_ERROR(SameAsStored(*b, low, up->fd.get(), &same)
                                   .Annotate("comparing " + e.path + " with the store's"));
          if (same) low = b->size;
        }
        grew = low >= b->size;
      }
      if (grew || c.local_from == 0) break;
      // Not an append after all: the whole file goes up, so it is completed
      // and copied again.
      if (!tail_only) {
        return Status::IOError("copying " + e.path + ": still partly local after completing it");
      }
      tail_only = false;
    }
    if (skip) {
      if (b == nullptr) live.erase(e.path);
      continue;
    }
    up->data_gen = up->copy->node.data_gen;
    const int fd = up->fd.get();
    entry.mtime_ns = up->copy->node.mtime_ns;
    if (StoredAsChunks(e.path)) {
      TranscriptAppend a;
      if (grew) {
        a.base = *b;
      } else {
        // New, rewritten, or in too many pieces: the whole file, one chunk.
        a.base.path = e.path;
        a.base.type = EntryType::kFile;
      }
      a.fd = fd;
      a.new_size = size;
      a.mtime_ns = entry.mtime_ns;
      a.mode = entry.mode;
      input.appends.push_back(std::move(a));
    } else if (size == 0) {
      entry.type = EntryType::kFile;
      input.entries.push_back(std::move(entry));
    } else {
      entry.type = EntryType::kFile;
      input.files.push_back(PackFile{std::move(entry), fd});
    }
    uploads.push_back(std::move(up));
  }
  for (const auto& [path, b] : against->entries) {
    if (!live.count(path)) input.removed.push_back(path);
  }

  const bool changed = !input.files.empty() || !input.appends.empty() || !input.entries.empty() ||
                       !input.removed.empty();
  // A workspace that does not exist yet is created by its first flush, even
  // with an empty tree, so that it exists from then on.
  const bool create_empty = creating && !(plan->snapshot.empty() && !table_->has_changes());
  report->nothing_to_flush = !changed && !create_empty && !options.force;
  if (report->nothing_to_flush) return Status::OK();
  if (!changed && !creating) return Status::OK();  // --force onto the same tree

  hydrator_->StopBackground();
  input.writer = RootWriter{ConflictHostName(), static_cast<int64_t>(::getpid()), ""};
  input.scratch_dir = cache_->TmpDir();
  input.load_segment = [&](const SegmentRef& ref, IndexSegment* out) {
    return LoadV2Segment(*store_, workspace_, *cache_, ref, out);
  };
  CommitReport cr;
  Status s = CommitOnce(*store_, workspace_, creating ? nullptr : &against->root, input, &cr);
  if (s.IsPreconditionFailed()) {
    return Conflict("another commit replaced the workspace root (now generation " +
                        std::to_string(cr.root.generation) + ")",
                    V2VersionTag(cr.etag), report);
  }
  if (s.sys_errno() == ENOSPC) return NoSpaceForPack(*plan, s);
  CCFS_RETURN_IF_ERROR(s.Annotate("committing to the store"));

  // The committed tree becomes the base: the base's entries with this
  // commit's changes, without reading anything back.
  auto tree = std::make_shared<V2Tree>(*against);
  tree->root = CurrentRoot{cr.root, cr.etag};
  for (const std::string& p : input.removed) tree->entries.erase(p);
  for (IndexEntry& e : cr.changed) {
    std::string path = e.path;
    tree->entries[path] = std::move(e);
  }
  for (const auto& [name, bytes] : cr.written_segments) {
    IgnoreError(SaveV2Segment(*cache_, name, bytes), "a later mount fetches it instead");
  }
  CCFS_RETURN_IF_ERROR(SaveCachedV2Root(*cache_, tree->root).Annotate("caching the new root"));
  std::vector<BaseTranscript> files;
  std::shared_ptr<const TarballVersion> version = MakeV2Version(tree, &files);

  // meta.db first (a crash after this leaves the new base recorded), then
  // memory; only entries that changed are written.
  std::map<std::string, BaseTranscript> old_files = base_->transcripts(), new_files;
  for (BaseTranscript& f : files) new_files.emplace(f.path, std::move(f));
  for (const auto& [path, f] : old_files) {
    if (!new_files.count(path)) CCFS_RETURN_IF_ERROR(db_->DeleteBaseTranscript(path));
  }
  for (const auto& [path, f] : new_files) {
    auto old = old_files.find(path);
    if (old == old_files.end() || old->second.etag != f.etag || old->second.mode != f.mode ||
        old->second.mtime != f.mtime) {
      CCFS_RETURN_IF_ERROR(db_->PutBaseTranscript(f));
    }
  }
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_etag", version->etag));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_size", "0"));
  base_->set_transcripts(std::move(new_files));
  base_->set_tarball(version);
  for (const auto& up : uploads) {
    auto it = tree->entries.find(up->path);
    if (it == tree->entries.end()) continue;
    table_->NoteFlushed(up->ino, up->data_gen, OriginKind::kTranscript, up->path,
                        V2FileTag(it->second));
  }
  report->tarball_written = true;
  report->tarball_entries = tree->entries.size();
  report->entries_rewritten = input.files.size();
  report->transcripts_uploaded = input.appends.size();
  report->generation = cr.root.generation;
  spdlog::info(
      "flush: generation {} ({} files packed, {} appended, {} entries, {} removed, {} B up)",
      cr.root.generation, input.files.size(), input.appends.size(), input.entries.size(),
      input.removed.size(), cr.bytes_uploaded);
  return Status::OK();
}

}  // namespace ccfs
