// ContentCache: the local bytes of hydrated and written files, one file per
// inode (<cache>/content/<ino>), and a bounded set of open descriptors to
// them so that reads and writes do not pay an open(2) each.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fs/tree/cache_dir.h"
#include "store/base/unique_fd.h"

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

  // Whether `bytes` more file data may go into the cache: 0, or ENOSPC when
  // it would leave less than the reserve free on the cache filesystem. The
  // reserve is for metadata: with the data side stopped short of it, a full
  // cache still records rm, mv, mkdir and the like (and so lets the user
  // free space) instead of refusing them, and a remount still starts.
  // Cheap: the free space is re-read at most every 50 ms unless close.
  // `ticket` holds the bytes as in flight until it goes (after the write):
  // free space read meanwhile does not show them yet.
  class DataTicket {
   public:
    DataTicket() = default;
    ~DataTicket();
    DataTicket(const DataTicket&) = delete;
    DataTicket& operator=(const DataTicket&) = delete;

   private:
    friend class ContentCache;
    ContentCache* cache_ = nullptr;
    uint64_t bytes_ = 0;
  };
  int AdmitData(uint64_t bytes, DataTicket* ticket);
  void set_reserve_bytes(uint64_t bytes) { reserve_bytes_ = bytes; }
  uint64_t reserve_bytes() const { return reserve_bytes_; }

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
  std::atomic<uint64_t> reserve_bytes_{8ull << 20};
  std::mutex space_mu_;
  int64_t space_checked_ns_ = 0;         // GUARDED_BY(space_mu_)
  uint64_t space_avail_ = 0;             // GUARDED_BY(space_mu_)
  uint64_t space_in_flight_ = 0;         // GUARDED_BY(space_mu_): admitted, not yet written
  int64_t space_refused_logged_ns_ = 0;  // GUARDED_BY(space_mu_)
};

}  // namespace ccfs
