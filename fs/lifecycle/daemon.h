// Running a mount as a process: signal handling, daemonising, and the end of
// a mount (unmount, final flush) shared by `ccfs mount` and `ccfs exec`.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "fs/lifecycle/mount.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Exit code of `ccfs exec` when the command ran but its changes could not be
// flushed (EX_TEMPFAIL); the local state is kept for a later mount.
inline constexpr int kExitFlushFailed = 75;

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and all threads it
// starts afterwards (call first), and ignores SIGPIPE. Start() runs
// `on_signal` on a dedicated thread for each signal received.
class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();
  void Start(std::function<void(int)> on_signal);

 private:
  std::thread thread_;
  bool started_ = false;
};

// Ends a mount from inside the process: unmount (retrying while busy for up
// to `busy_wait_ms`), wait for the session to end, final flush. When the
// mount stays busy, flushes while still mounted and detaches it lazily.
// Returns the flush status.
Status EndMount(Mount& mount, int busy_wait_ms, FlushReport* report);

// `ccfs mount` without -f: forks; the child (new session, output to
// `log_path`) calls run(ready) and exits with its result; the parent
// returns once the child called ready(OK) (0) or failed (its message is
// printed to stderr; the exit code it gives, or 1).
using ReadyFn = std::function<void(const Status&)>;
int Daemonize(const std::string& log_path, const std::function<int(const ReadyFn&)>& run);

// Mounts and serves until unmounted (or signalled); calls ready once the
// mount is live (or with the error that prevented it). Returns the process
// exit code: 0, 3 when the final flush met a conflict, 1 otherwise.
int ServeMount(std::unique_ptr<ObjectStore> store, const MountOptions& options,
               const ReadyFn& ready);

}  // namespace ccfs
