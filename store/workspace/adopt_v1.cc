#include "store/workspace/adopt_v1.h"

#include <algorithm>

#include "store/archive/seekable_tar_reader.h"
#include "store/base/clock.h"
#include "store/base/content_hash.h"
#include "store/layout/file_reader.h"
#include "store/layout/pack_builder.h"
#include "store/layout/root_store.h"
#include "store/layout/segment_plan.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

constexpr size_t kSegmentEntries = 2000;

std::string AdoptedName(const ObjectInfo& o) { return AdoptedObjectName(o.key, o.etag); }

// Copies `src` to `dst` unless it is there already.
Status CopyOnce(ObjectStore& store, const std::string& src, const std::string& dst) {
  PutOptions opts;
  opts.if_none_match_any = true;
  Status s = store.Copy(src, dst, opts, nullptr);
  return s.IsPreconditionFailed() ? Status::OK() : s;
}

}  // namespace

Status AdoptV1(ObjectStore& store, const std::string& workspace, const RootWriter& writer,
               AdoptReport* report) {
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
    const std::string key = TarballKey(workspace);
    // The index and the copy are of one version.
    const RangeFetcher fetch = ObjectRangeFetcher(store, key, tarball.etag);
    TarIndex index;
    Status read = ReadSeekableIndex(tarball.size, fetch, &index);
    if (read.IsNotFound()) {
      return Status::NotSupported(store.Describe() + "/" + key +
                                  " is a foreign tar.gz without a ccfs index; adopting it "
                                  "needs a full read (not done yet)");
    }
    CCFS_RETURN_IF_ERROR(read);
    const std::string pack = AdoptedName(tarball);
    CCFS_RETURN_IF_ERROR(CopyOnce(store, key, PackKey(workspace, pack)));
    report->bytes_copied += tarball.size;
    for (const TarEntry& t : index.entries) {
      if (t.type == EntryType::kFile) ++report->files;
      changes.push_back({t.path, EntryFromPackMember(t, pack)});
    }
  } else if (!head.IsNotFound()) {
    return head;
  }

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
    IndexEntry e;
    e.path = rel;
    e.mode = TranscriptMode(modes, rel);
    // v1 kept no transcript mtimes: the object's Last-Modified is the best
    // there is.
    e.mtime_ns = o.mtime_unix * 1000000000;
    e.size = o.size;
    if (o.size > 0) {
      ChunkRef c{AdoptedName(o), o.size, /*raw=*/true};
      CCFS_RETURN_IF_ERROR(CopyOnce(store, o.key, ChunkKey(workspace, c.name)));
      report->bytes_copied += o.size;
      e.chunks.push_back(c);
    }
    // A transcript also in the tarball (an old ccfs packed everything) is
    // the object's version, as v1 mounts show it.
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](const SegmentChange& c) { return c.path == rel; }),
                  changes.end());
    changes.push_back({rel, std::move(e)});
    ++report->transcripts;
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

std::string AdoptedObjectName(const std::string& key, const std::string& etag) {
  return HashBytes("ccfs-adopted-v1:" + key + ":" + etag).sha256_hex;
}

}  // namespace ccfs
