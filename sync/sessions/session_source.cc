#include "sync/sessions/session_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "store/base/parallel.h"
#include "store/base/unique_fd.h"
#include "store/layout/file_reader.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/objects/sigv4.h"  // Sha256Hex
#include "store/workspace/workspace_layout.h"
#include "sync/common/transcript_file.h"
#include "sync/sessions/session_feed.h"

namespace ccfs {
namespace {

constexpr size_t kReadBlock = 1u << 20;

// What a refresher learned about one transcript in its source.
struct SourceFile {
  std::string rel_path;
  std::string key;  // store: object key; dir: absolute path
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string etag;
  // Layout v2: bytes [offset, offset + length) of the file, from the tree's
  // entry (unset: the object `key`).
  std::function<Status(uint64_t offset, uint64_t length, const ByteSink& sink)> read;
};

// Reads `f` (from `offset`, the rest when `length` is 0) into `sink`. For a v1
// object, `if_match` pins the version and `info` gets its size and ETag.
Status ReadSource(ObjectStore& store, const SourceFile& f, uint64_t offset, uint64_t length,
                  const std::string& if_match, const ByteSink& sink, ObjectInfo* info) {
  if (f.read) {
    info->size = static_cast<uint64_t>(f.size);
    info->etag = f.etag;
    return f.read(offset, length == 0 ? static_cast<uint64_t>(f.size) - offset : length, sink);
  }
  GetOptions opts;
  if (offset != 0 || length != 0) opts.range = ByteRange{offset, length};
  opts.if_match = if_match;
  return store.Get(f.key, opts, sink, info);
}

// How to bring one file up to date.
enum class Plan { kUnchanged, kAppend, kWhole };

Plan PlanFor(const std::optional<FileSourceState>& state, const SourceFile& f, bool by_etag) {
  if (!state) return Plan::kWhole;
  bool same = by_etag ? (!f.etag.empty() && state->etag == f.etag)
                      : (state->size == f.size && state->mtime_ns == f.mtime_ns);
  if (same) return Plan::kUnchanged;
  // Nothing indexed yet (empty, or no complete line): nothing to verify or skip.
  if (state->indexed_bytes == 0) return Plan::kWhole;
  if (static_cast<uint64_t>(f.size) >= state->indexed_bytes &&
      TailHashLength(state->tail_hash) <= state->indexed_bytes) {
    return Plan::kAppend;
  }
  return Plan::kWhole;
}

void Count(std::mutex& mu, RefreshStats* stats, Plan plan, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu);
  if (plan == Plan::kUnchanged) ++stats->unchanged;
  if (plan == Plan::kAppend) ++stats->appended;
  if (plan == Plan::kWhole) ++stats->reread;
  stats->bytes_read += bytes;
}

// Forgets indexed files the source no longer has.
Status ForgetMissing(SessionIndex& index, const std::vector<SourceFile>& files,
                     RefreshStats* stats) {
  std::set<std::string> present;
  for (const auto& f : files) present.insert(f.rel_path);
  std::vector<std::string> known;
  CCFS_RETURN_IF_ERROR(index.ListFiles(&known));
  for (const std::string& rel : known) {
    if (present.count(rel)) continue;
    CCFS_RETURN_IF_ERROR(index.Forget(rel));
    ++stats->forgotten;
  }
  return Status::OK();
}

// ---- store ----

// Sentinel: the bytes before the old end changed, so this is no append.
Status TailChanged() { return Status::Corruption("transcript changed before the indexed end"); }

Status FetchWhole(ObjectStore& store, SessionIndex& index, const SourceFile& f, uint64_t* bytes) {
  CCFS_RETURN_IF_ERROR(index.Forget(f.rel_path));
  TranscriptFeed feed(&index, f.rel_path, FileSourceState{}, "");
  ObjectInfo info;
  Status s = ReadSource(
      store, f, 0, 0, "", [&](const char* d, size_t n) { return feed.Feed(d, n); }, &info);
  *bytes += feed.bytes_fed();
  CCFS_RETURN_IF_ERROR(s);
  FileSourceState state;
  state.size = static_cast<int64_t>(info.size);
  state.etag = info.etag.empty() ? f.etag : info.etag;
  return feed.Finish(state);
}

// Fetches only what was appended. Returns TailChanged() (nothing indexed)
// when the object is not the old one plus more bytes.
Status FetchAppended(ObjectStore& store, SessionIndex& index, const SourceFile& f,
                     const FileSourceState& old, uint64_t* bytes) {
  size_t tail_len = TailHashLength(old.tail_hash);
  uint64_t from = old.indexed_bytes - tail_len;
  std::string tail;
  std::optional<TranscriptFeed> feed;
  ObjectInfo info;
  Status s = ReadSource(
      store, f, from, static_cast<uint64_t>(f.size) - from, f.etag,
      [&](const char* d, size_t n) -> Status {
        *bytes += n;
        if (!feed) {
          size_t take = std::min(n, tail_len - tail.size());
          tail.append(d, take);
          d += take;
          n -= take;
          if (tail.size() < tail_len) return Status::OK();
          if (TailHash(tail) != old.tail_hash) return TailChanged();
          feed.emplace(&index, f.rel_path, old, std::move(tail));
        }
        return n == 0 ? Status::OK() : feed->Feed(d, n);
      },
      &info);
  CCFS_RETURN_IF_ERROR(s);
  if (!feed) {  // shorter than the tail: cannot be the same bytes
    if (tail.size() < tail_len) return TailChanged();
    feed.emplace(&index, f.rel_path, old, std::move(tail));
  }
  FileSourceState state;
  state.size = static_cast<int64_t>(info.size != 0 ? info.size : static_cast<uint64_t>(f.size));
  state.etag = info.etag.empty() ? f.etag : info.etag;
  return feed->Finish(state);
}

Status RefreshStoreFile(ObjectStore& store, SessionIndex& index, const SourceFile& f, Plan* plan,
                        uint64_t* bytes) {
  CCFS_ASSIGN_OR_RETURN(std::optional<FileSourceState> old, index.GetSourceState(f.rel_path));
  *plan = PlanFor(old, f, /*by_etag=*/true);
  if (*plan == Plan::kUnchanged) return Status::OK();
  if (*plan == Plan::kAppend) {
    Status s = FetchAppended(store, index, f, *old, bytes);
    // A tail mismatch, or the object replaced since the LIST: read it whole.
    if (s.ok() || !(s.IsCorruption() || s.IsPreconditionFailed())) return s;
    *plan = Plan::kWhole;
  }
  Status s = FetchWhole(store, index, f, bytes);
  if (s.IsNotFound()) return index.Forget(f.rel_path);  // deleted since the LIST
  return s;
}

// ---- directory ----

Status ReadFileFrom(int fd, const std::string& path, uint64_t offset, TranscriptFeed& feed) {
  std::string block(kReadBlock, '\0');
  for (uint64_t pos = offset;;) {
    ssize_t n = ::pread(fd, block.data(), block.size(), static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (n == 0) return Status::OK();
    CCFS_RETURN_IF_ERROR(feed.Feed(block.data(), static_cast<size_t>(n)));
    pos += static_cast<uint64_t>(n);
  }
}

// A local file whose bytes below `valid_from` are not there (a mount's
// tail-only transcript) cannot be read from below it: nothing changes, and
// the caller completes the file and asks again.
Status BelowValid(const SourceFile& f, uint64_t valid_from) {
  return Status::Unavailable(f.key + " holds only its bytes from " + std::to_string(valid_from) +
                             " on")
      .WithErrno(ERANGE);
}

// `valid_from`: nothing below it is read (BelowValid instead).
Status RefreshDirFile(SessionIndex& index, const SourceFile& f, Plan* plan, uint64_t* bytes,
                      uint64_t valid_from = 0) {
  CCFS_ASSIGN_OR_RETURN(std::optional<FileSourceState> old, index.GetSourceState(f.rel_path));
  *plan = PlanFor(old, f, /*by_etag=*/false);
  if (*plan == Plan::kUnchanged) return Status::OK();
  UniqueFd fd(::open(f.key.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return index.Forget(f.rel_path);  // deleted since the walk
    return Status::FromErrno("open " + f.key, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + f.key, errno);
  FileSourceState now;
  now.size = st.st_size;
  now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;

  if (*plan == Plan::kAppend) {
    size_t tail_len = TailHashLength(old->tail_hash);
    std::string tail(tail_len, '\0');
    ssize_t n = tail_len == 0 ? 0
                              : ::pread(fd.get(), tail.data(), tail_len,
                                        static_cast<off_t>(old->indexed_bytes - tail_len));
    if (old->indexed_bytes - tail_len < valid_from) return BelowValid(f, valid_from);
    if (n == static_cast<ssize_t>(tail_len) && TailHash(tail) == old->tail_hash) {
      TranscriptFeed feed(&index, f.rel_path, *old, std::move(tail));
      CCFS_RETURN_IF_ERROR(ReadFileFrom(fd.get(), f.key, old->indexed_bytes, feed));
      *bytes += feed.bytes_fed() + tail_len;
      return feed.Finish(now);
    }
    *plan = Plan::kWhole;
  }
  if (valid_from != 0) return BelowValid(f, valid_from);
  CCFS_RETURN_IF_ERROR(index.Forget(f.rel_path));
  TranscriptFeed feed(&index, f.rel_path, FileSourceState{}, "");
  CCFS_RETURN_IF_ERROR(ReadFileFrom(fd.get(), f.key, 0, feed));
  *bytes += feed.bytes_fed();
  return feed.Finish(now);
}

Status WalkProjects(const std::string& dir, std::vector<SourceFile>* out) {
  namespace fs = std::filesystem;
  fs::path root = fs::path(dir) / "projects";
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(root, ec))) return Status::OK();  // no sessions
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::IOError("walk " + root.string() + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError("walk " + root.string() + ": " + ec.message());
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    std::string rel = "projects/" + fs::relative(it->path(), root, ec).generic_string();
    if (ec || !ParseTranscriptPath(rel)) continue;
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // vanished
    SourceFile f;
    f.rel_path = rel;
    f.key = it->path().string();
    f.size = st.st_size;
    f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    out->push_back(std::move(f));
  }
  std::sort(out->begin(), out->end(),
            [](const SourceFile& a, const SourceFile& b) { return a.rel_path < b.rel_path; });
  return Status::OK();
}

std::string CacheBase() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') return x;
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
    return std::string(h) + "/.cache";
  }
  return "/tmp/ccfs-cache-" + std::to_string(::geteuid());
}

}  // namespace

