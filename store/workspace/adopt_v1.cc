#include "store/workspace/adopt_v1.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "store/archive/pack_dir.h"
#include "store/archive/safe_extract.h"
#include "store/archive/seekable_tar_reader.h"
#include "store/base/clock.h"
#include "store/base/content_hash.h"
#include "store/layout/file_reader.h"
#include "store/layout/pack_builder.h"
#include "store/layout/root_store.h"
#include "store/layout/segment_plan.h"
#include "store/objects/local_file.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

constexpr size_t kSegmentEntries = 2000;

std::string AdoptedName(const ObjectInfo& o) { return AdoptedObjectName(o.key, o.etag); }

// Copies version `src_etag` of `src` to `dst` (named after that version)
// unless it is there already. A source replaced since it was listed is
// Aborted: adopting again reads the new version.
Status CopyOnce(ObjectStore& store, const std::string& src, const std::string& src_etag,
                const std::string& dst) {
  ObjectInfo there;
  Status head = store.Head(dst, &there);
  if (head.ok()) return Status::OK();
  if (!head.IsNotFound()) return head;
  PutOptions opts;
  opts.copy_source_if_match = src_etag;
  const Status changed =
      Status::Unavailable(src + " changed while it was being adopted (it is no longer version " +
                          src_etag + "); try again");
  ObjectInfo copied;
  Status s = store.Copy(src, dst, opts, &copied);
  if (s.IsPreconditionFailed()) return changed;
  CCFS_RETURN_IF_ERROR(s);
  // A store may ignore the condition. Where a copy of a single-part object
  // keeps its MD5 ETag, another ETag means other bytes: never keep them
  // under this version's name. (A multipart source's copy gets a new ETag:
  // there the condition is all there is.)
  const bool single_part = src_etag.find('-') == std::string::npos;
  if (store.CopyKeepsEtag() && single_part && copied.etag != src_etag) {
    IgnoreError(store.Delete(dst), "the next adoption copies it again");
    return changed;
  }
  return Status::OK();
}

// A scratch directory of this process, removed with everything in it.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent) {
    std::string base = parent;
    if (base.empty()) {
      const char* t = std::getenv("TMPDIR");
      base = t != nullptr && *t != '\0' ? t : "/tmp";
    }
    path_ = base + "/ccfs-adopt-" + std::to_string(::getpid()) + "-" + NewRootNonce();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A foreign tarball (no ccfs index: nothing in it can be read by range) is
// read once, whole, at the ETag that was listed, and packed again as a
// seekable pack: extracting with the pull's safeguards, then packing the
// tree, gives exactly what a v1 mount of it shows.
Status AdoptForeignTarball(ObjectStore& store, const std::string& workspace,
                           const ObjectInfo& tarball, const std::string& scratch_dir,
                           std::vector<SegmentChange>* changes, AdoptReport* report) {
  const std::string key = TarballKey(workspace);
  ScratchDir scratch(scratch_dir);
  std::error_code ec;
  std::filesystem::create_directories(scratch.path(), ec);
  if (ec) return Status::IOError("creating " + scratch.path() + ": " + ec.message());
  const std::string download = scratch.path() + "/foreign.tar.gz";
  GetOptions get;
  get.if_match = tarball.etag;  // the version the root will say it adopted
  CCFS_RETURN_IF_ERROR(DownloadToFile(store, key, get, download).Annotate("adopting " + key));
  report->bytes_downloaded += tarball.size;
  std::vector<SkippedEntry> skipped;
  CCFS_RETURN_IF_ERROR(ExtractTarGz(download, scratch.path() + "/tree", &skipped, nullptr)
                           .Annotate("adopting " + key + ": extracting"));
  ::unlink(download.c_str());  // halves the scratch space needed
  const std::string pack_path = scratch.path() + "/pack.tar.gz";
  TarIndex index;
  std::vector<SkippedEntry> not_packed;  // (PackDirectory starts its list afresh)
  CCFS_RETURN_IF_ERROR(PackDirectory(scratch.path() + "/tree", nullptr, pack_path,
                                     SeekableTarWriter::Options(), &index, &not_packed)
                           .Annotate("adopting " + key + ": packing"));
  skipped.insert(skipped.end(), not_packed.begin(), not_packed.end());
  for (const SkippedEntry& e : skipped) report->skipped.push_back(e.path + ": " + e.reason);

  std::string pack;
  uint64_t size = 0;
  CCFS_RETURN_IF_ERROR(
      HashAndPutPack(store, workspace, pack_path, &pack, &size).Annotate("adopting " + key));
  report->bytes_uploaded += size;
  report->foreign = true;
  for (const TarEntry& t : index.entries) {
    if (t.type == EntryType::kFile) ++report->files;
    changes->push_back({t.path, EntryFromPackMember(t, pack)});
  }
  return Status::OK();
}

}  // namespace

