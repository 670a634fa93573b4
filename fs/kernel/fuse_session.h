// FuseSession: one kernel FUSE session and the thread pool serving it, for
// Mount (one workspace) and AllMount (the read-only view of all of them):
// create + mount, serve until the kernel ends the session (any unmount),
// unmount from inside the process, and reach the live session for cache
// invalidations. Thread-safe.
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "store/base/status.h"

namespace ccfs {

class FuseSession {
 public:
  FuseSession() = default;
  // Close().
  ~FuseSession();
  FuseSession(const FuseSession&) = delete;
  FuseSession& operator=(const FuseSession&) = delete;

  // Creates the session (`-o options`) with `ops` and `userdata` (which must
  // outlive it) and mounts it at `mountpoint`.
  Status Mount(const fuse_lowlevel_ops& ops, void* userdata, const std::string& options,
               const std::string& mountpoint);
  // Serves requests on up to `max_threads` threads until the session ends.
  void StartLoop(size_t max_threads);
  // Mounted and still served.
  bool serving();
  // The loop ran and the kernel ended the session.
  bool ended();
  // Blocks until the loop ended (the kernel ended the session), joins it.
  void WaitUntilUnmounted();
  // Unmounts (lazily if busy and allowed); OK when already over.
  Status RequestUnmount(bool lazy_if_busy);
  // Runs fn on the session while it is served (kernel cache invalidations);
  // does nothing afterwards.
  void WithLiveSession(const std::function<void(fuse_session*)>& fn);
  // Ends the session: a loop nobody waited for is unmounted and joined
  // (error paths), then the session unmounted and destroyed.
  void Close();

 private:
  std::string mountpoint_;
  fuse_session* session_ = nullptr;
  std::thread loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool loop_done_ = false;
};

}  // namespace ccfs
