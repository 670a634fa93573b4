#include "fs/flush/flush_merge.h"

#include <fcntl.h>
#include <linux/fs.h>  // RENAME_NOREPLACE
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "fs/flush/merge.h"
#include "fs/hydrate/block_stream.h"
#include "fs/hydrate/remote_tree.h"
#include "fs/hydrate/remote_tree_v2.h"
#include "store/base/clock.h"
#include "store/base/unique_fd.h"
#include "store/layout/file_reader.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

constexpr uint64_t kMaxRequestBytes = 8ull << 20;

std::pair<std::string, std::string> SplitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Compares theirs, arriving in pieces at increasing offsets, with the
// prefix of our content file.
class PrefixComparer {
 public:
  explicit PrefixComparer(int fd) : fd_(fd) {}
  // False (and stays false) at the first byte that differs.
  bool Consume(uint64_t offset, const char* data, size_t len) {
    if (!same_) return false;
    buf_.resize(len);
    size_t got = 0;
    while (got < len) {
      ssize_t n = ::pread(fd_, buf_.data() + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    same_ = got == len && std::equal(buf_.begin(), buf_.end(), data);
    return same_;
  }
  bool same() const { return same_; }

 private:
  int fd_;
  bool same_ = true;
  std::string buf_;
};

// Whether `path` holds the same bytes and metadata in both layout-v2 trees,
// wherever each stores them (a compaction moves bytes without changing
// them). Large files are not compared: they count as changed.
Status SameBytesInBoth(const MergeContext& ctx, const V2Tree& base, const V2Tree& remote,
                       const std::string& path, bool* same) {
  *same = false;
  constexpr uint64_t kMaxCompared = 64ull << 20;
  auto b = base.entries.find(path);
  auto r = remote.entries.find(path);
  if (b == base.entries.end() || r == remote.entries.end()) return Status::OK();
  const IndexEntry& x = b->second;
  const IndexEntry& y = r->second;
  if (x.type != EntryType::kFile || y.type != EntryType::kFile || x.size != y.size ||
      x.mode != y.mode || x.mtime_ns != y.mtime_ns || x.size > kMaxCompared) {
    return Status::OK();
  }
  TreeFileReader reader(*ctx.store, ctx.workspace);
  std::string bytes[2];
  for (int i = 0; i < 2; ++i) {
    CCFS_RETURN_IF_ERROR(reader.Read(i == 0 ? x : y, 0, x.size, [&](const char* d, size_t n) {
      bytes[i].append(d, n);
      return Status::OK();
    }));
  }
  *same = bytes[0].size() == x.size && bytes[0] == bytes[1];
  return Status::OK();
}

// Whether theirs (`theirs`, of version `remote`) is ours or a prefix of it.
Status CompareContent(const MergeContext& ctx, const TarballVersion& remote,
                      const SnapshotEntry& ours, const NodeRecord& theirs, ContentRelation* rel) {
  *rel = ContentRelation::kDifferent;
  if (ctx.hydrator->EnsureLocal(ours.node.ino) != 0) {
    return Status::IOError("cannot read our version: " + ctx.hydrator->last_error());
  }
  std::string path = ctx.content->Path(ours.node.ino);
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return Status::FromErrno("open " + path, errno);
  UniqueFd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  uint64_t ours_size = static_cast<uint64_t>(st.st_size);
  if (theirs.size > ours_size) return Status::OK();
  PrefixComparer cmp(fd.get());
  if (theirs.size > 0 && remote.v2 != nullptr) {
    auto it = remote.v2->entries.find(theirs.origin_path);
    if (it == remote.v2->entries.end()) return Status::OK();  // cannot tell: keep both
    TreeFileReader reader(*ctx.store, ctx.workspace);
    uint64_t at = 0;
    Status s = reader.Read(it->second, 0, theirs.size, [&](const char* data, size_t len) {
      if (at + len > theirs.size || !cmp.Consume(at, data, len)) {
        return Status::Corruption("differs");  // stop reading: the answer is known
      }
      at += len;
      return Status::OK();
    });
    if (!cmp.same() || at != theirs.size) return Status::OK();
    CCFS_RETURN_IF_ERROR(s);
  } else if (theirs.size > 0 && theirs.origin_kind == OriginKind::kTranscript) {
    GetOptions opts;
    opts.if_match = theirs.origin_etag;
    uint64_t at = 0;
    Status s = ctx.store->Get(
        TranscriptKey(ctx.workspace, theirs.origin_path), opts,
        [&](const char* data, size_t len) {
          if (at + len > theirs.size || !cmp.Consume(at, data, len)) {
            return Status::Corruption("differs");  // stop reading: the answer is known
          }
          at += len;
          return Status::OK();
        },
        nullptr);
    if (!cmp.same() || at != theirs.size) return Status::OK();
    CCFS_RETURN_IF_ERROR(s);
  } else if (theirs.size > 0) {
    const TarEntry* e = remote.Find(theirs.origin_path);
    size_t first = 0, last = 0;
    if (!remote.seekable || e == nullptr || !BlocksOfMember(remote, *e, &first, &last)) {
      return Status::OK();  // cannot tell: keep both
    }
    const uint64_t lo = e->data_offset, hi = e->data_offset + e->size;
    Status s = StreamBlocks(
        *ctx.store, TarballKey(ctx.workspace), remote, first, last, kMaxRequestBytes,
        [&](const TarBlock& b, const std::string& raw_bytes, std::string_view) {
          uint64_t from = std::max(lo, b.raw_offset);
          uint64_t to = std::min(hi, b.raw_offset + b.raw_size);
          if (from < to &&
              !cmp.Consume(from - lo, raw_bytes.data() + (from - b.raw_offset), to - from)) {
            return Status::Corruption("differs");
          }
          return Status::OK();
        });
    if (!cmp.same()) return Status::OK();
    CCFS_RETURN_IF_ERROR(s);
  }
  *rel = theirs.size == ours_size ? ContentRelation::kSame : ContentRelation::kTheirsPrefixOfOurs;
  return Status::OK();
}

// Applies `plan` to the table; what the kernel must forget goes to `out`.
class PlanApplier {
 public:
  PlanApplier(const MergeContext& ctx, MergeOutcome* out) : ctx_(ctx), out_(out) {}

  Status Apply(const MergePlan& plan, const std::string& old_etag, const std::string& new_etag) {
    for (const MergePlan::Delete& d : plan.deletes) Delete(d);
    for (const MergePlan::Move& m : plan.moves) {
      CCFS_RETURN_IF_ERROR(MoveAside(m.path, m.to));
      if (moved_.count(m.path)) out_->conflicts.emplace_back(m.path, moved_[m.path]);
    }
    for (const MergePlan::Take& t : plan.takes) CCFS_RETURN_IF_ERROR(Take(t));
    for (uint64_t ino : plan.retarget) ctx_.table->Retarget(ino, old_etag, new_etag);
    return Status::OK();
  }

 private:
  void NoteEntry(const std::string& path) {
    auto [dir, name] = SplitPath(path);
    NodeInfo parent;
    if (ctx_.table->Resolve(dir, &parent) != 0) return;
    out_->invalidations.push_back({parent.ino, name, 0});
    out_->invalidations.push_back({0, "", parent.ino});  // its cached listing
  }

  void Delete(const MergePlan::Delete& d) {
    NodeInfo n;
    if (ctx_.table->Resolve(d.path, &n) != 0 || n.ino != d.ino || n.data_gen != d.seen_gen) {
      return;  // changed here meanwhile: kept (the flush writes it)
    }
    NoteEntry(d.path);
    std::vector<uint64_t> dropped;
    int err = ctx_.table->Remove(n.parent, n.name, d.is_dir, NowNs(), &dropped);
    if (err != 0) spdlog::info("merge: {} stays ({})", d.path, std::strerror(err));
    for (uint64_t ino : dropped) RemoveContent(ino);
  }

  // A content file left behind is only wasted space: the inode is gone, or
  // its state says the bytes come from the store, so nothing reads it.
  void RemoveContent(uint64_t ino) {
    Status s = ctx_.content->Remove(ino);
    if (!s.ok())
      spdlog::warn("merge: content of inode {} stays in the cache: {}", ino, s.ToString());
  }

  // Moves whatever is at `path` to `to` (or a free name beside it).
  Status MoveAside(const std::string& path, std::string to) {
    NodeInfo n, other;
    if (ctx_.table->Resolve(path, &n) != 0) return Status::OK();
    for (int i = 2; ctx_.table->Resolve(to, &other) == 0; ++i) {
      to = ConflictCopyPath(path, ctx_.host, ctx_.time) + "-" + std::to_string(i);
    }
    NoteEntry(path);
    std::vector<uint64_t> dropped;
    int err = ctx_.table->Rename(n.parent, n.name, n.parent, SplitPath(to).second, RENAME_NOREPLACE,
                                 NowNs(), &dropped);
    if (err != 0) return Status::FromErrno("moving " + path + " aside to " + to, err);
    NoteEntry(to);
    moved_[path] = to;
    return Status::OK();
  }

  Status Take(const MergePlan::Take& t) {
    if (t.ino != 0) {
      int err = ctx_.table->AdoptRemote(t.ino, t.seen_gen, t.theirs, t.keep_content);
      if (err == 0) {
        NodeInfo n;
        if (t.theirs.type == NodeType::kFile && ctx_.table->Get(t.ino, &n) == 0 &&
            n.state == ContentState::kRemote) {
          RemoveContent(t.ino);  // stale bytes: theirs is fetched on demand
        }
        out_->invalidations.push_back({0, "", t.ino});
        return Status::OK();
      }
      if (err != EAGAIN) return Status::FromErrno("taking the store's " + t.path, err);
      // Written while we merged: ours, so it becomes a conflict copy.
      CCFS_RETURN_IF_ERROR(MoveAside(t.path, ConflictCopyPath(t.path, ctx_.host, ctx_.time)));
      if (moved_.count(t.path)) out_->conflicts.emplace_back(t.path, moved_[t.path]);
    }
    NodeInfo added;
    int err = ctx_.table->InsertRemote(t.path, t.theirs, &added);
    if (err == EEXIST) {  // created here while we merged: ours too
      CCFS_RETURN_IF_ERROR(MoveAside(t.path, ConflictCopyPath(t.path, ctx_.host, ctx_.time)));
      if (moved_.count(t.path)) out_->conflicts.emplace_back(t.path, moved_[t.path]);
      err = ctx_.table->InsertRemote(t.path, t.theirs, &added);
    }
    if (err != 0) return Status::FromErrno("adding the store's " + t.path, err);
    // New names (and implied directories) under possibly cached negative entries.
    std::string p = t.path;
    for (;;) {
      NoteEntry(p);
      size_t slash = p.rfind('/');
      if (slash == std::string::npos) break;
      p = p.substr(0, slash);
    }
    return Status::OK();
  }

  const MergeContext& ctx_;
  MergeOutcome* out_;
  std::map<std::string, std::string> moved_;
};

// The store's layout-v2 root now, as a version (fs/hydrate/remote_tree_v2.h).
Status FetchRemoteV2(const MergeContext& ctx, const std::shared_ptr<const TarballVersion>& base,
                     std::shared_ptr<const TarballVersion>* tarball,
                     std::map<std::string, BaseTranscript>* transcripts) {
  CurrentRoot now;
  Status r = ReadRoot(*ctx.store, ctx.workspace, &now);
  if (r.IsNotFound()) {
    if (!base->v2->root.etag.empty()) {
      return Status::PreconditionFailed("the workspace's root was deleted from the store");
    }
    now = CurrentRoot{};
  } else {
    CCFS_RETURN_IF_ERROR(r.Annotate("reading the workspace root"));
  }
  if (now.etag == base->v2->root.etag) {
    *tarball = base;
    *transcripts = ctx.base->transcripts();
    return Status::OK();
  }
  std::shared_ptr<const V2Tree> tree;
  CCFS_RETURN_IF_ERROR(LoadV2Tree(*ctx.store, ctx.workspace, *ctx.cache, now, &tree));
  std::vector<BaseTranscript> files;
  *tarball = MakeV2Version(std::move(tree), &files);
  transcripts->clear();
  for (BaseTranscript& f : files) (*transcripts)[f.path] = std::move(f);
  return Status::OK();
}

// The store's version now; PreconditionFailed when it cannot be merged into.
Status FetchRemote(const MergeContext& ctx, std::shared_ptr<const TarballVersion>* tarball,
                   std::map<std::string, BaseTranscript>* transcripts) {
  auto base = ctx.base->tarball();
  if (base->v2 != nullptr) return FetchRemoteV2(ctx, base, tarball, transcripts);
  ObjectInfo head;
  CCFS_RETURN_IF_ERROR(HeadTarball(*ctx.store, ctx.workspace, &head));
  if (head.etag.empty() && !base->etag.empty()) {
    return Status::PreconditionFailed("the workspace's tarball was deleted from the store");
  }
  if (head.etag == base->etag) {
    *tarball = base;
  } else {
    ForeignContent foreign;
    CCFS_RETURN_IF_ERROR(
        LoadTarballVersion(*ctx.store, ctx.workspace, head, *ctx.cache, tarball, &foreign));
    for (const std::string& f : foreign.content_files) {
      if (!f.empty()) ::unlink(f.c_str());
    }
    if (!(*tarball)->seekable || !(*tarball)->complete) {
      return Status::PreconditionFailed(
          "the store's tarball was written by another tool (no ccfs index), so it cannot be "
          "merged into");
    }
  }
  std::vector<BaseTranscript> listed;
  CCFS_RETURN_IF_ERROR(ListTranscripts(*ctx.store, ctx.workspace, &listed));
  transcripts->clear();
  for (BaseTranscript& t : listed) (*transcripts)[t.path] = std::move(t);
  return Status::OK();
}

// The new version becomes the base, in memory and in the metadata DB.
Status InstallBase(const MergeContext& ctx, std::shared_ptr<const TarballVersion> tarball,
                   std::map<std::string, BaseTranscript> transcripts) {
  for (const auto& [path, t] : ctx.base->transcripts()) {
    if (!transcripts.count(path)) CCFS_RETURN_IF_ERROR(ctx.db->DeleteBaseTranscript(path));
  }
  for (const auto& [path, t] : transcripts) CCFS_RETURN_IF_ERROR(ctx.db->PutBaseTranscript(t));
  if (tarball->v2 != nullptr) {
    // A resumed mount finds this base by its tag, without the store.
    CCFS_RETURN_IF_ERROR(SaveCachedV2Root(*ctx.cache, tarball->v2->root));
  }
  CCFS_RETURN_IF_ERROR(ctx.db->SetValue("base_etag", tarball->etag));
  CCFS_RETURN_IF_ERROR(ctx.db->SetValue("base_size", std::to_string(tarball->size)));
  ctx.base->set_transcripts(std::move(transcripts));
  ctx.base->set_tarball(std::move(tarball));
  return Status::OK();
}

}  // namespace

std::string ConflictHostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "host";
  std::string host = buf;
  for (char& c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  return host;
}

std::string ConflictTimeNow() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

Status MergeWithRemote(const MergeContext& ctx, MergeOutcome* out) {
  *out = MergeOutcome{};
  std::shared_ptr<const TarballVersion> remote;
  std::map<std::string, BaseTranscript> remote_transcripts;
  CCFS_RETURN_IF_ERROR(FetchRemote(ctx, &remote, &remote_transcripts));
  out->remote_etag = remote->etag;
  auto base = ctx.base->tarball();
  auto base_transcripts = ctx.base->transcripts();

  CCFS_RETURN_IF_ERROR(ctx.table->PersistWrittenFiles());
  std::vector<SnapshotEntry> local;
  ctx.table->Snapshot(&local);
  MergeInputs in;
  in.base_tarball = base.get();
  in.base_transcripts = &base_transcripts;
  in.remote_tarball = remote.get();
  in.remote_transcripts = &remote_transcripts;
  in.local = &local;
  in.host = ctx.host;
  in.time = ctx.time;
  if (base->v2 != nullptr && remote->v2 != nullptr) {
    in.theirs_same_as_base = [&](const std::string& path, bool* same) {
      return SameBytesInBoth(ctx, *base->v2, *remote->v2, path, same);
    };
  }
  MergePlan plan;
  CCFS_RETURN_IF_ERROR(PlanMerge(
      in,
      [&](const SnapshotEntry& ours, const NodeRecord& theirs, ContentRelation* rel) {
        return CompareContent(ctx, *remote, ours, theirs, rel);
      },
      &plan));
  // Bytes only the old version held come down before it stops being the base.
  for (uint64_t ino : plan.hydrate_first) {
    if (ctx.hydrator->EnsureLocal(ino) != 0) {
      return Status::IOError(
          "merging with the store's new version needs a file this mount never downloaded, and "
          "the version it belongs to is gone (" +
          ctx.hydrator->last_error() +
          "); copy out what you need and remount with --discard-local");
    }
  }
  // A tail-only file (NodeRecord::local_from) reads its earlier bytes from
  // its origin in the base: one whose origin the new version does not hold
  // as it is (changed, moved or removed there) is completed now, while the
  // old version is still the base.
  for (const SnapshotEntry& e : local) {
    const NodeInfo& n = e.node;
    if (n.type != NodeType::kFile || n.local_from == 0) continue;
    bool origin_stays = false;
    if (remote->v2 != nullptr && n.origin_kind == OriginKind::kTranscript) {
      auto it = remote->v2->entries.find(n.origin_path);
      origin_stays = it != remote->v2->entries.end() && V2FileTag(it->second) == n.origin_etag;
    }
    if (!origin_stays && ctx.hydrator->EnsureLocal(n.ino) != 0) {
      NodeInfo now;
      if (ctx.table->Get(n.ino, &now) == ENOENT) continue;  // removed meanwhile
      return Status::IOError("merging with the store's new version needs the earlier bytes of " +
                             e.path +
                             ", appended to here without them, and they could not be "
                             "downloaded (" +
                             ctx.hydrator->last_error() + "); the local changes are kept");
    }
  }
  PlanApplier applier(ctx, out);
  CCFS_RETURN_IF_ERROR(applier.Apply(plan, base->etag, remote->etag));
  CCFS_RETURN_IF_ERROR(InstallBase(ctx, remote, std::move(remote_transcripts)));
  out->taken = std::move(plan.taken);
  out->applied = std::move(plan.applied);
  spdlog::info("merged with {}: {} taken, {} kept, {} conflicts", remote->etag, out->taken.size(),
               out->applied.size(), out->conflicts.size());
  return Status::OK();
}

}  // namespace ccfs
