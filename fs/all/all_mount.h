// AllMount: the read-only view of every workspace (fs/all/all_view.h) mounted at
// one directory (`ccfs mount --all`), with a control socket like a workspace
// mount's (fs/lifecycle/control.h), so `ccfs status` and `ccfs umount` work on it.
// There is never anything to flush: `flush` and the exit event of
// `wait-exit` report "nothing to flush".
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "fs/all/all_view.h"
#include "fs/kernel/fuse_session.h"
#include "fs/lifecycle/control.h"
#include "fs/lifecycle/daemon.h"

namespace ccfs {

class AllMount {
 public:
  AllMount(AllView* view, bool allow_other) : view_(view), allow_other_(allow_other) {}
  ~AllMount();
  AllMount(const AllMount&) = delete;
  AllMount& operator=(const AllMount&) = delete;

  // Mounts at the view's mountpoint, serves on its own threads, opens the
  // control socket.
  Status Start();
  void WaitUntilUnmounted();
  // Unmounts from inside this process (lazily if busy and allowed).
  Status RequestUnmount(bool lazy_if_busy);
  // After the session ended: closes the workspaces (their caches persist),
  // answers the `ccfs umount` waiting, closes the control socket.
  void Finish();

 private:
  void HandleControl(const nlohmann::json& request, std::shared_ptr<ControlConnection> conn);

  AllView* view_;
  bool allow_other_;
  FuseSession fuse_;
  std::unique_ptr<ControlServer> control_;
  std::mutex mu_;  // guards exit_waiters_
  std::vector<std::shared_ptr<ControlConnection>> exit_waiters_;
};

// `ccfs mount --all`: opens the view, mounts it, calls ready once it is live
// (or with the error that prevented it), serves until unmounted or
// signalled. Returns the process exit code (0, or 1 when it never mounted).
int ServeAllView(StoreFactory stores, const AllViewOptions& options, bool allow_other,
                 const ReadyFn& ready);

}  // namespace ccfs
