#include "store/objects/local_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <vector>

#include "store/base/unique_fd.h"

namespace ccfs {

namespace {

// openat2 confined to `dirfd`: no symlinks, no "..", nothing outside.
int OpenBeneath(int dirfd, const std::string& rel, int flags, mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof(how)));
}

}  // namespace

Result<TempFile> TempFile::Create(const std::string& dir, const std::string& prefix) {
  std::string tmpl = dir + "/" + prefix + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) return Status::FromErrno("creating a temp file in " + dir, errno);
  ::close(fd);
  return TempFile(std::string(buf.data()));
}

TempFile::TempFile(TempFile&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) ::unlink(path_.c_str());
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::string UserCacheBase() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') return x;
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
    return std::string(h) + "/.cache";
  }
  return "/tmp/ccfs-cache-" + std::to_string(::geteuid());
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status CheckAbsentOrEmptyDir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno(dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " exists and is not a directory");
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) return Status::FromErrno(dir, errno);
  while (struct dirent* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (n != "." && n != "..") {
      return Status::InvalidArgument(dir + " is not empty; give a new or empty directory");
    }
  }
  return Status::OK();
}

namespace {

Status StreamInto(ObjectStore& store, const std::string& key, const GetOptions& opts, int fd,
                  const std::string& what) {
  Status s = store.Get(
      key, opts,
      [&](const char* data, size_t len) -> Status { return WriteAll(fd, data, len, what); },
      nullptr);
  CCFS_RETURN_IF_ERROR(s);
  if (::fsync(fd) != 0) return Status::FromErrno("fsync " + what, errno);
  return Status::OK();
}

}  // namespace

Status DownloadToFile(ObjectStore& store, const std::string& key, const GetOptions& opts,
                      const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(path, errno);
  return StreamInto(store, key, opts, fd.get(), path);
}

Status DownloadBeneath(ObjectStore& store, const std::string& key, const std::string& root,
                       const std::string& rel, mode_t mode) {
  if (!ValidateKey(rel).ok()) return Status::InvalidArgument("unsafe path " + rel);
  UniqueFd rootfd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd.valid()) return Status::FromErrno(root, errno);
  // Create each missing parent, refusing symlinks anywhere on the way.
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    std::string dir = rel.substr(0, slash);
    UniqueFd d(OpenBeneath(rootfd.get(), dir, O_RDONLY | O_DIRECTORY, 0));
    if (d.valid()) continue;
    if (errno == ENOENT) {
      if (::mkdirat(rootfd.get(), dir.c_str(), 0755) == 0 || errno == EEXIST) {
        UniqueFd check(OpenBeneath(rootfd.get(), dir, O_RDONLY | O_DIRECTORY, 0));
        if (check.valid()) continue;
      }
    }
    if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR) {
      return Status::InvalidArgument("not written: " + dir + " is a symlink or not a directory");
    }
    return Status::FromErrno(root + "/" + dir, errno);
  }
  UniqueFd fd(OpenBeneath(rootfd.get(), rel, O_WRONLY | O_CREAT | O_EXCL, mode));
  if (!fd.valid()) {
    if (errno == ELOOP || errno == EXDEV || errno == EEXIST) {
      return Status::InvalidArgument("not written: " + rel + " exists or is a symlink");
    }
    return Status::FromErrno(root + "/" + rel, errno);
  }
  ::fchmod(fd.get(), mode);  // not subject to the umask
  return StreamInto(store, key, GetOptions(), fd.get(), root + "/" + rel);
}

}  // namespace ccfs
