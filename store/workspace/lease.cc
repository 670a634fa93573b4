#include "store/workspace/lease.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

constexpr const char* kLeaseFormat = "ccfs-lease-v1";

int64_t WallNow() { return static_cast<int64_t>(std::time(nullptr)); }

std::string RandomHolderId() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 8; ++j) id.push_back(kHex[(v >> (4 * j)) & 0xf]);
  }
  return id;
}

std::string ThisHost() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown-host";
  return buf;
}

std::string ThisUser() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[1024];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(getuid());
}

std::string UtcText(int64_t t) {
  if (t <= 0) return "an unknown time";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Serialize(const LeaseHolder& h) {
  nlohmann::json j = {{"format", kLeaseFormat},
                      {"holder_id", h.holder_id},
                      {"host", h.host},
                      {"pid", h.pid},
                      {"user", h.user},
                      {"acquired_at", h.acquired_at},
                      {"renewed_at", h.renewed_at},
                      {"ttl_seconds", h.ttl_seconds},
                      {"released", h.released},
                      {"reads_layout_v2", true}};
  if (!h.pending_older_writer.empty()) j["pending_older_writer"] = h.pending_older_writer;
  return j.dump() + "\n";
}

// Parses a stored lease. A body that is not a lease of ours (corrupt, or
// from a future format) yields a holder named "unknown" with `fallback_ttl`,
// so that it blocks no longer than a lease of ours would.
LeaseHolder Parse(const std::string& text, int64_t fallback_ttl) {
  LeaseHolder h;
  h.ttl_seconds = fallback_ttl;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    h.holder_id = j.value("holder_id", "");
    h.host = j.value("host", "");
    h.pid = j.value("pid", int64_t{0});
    h.user = j.value("user", "");
    h.acquired_at = j.value("acquired_at", int64_t{0});
    h.renewed_at = j.value("renewed_at", int64_t{0});
    h.ttl_seconds = std::max<int64_t>(1, j.value("ttl_seconds", fallback_ttl));
    h.released = j.value("released", false);
    h.reads_layout_v2 = j.value("reads_layout_v2", false);
    h.pending_older_writer = j.value("pending_older_writer", "");
  } catch (const std::exception&) {
    h = LeaseHolder();
    h.ttl_seconds = fallback_ttl;
  }
  if (h.host.empty()) h.host = "unknown-host";
  if (h.user.empty()) h.user = "unknown";
  return h;
}

// Fills the store-side fields and the expiry of a lease just read.
void JudgeExpiry(const ObjectInfo& info, const LeaseOptions& opts, LeaseHolder* h) {
  h->etag = info.etag;
  h->last_modified = info.mtime_unix;
  h->store_now = info.server_time_unix > 0 ? info.server_time_unix : WallNow();
  if (h->last_modified > 0) {
    h->expires_at = h->last_modified + h->ttl_seconds + kLeaseGraceSeconds;
  } else {
    // No store timestamp: trust the holder's clock, within the skew allowed.
    h->expires_at =
        h->renewed_at + h->ttl_seconds + kLeaseGraceSeconds + opts.max_clock_skew_seconds;
  }
}

}  // namespace

std::string LeaseHolder::Describe() const {
  std::string s = user + "@" + host + " (pid " + std::to_string(pid) + ")";
  if (acquired_at > 0) s += " since " + UtcText(acquired_at);
  if (renewed_at > 0) s += ", last renewed " + UtcText(renewed_at);
  if (released) return s + ", released";
  if (store_now > 0) {
    const int64_t left = expires_at - store_now;
    s += left >= 0 ? ", expires in " + std::to_string(left) + " s"
                   : ", expired " + std::to_string(-left) + " s ago";
    s += " (ttl " + std::to_string(ttl_seconds) + " s) unless renewed";
  }
  return s;
}

struct Lease::State {
  ObjectStore* store = nullptr;
  std::string workspace;
  std::string key;
  LeaseOptions options;
  mutable std::mutex mu;
  LeaseHolder self;  // what we wrote last
  std::string etag;  // of what we wrote last
  // Read without mu (held()): a renewal holds mu across its request, and
  // `ccfs status` must not wait for a store that does not answer.
  std::atomic<bool> held{false};
  std::chrono::steady_clock::time_point valid_until;
  std::optional<LeaseHolder> replaced;  // set once, in Acquire
};

