#include "fs/lifecycle/mount_lease.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>

#include "store/base/unique_fd.h"

namespace ccfs {

namespace {

// The holder id this cache's last mount took, "" when none is recorded.
std::string ReadRecordedHolderId(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str()).value("holder_id", "");
  } catch (const std::exception&) {
    return "";  // unreadable: reclaim nothing, the lease then expires as usual
  }
}

// Writes the record durably (tmp + fsync + rename): a crash right after the
// lease was taken must still find it.
Status WriteRecord(const std::string& path, const LeaseHolder& self) {
  nlohmann::json j = {{"holder_id", self.holder_id},
                      {"host", self.host},
                      {"pid", self.pid},
                      {"acquired_at", self.acquired_at}};
  const std::string body = j.dump() + "\n";
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::FromErrno("open " + tmp, errno);
  if (::write(fd.get(), body.data(), body.size()) != static_cast<ssize_t>(body.size()) ||
      ::fsync(fd.get()) != 0) {
    return Status::FromErrno("write " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return Status::OK();
}

}  // namespace

MountLease::MountLease(ObjectStore* store, std::string workspace, std::string cache_root,
                       int ttl_seconds)
    : store_(store),
      workspace_(std::move(workspace)),
      cache_root_(std::move(cache_root)),
      ttl_seconds_(ttl_seconds) {}

MountLease::~MountLease() {
  Status s = Release();
  if (!s.ok()) spdlog::warn("{}", s.ToString());
}

Result<std::unique_ptr<MountLease>> MountLease::Acquire(ObjectStore* store,
                                                        const std::string& workspace,
                                                        const std::string& cache_root,
                                                        int ttl_seconds) {
  std::unique_ptr<MountLease> m(new MountLease(store, workspace, cache_root, ttl_seconds));
  std::lock_guard<std::mutex> op(m->op_mu_);
  LeaseHolder holder;
  Status s = m->Take(&holder);
  if (s.IsPreconditionFailed() && !holder.holder_id.empty()) {
    return Status::Unavailable("workspace '" + workspace + "' is held writable by " +
                               holder.Describe() +
                               "; unmount it there, wait for its lease to expire, or mount "
                               "--read-only (which needs no lease)");
  }
  CCFS_RETURN_IF_ERROR(s);
  const std::optional<LeaseHolder>& before = m->lease_->replaced();
  if (before.has_value() && !before->pending_older_writer.empty()) {
    m->older_writer_ = before->pending_older_writer;
  } else if (before.has_value() && !before->reads_layout_v2) {
    m->older_writer_ = before->Describe();
  }
  return m;
}

Status MountLease::Take(LeaseHolder* holder) {
  LeaseOptions options;
  options.ttl_seconds = ttl_seconds_;
  options.reclaim_holder_id = ReadRecordedHolderId(RecordPath());
  auto lease = Lease::Acquire(*store_, workspace_, options, holder);
  CCFS_RETURN_IF_ERROR(lease.status());
  auto taken = std::make_unique<Lease>(std::move(lease).value());
  Status recorded = WriteRecord(RecordPath(), taken->self());
  if (!recorded.ok()) {
    // Only costs the fast reclaim after a crash: the lease then expires.
    spdlog::warn("recording the lease in the cache: {}", recorded.ToString());
  }
  auto keeper = std::make_unique<LeaseKeeper>(taken.get());
  std::unique_ptr<LeaseKeeper> old_keeper;
  std::unique_ptr<Lease> old_lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old_keeper = std::move(keeper_);  // stopped already; destroyed outside mu_
    old_lease = std::move(lease_);
    // Kept for status: reading it from the lease would wait behind a
    // renewal stuck on a store that does not answer.
    holder_ = taken->self().Describe();
    lease_ = std::move(taken);
    keeper_ = std::move(keeper);
  }
  old_keeper.reset();
  if (old_lease) old_lease->Abandon();  // lost: nothing of it to release
  if (older_writer_pending_) {
    Status s = lease_->SetPendingOlderWriter(older_writer_);
    if (!s.ok()) spdlog::warn("lease on {}: {}", workspace_, s.ToString());
  }
  spdlog::info("lease on {}: held (ttl {} s)", workspace_, ttl_seconds_);
  return Status::OK();
}

