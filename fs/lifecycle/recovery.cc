#include "fs/lifecycle/recovery.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "fs/kernel/mountinfo.h"
#include "fs/kernel/unmount.h"
#include "fs/lifecycle/mount.h"

namespace ccfs {

RecoveryFlush::RecoveryFlush(std::string what, FlushFn flush) : what_(std::move(what)) {
  spdlog::warn("recovering {}: flushing it now", what_);
  thread_ = std::thread([this, flush = std::move(flush)] {
    FlushReport report;
    Status s = flush(&report);
    if (s.ok()) {
      spdlog::warn(
          "recovered {}: {}", what_,
          report.nothing_to_flush ? "nothing left to flush" : "flushed, ETag " + report.new_etag);
    } else {
      spdlog::error("recovering {}: the flush failed ({}); the changes stay in the cache", what_,
                    s.ToString());
    }
    std::lock_guard<std::mutex> lock(mu_);
    state_ = s.ok() ? "flushed" : "failed";
    result_ = FlushResultJson(s, report);
  });
}

RecoveryFlush::~RecoveryFlush() { Wait(); }

void RecoveryFlush::Wait() {
  if (thread_.joinable()) thread_.join();
}

nlohmann::json RecoveryFlush::StatusJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json j = {{"what", what_}, {"state", state_}};
  if (!result_.is_null()) j["result"] = result_;
  return j;
}

Status RecoverUnflushed(std::unique_ptr<ObjectStore> store, const MountOptions& options,
                        FlushReport* report, std::string* note) {
  const std::string root = options.cache_root.empty()
                               ? DefaultCacheRoot(options.store_url, options.workspace)
                               : options.cache_root;
  struct stat st;
  if (::stat((root + "/meta.db").c_str(), &st) != 0) {
    return Status::NotFound("no cache of workspace '" + options.workspace + "' at " + root +
                            ": nothing to recover (pass the mount's --cache if it used one)");
  }
  MountOptions o = options;
  o.cache_root = root;
  o.read_only = false;
  o.hydrate = HydrateMode::kLazy;
  auto mount = Mount::Prepare(std::move(store), o);
  CCFS_RETURN_IF_ERROR(mount.status());
  *note = (*mount)->StatusJson().value("prepared", "");
  return (*mount)->Finish(report);
}

Status CleanStaleMount(const std::string& mountpoint, bool* cleaned) {
  *cleaned = false;
  const std::string fstype = MountedFsType(mountpoint);
  if (fstype.rfind("fuse", 0) != 0) return Status::OK();  // not a FUSE mount: not ours to touch
  // Is its daemon gone? stat() may still answer from the kernel's attribute
  // cache (our attr timeout is an hour), statfs() always asks the daemon.
  struct stat st;
  struct statfs sfs;
  const bool dead = (::stat(mountpoint.c_str(), &st) != 0 && errno == ENOTCONN) ||
                    (::statfs(mountpoint.c_str(), &sfs) != 0 && errno == ENOTCONN);
  if (!dead) return Status::OK();
  if (RunProgramAndWait({"fusermount3", "-u", "-z", "-q", mountpoint}) != 0) {
    return Status::IOError("cannot detach the stale mount at " + mountpoint +
                           " (fusermount3 -u -z failed)");
  }
  if (::stat(mountpoint.c_str(), &st) != 0) {
    return Status::FromErrno("after detaching the stale mount at " + mountpoint, errno);
  }
  *cleaned = true;
  return Status::OK();
}

}  // namespace ccfs
