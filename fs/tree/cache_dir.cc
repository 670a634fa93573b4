#include "fs/tree/cache_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "store/objects/local_file.h"
#include "store/objects/sigv4.h"  // Sha256Hex

namespace ccfs {

std::string CacheDir::ContentPath(uint64_t ino) const {
  return ContentDir() + "/" + std::to_string(ino);
}

std::string CacheDir::IndexPath(const std::string& etag) const {
  // ETags are hex (optionally "-N" for multipart); keep only safe characters.
  std::string safe;
  for (char c : etag) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_';
    safe += ok ? c : '_';
  }
  return root_ + "/index/" + safe + ".idx";
}

Status CacheDir::Prepare() const {
  CCFS_RETURN_IF_ERROR(MakeDirs(root_, 0700));
  struct stat st;
  if (::lstat(root_.c_str(), &st) != 0) return Status::FromErrno("stat " + root_, errno);
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("cache " + root_ + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return Status::PermissionDenied("cache " + root_ + " belongs to another user");
  }
  // The content may include credentials: nobody else may look in.
  if ((st.st_mode & 0077) != 0 && ::chmod(root_.c_str(), 0700) != 0) {
    return Status::FromErrno("chmod " + root_, errno);
  }
  for (const std::string& sub : {ContentDir(), root_ + "/index", TmpDir()}) {
    if (::mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + sub, errno);
    }
  }
  return Status::OK();
}

std::string DefaultCacheRoot(const std::string& store_url, const std::string& workspace) {
  return UserCacheBase() + "/ccfs/" + Sha256Hex(store_url).substr(0, 16) + "/" + workspace;
}

Status MakeDirs(const std::string& path, uint32_t mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    if (!cur.empty() && ::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + cur, errno);
    }
    pos = next + 1;
  }
  return Status::OK();
}

namespace {
struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
}  // namespace

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::OK() : Status::FromErrno("stat " + path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
    if (!dir) return Status::FromErrno("opendir " + path, errno);
    while (struct dirent* e = ::readdir(dir.get())) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      CCFS_RETURN_IF_ERROR(RemoveTree(path + "/" + name));
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("rmdir " + path, errno);
    }
    return Status::OK();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno("unlink " + path, errno);
  }
  return Status::OK();
}

}  // namespace ccfs
