// UniqueFd: owns a file descriptor and closes it once (the one fd owner of
// ccfs). WriteAll / ReadFull: write(2) / read(2) until done, retrying EINTR
// and short transfers.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "store/base/status.h"

namespace ccfs {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now and reports a failed close (which can carry a deferred write
  // error, e.g. on NFS), unlike the silent close of the destructor.
  Status Close(const std::string& context) {
    if (fd_ < 0) return Status::OK();
    if (::close(std::exchange(fd_, -1)) != 0) return Status::FromErrno(context, errno);
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

inline Status WriteAll(int fd, const char* data, size_t len, const std::string& what) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + what, errno);
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return Status::OK();
}

// Reads until `len` bytes or end of file; *got tells how many arrived.
inline Status ReadFull(int fd, char* data, size_t len, size_t* got, const std::string& what) {
  *got = 0;
  while (*got < len) {
    ssize_t n = ::read(fd, data + *got, len - *got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + what, errno);
    }
    if (n == 0) break;
    *got += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace ccfs
