#include "fs/tree/content_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "store/base/clock.h"

namespace ccfs {

Result<std::shared_ptr<UniqueFd>> ContentCache::Open(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = open_.find(ino); it != open_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    return it->second.fd;
  }
  std::string path = Path(ino);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return err == ENOENT ? Status::NotFound("content of inode " + std::to_string(ino))
                         : Status::FromErrno("open " + path, err);
  }
  auto holder = std::make_shared<UniqueFd>(fd);
  while (open_.size() >= max_open_ && !lru_.empty()) {
    open_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(ino);
  open_[ino] = Slot{holder, lru_.begin()};
  return holder;
}

void ContentCache::Evict(uint64_t ino) {
  auto it = open_.find(ino);
  if (it == open_.end()) return;
  lru_.erase(it->second.pos);
  open_.erase(it);
}

Status ContentCache::CreateEmpty(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  Evict(ino);
  std::string path = Path(ino);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  ::close(fd);
  return Status::OK();
}

int ContentCache::AdmitData(uint64_t bytes, DataTicket* ticket) {
  const uint64_t reserve = reserve_bytes_.load();
  if (reserve == 0) return 0;
  std::lock_guard<std::mutex> lock(space_mu_);
  const int64_t now = MonotonicNs();
  // Re-read when stale, or when this request comes near the reserve.
  const bool near = space_avail_ < bytes + 2 * reserve;
  if (near || now - space_checked_ns_ > 50 * 1000000) {
    struct statvfs st;
    if (::statvfs(dir_->ContentDir().c_str(), &st) != 0) return 0;  // cannot tell: let it try
    const uint64_t avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    // Writes admitted and not yet done are not in statvfs's answer.
    space_avail_ = avail > space_in_flight_ ? avail - space_in_flight_ : 0;
    space_checked_ns_ = now;
  }
  if (space_avail_ < bytes + reserve) {
    if (now - space_refused_logged_ns_ > 10ll * 1000000000) {  // once per 10 s at most
      space_refused_logged_ns_ = now;
      spdlog::error(
          "cache filesystem of {} is full: {} bytes free, {} kept for metadata; writes and "
          "downloads get ENOSPC until space is freed",
          dir_->root(), space_avail_, reserve);
    }
    return ENOSPC;
  }
  space_avail_ -= bytes;
  space_in_flight_ += bytes;
  ticket->cache_ = this;
  ticket->bytes_ += bytes;
  return 0;
}

ContentCache::DataTicket::~DataTicket() {
  if (cache_ == nullptr) return;
  std::lock_guard<std::mutex> lock(cache_->space_mu_);
  cache_->space_in_flight_ -= std::min(bytes_, cache_->space_in_flight_);
}

Status ContentCache::SyncDir() {
  const std::string path = dir_->ContentDir();
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Status::FromErrno("open " + path, errno);
  if (::fsync(dir.get()) != 0) return Status::FromErrno("fsync " + path, errno);
  return Status::OK();
}

Status ContentCache::Install(uint64_t ino, const std::string& tmp_path) {
  std::lock_guard<std::mutex> lock(mu_);
  Evict(ino);
  std::string path = Path(ino);
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    return Status::FromErrno("rename " + tmp_path + " to " + path, errno);
  }
  return Status::OK();
}

Status ContentCache::Remove(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  Evict(ino);
  std::string path = Path(ino);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno("unlink " + path, errno);
  }
  return Status::OK();
}

void ContentCache::CloseAll() {
  std::lock_guard<std::mutex> lock(mu_);
  open_.clear();
  lru_.clear();
}

std::string ContentCache::TempPath(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  return dir_->TmpDir() + "/" + prefix + "." + std::to_string(::getpid()) + "." +
         std::to_string(++temp_counter_);
}

}  // namespace ccfs
