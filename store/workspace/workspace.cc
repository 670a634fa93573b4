#include "store/workspace/workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "store/archive/pack_dir.h"
#include "store/archive/safe_extract.h"
#include "store/archive/seekable_tar_reader.h"
#include "store/archive/tar_sanitize.h"
#include "store/archive/tar_scanner.h"
#include "store/base/content_hash.h"
#include "store/base/parallel.h"
#include "store/base/unique_fd.h"
#include "store/layout/export.h"
#include "store/layout/file_reader.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/objects/condition_probe.h"
#include "store/objects/local_file.h"
#include "store/workspace/generations.h"
#include "store/workspace/lease.h"
#include "store/workspace/push_v2.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

// The current layout-v2 root, if the workspace has one (docs/layout-v2-plan.md).
// Then its tree is the workspace; the v1 objects an adoption left are stale.
Status FindRoot(ObjectStore& store, const std::string& workspace, CurrentRoot* root, bool* found) {
  Status s = ReadRoot(store, workspace, root);
  *found = s.ok();
  return s.IsNotFound() ? Status::OK() : s;
}

// Whether the workspace has a v1 tarball or v1 transcript objects (a push
// interrupted before its tarball leaves only the latter).
Status HasV1Objects(ObjectStore& store, const std::string& workspace, bool* exists) {
  ObjectInfo head;
  Status s = store.Head(TarballKey(workspace), &head);
  if (s.ok() || !s.IsNotFound()) {
    *exists = s.ok();
    return s;
  }
  ListOptions lo;
  lo.prefix = TranscriptPrefix(workspace);
  ListResult lr;
  CCFS_RETURN_IF_ERROR(store.List(lo, &lr));
  *exists = !lr.objects.empty();
  return Status::OK();
}

struct LocalTranscript {
  std::string rel;
  uint64_t size = 0;
  uint32_t mode = kDefaultTranscriptMode;
};

// The remote transcripts of a workspace, keyed by tree-relative path;
// *has_modes (if given) says whether its transcript modes object exists.
Status ListRemoteTranscripts(ObjectStore& store, const std::string& workspace,
                             std::map<std::string, ObjectInfo>* out, bool* has_modes = nullptr) {
  ListOptions lo;
  lo.prefix = TranscriptPrefix(workspace);
  ListResult lr;
  CCFS_RETURN_IF_ERROR(store.List(lo, &lr));
  const size_t strip = workspace.size() + 1;
  const std::string modes_key = TranscriptModesKey(workspace);
  if (has_modes != nullptr) *has_modes = false;
  for (auto& o : lr.objects) {
    if (o.key == modes_key && has_modes != nullptr) *has_modes = true;
    std::string rel = o.key.substr(strip);
    if (IsTranscriptPath(rel)) out->emplace(std::move(rel), std::move(o));
  }
  return Status::OK();
}

// Decides the tarball precondition, failing early (before anything is
// uploaded) when the push could not succeed.
Status TarballPrecondition(ObjectStore& store, const std::string& workspace,
                           const PushOptions& opts, PutOptions* put) {
  ObjectInfo cur;
  Status s = store.Head(TarballKey(workspace), &cur);
  if (!s.ok() && !s.IsNotFound()) return s;
  const bool exists = s.ok();
  if (opts.force) return Status::OK();
  if (!opts.if_match.empty()) {
    if (!exists) {
      return Status::PreconditionFailed("workspace '" + workspace + "' does not exist in " +
                                        store.Describe() + " (expected ETag " + opts.if_match +
                                        "); push without --if-match to create it");
    }
    if (cur.etag != opts.if_match) {
      return Status::PreconditionFailed(
          "workspace '" + workspace + "' changed: its ETag is " + cur.etag + ", not " +
          opts.if_match + "; pull it and merge your changes, or push with --force to overwrite");
    }
    put->if_match = opts.if_match;
    return Status::OK();
  }
  if (exists) {
    return Status::PreconditionFailed("workspace '" + workspace + "' already exists in " +
                                      store.Describe() + " (ETag " + cur.etag +
                                      "); push with --if-match " + cur.etag +
                                      " to replace that version, or --force to overwrite");
  }
  put->if_none_match_any = true;
  return Status::OK();
}

std::string TempDirFor(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* t = std::getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? t : "/tmp";
}

}  // namespace