Status RefreshFromStore(ObjectStore& store, const std::string& workspace, SessionIndex& index,
                        const RefreshOptions& opts, RefreshStats* stats) {
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  *stats = RefreshStats{};
  std::vector<SourceFile> files;
  CurrentRoot root;
  Status rooted = ReadRoot(store, workspace, &root);
  auto reader = std::make_shared<TreeFileReader>(store, workspace);
  if (rooted.ok()) {
    // Layout v2: the transcripts are entries of the root's tree.
    for (const SegmentRef& ref : root.root.segments) {
      IndexSegment seg;
      CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg));
      for (IndexEntry& e : seg.entries) {
        if (e.type != EntryType::kFile || !IsTranscriptPath(e.path) ||
            !ParseTranscriptPath(e.path)) {
          continue;
        }
        auto entry = std::make_shared<const IndexEntry>(std::move(e));
        SourceFile f{entry->path,           "",     static_cast<int64_t>(entry->size), 0,
                     EntryBytesTag(*entry), nullptr};
        f.read = [reader, entry](uint64_t offset, uint64_t length, const ByteSink& sink) {
          return reader->Read(*entry, offset, length, sink);
        };
        files.push_back(std::move(f));
      }
    }
  } else if (rooted.IsNotFound()) {
    ListOptions lo;
    lo.prefix = TranscriptPrefix(workspace);
    ListResult listed;
    CCFS_RETURN_IF_ERROR(store.List(lo, &listed).Annotate("list " + lo.prefix));
    const size_t strip = workspace.size() + 1;  // "<W>/"
    for (const ObjectInfo& o : listed.objects) {
      std::string rel = o.key.substr(strip);
      if (!IsTranscriptPath(rel) || !ParseTranscriptPath(rel)) continue;
      files.push_back({rel, o.key, static_cast<int64_t>(o.size), 0, o.etag, nullptr});
    }
  } else {
    return rooted.Annotate("reading the workspace root");
  }
  stats->files = files.size();
  CCFS_RETURN_IF_ERROR(ForgetMissing(index, files, stats));
  std::mutex mu;
  return ParallelFor(files.size(), opts.parallel, [&](size_t i) {
    Plan plan = Plan::kUnchanged;
    uint64_t bytes = 0;
    Status s = RefreshStoreFile(store, index, files[i], &plan, &bytes);
    Count(mu, stats, plan, bytes);
    return s.ok() ? s : s.Annotate(files[i].key);
  });
}

