#include "fs/kernel/unmount.h"

#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace ccfs {

int RunProgramAndWait(const std::vector<std::string>& argv) {
  if (argv.empty()) return -1;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Status UnmountFuse(const std::string& mp, bool lazy_if_busy) {
  if (::geteuid() == 0) {
    if (::umount2(mp.c_str(), 0) == 0) return Status::OK();
    int err = errno;
    if (err == EBUSY && lazy_if_busy && ::umount2(mp.c_str(), MNT_DETACH) == 0) {
      spdlog::warn("{} was busy: detached lazily", mp);
      return Status::OK();
    }
    return Status::FromErrno("umount " + mp, err);
  }
  if (RunProgramAndWait({"fusermount3", "-u", "-q", mp}) == 0) return Status::OK();
  if (lazy_if_busy && RunProgramAndWait({"fusermount3", "-u", "-q", "-z", mp}) == 0) {
    spdlog::warn("{} was busy: detached lazily", mp);
    return Status::OK();
  }
  return Status::IOError("fusermount3 -u " + mp + " failed (is it busy?)");
}

}  // namespace ccfs
