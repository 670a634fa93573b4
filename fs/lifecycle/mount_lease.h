// MountLease: the workspace lease (store/workspace/lease.h, docs/design.md "Leases") as a
// writable mount holds it. Taken before the mount reads the tree, renewed in
// the background by a LeaseKeeper, checked before every flush, released after
// the final flush.
//
// A flush writes only while the lease is ours: CheckBeforeFlush() renews it
// synchronously (a conditional PUT: success proves we hold it right now).
// When it was lost, it is taken again if it is free (expired or released:
// say the store was unreachable for a whole ttl); if someone else holds it,
// the flush is refused as a conflict (PreconditionFailed) naming them, and
// the local state stays for a later `ccfs flush --recover`.
//
// Crash: a SIGKILLed mount leaves its lease behind until it expires. The
// cache remembers the holder id it took (`<cache>/lease.json`); the next
// mount of that cache holds the cache's flock, so the old holder is surely
// dead, and reclaims that lease at once instead of waiting for its ttl.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "store/base/status.h"
#include "store/objects/object_store.h"
#include "store/workspace/lease.h"

namespace ccfs {

inline constexpr int kDefaultLeaseTtlSeconds = 30;

class MountLease {
 public:
  // Takes the lease of `workspace` for a mount using the cache at
  // `cache_root` (whose flock the caller holds). When another writer holds
  // it: Unavailable, with a message naming the holder (host, pid, since
  // when) and what to do. `store` must outlive the MountLease.
  static Result<std::unique_ptr<MountLease>> Acquire(ObjectStore* store,
                                                     const std::string& workspace,
                                                     const std::string& cache_root,
                                                     int ttl_seconds);
  ~MountLease();  // stops renewing and releases (best effort)
  MountLease(const MountLease&) = delete;
  MountLease& operator=(const MountLease&) = delete;

  // OK when the lease is ours right now (see top of file); PreconditionFailed
  // ("conflict: ...") when another writer holds it; Unavailable when the
  // store cannot be reached and our lease ran out.
  Status CheckBeforeFlush();
  // Stops renewing and writes the released marker. Idempotent.
  Status Release();

  // When the lease we took was last written by a ccfs that does not say it
  // reads layout v2 (store/workspace/lease.h): who that was, e.g.
  // "carol@old-box (pid 7) ...". Empty otherwise, and for a new lease.
  // The same when the lease we took says that what such a writer left is
  // still to be taken in (LeaseHolder::pending_older_writer).
  const std::string& older_writer() const { return older_writer_; }
  // The take-in of what older_writer() left failed: our lease (and any we
  // take again after a loss) says so, so the next writable mount looks
  // again. Best effort: an error is logged, the next renewal retries.
  void KeepOlderWriterPending();

  // {"held", "lost", "loss_reason", "holder", "ttl_seconds", "renewals",
  //  "reacquired", "released"}
  nlohmann::json StatusJson() const;

 private:
  MountLease(ObjectStore* store, std::string workspace, std::string cache_root, int ttl_seconds);
  Status Take(LeaseHolder* holder);  // with op_mu_ held (or before anyone else has `this`)
  std::string RecordPath() const { return cache_root_ + "/lease.json"; }

  ObjectStore* store_;
  const std::string workspace_;
  const std::string cache_root_;
  const int ttl_seconds_;
  // Lock order: op_mu_, then mu_. op_mu_ serialises the steps that talk to
  // the store (check before a flush, release) and alone replaces lease_ and
  // keeper_; mu_ guards the fields and is never held across a store request,
  // so `ccfs status` answers at once whatever the store does.
  std::mutex op_mu_;
  mutable std::mutex mu_;
  std::unique_ptr<Lease> lease_;         // replaced under op_mu_ + mu_
  std::unique_ptr<LeaseKeeper> keeper_;  // replaced under op_mu_ + mu_
  std::string lost_reason_;              // the last loss, even after a re-acquire
  std::string holder_;                   // who we are, as the lease says (for status)
  std::string older_writer_;             // set once, by Acquire
  bool older_writer_pending_ = false;    // GUARDED_BY(op_mu_)
  int reacquired_ = 0;
  bool released_ = false;
};

}  // namespace ccfs
