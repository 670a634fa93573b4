#include "fs/flush/flusher.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>

#include "fs/flush/flush_plan.h"
#include "fs/flush/tarball_compose.h"
#include "fs/flush/tarball_repack.h"
#include "fs/hydrate/remote_tree.h"
#include "fs/tree/settled_copy.h"
#include "store/archive/tar_sanitize.h"
#include "store/base/parallel.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

bool IsUnchangedTranscript(const SnapshotEntry& e,
                           const std::map<std::string, BaseTranscript>& base) {
  const NodeInfo& n = e.node;
  if (n.state == ContentState::kDirty || n.origin_kind != OriginKind::kTranscript ||
      n.origin_path != e.path) {
    return false;
  }
  auto it = base.find(e.path);
  return it != base.end() && it->second.etag == n.origin_etag;
}

}  // namespace

Status Flusher::Conflict(const std::string& what, const std::string& remote_etag,
                         FlushReport* report) {
  report->remote_etag = remote_etag;
  return Status::PreconditionFailed(
      "conflict: workspace '" + workspace_ + "' changed in the store since this mount's base (" +
      what +
      ") and could not be merged with. Nothing was lost: every local change stays in "
      "the cache " +
      cache_->root() +
      ". To try again: `ccfs flush MOUNTPOINT`. To keep your version over the store's: "
      "`ccfs flush --force MOUNTPOINT` while mounted (after an unmount, mount again with the "
      "same cache first: the local state resumes). To drop it: `ccfs mount --discard-local " +
      workspace_ + " MOUNTPOINT`.");
}

Status Flusher::Merge(const std::string& host, const std::string& time, FlushReport* report) {
  MergeContext ctx{store_, workspace_, cache_, db_, table_, content_, hydrator_, base_, host, time};
  MergeOutcome out;
  Status s = MergeWithRemote(ctx, &out);
  if (invalidator_ && !out.invalidations.empty()) invalidator_(out.invalidations);
  CCFS_RETURN_IF_ERROR(s);
  ++report->merge_rounds;
  auto note = [&](const std::string& path, bool from_remote) {
    for (const auto& m : report->merged) {
      if (m.path == path && m.from_remote == from_remote) return;
    }
    report->merged.push_back({path, from_remote});
  };
  for (const std::string& p : out.taken) note(p, true);
  for (const std::string& p : out.applied) note(p, false);
  for (auto& [path, copy] : out.conflicts) report->conflicts.push_back({path, copy});
  return Status::OK();
}

Status Flusher::Flush(const FlushOptions& options, FlushReport* report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto start = std::chrono::steady_clock::now();
  *report = FlushReport{};
  uint64_t sent_before = store_->stats().bytes_sent.load();
  const std::string host = ConflictHostName(), time = ConflictTimeNow();
  std::string started_from;
  Plan plan;
  Status s;
  for (int round = 0;; ++round) {
    plan = Plan{};
    report->skipped.clear();
    s = MakePlan(options, &plan, report);
    if (round == 0) started_from = report->base_etag;
    if (s.ok() && plan.base->v2 != nullptr) {
      s = FlushV2(options, &plan, report);
    } else if (s.ok() && !report->nothing_to_flush) {
      // The background stream reads the base this flush replaces.
      hydrator_->StopBackground();
      s = Precheck(options, &plan, report);
      if (s.ok()) s = UploadTranscripts(options, &plan, report);
      if (s.ok() && plan.modes_changed) s = WriteModes(&plan);
      if (s.ok() && plan.tarball_changed) s = WriteTarball(&plan, report);
      if (s.ok()) s = DeleteTranscripts(options, &plan, report);
    }
    if (!s.IsPreconditionFailed() || options.force || round == kMaxMergeRounds) break;
    // The store moved on: merge with its version, then write onto that.
    Status merged = Merge(host, time, report);
    if (!merged.ok()) {
      s = merged.IsPreconditionFailed() ? Conflict(merged.message(), report->remote_etag, report)
                                        : merged.Annotate("merging with the store's version");
      break;
    }
  }
  report->base_etag = started_from;
  if (s.ok() && table_->MarkCleanIf(plan.change_count)) report->clean_after = true;
  report->new_etag = base_->tarball()->etag;
  report->bytes_uploaded = store_->stats().bytes_sent.load() - sent_before;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Never on a FUSE thread: Flush runs on the flusher, control and exit paths.
  if (s.ok() && report->generation != 0) CompactAfterFlush(host, time);
  return s;  // callers report it (CLI, control reply, daemon log)
}

