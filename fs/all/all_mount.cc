#include "fs/all/all_mount.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "fs/all/all_fuse_ops.h"
#include "fs/kernel/fuse_session.h"
#include "fs/lifecycle/mount.h"

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
  fuse_.Close();
}

Status AllMount::Start() {
  const std::string& mp = view_->options().mountpoint;
  std::string opts = "fsname=ccfs:all,subtype=ccfs,default_permissions,ro";
  if (allow_other_) opts += ",allow_other";
  CCFS_RETURN_IF_ERROR(fuse_.Mount(AllViewFuseOperations(), view_, opts, mp));
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
    fuse_.Close();
    return s;
  }
  fuse_.StartLoop(16);
  return Status::OK();
}

void AllMount::WaitUntilUnmounted() { fuse_.WaitUntilUnmounted(); }

Status AllMount::RequestUnmount(bool lazy_if_busy) { return fuse_.RequestUnmount(lazy_if_busy); }

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
