#include "fs/tree/settled_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "store/base/unique_fd.h"

namespace ccfs {

namespace {

// Reads the whole of `fd` into *out.
Status ReadAll(int fd, const std::string& what, std::string* out) {
  out->clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + what, errno);
    }
    if (n == 0) return Status::OK();
    out->append(buf, static_cast<size_t>(n));
  }
}

// Copies all of `in` into a new file `dst`.
Status CopyToFile(int in, const std::string& dst) {
  UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return Status::FromErrno("create " + dst, errno);
  loff_t pos = 0;
  for (;;) {
    ssize_t n = ::copy_file_range(in, &pos, out.get(), nullptr, 1 << 30, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("copy to " + dst, errno);
    }
    if (n == 0) break;
  }
  return out.Close("close " + dst);
}

}  // namespace

SettledCopy::~SettledCopy() {
  if (!temp_path.empty()) ::unlink(temp_path.c_str());
}

Status CopySettled(InodeTable& table, ContentCache& content, uint64_t ino, SettledCopy* out,
                   const SettledCopyOptions& options) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_limit_ms);
  std::chrono::milliseconds pause(1);
  for (;;) {
    NodeInfo before;
    int err = table.GetSettled(ino, &before);
    if (err == ENOENT) {
      out->gone = true;
      return Status::OK();
    }
    if (err == 0 && before.local_from != 0 && !options.allow_tail_only) {
      return Status::IOError("inode " + std::to_string(ino) + " holds only its bytes from " +
                             std::to_string(before.local_from) +
                             " on (its earlier bytes were never downloaded)")
          .WithErrno(EIO);
    }
    if (err == 0) {
      const std::string path = content.Path(ino);
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        const int open_err = errno;
        NodeInfo now;
        if (open_err == ENOENT && table.GetSettled(ino, &now) == ENOENT) {
          out->gone = true;  // dropped with its last name since the check
          return Status::OK();
        }
        return Status::FromErrno("open the cached content of inode " + std::to_string(ino),
                                 open_err);
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
      const bool in_memory =
          options.max_in_memory > 0 && static_cast<uint64_t>(st.st_size) <= options.max_in_memory;
      if (in_memory) {
        CCFS_RETURN_IF_ERROR(ReadAll(fd.get(), path, &out->bytes));
      } else {
        if (out->temp_path.empty()) out->temp_path = content.TempPath("settled");
        CCFS_RETURN_IF_ERROR(CopyToFile(fd.get(), out->temp_path));
      }
      NodeInfo after;
      if (table.GetSettled(ino, &after) == 0 && after.rewrite_gen == before.rewrite_gen) {
        out->node = before;
        // An earlier attempt may have used the other form.
        if (in_memory && !out->temp_path.empty()) {
          ::unlink(out->temp_path.c_str());
          out->temp_path.clear();
        }
        if (!in_memory) std::string().swap(out->bytes);
        return Status::OK();
      }
    } else if (err != EAGAIN) {
      return Status::FromErrno("inode " + std::to_string(ino), err);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::IOError("the file kept changing for " +
                             std::to_string(options.busy_limit_ms / 1000) +
                             " s, so no consistent copy of it could be taken; the flush will "
                             "take it next time")
          .WithErrno(EAGAIN);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

}  // namespace ccfs