void MountLease::KeepOlderWriterPending() {
  std::lock_guard<std::mutex> op(op_mu_);
  older_writer_pending_ = true;
  Status s = lease_->SetPendingOlderWriter(older_writer_);
  if (!s.ok()) spdlog::warn("lease on {}: {}", workspace_, s.ToString());
}

Status MountLease::CheckBeforeFlush() {
  std::lock_guard<std::mutex> op(op_mu_);
  Lease* lease;
  LeaseKeeper* keeper;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return Status::PreconditionFailed("lease on " + workspace_ + " was released");
    lease = lease_.get();  // replaced only under op_mu_, which we hold
    keeper = keeper_.get();
  }
  std::string reason;
  if (!keeper->lost() && lease->held()) {
    Status s = lease->Renew();  // the store may be slow: mu_ stays free meanwhile
    if (s.ok()) return s;
    if (!s.IsPreconditionFailed()) {
      // The store did not answer: still ours while the last renewal lasts.
      if (std::chrono::steady_clock::now() < lease->valid_until()) return Status::OK();
      return s.Annotate("cannot confirm the lease before flushing");
    }
    reason = s.ToString();
  } else if (keeper->lost()) {
    reason = keeper->loss_reason().ToString();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reason.empty()) lost_reason_ = reason;
    reason = lost_reason_;
  }
  keeper->Stop();
  spdlog::warn("lease on {} lost ({}); trying to take it again", workspace_, reason);
  // Free again (expired or released by whoever took it)? Then it is ours:
  // what they wrote meanwhile is caught by the flush's own If-Match.
  LeaseHolder holder;
  Status s = Take(&holder);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++reacquired_;
    spdlog::warn("lease on {}: taken again after its loss", workspace_);
    return s;
  }
  if (!s.IsPreconditionFailed() || holder.holder_id.empty()) {
    return s.Annotate("this mount lost its lease (" + reason +
                      ") and cannot take it again; nothing was written");
  }
  const std::string who = holder.Describe();
  return Status::PreconditionFailed(
      "conflict: this mount lost its lease on workspace '" + workspace_ + "' (" + reason +
      "), and it is now held writable by " + who +
      "; nothing was written. The changes stay in the cache (" + cache_root_ +
      "): unmount, and once the other writer is done run `ccfs flush --recover " + workspace_ +
      "` (or mount again)");
}

Status MountLease::Release() {
  std::lock_guard<std::mutex> op(op_mu_);
  Lease* lease;
  LeaseKeeper* keeper;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return Status::OK();
    released_ = true;
    lease = lease_.get();
    keeper = keeper_.get();
  }
  if (keeper) keeper->Stop();
  if (!lease || !lease->held()) return Status::OK();
  Status s = lease->Release();
  if (s.ok()) spdlog::info("lease on {}: released", workspace_);
  return s;
}

nlohmann::json MountLease::StatusJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  const bool held = !released_ && lease_ && lease_->held() && !(keeper_ && keeper_->lost());
  const bool lost = !released_ && !held;
  std::string reason =
      keeper_ && keeper_->lost() ? keeper_->loss_reason().ToString() : lost_reason_;
  nlohmann::json j = {{"held", held},
                      {"lost", lost},
                      {"released", released_},
                      {"ttl_seconds", ttl_seconds_},
                      {"renewals", keeper_ ? keeper_->renewals() : 0},
                      {"reacquired", reacquired_}};
  if (!reason.empty()) j["loss_reason"] = reason;
  if (!holder_.empty()) j["holder"] = holder_;
  return j;
}

}  // namespace ccfs
