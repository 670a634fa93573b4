#include "fs/all_mount.h"

#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "fs/all_fuse_ops.h"
#include "fs/mount.h"
#include "fs/unmount.h"

namespace ccfs {

namespace {

// What `flush` and the final event say: a read-only view never writes.
nlohmann::json NothingToFlush() {
  FlushReport report;
  report.nothing_to_flush = true;
  return FlushResultJson(Status::OK(), report);
}

}  // namespace

AllMount::~AllMount() {
  exit_waiters_.clear();
  if (control_) control_->Stop();
  if (loop_.joinable()) {
    // Only reached when Start() succeeded but nobody waited (error paths).
    RequestUnmount(/*lazy_if_busy=*/true);
    loop_.join();
  }
  if (session_ != nullptr) {
    fuse_session_unmount(session_);
    fuse_session_destroy(session_);
  }
}

Status AllMount::Start() {
  const std::string& mp = view_->options().mountpoint;
  std::string opts = "fsname=ccfs:all,subtype=ccfs,default_permissions,ro";
  if (allow_other_) opts += ",allow_other";
  const char* argv[] = {"ccfs", "-o", opts.c_str()};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  const fuse_lowlevel_ops& ops = AllViewFuseOperations();
  session_ = fuse_session_new(&args, &ops, sizeof(ops), view_);
  fuse_opt_free_args(&args);
  if (session_ == nullptr) return Status::IOError("fuse_session_new failed");
  if (fuse_session_mount(session_, mp.c_str()) != 0) {
    fuse_session_destroy(session_);
    session_ = nullptr;
    return Status::IOError("cannot mount on " + mp +
                           " (is /dev/fuse available and the directory not in use?)");
  }
  auto socket = ControlSocketPath(mp);
  Status s = socket.status();
  if (s.ok()) {
    auto server = ControlServer::Start(
        *socket, [this](const nlohmann::json& req, std::shared_ptr<ControlConnection> conn) {
          HandleControl(req, std::move(conn));
        });
    s = server.status();
    if (s.ok()) control_ = std::move(server).value();
  }
  if (!s.ok()) {
    fuse_session_unmount(session_);
    fuse_session_destroy(session_);
    session_ = nullptr;
    return s;
  }
  loop_ = std::thread([this] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 16);
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    int rc = fuse_session_loop_mt(session_, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (rc != 0) spdlog::warn("fuse loop ended with {}", rc);
    std::lock_guard<std::mutex> lock(mu_);
    loop_done_ = true;
    cv_.notify_all();
  });
  return Status::OK();
}

void AllMount::WaitUntilUnmounted() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return loop_done_; });
  lock.unlock();
  if (loop_.joinable()) loop_.join();
}

Status AllMount::RequestUnmount(bool lazy_if_busy) {
  const std::string& mp = view_->options().mountpoint;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (loop_done_) return Status::OK();
  }
  return UnmountFuse(mp, lazy_if_busy);
}

void AllMount::Finish() {
  view_->Close();
  nlohmann::json event = NothingToFlush();
  event["event"] = "exit";
  {
    // Kept open until the process goes (see ~AllMount).
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : exit_waiters_) w->Send(event);
  }
  if (control_) control_->Stop();
}

void AllMount::HandleControl(const nlohmann::json& request,
                             std::shared_ptr<ControlConnection> conn) {
  std::string op = request.value("op", "");
  if (op == "status") {
    nlohmann::json j = view_->StatusJson();
    j["ok"] = true;
    conn->Send(j);
  } else if (op == "flush") {
    conn->Send(NothingToFlush());
  } else if (op == "wait-exit") {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_waiters_.push_back(conn);
    }
    conn->Send({{"ok", true}, {"waiting", true}});
  } else {
    conn->Send({{"ok", false}, {"error", "unknown op '" + op + "'"}});
  }
}

int ServeAllView(StoreFactory stores, const AllViewOptions& options, bool allow_other,
                 const ReadyFn& ready) {
  SignalWatcher signals;  // before any thread starts
  auto view = AllView::Open(std::move(stores), options);
  if (!view.ok()) {
    ready(view.status());
    return 1;
  }
  AllMount mount(view->get(), allow_other);
  if (Status s = mount.Start(); !s.ok()) {
    ready(s);
    return 1;
  }
  ready(Status::OK());
  spdlog::info("mounted every workspace of {} at {} ({} workspaces, cache {})", options.store_url,
               options.mountpoint, (*view)->WorkspaceNames().size(), options.cache_root);
  // The watcher outlives `mount`: it reaches it only while it exists.
  struct Target {
    std::mutex mu;
    AllMount* mount = nullptr;
  };
  auto target = std::make_shared<Target>();
  target->mount = &mount;
  signals.Start([target, mp = options.mountpoint](int sig) {
    spdlog::warn("signal {}: unmounting {}", sig, mp);
    std::lock_guard<std::mutex> lock(target->mu);
    if (target->mount == nullptr) return;
    // Read-only: nothing is lost by detaching a busy view.
    Status s = target->mount->RequestUnmount(/*lazy_if_busy=*/true);
    if (!s.ok()) spdlog::error("{}", s.ToString());
  });
  mount.WaitUntilUnmounted();
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->mount = nullptr;
  }
  mount.Finish();
  spdlog::info("unmounted {}", options.mountpoint);
  return 0;
}

}  // namespace ccfs