Status RefreshFromDir(const std::string& dir, SessionIndex& index, const RefreshOptions& opts,
                      RefreshStats* stats) {
  *stats = RefreshStats{};
  std::vector<SourceFile> files;
  CCFS_RETURN_IF_ERROR(WalkProjects(dir, &files));
  stats->files = files.size();
  CCFS_RETURN_IF_ERROR(ForgetMissing(index, files, stats));
  std::mutex mu;
  return ParallelFor(files.size(), opts.parallel, [&](size_t i) {
    Plan plan = Plan::kUnchanged;
    uint64_t bytes = 0;
    Status s = RefreshDirFile(index, files[i], &plan, &bytes);
    Count(mu, stats, plan, bytes);
    return s;
  });
}

Result<std::unique_ptr<SessionIndex>> OpenCachedIndex(const std::string& db_path) {
  if (db_path == ":memory:") return SessionIndex::Open(db_path);
  std::string dir = db_path.substr(0, db_path.rfind('/'));
  std::string cur;
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    cur = dir.substr(0, pos);
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + cur, errno);
    }
  }
  // The index holds transcript text: create it private before SQLite opens it.
  auto create_private = [&]() -> Status {
    UniqueFd fd(::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    return fd.valid() ? Status::OK() : Status::FromErrno("create " + db_path, errno);
  };
  CCFS_RETURN_IF_ERROR(create_private());
  auto index = SessionIndex::Open(db_path);
  if (index.ok() || index.status().IsInvalidArgument()) return index;
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db_path + suffix).c_str());
  CCFS_RETURN_IF_ERROR(create_private());
  return SessionIndex::Open(db_path);
}