Lease::Lease(std::unique_ptr<State> state) : state_(std::move(state)) {}
Lease::Lease(Lease&&) noexcept = default;
Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (held()) {
      // As in the destructor: the lease runs out by itself if this fails.
      Status s = Release();
      if (!s.ok()) spdlog::warn("lease on {}: release failed: {}", state_->workspace, s.ToString());
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

Lease::~Lease() {
  if (state_ == nullptr || !held()) return;
  Status s = Release();
  if (!s.ok()) spdlog::warn("lease on {}: release failed: {}", state_->workspace, s.ToString());
}

Result<Lease> Lease::Acquire(ObjectStore& store, const std::string& workspace,
                             const LeaseOptions& options, LeaseHolder* current_holder) {
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  if (options.ttl_seconds < 1) return Status::InvalidArgument("lease ttl must be at least 1 s");
  auto st = std::make_unique<State>();
  st->store = &store;
  st->workspace = workspace;
  st->key = LeaseKey(workspace);
  st->options = options;
  LeaseHolder& me = st->self;
  me.holder_id = RandomHolderId();
  me.host = options.host.empty() ? ThisHost() : options.host;
  me.pid = options.pid != 0 ? options.pid : static_cast<int64_t>(getpid());
  me.user = options.user.empty() ? ThisUser() : options.user;
  me.ttl_seconds = options.ttl_seconds;

  for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
    me.acquired_at = me.renewed_at = WallNow();
    const std::string body = Serialize(me);
    const auto sent = std::chrono::steady_clock::now();
    PutOptions create;
    create.if_none_match_any = true;
    create.content_type = "application/json";
    ObjectInfo put;
    Status s = store.PutBytes(st->key, body, create, &put);
    if (s.ok()) {
      st->etag = put.etag;
      st->held = true;
      st->valid_until = sent + std::chrono::seconds(options.ttl_seconds);
      return Lease(std::move(st));
    }
    if (!s.IsPreconditionFailed()) return s.Annotate("lease on " + workspace);

    // Someone's lease (or a released marker) is there: read it.
    std::string text;
    ObjectInfo info;
    s = GetToString(store, st->key, GetOptions(), &text, &info);
    if (s.IsNotFound()) continue;  // deleted meanwhile: try to create again
    if (!s.ok()) return s.Annotate("lease on " + workspace + ": reading the current lease");
    LeaseHolder theirs = Parse(text, options.ttl_seconds);
    JudgeExpiry(info, options, &theirs);
    const bool reclaimable =
        !options.reclaim_holder_id.empty() && theirs.holder_id == options.reclaim_holder_id;
    if (!theirs.Expired() && !reclaimable) {
      if (current_holder != nullptr) *current_holder = theirs;
      return Status::PreconditionFailed("workspace '" + workspace + "' is held writable by " +
                                        theirs.Describe() +
                                        "; stop that mount, or wait for the lease to expire");
    }
    // Free to take: replace exactly the version we judged, so that of two
    // contenders only one wins; the other sees the winner's lease next round.
    PutOptions takeover;
    takeover.if_match = info.etag;
    takeover.content_type = "application/json";
    const auto sent2 = std::chrono::steady_clock::now();
    s = store.PutBytes(st->key, body, takeover, &put);
    if (s.ok()) {
      if (reclaimable && !theirs.Expired()) {
        spdlog::warn("lease on {}: reclaimed our own lease left by {}", workspace,
                     theirs.Describe());
      } else if (!theirs.released) {
        spdlog::warn("lease on {}: took over the expired lease of {}", workspace,
                     theirs.Describe());
      }
      st->etag = put.etag;
      st->held = true;
      st->valid_until = sent2 + std::chrono::seconds(options.ttl_seconds);
      st->replaced = theirs;
      return Lease(std::move(st));
    }
    if (!s.IsPreconditionFailed()) return s.Annotate("lease on " + workspace + ": taking over");
  }
  return Status::Unavailable("lease on " + workspace + ": it kept changing during " +
                             std::to_string(options.max_attempts) + " attempts to take it");
}