Status Flusher::MakePlan(const FlushOptions& options, Plan* plan, FlushReport* report) {
  CCFS_RETURN_IF_ERROR(table_->PersistWrittenFiles());
  plan->change_count = table_->change_count();
  table_->Snapshot(&plan->snapshot);
  plan->base = base_->tarball();
  plan->base_transcripts = base_->transcripts();
  report->base_etag = plan->base->etag;
  plan->if_match = plan->base->etag;

  std::set<std::string> live;
  for (const SnapshotEntry& e : plan->snapshot) {
    std::string why;
    if (e.node.type == NodeType::kSymlink &&
        !SymlinkTargetStaysInside(e.path, e.node.link_target, &why)) {
      // Never stored (absolute or escaping): it stays in this mount only.
      report->skipped.push_back(e.path + " (symlink: " + why + ")");
      continue;
    }
    if (OnTarballSide(e)) plan->tarball_side.push_back(&e);
    if (e.node.type != NodeType::kFile || !IsTranscriptPath(e.path)) continue;
    live.insert(e.path);
    if (SanitizeMode(e.node.mode) != kDefaultTranscriptMode) {
      plan->modes[e.path] = SanitizeMode(e.node.mode);
    }
    if (!IsUnchangedTranscript(e, plan->base_transcripts)) plan->uploads.push_back(&e);
  }
  for (const auto& [path, t] : plan->base_transcripts) {
    if (!live.count(path)) plan->deletes.push_back(path);
    if (t.mode != kDefaultTranscriptMode) plan->base_modes[path] = t.mode;
  }
  plan->modes_changed = plan->modes != plan->base_modes;
  // A workspace that does not exist yet is created by its first flush, even
  // with an empty tree, so that it exists from then on.
  plan->tarball_changed =
      !SameAsBase(plan->tarball_side, *plan->base) &&
      !(plan->base->etag.empty() && plan->snapshot.empty() && !table_->has_changes());
  report->nothing_to_flush = plan->uploads.empty() && plan->deletes.empty() &&
                             !plan->tarball_changed && !plan->modes_changed && !options.force;
  return Status::OK();
}

Status Flusher::Precheck(const FlushOptions& options, Plan* plan, FlushReport* report) {
  ObjectInfo head;
  CCFS_RETURN_IF_ERROR(HeadTarball(*store_, workspace_, &head));
  if (options.force) {
    // Replace whatever is there now (still conditional on that version).
    if (head.etag != plan->base->etag) plan->tarball_changed = true;
    plan->if_match = head.etag;
    return Status::OK();
  }
  if (head.etag != plan->base->etag) {
    return Conflict("base ETag " + (plan->base->etag.empty() ? "<none>" : plan->base->etag) +
                        ", the store has " + (head.etag.empty() ? "<none>" : head.etag),
                    head.etag, report);
  }
  // Deleting is unconditional on S3: make sure nobody appended meanwhile.
  for (const std::string& path : plan->deletes) {
    ObjectInfo info;
    Status s = store_->Head(TranscriptKey(workspace_, path), &info);
    if (s.IsNotFound()) continue;
    CCFS_RETURN_IF_ERROR(s);
    if (info.etag != plan->base_transcripts[path].etag) {
      return Conflict("transcript " + path + " was changed there and deleted here", head.etag,
                      report);
    }
  }
  return Status::OK();
}

Status Flusher::UploadTranscripts(const FlushOptions& options, Plan* plan, FlushReport* report) {
  std::atomic<size_t> uploaded{0};
  std::mutex conflict_mu;
  std::string conflict_path;
  Status s = ParallelFor(plan->uploads.size(), options.parallel_uploads, [&](size_t i) -> Status {
    const SnapshotEntry& e = *plan->uploads[i];
    // A transcript removed since the snapshot is not uploaded: its removal
    // is a change of its own, written by the next flush.
    if (int err = hydrator_->EnsureLocal(e.node.ino); err == ENOENT) {
      return Status::OK();
    } else if (err != 0) {
      std::string why = hydrator_->last_error();
      return Status::IOError("cannot read " + e.path +
                             " to upload it: " + (why.empty() ? std::strerror(err) : why))
          .WithErrno(err);
    }
    // A copy no write tore (the session may be appending right now).
    SettledCopy copy;
    Status st = CopySettled(*table_, *content_, e.node.ino, &copy, {.max_in_memory = 0});
    if (st.ok() && copy.gone) return Status::OK();  // removed since the snapshot: likewise
    CCFS_RETURN_IF_ERROR(st.Annotate("copying " + e.path + " to upload it"));
    struct stat sb {};
    if (::stat(copy.temp_path.c_str(), &sb) != 0) {
      return Status::FromErrno("stat " + copy.temp_path, errno);
    }
    PutOptions put;
    auto base = plan->base_transcripts.find(e.path);
    if (options.force) {
      // unconditional
    } else if (base != plan->base_transcripts.end()) {
      put.if_match = base->second.etag;
    } else {
      put.if_none_match_any = true;
    }
    put.content_type = "application/x-ndjson";
    ObjectInfo info;
    st = store_->PutFile(TranscriptKey(workspace_, e.path), copy.temp_path, put, &info);
    if (st.IsPreconditionFailed()) {
      std::lock_guard<std::mutex> lock(conflict_mu);
      conflict_path = e.path;
      return st;
    }
    CCFS_RETURN_IF_ERROR(st.Annotate("uploading " + e.path));
    BaseTranscript t{e.path, info.etag, static_cast<uint64_t>(sb.st_size),
                     copy.node.mtime_ns / 1000000000, TranscriptMode(plan->base_modes, e.path)};
    base_->PutTranscript(t);
    CCFS_RETURN_IF_ERROR(db_->PutBaseTranscript(t));
    // The uploaded bytes are the file as of the copy's data_gen.
    table_->NoteFlushed(e.node.ino, copy.node.data_gen, OriginKind::kTranscript, e.path, info.etag);
    ++uploaded;
    return Status::OK();
  });
  report->transcripts_uploaded += uploaded;
  if (s.IsPreconditionFailed()) {
    return Conflict("transcript " + conflict_path + " was changed there too", plan->base->etag,
                    report);
  }
  return s;
}