Status RefreshLocalFile(SessionIndex& index, const std::string& rel_path,
                        const std::string& local_path, RefreshStats* stats, uint64_t valid_from) {
  *stats = RefreshStats{};
  if (!ParseTranscriptPath(rel_path)) {
    return Status::InvalidArgument(rel_path + " is not a session or subagent transcript path");
  }
  struct stat st;
  if (::stat(local_path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::FromErrno("stat " + local_path, errno);
    ++stats->forgotten;
    return index.Forget(rel_path);
  }
  SourceFile f;
  f.rel_path = rel_path;
  f.key = local_path;
  f.size = st.st_size;
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  stats->files = 1;
  std::mutex mu;
  Plan plan = Plan::kUnchanged;
  uint64_t bytes = 0;
  Status s = RefreshDirFile(index, f, &plan, &bytes, valid_from);
  Count(mu, stats, plan, bytes);
  return s;
}

std::string SessionCacheRoot() { return CacheBase() + "/ccfs/sessions"; }

std::string StoreIndexPath(const std::string& store_url, const std::string& workspace) {
  return SessionCacheRoot() + "/" + Sha256Hex(store_url).substr(0, 16) + "/" + workspace + ".db";
}

std::string DirIndexPath(const std::string& abs_dir) {
  return SessionCacheRoot() + "/dir-" + Sha256Hex(abs_dir).substr(0, 16) + ".db";
}

}  // namespace ccfs