Status Lease::Renew() {
  std::lock_guard<std::mutex> lock(state_->mu);
  State& st = *state_;
  if (!st.held) return Status::PreconditionFailed("lease on " + st.workspace + " is not held");
  LeaseHolder next = st.self;
  next.renewed_at = WallNow();
  PutOptions po;
  po.if_match = st.etag;
  po.content_type = "application/json";
  const auto sent = std::chrono::steady_clock::now();
  ObjectInfo put;
  Status s = st.store->PutBytes(st.key, Serialize(next), po, &put);
  if (s.ok()) {
    st.self = next;
    st.etag = put.etag;
    st.valid_until = sent + std::chrono::seconds(st.options.ttl_seconds);
    return Status::OK();
  }
  if (!s.IsPreconditionFailed()) return s.Annotate("lease on " + st.workspace + ": renew");
  st.held = false;
  // Say who has it now, when that can be read.
  std::string text;
  ObjectInfo info;
  std::string who = "someone else";
  Status r = GetToString(*st.store, st.key, GetOptions(), &text, &info);
  if (r.ok()) {
    LeaseHolder theirs = Parse(text, st.options.ttl_seconds);
    JudgeExpiry(info, st.options, &theirs);
    who = theirs.released ? "a release by " + theirs.Describe() : theirs.Describe();
  } else if (r.IsNotFound()) {
    who = "a deletion of the lease object";
  }
  return Status::PreconditionFailed("lease on " + st.workspace + " was lost to " + who)
      .WithHttpStatus(s.http_status());
}

Status Lease::Release() {
  std::lock_guard<std::mutex> lock(state_->mu);
  State& st = *state_;
  if (!st.held) return Status::OK();
  LeaseHolder marker = st.self;
  marker.released = true;
  marker.renewed_at = WallNow();
  PutOptions po;
  po.if_match = st.etag;
  po.content_type = "application/json";
  Status s = st.store->PutBytes(st.key, Serialize(marker), po, nullptr);
  // Whatever the outcome we no longer count on it: a failed release expires.
  st.held = false;
  if (s.IsPreconditionFailed()) {
    return Status::PreconditionFailed("lease on " + st.workspace +
                                      " was no longer ours when releasing it (taken over)");
  }
  return s.Annotate("lease on " + st.workspace + ": release");
}

Status Lease::SetPendingOlderWriter(const std::string& who) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->self.pending_older_writer = who;
  }
  return Renew();
}

void Lease::Abandon() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->held = false;
}

bool Lease::held() const { return state_ != nullptr && state_->held.load(); }

std::string Lease::etag() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->etag;
}

const std::string& Lease::workspace() const { return state_->workspace; }
int Lease::ttl_seconds() const { return state_->options.ttl_seconds; }

const std::optional<LeaseHolder>& Lease::replaced() const { return state_->replaced; }

LeaseHolder Lease::self() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  LeaseHolder h = state_->self;
  h.etag = state_->etag;
  return h;
}

std::chrono::steady_clock::time_point Lease::valid_until() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->valid_until;
}

LeaseKeeper::LeaseKeeper(Lease* lease, LossCallback on_loss)
    : lease_(lease), on_loss_(std::move(on_loss)) {
  thread_ = std::thread([this] { Run(); });
}

LeaseKeeper::~LeaseKeeper() { Stop(); }

void LeaseKeeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status LeaseKeeper::loss_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loss_reason_;
}

void LeaseKeeper::DeclareLost(const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    loss_reason_ = why;
  }
  lost_.store(true);
  spdlog::warn("{}", why.ToString());
  if (on_loss_) on_loss_(why);
}

void LeaseKeeper::Run() {
  using namespace std::chrono;
  const milliseconds period(std::max<int64_t>(100, lease_->ttl_seconds() * 1000 / 3));
  // After a failed renewal, try again sooner, but not in a tight loop.
  const milliseconds retry(std::max<int64_t>(100, std::min<int64_t>(1000, period.count() / 3)));
  auto next = steady_clock::now() + period;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_until(lock, next, [this] { return stop_; })) return;
    }
    if (!lease_->held()) {
      DeclareLost(
          Status::PreconditionFailed("lease on " + lease_->workspace() + " is no longer held"));
      return;
    }
    Status s = lease_->Renew();
    if (s.ok()) {
      ++renewals_;
      next = steady_clock::now() + period;
      continue;
    }
    if (s.IsPreconditionFailed()) {
      DeclareLost(s);
      return;
    }
    const auto deadline = lease_->valid_until();
    if (steady_clock::now() + retry >= deadline) {
      lease_->Abandon();
      DeclareLost(Status::Unavailable(
          "lease on " + lease_->workspace() + ": not renewed within its ttl (" +
          std::to_string(lease_->ttl_seconds()) + " s); last error: " + s.ToString()));
      return;
    }
    spdlog::info("lease on {}: renewal failed, retrying: {}", lease_->workspace(), s.ToString());
    next = steady_clock::now() + retry;
  }
}

}  // namespace ccfs