Status Flusher::ComposeTarball(Plan* plan, bool allow_copy, const std::string& out, TarIndex* index,
                               FlushReport* report) {
  ComposePlan compose = PlanCompose(plan->tarball_side, *plan->base, allow_copy);
  // Entries packed anew need their bytes here; copied runs do not. One
  // removed since the snapshot (ENOENT) is left out: its removal is a change
  // of its own, written by the next flush.
  for (const ComposePlan::Segment& seg : compose.segments) {
    if (seg.copy) continue;
    for (size_t i = seg.side_begin; i < seg.side_end; ++i) {
      const SnapshotEntry* e = plan->tarball_side[i];
      if (e->node.type != NodeType::kFile) continue;
      int err = hydrator_->EnsureLocal(e->node.ino);
      if (err != 0 && err != ENOENT) {
        std::string why = hydrator_->last_error();
        return Status::IOError("cannot read " + e->path +
                               " to pack it: " + (why.empty() ? std::strerror(err) : why))
            .WithErrno(err);
      }
    }
  }
  ComposeStats stats;
  Status s = WriteComposed(compose, plan->tarball_side, *plan->base, *store_,
                           TarballKey(workspace_), blocks_, *table_, *content_, out, index, &stats);
  report->blocks_copied = stats.blocks_copied;
  report->bytes_copied = stats.bytes_copied;
  report->entries_rewritten = stats.entries_written;
  return s;
}

Status Flusher::NoSpaceInCache(const std::string& what, uint64_t need, const Status& why) const {
  struct statvfs st {};
  const uint64_t avail =
      ::statvfs(cache_->root().c_str(), &st) == 0 ? uint64_t{st.f_bavail} * st.f_frsize : 0;
  auto mib = [](uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; };
  return Status::IOError("the cache filesystem of " + cache_->root() + " is full: this flush " +
                         what + " there and needs about " + mib(need) + " free (" + mib(avail) +
                         " are); free space there (or remount with --cache on a larger "
                         "filesystem) and run the flush again: the changes are kept (" +
                         why.message() + ")")
      .WithErrno(ENOSPC);
}

Status Flusher::NoSpaceForTarball(const Plan& plan, const Status& why) const {
  // The new tarball is built whole in the cache before its PUT: about the
  // size of the current one plus what changed.
  uint64_t changed = 0;
  for (const SnapshotEntry* e : plan.tarball_side) {
    if (e->node.type == NodeType::kFile && e->node.state == ContentState::kDirty) {
      changed += e->node.size;
    }
  }
  return NoSpaceInCache("builds the new tarball", plan.base->size + changed, why);
}

Status Flusher::NoSpaceForPack(const Plan& plan, const Status& why) const {
  uint64_t changed = 0;
  for (const SnapshotEntry& e : plan.snapshot) {
    if (e.node.type == NodeType::kFile && e.node.state == ContentState::kDirty) {
      changed += e.node.size;
    }
  }
  return NoSpaceInCache("copies the changed files and packs them", 2 * changed, why);
}

