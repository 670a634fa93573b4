// Leases: who holds a workspace writable (`<W>/lease`, see docs/design.md
// "Leases"). A writable mount acquires the lease, a LeaseKeeper renews it in
// the background, and unmount releases it; a second writer is refused with a
// message naming the holder, unless the lease has expired, in which case it
// is taken over.
//
// Every write of the lease object is conditional, so the store decides every
// race:
//   acquire   PUT If-None-Match: *        (no lease object yet)
//   take over PUT If-Match: <seen ETag>   (expired or released lease; of two
//                                          simultaneous takeovers one wins)
//   renew     PUT If-Match: <our ETag>    (412 = someone took it over: lost)
//   release   PUT If-Match: <our ETag> of a "released" marker, left in place.
// Release does not DELETE: S3 DELETE is not conditional on RGW (nor on the
// ObjectStore interface), so a DELETE after the marker could remove a lease
// that another writer took over in between. A released marker is as free as
// a missing object (it is taken over with If-Match on its ETag) and costs one
// tiny object per workspace.
//
// Expiry, and why clock skew does not matter: a lease is expired when
//   store_now - last_modified > ttl_seconds + kLeaseGraceSeconds
// where last_modified is the lease object's Last-Modified and store_now the
// store's clock when we read it (the HTTP Date of the GET on S3; for a
// file:// store the local clock, which is the clock that stamped the file's
// mtime). Both come from one clock, so the holder's and the contender's clock
// offsets never enter; the grace covers the one-second resolution of HTTP
// dates. The holder, in turn, counts its lease valid only until ttl after it
// *sent* its last successful renewal (by its monotonic clock): the store
// stamped Last-Modified later than that, so by the time a contender may take
// over, the holder has already stopped counting on the lease (only clock
// *rates* need to agree, not offsets). The holder's own renewed_at and
// acquired_at are informative (shown in the refusal); they decide expiry only
// when the store gives no Last-Modified, and then only with
// max_clock_skew_seconds added.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

inline constexpr int64_t kLeaseGraceSeconds = 2;

// A lease as stored (JSON), plus what the store told us about it.
struct LeaseHolder {
  std::string holder_id;  // random, fresh for every Acquire
  std::string host;
  int64_t pid = 0;
  std::string user;
  int64_t acquired_at = 0;  // unix seconds, holder's clock
  int64_t renewed_at = 0;   // unix seconds, holder's clock
  int64_t ttl_seconds = 0;
  bool released = false;  // a released marker: free to take
  // Written by a ccfs that reads layout v2 and takes in what an older writer
  // left in v1 (every lease this ccfs writes says so). A lease without it was
  // last written by an older ccfs, which may have appended to v1 transcript
  // objects that a v2 tree does not name: the next writable v2 mount knows
  // from this, without a LIST, whether it must look for them.
  bool reads_layout_v2 = false;
  // Set (to who that older writer was) while what an older ccfs wrote to v1
  // transcript objects is still to be taken in: the mount that found it
  // could not, so the next writable mount must look again, as if this lease
  // had been written by that older ccfs. Empty otherwise.
  std::string pending_older_writer;

  // Filled when read from the store.
  std::string etag;
  int64_t last_modified = 0;  // store clock: when the lease was last written (0: unknown)
  int64_t store_now = 0;      // store clock when it was read
  int64_t expires_at = 0;     // store clock: when a contender may take it over

  bool Expired() const { return released || store_now > expires_at; }
  // "alice@build-3 (pid 4242) since 2025-01-02T03:04:05Z, last renewed 2025-...Z,
  //  expires in 25 s (ttl 30 s) unless renewed"
  std::string Describe() const;
};

struct LeaseOptions {
  int ttl_seconds = 30;  // renewed every ttl/3 by a LeaseKeeper
  // Who we are; ""/0 = this process (gethostname, getpid, $USER or the uid's name).
  std::string host;
  int64_t pid = 0;
  std::string user;
  // Only when the store reports no Last-Modified: how far the holder's clock
  // may be off ours.
  int max_clock_skew_seconds = 60;
  // Rounds of read-decide-write when the lease keeps changing under us.
  int max_attempts = 8;
  // A lease whose holder_id is this one counts as free even before it
  // expires: the caller knows its holder is gone (a mount reclaiming the
  // lease that a crashed mount of the same cache left behind; the cache's
  // flock proves that process is dead). "" = none.
  std::string reclaim_holder_id;
};

class Lease {
 public:
  // Takes the lease on `workspace` (see top of file). When someone else holds
  // it: PreconditionFailed whose message names the holder, and
  // *current_holder (if not null) receives who it is. `store` must outlive
  // the Lease.
  static Result<Lease> Acquire(ObjectStore& store, const std::string& workspace,
                               const LeaseOptions& options = {},
                               LeaseHolder* current_holder = nullptr);

  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  // Releases the lease if still held (best effort; errors are logged).
  ~Lease();

  // Rewrites the lease with a fresh renewed_at, If-Match our ETag.
  // PreconditionFailed when it was taken over (the lease is then lost for
  // good: held() turns false); other errors are transient.
  Status Renew();
  // Replaces our lease with a released marker, If-Match our ETag. OK when
  // released or not held; PreconditionFailed when it was no longer ours.
  Status Release();
  // Records LeaseHolder::pending_older_writer in our lease (written now by a
  // renewal, and by every later renewal and the release). An error is the
  // renewal's: the field is still written by the next one.
  Status SetPendingOlderWriter(const std::string& who);
  // Forgets the lease without releasing it, so that it expires after its
  // ttl (what a crashed holder leaves behind; tests use it).
  void Abandon();

  bool held() const;
  std::string etag() const;
  const std::string& workspace() const;
  int ttl_seconds() const;
  // Our own record (holder id, host, pid, times).
  LeaseHolder self() const;
  // The lease object we replaced when we took the lease (a released marker
  // or an expired lease), or nothing when there was none.
  const std::optional<LeaseHolder>& replaced() const;
  // By this process's monotonic clock, the lease is surely ours until then
  // (ttl after the last successful write of it was sent).
  std::chrono::steady_clock::time_point valid_until() const;

 private:
  struct State;
  explicit Lease(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Renews a lease every ttl/3 on a background thread and says when it is
// lost: taken over by someone else (a renewal refused with 412), or not
// renewed before valid_until() (the store unreachable for a whole ttl). After
// a loss the keeper stops renewing. The callback runs on the keeper's thread,
// once.
class LeaseKeeper {
 public:
  using LossCallback = std::function<void(const Status& why)>;

  // `lease` must outlive the keeper. Starts the thread.
  explicit LeaseKeeper(Lease* lease, LossCallback on_loss = nullptr);
  // Stops the thread (does not release the lease).
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Stops renewing; waits for an in-flight renewal. Idempotent.
  void Stop();
  bool lost() const { return lost_.load(); }
  // Why the lease was lost (OK while it is not).
  Status loss_reason() const;
  uint64_t renewals() const { return renewals_.load(); }

 private:
  void Run();
  void DeclareLost(const Status& why);

  Lease* lease_;
  LossCallback on_loss_;
  std::atomic<bool> lost_{false};
  std::atomic<uint64_t> renewals_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  Status loss_reason_;
  std::thread thread_;
};

}  // namespace ccfs
