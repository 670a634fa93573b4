// Recovery after a crash or an unclean shutdown of a mount (docs/design.md
// "The mount"): every fsync'd byte is in the cache, and the cache says it has
// unflushed changes (meta `local_changes`). Three ways back:
//  - RecoveryFlush: the next mount of that cache resumes the local tree and
//    flushes it at once on a background thread, through the normal flusher
//    (so a remote that moved meanwhile is handled as for any flush); the
//    mount is usable meanwhile, and `ccfs status` shows what was recovered.
//  - RecoverUnflushed: `ccfs flush --recover WS` does the same without
//    mounting.
//  - CleanStaleMount: the dead FUSE mount a SIGKILLed process leaves behind
//    ("Transport endpoint is not connected") is detached before mounting
//    again.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "fs/flush/flusher.h"
#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct MountOptions;

// Runs one flush on its own thread (started by the constructor).
class RecoveryFlush {
 public:
  using FlushFn = std::function<Status(FlushReport*)>;
  // `what`: what was recovered, for the log and status.
  RecoveryFlush(std::string what, FlushFn flush);
  ~RecoveryFlush();  // waits for the flush
  RecoveryFlush(const RecoveryFlush&) = delete;
  RecoveryFlush& operator=(const RecoveryFlush&) = delete;

  void Wait();
  // {"what", "state": "flushing" | "flushed" | "failed", "result": <flush result JSON>}
  nlohmann::json StatusJson() const;

 private:
  const std::string what_;
  mutable std::mutex mu_;
  std::string state_ = "flushing";
  nlohmann::json result_;
  std::thread thread_;
};

// `ccfs flush --recover`: opens the cache of options.workspace (no kernel
// mount; the lease is taken when options.lease_ttl_seconds > 0), flushes
// what an earlier mount left unflushed and lets go of cache and lease.
// NotFound when there is no cache there. *note says what was found.
Status RecoverUnflushed(std::unique_ptr<ObjectStore> store, const MountOptions& options,
                        FlushReport* report, std::string* note);

// If `mountpoint` (absolute) is a FUSE mount (per /proc/self/mountinfo)
// whose daemon is gone (stat or statfs: ENOTCONN), detaches exactly that
// path (fusermount3 -u -z) and sets *cleaned. Anything else is left alone.
Status CleanStaleMount(const std::string& mountpoint, bool* cleaned);

}  // namespace ccfs