Status PushWorkspace(ObjectStore& store, const std::string& dir, const std::string& workspace,
                     const PushOptions& opts, PushResult* result) {
  *result = PushResult();
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::FromErrno("push: " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("push: " + dir + " is not a directory");
  // Conditional writes are what keep a push from overwriting another
  // writer: refuse a store that ignores them (store/objects/condition_probe.h).
  CCFS_RETURN_IF_ERROR(EnsureConditionalWrites(store, workspace));

  // The lease first: while another writer holds the workspace, even a push
  // that names the right ETag would race that writer's next flush.
  std::optional<Lease> lease;
  std::optional<LeaseKeeper> keeper;
  if (!opts.ignore_lease && opts.lease_ttl_seconds > 0) {
    LeaseOptions lo;
    lo.ttl_seconds = opts.lease_ttl_seconds;
    LeaseHolder holder;
    auto taken = Lease::Acquire(store, workspace, lo, &holder);
    if (taken.status().IsPreconditionFailed() && !holder.holder_id.empty()) {
      return Status::Unavailable("workspace '" + workspace + "' is held writable by " +
                                 holder.Describe() +
                                 "; unmount it there or wait for its lease to expire, or push "
                                 "with --ignore-lease (the mount's next flush then merges)");
    }
    CCFS_RETURN_IF_ERROR(taken.status().Annotate("push: taking the lease"));
    lease.emplace(std::move(taken).value());
    keeper.emplace(&*lease);
  }

  // A layout-v2 workspace takes the push as its next generation (a v1 push
  // would write objects its tree no longer reads).
  CurrentRoot root;
  bool v2 = false;
  CCFS_RETURN_IF_ERROR(FindRoot(store, workspace, &root, &v2).Annotate("push"));
  if (v2) return PushV2(store, dir, workspace, root, opts, result);
  if (opts.new_workspace_v2) {
    bool exists = false;
    CCFS_RETURN_IF_ERROR(HasV1Objects(store, workspace, &exists).Annotate("push"));
    if (!exists) return PushV2(store, dir, workspace, CurrentRoot{}, opts, result);
  }

  PutOptions tar_put;
  CCFS_RETURN_IF_ERROR(TarballPrecondition(store, workspace, opts, &tar_put));

  // Pack everything but transcripts; collect the transcripts on the way.
  std::vector<LocalTranscript> transcripts;
  auto exclude = [&](const std::string& rel) {
    if (!IsTranscriptPath(rel)) return false;
    struct stat ts;
    std::string path = dir + "/" + rel;
    if (::lstat(path.c_str(), &ts) != 0 || !S_ISREG(ts.st_mode)) return false;
    transcripts.push_back(
        {rel, static_cast<uint64_t>(ts.st_size), SanitizeMode(ts.st_mode & 07777)});
    return true;
  };
  CCFS_ASSIGN_OR_RETURN(TempFile tarball, TempFile::Create(TempDirFor(opts.temp_dir), "ccfs-push"));
  TarIndex index;
  CCFS_RETURN_IF_ERROR(PackDirectory(dir, exclude, tarball.path(), SeekableTarWriter::Options(),
                                     &index, &result->skipped)
                           .Annotate("push: packing " + dir));
  result->tarball_entries = index.entries.size();

  std::map<std::string, ObjectInfo> remote;
  bool remote_has_modes = false;
  CCFS_RETURN_IF_ERROR(ListRemoteTranscripts(store, workspace, &remote, &remote_has_modes));

  // Transcripts first: the tarball PUT is the commit point, so once it
  // succeeds every transcript it goes with is already in the store.
  std::mutex mu;
  Status up = ParallelFor(transcripts.size(), opts.parallel_uploads, [&](size_t i) -> Status {
    const LocalTranscript& t = transcripts[i];
    const std::string path = dir + "/" + t.rel;
    auto it = remote.find(t.rel);
    if (it != remote.end() && it->second.size == t.size) {
      // S3 ETags of single-part uploads are the content MD5: skip what is
      // already there. (Other stores' ETags never match an MD5, so they upload.)
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return Status::FromErrno("push: " + path, errno);
      ContentHashes hashes;
      CCFS_RETURN_IF_ERROR(HashFileRange(fd.get(), 0, t.size, &hashes));
      if (hashes.md5_hex == it->second.etag) {
        std::lock_guard<std::mutex> lock(mu);
        ++result->transcripts_unchanged;
        return Status::OK();
      }
    }
    PutOptions po;
    po.content_type = "application/x-ndjson";
    if (!opts.force) {
      if (it != remote.end()) {
        po.if_match = it->second.etag;  // replace only the version listed
      } else {
        po.if_none_match_any = true;  // create only
      }
    }
    Status put = store.PutFile(TranscriptKey(workspace, t.rel), path, po, nullptr);
    if (put.IsPreconditionFailed()) {
      return Status::PreconditionFailed(
                 "transcript " + t.rel + " of workspace '" + workspace +
                 "' was written by someone else during this push; nothing was replaced. Pull, "
                 "merge and push again, or push with --force")
          .WithHttpStatus(put.http_status());
    }
    CCFS_RETURN_IF_ERROR(put.Annotate("push: uploading " + t.rel));
    std::lock_guard<std::mutex> lock(mu);
    ++result->transcripts_uploaded;
    result->transcript_bytes += t.size;
    return Status::OK();
  });
  CCFS_RETURN_IF_ERROR(up);
  // Their modes (S3 keeps none for them): the pushed tree's, exactly.
  TranscriptModes modes;
  for (const LocalTranscript& t : transcripts) {
    if (t.mode != kDefaultTranscriptMode) modes[t.rel] = t.mode;
  }
  if (!modes.empty() || remote_has_modes) {
    CCFS_RETURN_IF_ERROR(WriteTranscriptModes(store, workspace, modes).Annotate("push"));
  }

  if (keeper && keeper->lost()) {
    return Status::Unavailable("push: lost the lease on workspace '" + workspace +
                               "' before committing (" + keeper->loss_reason().ToString() +
                               "); nothing was replaced except transcripts");
  }
  ObjectInfo put_info;
  tar_put.content_type = "application/gzip";
  Status put = store.PutFile(TarballKey(workspace), tarball.path(), tar_put, &put_info);
  if (put.IsPreconditionFailed()) {
    return Status::PreconditionFailed(
               "workspace '" + workspace +
               "' was changed by someone else during this push; nothing was replaced except "
               "transcripts. Pull, merge and push again, or push with --force")
        .WithHttpStatus(put.http_status());
  }
  CCFS_RETURN_IF_ERROR(put.Annotate("push: uploading the tarball"));
  result->tarball_etag = put_info.etag;
  result->tarball_bytes = put_info.size;

  // Only now, with the new version committed, drop transcripts it no longer has.
  std::set<std::string> local;
  for (const auto& t : transcripts) local.insert(t.rel);
  std::vector<std::string> stale;
  for (const auto& [rel, info] : remote) {
    if (local.count(rel) == 0) stale.push_back(info.key);
  }
  CCFS_RETURN_IF_ERROR(ParallelFor(stale.size(), opts.parallel_uploads, [&](size_t i) {
    return store.Delete(stale[i]).Annotate("push: deleting stale transcript " + stale[i]);
  }));
  result->transcripts_deleted = stale.size();
  return Status::OK();
}

namespace {

// Pull of a v2 workspace: the tree of `root` (the current one or one from
// history) exported as one tar.gz next to `dir`, then extracted with the
// same checks as a v1 tarball.
Status PullV2(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
              const std::string& dir, const PullOptions& opts, PullResult* result) {
  CCFS_RETURN_IF_ERROR(CheckAbsentOrEmptyDir(dir));
  CCFS_ASSIGN_OR_RETURN(TempFile tarball, TempFile::Create(ParentDir(dir), ".ccfs-pull"));
  const uint64_t received = store.stats().bytes_received.load();
  ExportReport exported;
  CCFS_RETURN_IF_ERROR(
      ExportTree(store, workspace, root, tarball.path(), ParentDir(dir), &exported)
          .Annotate("pull: reading generation " + std::to_string(root.generation)));
  result->generation = root.generation;
  result->bytes_downloaded = store.stats().bytes_received.load() - received;
  TarIndex entries;
  CCFS_RETURN_IF_ERROR(ExtractTarGz(tarball.path(), dir, opts.limits, &result->skipped, &entries)
                           .Annotate("pull: extracting"));
  for (const TarEntry& e : entries.entries) {
    if (e.type == EntryType::kFile && IsTranscriptPath(e.path)) {
      ++result->transcripts;
    } else {
      ++result->tarball_entries;
    }
  }
  return Status::OK();
}

// `ws` for the current version, `ws@N` for a past one: how errors name it.
std::string RefName(const std::string& workspace, uint64_t generation) {
  return generation == 0 ? workspace : workspace + "@" + std::to_string(generation);
}

// One regular file of the tree of `root`.
Status ReadV2File(ObjectStore& store, const std::string& workspace, const std::string& ref,
                  const WorkspaceRoot& root, const std::string& rel, const ByteSink& sink) {
  IndexEntry e;
  Status found =
      root.segments.empty() ? Status::NotFound(rel) : LookupEntry(store, workspace, root, rel, &e);
  if (found.IsNotFound()) return Status::NotFound(rel + ": no such file in " + ref);
  CCFS_RETURN_IF_ERROR(found);
  if (e.type != EntryType::kFile) return Status::InvalidArgument(rel + " is not a regular file");
  TreeFileReader reader(store, workspace);
  return reader.Read(e, 0, e.size, sink);
}

}  // namespace

Status PullWorkspace(ObjectStore& store, const std::string& workspace, const std::string& dir,
                     const PullOptions& opts, PullResult* result) {
  *result = PullResult();
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  if (opts.generation != 0) {
    // Resolved before the destination is looked at: a refused pull writes
    // nothing.
    WorkspaceRoot past;
    CCFS_RETURN_IF_ERROR(ResolveGeneration(store, workspace, opts.generation, &past));
    return PullV2(store, workspace, past, dir, opts, result);
  }
  CurrentRoot root;
  bool v2 = false;
  CCFS_RETURN_IF_ERROR(FindRoot(store, workspace, &root, &v2).Annotate("pull"));
  if (v2) {
    result->tarball_etag = root.etag;
    return PullV2(store, workspace, root.root, dir, opts, result);
  }
  ObjectInfo head;
  Status s = store.Head(TarballKey(workspace), &head);
  if (s.IsNotFound()) {
    return Status::NotFound("workspace '" + workspace + "' not found in " + store.Describe());
  }
  CCFS_RETURN_IF_ERROR(s.Annotate("pull"));
  CCFS_RETURN_IF_ERROR(CheckAbsentOrEmptyDir(dir));

  // The tarball goes to a temp file on the destination's filesystem, then is
  // extracted with every hostile entry skipped and reported.
  CCFS_ASSIGN_OR_RETURN(TempFile tarball, TempFile::Create(ParentDir(dir), ".ccfs-pull"));
  GetOptions go;
  go.if_match = head.etag;  // never mix two versions
  CCFS_RETURN_IF_ERROR(DownloadToFile(store, TarballKey(workspace), go, tarball.path())
                           .Annotate("pull: downloading the tarball"));
  result->tarball_etag = head.etag;
  result->bytes_downloaded += head.size;
  TarIndex entries;
  CCFS_RETURN_IF_ERROR(ExtractTarGz(tarball.path(), dir, opts.limits, &result->skipped, &entries)
                           .Annotate("pull: extracting"));
  result->tarball_entries = entries.entries.size();

  std::map<std::string, ObjectInfo> remote;
  bool has_modes = false;
  CCFS_RETURN_IF_ERROR(ListRemoteTranscripts(store, workspace, &remote, &has_modes));
  TranscriptModes modes;
  if (has_modes) {
    // Damaged modes cost the modes, not the pull: transcripts get the default.
    Status m = ReadTranscriptModes(store, workspace, &modes);
    if (m.IsCorruption()) {
      result->skipped.push_back({TranscriptModesKey(workspace), "ignored: " + m.message()});
    } else {
      CCFS_RETURN_IF_ERROR(m.Annotate("pull"));
    }
  }
  std::vector<const std::pair<const std::string, ObjectInfo>*> items;
  for (const auto& kv : remote) items.push_back(&kv);
  std::mutex mu;
  CCFS_RETURN_IF_ERROR(ParallelFor(items.size(), opts.parallel_downloads, [&](size_t i) {
    const auto& [rel, info] = *items[i];
    Status d = DownloadBeneath(store, info.key, dir, rel, TranscriptMode(modes, rel));
    std::lock_guard<std::mutex> lock(mu);
    if (d.IsInvalidArgument()) {  // a path that cannot be created safely
      result->skipped.push_back({rel, d.message()});
      return Status::OK();
    }
    if (d.ok()) {
      ++result->transcripts;
      result->bytes_downloaded += info.size;
    }
    return d.Annotate("pull: downloading " + rel);
  }));
  return Status::OK();
}

Status ListWorkspaces(ObjectStore& store, std::vector<WorkspaceInfo>* out) {
  out->clear();
  ListOptions lo;
  lo.delimiter = "/";
  ListResult top;
  CCFS_RETURN_IF_ERROR(store.List(lo, &top));
  for (const std::string& p : top.common_prefixes) {
    WorkspaceInfo w;
    w.name = p.substr(0, p.size() - 1);
    if (!ValidateWorkspaceName(w.name).ok()) continue;  // not ours
    ObjectInfo head;
    Status s = store.Head(TarballKey(w.name), &head);
    if (!s.ok() && !s.IsNotFound()) return s;
    w.has_tarball = s.ok();
    w.tarball_etag = head.etag;
    w.tarball_bytes = head.size;
    w.mtime_unix = head.mtime_unix;
    std::map<std::string, ObjectInfo> transcripts;
    CCFS_RETURN_IF_ERROR(ListRemoteTranscripts(store, w.name, &transcripts));
    w.transcripts = transcripts.size();
    for (const auto& [rel, info] : transcripts) w.transcript_bytes += info.size;
    if (!w.has_tarball && w.transcripts == 0) {
      // A workspace created in layout v2 has no v1 objects, only its root.
      ObjectInfo root;
      Status r = store.Head(RootKey(w.name), &root);
      if (r.IsNotFound()) continue;
      CCFS_RETURN_IF_ERROR(r);
      w.mtime_unix = root.mtime_unix;
    }
    out->push_back(std::move(w));
  }
  return Status::OK();
}

Status ReadWorkspaceFile(ObjectStore& store, const std::string& workspace, const std::string& rel,
                         const ByteSink& sink) {
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  CCFS_RETURN_IF_ERROR(ValidateKey(rel));
  CurrentRoot root;
  bool v2 = false;
  CCFS_RETURN_IF_ERROR(FindRoot(store, workspace, &root, &v2));
  if (v2) return ReadV2File(store, workspace, workspace, root.root, rel, sink);
  if (IsTranscriptPath(rel)) {
    Status s = store.Get(TranscriptKey(workspace, rel), GetOptions(), sink, nullptr);
    if (s.IsNotFound()) return Status::NotFound(rel + ": no such transcript in " + workspace);
    return s;
  }
  ObjectInfo head;
  Status s = store.Head(TarballKey(workspace), &head);
  if (s.IsNotFound()) {
    return Status::NotFound("workspace '" + workspace + "' not found in " + store.Describe());
  }
  CCFS_RETURN_IF_ERROR(s);
  RangeFetcher fetch = [&](uint64_t offset, uint64_t length, std::string* out) {
    GetOptions go;
    go.range = ByteRange{offset, length};
    go.if_match = head.etag;
    return GetToString(store, TarballKey(workspace), go, out);
  };
  TarIndex index;
  s = ReadSeekableIndex(head.size, fetch, &index);
  if (s.ok()) {
    const TarEntry* e = index.Find(rel);
    if (e == nullptr) return Status::NotFound(rel + ": no such file in " + workspace);
    if (e->type != EntryType::kFile) return Status::InvalidArgument(rel + " is not a regular file");
    return ReadMemberRange(index, *e, 0, e->size, fetch, sink);
  }
  if (!s.IsNotFound()) return s;
  // A foreign tarball: stream it (pinned to this version) until the member.
  CCFS_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(TempDirFor(""), "ccfs-cat"));
  GetOptions go;
  go.if_match = head.etag;
  CCFS_RETURN_IF_ERROR(DownloadToFile(store, TarballKey(workspace), go, tmp.path()));
  CCFS_ASSIGN_OR_RETURN(auto scanner, TarScanner::OpenFile(tmp.path()));
  for (;;) {
    TarEntry e;
    bool done = false;
    CCFS_RETURN_IF_ERROR(scanner->Next(&e, &done));
    if (done) return Status::NotFound(rel + ": no such file in " + workspace);
    if (e.path == rel && e.type == EntryType::kFile) return scanner->ReadData(sink);
  }
}

Status ReadWorkspaceFileAt(ObjectStore& store, const std::string& workspace, uint64_t generation,
                           const std::string& rel, const ByteSink& sink) {
  if (generation == 0) return ReadWorkspaceFile(store, workspace, rel, sink);
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  CCFS_RETURN_IF_ERROR(ValidateKey(rel));
  WorkspaceRoot past;
  CCFS_RETURN_IF_ERROR(ResolveGeneration(store, workspace, generation, &past));
  return ReadV2File(store, workspace, RefName(workspace, generation), past, rel, sink);
}

}  // namespace ccfs
