#include "store/objects/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "store/base/path_util.h"
#include "store/base/unique_fd.h"

namespace ccfs {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;
// ccfs's own bookkeeping (temp files, the lock file) lives here; LIST never
// shows it and no key may start with it.
constexpr char kMetaDir[] = ".ccfs-store";
// Temp files older than this are leftovers of a crashed PUT.
constexpr time_t kStaleTempSeconds = 24 * 3600;

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// Unlinks a temp file on scope exit unless Release()d (after the rename).
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

bool IsMissing(int err) { return err == ENOENT || err == ENOTDIR; }

// The ETag is derived from the inode, not from the content:
// hex(SHA-256(size, mtime ns, inode, ctime ns))[0:32].
// Why not an MD5 of the content kept in an xattr or sidecar: that record goes
// stale the moment anything but ccfs touches the file (an editor, rsync,
// `cp` into the store dir) and would then vouch for bytes it never saw;
// user xattrs are also missing on some filesystems (older tmpfs, some NFS).
// The stat fingerprint cannot disagree with the file it describes, costs one
// stat (LIST needs that anyway), and changes on every replacement: a PUT
// renames a new inode into place (two live inodes never share a number) and
// stamps it with a fine-grained CLOCK_REALTIME mtime, so even an inode number
// reused after a DELETE comes with a different mtime. The cost: a store dir
// copied elsewhere (cp, rsync, restore) gets new ETags, so caches refetch and
// a mount based on the old ETag meets a 412 and merges, losing nothing.
std::string EtagOf(const struct stat& st) {
  const int64_t fields[] = {
      static_cast<int64_t>(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
      static_cast<int64_t>(st.st_ino),  st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(fields, sizeof(fields), digest, &digest_len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < 16 && i < digest_len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

ObjectInfo InfoOf(const std::string& key, const struct stat& st) {
  ObjectInfo info;
  info.key = key;
  info.size = static_cast<uint64_t>(st.st_size);
  info.etag = EtagOf(st);
  info.mtime_unix = st.st_mtim.tv_sec;
  return info;
}

// Callers may pass the quoted form S3 uses on the wire ("\"abc\"").
std::string Unquoted(const std::string& etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

// Creates `path` and any missing parents with mode 0700.
Status MakeDirs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::IOError(path + ": exists and is not a directory");
  }
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    CCFS_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno("mkdir " + path, errno);
  }
  return Status::OK();
}

void FsyncDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
}

// Fills a temp file and reports how many body bytes it wrote.
using BodyWriter = std::function<Status(int fd, uint64_t* written)>;

class FileStore : public ObjectStore {
 public:
  explicit FileStore(std::string root) : root_(std::move(root)) {}

  Status Head(const std::string& key, ObjectInfo* info) override {
    stats_.requests++;
    CCFS_RETURN_IF_ERROR(CheckKey(key));
    struct stat st;
    if (::lstat(PathOf(key).c_str(), &st) != 0) {
      if (IsMissing(errno)) return NotFoundError(key);
      return Status::FromErrno("stat " + PathOf(key), errno);
    }
    if (!S_ISREG(st.st_mode)) return NotFoundError(key);
    if (info != nullptr) *info = InfoOf(key, st);
    return Status::OK();
  }

  Status Get(const std::string& key, const GetOptions& opts, const ByteSink& sink,
             ObjectInfo* info) override {
    stats_.requests++;
    CCFS_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      if (IsMissing(errno) || errno == ELOOP) return NotFoundError(key);
      return Status::FromErrno("open " + path, errno);
    }
    // The ETag of the opened file is the ETag of the bytes we read: a PUT
    // renames a new inode into place, it never rewrites this one.
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("fstat " + path, errno);
    if (!S_ISREG(st.st_mode)) return NotFoundError(key);
    ObjectInfo current = InfoOf(key, st);
    if (!opts.if_match.empty() && Unquoted(opts.if_match) != current.etag) {
      return Status::PreconditionFailed(Describe() + "/" + key + ": ETag is " + current.etag +
                                        ", not " + Unquoted(opts.if_match));
    }
    if (info != nullptr) *info = current;

    uint64_t begin = 0;
    uint64_t end = current.size;
    if (opts.range.has_value()) {
      begin = std::min(opts.range->offset, current.size);
      end = begin + std::min(opts.range->length, current.size - begin);
    }
    std::vector<char> buf(kChunkBytes);
    while (begin < end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, end - begin));
      ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(begin));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("read " + path, errno);
      }
      if (n == 0) return Status::Corruption(path + ": shrank while being read");
      stats_.bytes_received += static_cast<uint64_t>(n);
      CCFS_RETURN_IF_ERROR(sink(buf.data(), static_cast<size_t>(n)));
      begin += static_cast<uint64_t>(n);
    }
    return Status::OK();
  }

  Status PutFile(const std::string& key, const std::string& local_path, const PutOptions& opts,
                 ObjectInfo* info) override {
    return Put(
        key, opts,
        [&local_path](int out, uint64_t* written) {
          UniqueFd in(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
          if (!in.valid()) return Status::FromErrno("open " + local_path, errno);
          std::vector<char> buf(kChunkBytes);
          for (;;) {
            ssize_t n = ::read(in.get(), buf.data(), buf.size());
            if (n < 0) {
              if (errno == EINTR) continue;
              return Status::FromErrno("read " + local_path, errno);
            }
            if (n == 0) return Status::OK();
            CCFS_RETURN_IF_ERROR(WriteAll(out, buf.data(), static_cast<size_t>(n), "temp file"));
            *written += static_cast<uint64_t>(n);
          }
        },
        info);
  }

  Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                  ObjectInfo* info) override {
    return Put(
        key, opts,
        [&body](int out, uint64_t* written) {
          CCFS_RETURN_IF_ERROR(WriteAll(out, body.data(), body.size(), "temp file"));
          *written = body.size();
          return Status::OK();
        },
        info);
  }

  Status Copy(const std::string& src, const std::string& dst, const PutOptions& opts,
              ObjectInfo* info) override {
    CCFS_RETURN_IF_ERROR(CheckKey(src));
    const std::string from = PathOf(src);
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in.valid()) {
      if (IsMissing(errno) || errno == ELOOP) return NotFoundError(src);
      return Status::FromErrno("open " + from, errno);
    }
    if (!opts.copy_source_if_match.empty()) {
      // The open file is one version (a PUT renames a new inode into place):
      // its ETag is the ETag of the bytes this copies.
      struct stat st;
      if (::fstat(in.get(), &st) != 0) return Status::FromErrno("stat " + from, errno);
      const std::string etag = InfoOf(src, st).etag;
      if (etag != opts.copy_source_if_match) {
        return Status::PreconditionFailed("copy source " + src + " is now " + etag + ", not " +
                                          opts.copy_source_if_match);
      }
    }
    uint64_t copied = 0;
    Status s = Put(
        dst, opts,
        [&](int out, uint64_t* written) {
          std::vector<char> buf(kChunkBytes);
          for (;;) {
            ssize_t n = ::read(in.get(), buf.data(), buf.size());
            if (n < 0) {
              if (errno == EINTR) continue;
              return Status::FromErrno("read " + from, errno);
            }
            if (n == 0) return Status::OK();
            CCFS_RETURN_IF_ERROR(WriteAll(out, buf.data(), static_cast<size_t>(n), "temp file"));
            *written += static_cast<uint64_t>(n);
            copied += static_cast<uint64_t>(n);
          }
        },
        info);
    // Put counted the body as sent; a copy inside the store sends nothing.
    stats_.bytes_sent -= copied;
    return s;
  }

  Status List(const ListOptions& opts, ListResult* out) override {
    stats_.requests++;
    out->objects.clear();
    out->common_prefixes.clear();
    // Walk from the deepest directory the prefix names ("ws/pro" -> "ws/").
    const std::string& prefix = opts.prefix;
    size_t slash = prefix.rfind('/');
    std::string start = slash == std::string::npos ? std::string() : prefix.substr(0, slash + 1);
    // A malformed directory part ("../", "a//") can match no valid key; it
    // must not lead the walk outside the root either.
    if (!start.empty() && !ValidateKey(start.substr(0, start.size() - 1)).ok()) {
      return Status::OK();
    }
    if (IsReserved(start)) return Status::OK();
    std::set<std::string> prefixes;
    CCFS_RETURN_IF_ERROR(Walk(start, opts, &out->objects, &prefixes));
    std::sort(out->objects.begin(), out->objects.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    out->common_prefixes.assign(prefixes.begin(), prefixes.end());
    return Status::OK();
  }

  Status Delete(const std::string& key) override {
    stats_.requests++;
    CCFS_RETURN_IF_ERROR(CheckKey(key));
    struct stat st;
    if (::stat(root_.c_str(), &st) != 0 && IsMissing(errno)) return Status::OK();
    UniqueFd lock;
    CCFS_RETURN_IF_ERROR(LockStore(&lock));
    const std::string path = PathOf(key);
    if (::unlink(path.c_str()) != 0) {
      // Nothing to delete; a "directory" key ("a" while "a/b" exists) is no
      // object either, and deleting a missing object succeeds, as on S3.
      if (IsMissing(errno) || errno == EISDIR) return Status::OK();
      return Status::FromErrno("unlink " + path, errno);
    }
    RemoveEmptyParents(key);
    FsyncDir(ParentOf(path));
    return Status::OK();
  }

  std::string Describe() const override { return "file://" + root_; }

 private:
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }
  std::string MetaPath(const std::string& name) const {
    return root_ + "/" + kMetaDir + "/" + name;
  }
  static bool IsReserved(const std::string& key_or_prefix) {
    const size_t n = sizeof(kMetaDir) - 1;
    return key_or_prefix.compare(0, n, kMetaDir) == 0 &&
           (key_or_prefix.size() == n || key_or_prefix[n] == '/');
  }
  Status NotFoundError(const std::string& key) const {
    return Status::NotFound(Describe() + "/" + key + ": no such object");
  }

  Status CheckKey(const std::string& key) const {
    CCFS_RETURN_IF_ERROR(ValidateKey(key));
    if (IsReserved(key)) {
      return Status::InvalidArgument("object key '" + key + "' is inside " + kMetaDir +
                                     "/, which the file store keeps for itself");
    }
    return Status::OK();
  }

  // Creates the root (0700) and the bookkeeping dirs; once per store object,
  // sweeping temp files a crashed PUT left behind.
  Status EnsureMetaDirs() {
    std::lock_guard<std::mutex> guard(meta_mu_);
    if (meta_ready_) return Status::OK();
    CCFS_RETURN_IF_ERROR(MakeDirs(MetaPath("tmp")));
    SweepStaleTemps();
    meta_ready_ = true;
    return Status::OK();
  }

  void SweepStaleTemps() {
    const std::string dir = MetaPath("tmp");
    UniqueDir d(::opendir(dir.c_str()));
    if (!d) return;
    const time_t now = ::time(nullptr);
    while (struct dirent* e = ::readdir(d.get())) {
      struct stat st;
      if (e->d_name[0] == '.') continue;
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISREG(st.st_mode) && now - st.st_mtim.tv_sec > kStaleTempSeconds) {
        ::unlinkat(::dirfd(d.get()), e->d_name, 0);
      }
    }
  }

  // An exclusive flock on a per-store lock file serialises the
  // check-then-rename of PUT and the unlink-and-prune of DELETE, across
  // threads (each call opens its own descriptor) and processes.
  Status LockStore(UniqueFd* lock) {
    CCFS_RETURN_IF_ERROR(EnsureMetaDirs());
    const std::string path = MetaPath("lock");
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) return Status::FromErrno("open " + path, errno);
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return Status::FromErrno("flock " + path, errno);
    }
    *lock = std::move(fd);  // closing the descriptor releases the lock
    return Status::OK();
  }

  Status Put(const std::string& key, const PutOptions& opts, const BodyWriter& write_body,
             ObjectInfo* info) {
    stats_.requests++;
    CCFS_RETURN_IF_ERROR(CheckKey(key));
    CCFS_RETURN_IF_ERROR(EnsureMetaDirs());

    // 1. The body goes to a temp file on the same filesystem, fully synced,
    //    before any lock is taken.
    std::string tmp_path = MetaPath("tmp/put-XXXXXX");
    UniqueFd tmp(::mkostemp(tmp_path.data(), O_CLOEXEC));
    if (!tmp.valid()) return Status::FromErrno("create temp file in " + MetaPath("tmp"), errno);
    TempFileGuard remove_tmp(tmp_path);
    uint64_t written = 0;
    CCFS_RETURN_IF_ERROR(write_body(tmp.get(), &written));
    stats_.bytes_sent += written;
    struct timespec now[2];
    ::clock_gettime(CLOCK_REALTIME, &now[0]);  // fine-grained, see EtagOf
    now[1] = now[0];
    if (::futimens(tmp.get(), now) != 0) return Status::FromErrno("futimens " + tmp_path, errno);
    if (::fsync(tmp.get()) != 0) return Status::FromErrno("fsync " + tmp_path, errno);

    // 2. Under the store lock: check the precondition and rename into place.
    UniqueFd lock;
    CCFS_RETURN_IF_ERROR(LockStore(&lock));
    const std::string path = PathOf(key);
    struct stat st;
    bool exists = false;
    if (::lstat(path.c_str(), &st) == 0) {
      // An empty directory (a prune that lost a race) is no object and no
      // collision either: take its place.
      if (S_ISDIR(st.st_mode) && ::rmdir(path.c_str()) != 0) {
        return Status::InvalidArgument("cannot put '" + key + "' in " + Describe() +
                                       ": other objects live under '" + key + "/'");
      }
      if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        return Status::InvalidArgument(path + " is not a regular file; cannot replace it");
      }
      exists = S_ISREG(st.st_mode);
    } else if (!IsMissing(errno)) {
      return Status::FromErrno("stat " + path, errno);
    }
    if (opts.if_none_match_any && exists) {
      return Status::PreconditionFailed(Describe() + "/" + key +
                                        " already exists (If-None-Match: *)");
    }
    if (!opts.if_match.empty()) {
      if (!exists) {
        return Status::PreconditionFailed(
            Describe() + "/" + key + " does not exist (If-Match: " + Unquoted(opts.if_match) + ")");
      }
      std::string current = EtagOf(st);
      if (current != Unquoted(opts.if_match)) {
        return Status::PreconditionFailed(Describe() + "/" + key + ": ETag is " + current +
                                          ", not " + Unquoted(opts.if_match));
      }
    }
    CCFS_RETURN_IF_ERROR(MakeParents(key));
    if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
      return Status::FromErrno("rename into " + path, errno);
    }
    remove_tmp.Release();
    FsyncDir(ParentOf(path));
    // rename() may touch the inode's ctime, so read the ETag after it.
    if (::fstat(tmp.get(), &st) != 0) return Status::FromErrno("fstat " + path, errno);
    if (info != nullptr) *info = InfoOf(key, st);
    return Status::OK();
  }

  // Creates the directories above `key` (caller holds the lock). A segment
  // that is already an object is a key collision.
  Status MakeParents(const std::string& key) {
    size_t pos = 0;
    while ((pos = key.find('/', pos)) != std::string::npos) {
      const std::string dir_key = key.substr(0, pos);
      const std::string dir = PathOf(dir_key);
      if (::mkdir(dir.c_str(), 0700) == 0) {
        FsyncDir(ParentOf(dir));
      } else if (errno == EEXIST) {
        struct stat st;
        if (::lstat(dir.c_str(), &st) != 0) return Status::FromErrno("stat " + dir, errno);
        if (!S_ISDIR(st.st_mode)) {
          return Status::InvalidArgument("cannot put '" + key + "' in " + Describe() +
                                         ": object '" + dir_key + "' exists");
        }
      } else if (errno == ENOTDIR) {
        return Status::InvalidArgument("cannot put '" + key + "' in " + Describe() +
                                       ": a parent of it is an object");
      } else {
        return Status::FromErrno("mkdir " + dir, errno);
      }
      ++pos;
    }
    return Status::OK();
  }

  // Empty directories are not objects: prune them up to the root, best effort
  // (rmdir fails harmlessly on the first one that still has entries).
  void RemoveEmptyParents(const std::string& key) {
    std::string dir_key = ParentOf(key);
    while (!dir_key.empty()) {
      if (::rmdir(PathOf(dir_key).c_str()) != 0) return;
      dir_key = ParentOf(dir_key);
    }
  }

  // Adds the objects (and delimiter groups) under directory `dir_key`
  // ("" for the root, else ending in '/') whose keys start with the prefix.
  Status Walk(const std::string& dir_key, const ListOptions& opts, std::vector<ObjectInfo>* objects,
              std::set<std::string>* prefixes) {
    const std::string dir = dir_key.empty() ? root_ : PathOf(dir_key.substr(0, dir_key.size() - 1));
    UniqueDir d(::opendir(dir.c_str()));
    if (!d) {
      // A missing root or prefix directory lists as empty, as does a
      // directory removed by a concurrent DELETE.
      if (IsMissing(errno)) return Status::OK();
      return Status::FromErrno("opendir " + dir, errno);
    }
    const std::string& prefix = opts.prefix;
    const std::string& delim = opts.delimiter;
    errno = 0;
    while (struct dirent* e = ::readdir(d.get())) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (dir_key.empty() && name == kMetaDir) continue;
      const std::string key = dir_key + name;
      struct stat st;
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(st.st_mode)) {
        if (key.compare(0, prefix.size(), prefix) != 0) continue;
        size_t cut = delim.empty() ? std::string::npos : key.find(delim, prefix.size());
        if (cut == std::string::npos) {
          objects->push_back(InfoOf(key, st));
        } else {
          prefixes->insert(key.substr(0, cut + delim.size()));
        }
      } else if (S_ISDIR(st.st_mode)) {
        const std::string sub = key + "/";
        const bool under_prefix = sub.compare(0, prefix.size(), prefix) == 0;
        if (!under_prefix && prefix.compare(0, sub.size(), sub) != 0) continue;
        // Every key below `sub` falls into one delimiter group once the
        // delimiter shows up in `sub` past the prefix: the group needs only
        // to be known non-empty, not listed.
        size_t cut =
            (delim.empty() || !under_prefix) ? std::string::npos : sub.find(delim, prefix.size());
        if (cut != std::string::npos) {
          std::string group = sub.substr(0, cut + delim.size());
          if (prefixes->count(group) == 0 && HasAnyObject(sub)) prefixes->insert(group);
          continue;
        }
        CCFS_RETURN_IF_ERROR(Walk(sub, opts, objects, prefixes));
      }
      errno = 0;
    }
    if (errno != 0) return Status::FromErrno("readdir " + dir, errno);
    return Status::OK();
  }

  // True if some regular file lives below directory `dir_key` (ends in '/').
  bool HasAnyObject(const std::string& dir_key) {
    UniqueDir d(::opendir(PathOf(dir_key.substr(0, dir_key.size() - 1)).c_str()));
    if (!d) return false;
    while (struct dirent* e = ::readdir(d.get())) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(st.st_mode)) return true;
      if (S_ISDIR(st.st_mode) && HasAnyObject(dir_key + name + "/")) return true;
    }
    return false;
  }

  const std::string root_;
  std::mutex meta_mu_;
  bool meta_ready_ = false;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenFileStore(const std::string& root) {
  if (root.empty() || root.front() != '/') {
    return Status::InvalidArgument("file store root must be an absolute path (file:///dir), got '" +
                                   root + "'");
  }
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (clean == "/") return Status::InvalidArgument("refusing to use / as a file store root");
  return std::unique_ptr<ObjectStore>(std::make_unique<FileStore>(std::move(clean)));
}

}  // namespace ccfs
