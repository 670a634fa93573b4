// CacheDir: where a mount keeps its state on local disk.
//
//   <cache>/meta.db            SQLite: inode table, file states, base ETags (fs/tree/meta_db.h)
//   <cache>/content/<ino>      a file's bytes once hydrated or written
//   <cache>/index/<etag>.idx   the base tarball's TarIndex, cached by ETag
//   <cache>/tmp/               partial downloads, flush snapshots, new tarballs
//   <cache>/mount.log          the daemon's log
//
// The default cache is ~/.cache/ccfs/<store-hash>/<workspace>/ (XDG_CACHE_HOME
// honoured), mode 0700: the content can hold credentials.
#pragma once

#include <cstdint>
#include <string>

#include "store/base/status.h"

namespace ccfs {

class CacheDir {
 public:
  explicit CacheDir(std::string root) : root_(std::move(root)) {}

  // Creates the directory tree (0700) and checks it is ours.
  Status Prepare() const;

  const std::string& root() const { return root_; }
  std::string DbPath() const { return root_ + "/meta.db"; }
  std::string ContentDir() const { return root_ + "/content"; }
  std::string ContentPath(uint64_t ino) const;
  std::string IndexPath(const std::string& etag) const;
  std::string TmpDir() const { return root_ + "/tmp"; }
  std::string LogPath() const { return root_ + "/mount.log"; }

 private:
  std::string root_;
};

// ~/.cache/ccfs/<first 16 hex of sha256(store_url)>/<workspace>
std::string DefaultCacheRoot(const std::string& store_url, const std::string& workspace);

// mkdir -p with `mode` for the directories it creates.
Status MakeDirs(const std::string& path, uint32_t mode);

// Removes a directory tree (no symlink is followed). Missing is fine.
Status RemoveTree(const std::string& path);

}  // namespace ccfs
