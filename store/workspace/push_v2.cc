#include "store/workspace/push_v2.h"

#include <unistd.h>

#include <cstdlib>
#include <set>

#include "store/archive/pack_dir.h"
#include "store/layout/commit.h"
#include "store/layout/pack_builder.h"
#include "store/layout/tree_reader.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

Status CheckPrecondition(const std::string& workspace, const CurrentRoot& current,
                         const PushOptions& opts) {
  if (opts.force) return Status::OK();
  const std::string tag = "v2:" + current.etag;
  if (opts.if_match.empty()) {
    return Status::PreconditionFailed("workspace '" + workspace + "' already exists (layout v2, " +
                                      "generation " + std::to_string(current.root.generation) +
                                      ", root ETag " + current.etag + "); push with --if-match " +
                                      current.etag + " to replace that version, or --force");
  }
  if (opts.if_match != current.etag && opts.if_match != tag) {
    return Status::PreconditionFailed("workspace '" + workspace + "' changed: its root ETag is " +
                                      current.etag + ", not " + opts.if_match +
                                      "; pull it and merge your changes, or push with --force");
  }
  return Status::OK();
}

std::string TempPath(const PushOptions& opts) {
  std::string dir = opts.temp_dir;
  if (dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  return dir + "/ccfs-push-v2-" + std::to_string(::getpid()) + "-" + NewRootNonce() + ".tar.gz";
}

}  // namespace

Status PushV2(ObjectStore& store, const std::string& dir, const std::string& workspace,
              const CurrentRoot& current, const PushOptions& opts, PushResult* result) {
  CCFS_RETURN_IF_ERROR(CheckPrecondition(workspace, current, opts));

  // 1. Everything, transcripts included, as one pack.
  const std::string pack_path = TempPath(opts);
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::unlink(path.c_str()); }
  } cleanup{pack_path};
  TarIndex index;
  CCFS_RETURN_IF_ERROR(
      PackDirectory(dir, nullptr, pack_path, SeekableTarWriter::Options(), &index, &result->skipped)
          .Annotate("push: packing " + dir));
  std::string pack;
  uint64_t size = 0;
  CCFS_RETURN_IF_ERROR(HashAndPutPack(store, workspace, pack_path, &pack, &size).Annotate("push"));

  // 2. The new tree: the pack's entries; what the current tree has beyond
  //    them is removed.
  CommitInput input;
  std::set<std::string> paths;
  for (const TarEntry& t : index.entries) {
    if (t.type == EntryType::kFile && IsTranscriptPath(t.path)) {
      ++result->transcripts_uploaded;
      result->transcript_bytes += t.size;
    }
    paths.insert(t.path);
    input.entries.push_back(EntryFromPackMember(t, pack));
  }
  for (const SegmentRef& ref : current.root.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg).Annotate("push"));
    for (const IndexEntry& e : seg.entries) {
      if (!paths.count(e.path)) input.removed.push_back(e.path);
    }
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  input.writer = RootWriter{host, static_cast<int64_t>(::getpid()), ""};
  input.scratch_dir = opts.temp_dir.empty() ? "/tmp" : opts.temp_dir;

  // 3. The root, If-Match the one checked above (a writer since: 412).
  CommitReport report;
  Status s = CommitOnce(store, workspace, &current, input, &report);
  if (s.IsPreconditionFailed()) {
    return Status::PreconditionFailed(
        "push: workspace '" + workspace + "' changed while pushing (now generation " +
        std::to_string(report.root.generation) + "); nothing of this push is visible; push again");
  }
  CCFS_RETURN_IF_ERROR(s.Annotate("push: committing"));
  result->tarball_etag = report.etag;
  result->tarball_bytes = size;
  result->tarball_entries = index.entries.size();
  result->transcripts_deleted = 0;
  return Status::OK();
}

}  // namespace ccfs
