// Local-file helpers shared by the transfer paths: temp files that clean up
// after themselves, downloads into files, and creating files beneath a root
// without ever following a symlink out of it.
#pragma once

#include <sys/types.h>

#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

// A file made with mkstemp, removed when the TempFile goes away.
class TempFile {
 public:
  static Result<TempFile> Create(const std::string& dir, const std::string& prefix);
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();
  const std::string& path() const { return path_; }

 private:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The user's cache directory: $XDG_CACHE_HOME (when absolute), else
// $HOME/.cache, else /tmp/ccfs-cache-<uid>.
std::string UserCacheBase();

// The directory part of `path` ("." when it has none).
std::string ParentDir(const std::string& path);

// OK when `dir` does not exist or is an empty directory.
Status CheckAbsentOrEmptyDir(const std::string& dir);

// Streams an object into `path` (created or truncated), then fsyncs it.
Status DownloadToFile(ObjectStore& store, const std::string& key, const GetOptions& opts,
                      const std::string& path);

// Downloads an object to `root`/`rel`, creating missing parent directories.
// No component of `rel` may be a symlink or escape `root` (InvalidArgument
// otherwise); the file must not exist yet.
Status DownloadBeneath(ObjectStore& store, const std::string& key, const std::string& root,
                       const std::string& rel, mode_t mode);

}  // namespace ccfs
