#include "fs/kernel/fuse_session.h"

#include <spdlog/spdlog.h>

#include "fs/kernel/unmount.h"

namespace ccfs {

FuseSession::~FuseSession() { Close(); }

Status FuseSession::Mount(const fuse_lowlevel_ops& ops, void* userdata, const std::string& options,
                          const std::string& mountpoint) {
  const char* argv[] = {"ccfs", "-o", options.c_str()};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), userdata);
  fuse_opt_free_args(&args);  // libfuse may have copied them into its own allocation
  if (se == nullptr) return Status::IOError("fuse_session_new failed");
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return Status::IOError("cannot mount on " + mountpoint +
                           " (is /dev/fuse available and the directory not in use?)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  mountpoint_ = mountpoint;
  session_ = se;
  return Status::OK();
}

void FuseSession::StartLoop(size_t max_threads) {
  loop_ = std::thread([this, max_threads] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(max_threads));
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    int rc = fuse_session_loop_mt(session_, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (rc != 0) spdlog::warn("fuse loop ended with {}", rc);
    std::lock_guard<std::mutex> lock(mu_);
    loop_done_ = true;
    cv_.notify_all();
  });
}

bool FuseSession::serving() {
  std::lock_guard<std::mutex> lock(mu_);
  return session_ != nullptr && !loop_done_;
}

bool FuseSession::ended() {
  std::lock_guard<std::mutex> lock(mu_);
  return loop_done_;
}

void FuseSession::WaitUntilUnmounted() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return loop_done_; });
  lock.unlock();
  if (loop_.joinable()) loop_.join();
}

Status FuseSession::RequestUnmount(bool lazy_if_busy) {
  std::string mp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (loop_done_ || session_ == nullptr) return Status::OK();
    mp = mountpoint_;
  }
  return UnmountFuse(mp, lazy_if_busy);
}

void FuseSession::WithLiveSession(const std::function<void(fuse_session*)>& fn) {
  fuse_session* se;
  {
    std::lock_guard<std::mutex> lock(mu_);
    se = loop_done_ ? nullptr : session_;
  }
  if (se != nullptr) fn(se);
}

void FuseSession::Close() {
  if (loop_.joinable()) {
    // Only reached when the loop ran but nobody waited (error paths): end
    // the session so the loop returns.
    Status s = RequestUnmount(/*lazy_if_busy=*/true);
    if (!s.ok()) spdlog::warn("ending the FUSE session: {}", s.ToString());
    loop_.join();
  }
  fuse_session* se;
  {
    std::lock_guard<std::mutex> lock(mu_);
    se = session_;
    session_ = nullptr;
  }
  if (se != nullptr) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
  }
}

}  // namespace ccfs