Status AdoptTarball(ObjectStore& store, const std::string& workspace, const ObjectInfo& tarball,
                    const std::string& scratch_dir, std::vector<SegmentChange>* changes,
                    AdoptReport* report) {
  const std::string key = TarballKey(workspace);
  // The index and the copy are of one version.
  const RangeFetcher fetch = ObjectRangeFetcher(store, key, tarball.etag);
  TarIndex index;
  Status read = ReadSeekableIndex(tarball.size, fetch, &index);
  if (read.IsNotFound()) {
    return AdoptForeignTarball(store, workspace, tarball, scratch_dir, changes, report);
  }
  CCFS_RETURN_IF_ERROR(read);
  const std::string pack = AdoptedName(tarball);
  CCFS_RETURN_IF_ERROR(CopyOnce(store, key, tarball.etag, PackKey(workspace, pack)));
  report->bytes_copied += tarball.size;
  for (const TarEntry& t : index.entries) {
    if (t.type == EntryType::kFile) ++report->files;
    changes->push_back({t.path, EntryFromPackMember(t, pack)});
  }
  return Status::OK();
}

Status AdoptV1(ObjectStore& store, const std::string& workspace, const RootWriter& writer,
               AdoptReport* report, const std::string& scratch_dir) {
  *report = AdoptReport{};
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  CurrentRoot existing;
  Status has_root = ReadRoot(store, workspace, &existing);
  if (has_root.ok()) return Status::PreconditionFailed(workspace + " already has a v2 root");
  if (!has_root.IsNotFound()) return has_root;

  std::vector<SegmentChange> changes;
  ObjectInfo tarball;
  Status head = store.Head(TarballKey(workspace), &tarball);
  if (head.ok()) {
    CCFS_RETURN_IF_ERROR(AdoptTarball(store, workspace, tarball, scratch_dir, &changes, report));
  } else if (!head.IsNotFound()) {
    return head;
  }

  std::vector<IndexEntry> transcripts;
  CCFS_RETURN_IF_ERROR(AdoptTranscripts(store, workspace, nullptr, &transcripts, report));
  for (IndexEntry& e : transcripts) {
    // A transcript also in the tarball (an old ccfs packed everything) is
    // the object's version, as v1 mounts show it.
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](const SegmentChange& c) { return c.path == e.path; }),
                  changes.end());
    std::string path = e.path;
    changes.push_back({std::move(path), std::move(e)});
  }

  SegmentPlan plan;
  CCFS_RETURN_IF_ERROR(PlanSegments(
      {}, std::move(changes),
      [](const SegmentRef&, IndexSegment*) { return Status::Corruption("no segments to load"); },
      kSegmentEntries, &plan));
  for (const SegmentToWrite& w : plan.written) {
    CCFS_RETURN_IF_ERROR(PutImmutable(store, SegmentKey(workspace, w.ref.name), w.bytes));
  }
  WorkspaceRoot root;
  root.generation = 1;
  root.nonce = NewRootNonce();
  root.writer = writer;
  root.committed_unix_ms = NowUnixMs();
  root.segments = plan.segments;
  root.adopted_v1_etag = head.ok() ? tarball.etag : "";
  root.files = static_cast<uint64_t>(std::max<int64_t>(0, plan.files_delta));
  root.bytes = static_cast<uint64_t>(std::max<int64_t>(0, plan.bytes_delta));
  CCFS_RETURN_IF_ERROR(CommitRoot(store, workspace, root, "", nullptr));
  report->root = std::move(root);
  return Status::OK();
}

Status AdoptTranscripts(ObjectStore& store, const std::string& workspace,
                        const std::function<bool(const ObjectInfo&)>& wanted,
                        std::vector<IndexEntry>* out, AdoptReport* report) {
  TranscriptModes modes;
  Status modes_read = ReadTranscriptModes(store, workspace, &modes);
  if (!modes_read.ok() && !modes_read.IsNotFound()) return modes_read;
  ListOptions list;
  list.prefix = TranscriptPrefix(workspace);
  ListResult transcripts;
  CCFS_RETURN_IF_ERROR(store.List(list, &transcripts));
  for (const ObjectInfo& o : transcripts.objects) {
    const std::string rel = o.key.substr(workspace.size() + 1);
    if (!IsTranscriptPath(rel)) continue;  // the modes object, anything foreign
    if (wanted && !wanted(o)) continue;
    IndexEntry e;
    e.path = rel;
    e.mode = TranscriptMode(modes, rel);
    // v1 kept no transcript mtimes: the object's Last-Modified is the best
    // there is.
    e.mtime_ns = o.mtime_unix * 1000000000;
    e.size = o.size;
    if (o.size > 0) {
      ChunkRef c{AdoptedName(o), o.size, /*raw=*/true};
      CCFS_RETURN_IF_ERROR(CopyOnce(store, o.key, o.etag, ChunkKey(workspace, c.name)));
      report->bytes_copied += o.size;
      e.chunks.push_back(c);
    }
    out->push_back(std::move(e));
    ++report->transcripts;
  }
  return Status::OK();
}

std::string AdoptedObjectName(const std::string& key, const std::string& etag) {
  return HashBytes("ccfs-adopted-v1:" + key + ":" + etag).sha256_hex;
}

}  // namespace ccfs