Status Flusher::WriteTarball(Plan* plan, FlushReport* report) {
  std::string out = content_->TempPath("tarball");
  TarIndex index;
  Status s = ComposeTarball(plan, /*allow_copy=*/true, out, &index, report);
  if (s.sys_errno() == ENOSPC) {
    ::unlink(out.c_str());
    return NoSpaceForTarball(*plan, s);
  }
  if (s.IsPreconditionFailed()) {
    ObjectInfo head;
    if (HeadTarball(*store_, workspace_, &head).ok() && head.etag != plan->if_match) {
      ::unlink(out.c_str());  // replaced meanwhile: merge with it instead
      return Conflict("the tarball was replaced while the flush read it", head.etag, report);
    }
    // The base is gone from the store (a forced flush over a newer version)
    // and its blocks are not all cached: pack everything from local content.
    s = ComposeTarball(plan, /*allow_copy=*/false, out, &index, report);
    if (!s.ok()) {
      ::unlink(out.c_str());
      return Status::IOError(
          "some files of this mount were never downloaded, and the tarball version they belong "
          "to (" +
          plan->base->etag +
          ") is no longer in the store, so this version cannot be "
          "written whole (" +
          s.ToString() +
          "); copy out what you need and remount with "
          "--discard-local");
    }
  }
  PutOptions put;
  if (plan->if_match.empty()) {
    put.if_none_match_any = true;
  } else {
    put.if_match = plan->if_match;
  }
  put.content_type = "application/gzip";
  ObjectInfo info;
  struct stat sb {};
  if (s.ok() && ::stat(out.c_str(), &sb) != 0) s = Status::FromErrno("stat " + out, errno);
  if (s.ok()) s = store_->PutFile(TarballKey(workspace_), out, put, &info);
  if (!s.ok()) ::unlink(out.c_str());
  if (s.IsPreconditionFailed()) {
    ObjectInfo head;
    // Only names the version that won in the report: the conflict stands
    // either way, and an empty ETag reads as "unknown".
    IgnoreError(HeadTarball(*store_, workspace_, &head), "names the winner in the report only");
    return Conflict("the tarball PUT was refused", head.etag, report);
  }
  CCFS_RETURN_IF_ERROR(s.Annotate("uploading the tarball"));
  report->tarball_written = true;
  report->tarball_bytes = static_cast<uint64_t>(sb.st_size);
  report->tarball_entries = index.entries.size();

  auto version =
      TarballVersion::Make(info.etag, static_cast<uint64_t>(sb.st_size), true, std::move(index));
  Status cached = SaveCachedIndex(*cache_, *version);
  if (!cached.ok()) spdlog::warn("caching the new index: {}", cached.ToString());
  // The bytes just uploaded are the new base's blocks: the next flush copies
  // from them without a download.
  cached = blocks_ != nullptr ? blocks_->Adopt(*version, out) : Status::NotSupported("no cache");
  if (!cached.ok()) ::unlink(out.c_str());
  base_->set_tarball(version);
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_etag", info.etag));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_size", std::to_string(sb.st_size)));
  for (const SnapshotEntry* e : plan->tarball_side) {
    if (version->Find(e->path) == nullptr) continue;  // skipped symlink
    table_->NoteFlushed(e->node.ino, e->node.data_gen, OriginKind::kTarball, e->path, info.etag);
  }
  return Status::OK();
}

Status Flusher::WriteModes(Plan* plan) {
  TranscriptModes theirs;
  Status s = ReadTranscriptModes(*store_, workspace_, &theirs);
  if (s.IsCorruption()) {
    spdlog::warn("{}: writing it anew", s.ToString());
  } else {
    CCFS_RETURN_IF_ERROR(s);
  }
  // Another writer's mode changes (of paths not changed here) stay.
  TranscriptModes merged = MergeTranscriptModes(plan->base_modes, plan->modes, theirs);
  if (merged != theirs || s.IsCorruption()) {
    CCFS_RETURN_IF_ERROR(WriteTranscriptModes(*store_, workspace_, merged));
  }
  // The base now has this tree's modes, so they count as unchanged here.
  for (auto [path, t] : base_->transcripts()) {
    const uint32_t mode = TranscriptMode(plan->modes, path);
    if (t.mode == mode) continue;
    t.mode = mode;
    base_->PutTranscript(t);
    CCFS_RETURN_IF_ERROR(db_->PutBaseTranscript(t));
  }
  plan->base_modes = plan->modes;
  return Status::OK();
}

Status Flusher::DeleteTranscripts(const FlushOptions&, Plan* plan, FlushReport* report) {
  for (const std::string& path : plan->deletes) {
    CCFS_RETURN_IF_ERROR(
        store_->Delete(TranscriptKey(workspace_, path)).Annotate("deleting " + path));
    base_->EraseTranscript(path);
    CCFS_RETURN_IF_ERROR(db_->DeleteBaseTranscript(path));
    ++report->transcripts_deleted;
  }
  return Status::OK();
}

}  // namespace ccfs
