#include "store/workspace/push_v2.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>

#include "store/archive/pack_dir.h"
#include "store/archive/tar_sanitize.h"
#include "store/base/unique_fd.h"
#include "store/layout/chunks.h"
#include "store/layout/commit.h"
#include "store/layout/pack_builder.h"
#include "store/layout/tree_reader.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

Status CheckPrecondition(const std::string& workspace, const CurrentRoot& current,
                         const PushOptions& opts) {
  if (opts.force) return Status::OK();
  if (current.etag.empty()) {  // a new workspace
    if (opts.if_match.empty()) return Status::OK();
    return Status::PreconditionFailed("workspace '" + workspace +
                                      "' does not exist (expected ETag " + opts.if_match +
                                      "); push without --if-match to create it");
  }
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

// Whether `b`, the stored entry of a chunked file, holds the first b.size
// bytes of the open file `fd` of `size` bytes: each of its chunks made again
// from the local bytes gets the same name (chunks are named by the SHA-256 of
// their stored form). Adopted raw chunks, named by their v1 object instead,
// never match: such a transcript goes up whole once.
Status StoredChunksArePrefix(int fd, const IndexEntry& b, uint64_t size, bool* prefix) {
  *prefix = false;
  if (b.type != EntryType::kFile || !b.pack.empty() || b.size > size) return Status::OK();
  uint64_t at = 0;
  for (const ChunkRef& c : b.chunks) {
    NewChunk again;
    CCFS_RETURN_IF_ERROR(MakeChunk(fd, at, at + c.size, &again, c.raw));
    if (again.ref.name != c.name) return Status::OK();
    at += c.size;
  }
  *prefix = at == b.size;
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

  // 1. Everything but the files stored as chunks (transcripts,
  //    history.jsonl: a later append then uploads only itself, and a mount
  //    appends without reading them) as one pack.
  const std::string pack_path = TempPath(opts);
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::unlink(path.c_str()); }
  } cleanup{pack_path};
  std::vector<std::string> chunked;  // regular .jsonl files, tree-relative
  auto as_chunks = [&](const std::string& rel) {
    struct stat st {};
    if (!StoredAsChunks(rel) || ::lstat((dir + "/" + rel).c_str(), &st) != 0 ||
        !S_ISREG(st.st_mode)) {
      return false;
    }
    chunked.push_back(rel);
    return true;
  };
  TarIndex index;
  CCFS_RETURN_IF_ERROR(PackDirectory(dir, as_chunks, pack_path, SeekableTarWriter::Options(),
                                     &index, &result->skipped)
                           .Annotate("push: packing " + dir));
  std::string pack;
  uint64_t size = 0;
  CCFS_RETURN_IF_ERROR(HashAndPutPack(store, workspace, pack_path, &pack, &size).Annotate("push"));

  // 2. The new tree: the pack's entries and the chunked files; what the
  //    current tree has beyond them is removed.
  CommitInput input;
  std::set<std::string> paths;
  for (const TarEntry& t : index.entries) {
    paths.insert(t.path);
    input.entries.push_back(EntryFromPackMember(t, pack));
  }
  // The current tree's entries: a chunked file the store already has (its
  // chunks are the local bytes' prefix) uploads only what it gained.
  std::map<std::string, IndexEntry> stored;
  for (const SegmentRef& ref : current.root.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg).Annotate("push"));
    for (IndexEntry& e : seg.entries) stored.emplace(e.path, std::move(e));
  }
  std::vector<UniqueFd> open_files;
  for (const std::string& rel : chunked) {
    int fd = ::open((dir + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::FromErrno("push: open " + dir + "/" + rel, errno);
    open_files.emplace_back(fd);
    struct stat now {};
    if (::fstat(fd, &now) != 0) return Status::FromErrno("push: stat " + rel, errno);
    paths.insert(rel);
    TranscriptAppend a;
    a.base.path = rel;
    a.base.type = EntryType::kFile;
    a.fd = fd;
    a.new_size = static_cast<uint64_t>(now.st_size);
    a.mtime_ns = static_cast<int64_t>(now.st_mtim.tv_sec) * 1000000000 + now.st_mtim.tv_nsec;
    a.mode = SanitizeMode(now.st_mode & 07777);
    auto found = stored.find(rel);
    bool prefix = false;
    if (found != stored.end()) {
      CCFS_RETURN_IF_ERROR(
          StoredChunksArePrefix(fd, found->second, a.new_size, &prefix).Annotate("push: " + rel));
    }
    if (prefix && found->second.size == a.new_size) {
      ++result->transcripts_unchanged;
      const IndexEntry& b = found->second;
      if (b.mode != a.mode || b.mtime_ns != a.mtime_ns) {
        IndexEntry meta = b;  // the same chunks; new mode or mtime
        meta.mode = a.mode;
        meta.mtime_ns = a.mtime_ns;
        input.entries.push_back(std::move(meta));
      }
      continue;
    }
    if (prefix) a.base = found->second;
    if (IsTranscriptPath(rel)) {
      ++result->transcripts_uploaded;
      result->transcript_bytes += a.new_size - a.base.size;
    }
    input.appends.push_back(std::move(a));
  }
  for (const auto& [path, e] : stored) {
    if (!paths.count(path)) input.removed.push_back(path);
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  input.writer = RootWriter{host, static_cast<int64_t>(::getpid()), ""};
  input.scratch_dir = opts.temp_dir.empty() ? "/tmp" : opts.temp_dir;

  // 3. The root, If-Match the one checked above, or If-None-Match: * for a
  //    new workspace (a writer since: 412).
  CommitReport report;
  Status s =
      CommitOnce(store, workspace, current.etag.empty() ? nullptr : &current, input, &report);
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
  result->v2_generation = report.root.generation;
  return Status::OK();
}

}  // namespace ccfs
