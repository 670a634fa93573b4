// ContentCache: the local bytes of hydrated and written files, one file per
// inode (<cache>/content/<ino>), and a bounded set of open descriptors to
// them so that reads and writes do not pay an open(2) each.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fs/cache_dir.h"
#include "store/unique_fd.h"

namespace ccfs {

class ContentCache {
 public:
  explicit ContentCache(const CacheDir* dir, size_t max_open = 256)
      : dir_(dir), max_open_(max_open) {}

  std::string Path(uint64_t ino) const { return dir_->ContentPath(ino); }

  // An O_RDWR descriptor of the inode's content file (ENOENT if it has none).
  // The shared_ptr keeps it open while in use even if evicted meanwhile.
  Result<std::shared_ptr<UniqueFd>> Open(uint64_t ino);

  // Creates (or truncates to) an empty content file.
  Status CreateEmpty(uint64_t ino);

  // Makes the content directory's entries (files created or installed so
  // far) durable against power loss.
  Status SyncDir();

  // Installs a fully written temporary file as the inode's content.
  Status Install(uint64_t ino, const std::string& tmp_path);

  // Closes the cached descriptor and deletes the content file.
  Status Remove(uint64_t ino);

  // Closes every cached descriptor.
  void CloseAll();

  // A fresh path in the cache's tmp dir ("<tmp>/<prefix>.<unique>").
  std::string TempPath(const std::string& prefix);

 private:
  void Evict(uint64_t ino);

  const CacheDir* dir_;
  size_t max_open_;
  std::mutex mu_;
  std::list<uint64_t> lru_;  // front = most recent
  struct Slot {
    std::shared_ptr<UniqueFd> fd;
    std::list<uint64_t>::iterator pos;
  };
  std::unordered_map<uint64_t, Slot> open_;
  uint64_t temp_counter_ = 0;
};

}  // namespace ccfs
