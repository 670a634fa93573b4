#include "sync/client/sidecar.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "sync/client/backoff.h"
#include "sync/client/progress_db.h"
#include "sync/client/sync_client.h"
#include "sync/client/transcript_uploader.h"
#include "sync/common/sync_common.h"

namespace ccfs {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

SyncSidecar::SyncSidecar(SyncSidecarOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<SyncSidecar>> SyncSidecar::Create(SyncSidecarOptions options) {
  if (!options.local_path) return Status::InvalidArgument("sync: no local_path function");
  if (options.progress_db_path.empty()) return Status::InvalidArgument("sync: no progress DB path");
  if (options.hostname.empty()) options.hostname = CurrentHostname();
  if (options.username.empty()) options.username = CurrentUsername();
  std::unique_ptr<SyncSidecar> sidecar(new SyncSidecar(std::move(options)));
  const SyncSidecarOptions& o = sidecar->options_;

  SyncClientOptions client;
  client.base_url = o.url;
  client.token = o.token;
  client.connect_timeout = o.connect_timeout;
  client.request_timeout = o.request_timeout;
  client.abort_flag = &sidecar->stop_;
  CCFS_ASSIGN_OR_RETURN(sidecar->client_, SyncClient::Create(client));
  auto db = ProgressDb::Open(o.progress_db_path);
  if (!db.ok()) return db.status().Annotate("sync progress DB");
  sidecar->db_ = std::move(db).value();

  UploaderOptions up;
  up.local_path = o.local_path;
  up.hostname = o.hostname;
  up.username = o.username;
  up.max_chunk_bytes = o.max_chunk_bytes;
  sidecar->uploader_ = std::make_unique<TranscriptUploader>(std::move(up), sidecar->client_.get(),
                                                            sidecar->db_.get(), &sidecar->stop_);
  SyncSidecar* raw = sidecar.get();
  sidecar->thread_ = std::thread([raw] { raw->Run(); });
  return sidecar;
}

SyncSidecar::~SyncSidecar() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  drained_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SyncSidecar::NotifyGrew(const std::string& rel_path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_.insert(rel_path);
  }
  wake_.notify_one();
}

Status SyncSidecar::Drain(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t mine = ++drain_requests_;
  wake_.notify_all();
  drained_.wait_until(lock, deadline,
                      [&] { return drains_done_ >= mine || unauthorized_ || stop_; });
  bool done = drains_done_ >= mine;
  bool unauthorized = unauthorized_;
  lock.unlock();
  if (done) return Status::OK();
  int64_t pending = Snapshot().pending_lines;
  if (unauthorized) {
    return Status::PermissionDenied("transcript sync stopped: the server refused the token; " +
                                    std::to_string(pending) + " lines not sent");
  }
  return Status::Unavailable("transcript sync did not finish in time: " + std::to_string(pending) +
                             " lines not sent yet (they go out after the next mount)");
}

SyncStatus SyncSidecar::Snapshot() const {
  // Read the queue first: Publish stores the status before it clears
  // unpublished_, so a 0 here means the status below already counts every
  // growth announced before this call.
  size_t queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = notified_.size() + unpublished_;
  }
  std::lock_guard<std::mutex> lock(status_mu_);
  SyncStatus s = status_;
  s.queued_files = static_cast<int64_t>(queued);
  return s;
}

void SyncSidecar::Publish(SyncState state, const std::string& error) {
  SyncStatus s;
  s.state = state;
  s.last_error = error;
  s.files = uploader_->FileStatuses();
  s.pending_lines = uploader_->PendingLines();
  s.requests = client_->requests();
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_ = std::move(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  unpublished_ = 0;
}

namespace {

// While an unmount waits on a drain: no piece of work backs off longer than
// this, and a server's Retry-After holds everything back at most this long.
constexpr milliseconds kDrainRetryMax{1000};
constexpr milliseconds kDrainHoldMax{2000};

const std::string kOutboxKey = "outbox";
std::string EndKey(const std::string& session) { return "end:" + session; }

}  // namespace

void SyncSidecar::Run() {
  std::set<std::string> dirty;  // files that may have unsent lines
  auto loaded = uploader_->LoadProgress();
  if (loaded.ok()) {
    for (const std::string& rel : *loaded) {
      dirty.insert(rel);
      (void)uploader_->Refresh(rel);  // status only; SyncFile reports errors
    }
  } else {
    spdlog::error("sync: cannot read progress DB: {}", loaded.status().ToString());
  }
  std::set<std::string> grown_sessions;  // sessions that grew since Create
  std::set<std::string> ended_sessions;  // ... and got their session_end
  // Files, session ends and the outbox each back off on their own (see
  // backoff.h): a failing request holds back only its own piece of work.
  SyncRetrySchedule schedule(options_.backoff_initial, options_.backoff_max,
                             std::random_device{}());
  bool outbox_pending = true;  // not flushed since Create (or its last flush failed)
  Clock::time_point retry_at = Clock::time_point::min();  // the earliest piece due
  int rate_limited_in_a_row = 0;                          // 429/503 replies since the last success
  bool unauthorized = false;
  uint64_t drain_seen = 0;
  SyncState state = SyncState::kOk;
  std::string last_error;
  Publish(state, last_error);

  while (true) {
    std::unordered_set<std::string> fresh;
    uint64_t drain_target = 0;
    bool drain_pending = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stop_ && notified_.empty() && drain_requests_ == drain_seen) {
        bool work =
            !unauthorized && (!dirty.empty() || outbox_pending || drain_requests_ > drains_done_);
        if (work && Clock::now() >= retry_at) break;
        if (work && retry_at != Clock::time_point::max()) {
          wake_.wait_until(lock, retry_at);
        } else {
          wake_.wait(lock);
        }
      }
      if (stop_) break;
      fresh.swap(notified_);
      unpublished_ += fresh.size();
      if (drain_requests_ > drain_seen) {
        drain_seen = drain_requests_;
        // Unmount is waiting: try every piece at once rather than sit out its
        // backoff; a server's Retry-After is honoured, up to kDrainHoldMax.
        schedule.Hurry(Clock::now(), kDrainHoldMax);
      }
      drain_target = drain_requests_;
      drain_pending = drain_requests_ > drains_done_;
    }
    for (const std::string& rel : fresh) {
      if (!uploader_->Track(rel)) continue;
      dirty.insert(rel);
      grown_sessions.insert(uploader_->SessionOf(rel));
      (void)uploader_->Refresh(rel);
    }
    if (unauthorized) {
      Publish(state, last_error);
      continue;
    }

    // One pass over the pieces that are due. A failure backs off only its own
    // piece and the pass goes on to the others; only a server that keeps
    // asking to wait (429/503 twice in a row), refuses the token, or a stop
    // ends it early.
    // Exactly-once holds whatever fails where: the uploader records a file's
    // progress only after an ack, and after any failure asks the server
    // (init) where the file stands before it sends again.
    std::optional<ApiReply> failure;  // the last one of this pass
    bool end_pass = false;
    std::string local_error;
    const milliseconds cap = drain_pending ? kDrainRetryMax : options_.backoff_max;
    auto failed = [&](const std::string& key, ApiReply reply) {
      const Clock::time_point now = Clock::now();
      const milliseconds bound = drain_pending ? kDrainHoldMax : options_.max_retry_after;
      milliseconds wait(0);  // the server's Retry-After, bounded
      if (reply.kind == ApiReply::Kind::kRateLimited && reply.retry_after_s >= 0) {
        wait = std::min(milliseconds(reply.retry_after_s * 1000LL), bound);
      }
      // "Wait Retry-After, then back off": this piece waits at least that.
      milliseconds delay = schedule.Failed(key, now, cap, wait);
      switch (reply.kind) {
        case ApiReply::Kind::kRateLimited:
          // One 429/503 among answers may be a single request's bad luck; a
          // second without a success between means the server wants everyone
          // to wait: hold every piece back and end the pass.
          if (++rate_limited_in_a_row >= 2) {
            // The server's Retry-After, not this piece's own (maybe long) backoff.
            schedule.HoldAll(now, wait > milliseconds(0) ? wait : options_.backoff_initial, bound);
            end_pass = true;
          }
          break;
        case ApiReply::Kind::kUnauthorized:
        case ApiReply::Kind::kAborted:
          end_pass = true;
          break;
        default:
          break;
      }
      spdlog::debug("sync: {}: {}; retry in {} ms", key, reply.error, delay.count());
      failure = std::move(reply);
    };
    for (auto it = dirty.begin(); it != dirty.end() && !stop_ && !end_pass;) {
      if (!schedule.Due(*it, Clock::now())) {
        ++it;
        continue;
      }
      const int64_t requests_before = client_->requests();
      StepOutcome o = uploader_->SyncFile(*it);
      // Done or More after a request: the server answered (a 409 too).
      auto answered = [&] {
        if (client_->requests() > requests_before) {
          schedule.Succeeded(*it, Clock::now());
          rate_limited_in_a_row = 0;
        } else {
          schedule.Forget(*it);
        }
      };
      switch (o.kind) {
        case StepOutcome::Kind::kDone:
          answered();
          it = dirty.erase(it);
          break;
        case StepOutcome::Kind::kMore:
          answered();
          ++it;
          break;
        case StepOutcome::Kind::kLocal:
          // Unreadable local file: nothing the server can fix; retried when it grows again.
          local_error = *it + ": " + o.local.ToString();
          spdlog::warn("sync: {}", local_error);
          schedule.Forget(*it);
          it = dirty.erase(it);
          break;
        case StepOutcome::Kind::kRemote:
          failed(*it, std::move(o.reply));
          ++it;
          break;
      }
    }
    if (!stop_ && !end_pass && schedule.Due(kOutboxKey, Clock::now())) {
      const int64_t requests_before = client_->requests();
      StepOutcome o = uploader_->FlushOutbox();
      outbox_pending = o.kind == StepOutcome::Kind::kRemote;
      if (o.kind == StepOutcome::Kind::kLocal) local_error = o.local.ToString();
      if (o.kind == StepOutcome::Kind::kRemote) {
        failed(kOutboxKey, std::move(o.reply));
      } else if (client_->requests() > requests_before) {
        schedule.Succeeded(kOutboxKey, Clock::now());
        rate_limited_in_a_row = 0;
      } else {
        schedule.Forget(kOutboxKey);
      }
    }
    // Sessions end once all their lines are in: each end goes on its own.
    bool ends_pending = false;
    if (drain_pending && dirty.empty()) {
      for (const std::string& session : grown_sessions) {
        if (ended_sessions.count(session) != 0) continue;
        if (stop_ || end_pass || !schedule.Due(EndKey(session), Clock::now())) {
          ends_pending = true;
          continue;
        }
        StepOutcome o = uploader_->EndSession(session);
        if (o.kind == StepOutcome::Kind::kRemote) {
          failed(EndKey(session), std::move(o.reply));
          ends_pending = true;
          continue;
        }
        schedule.Succeeded(EndKey(session), Clock::now());
        rate_limited_in_a_row = 0;
        ended_sessions.insert(session);
      }
    }
    const bool drained =
        !stop_ && drain_pending && dirty.empty() && !ends_pending && !outbox_pending;

    if (failure && failure->kind == ApiReply::Kind::kAborted) {
      continue;  // stopping
    }
    if (failure && failure->kind == ApiReply::Kind::kUnauthorized) {
      unauthorized = true;
      state = SyncState::kStoppedUnauthorized;
      last_error = failure->error;
      spdlog::error(
          "sync: the sync server refused the token ({}); transcript sync is stopped "
          "for this mount",
          failure->error);
      {
        std::lock_guard<std::mutex> lock(mu_);
        unauthorized_ = true;
      }
      drained_.notify_all();
    } else if (schedule.BackingOff()) {
      if (failure) {
        if (state != SyncState::kBackingOff) {
          spdlog::warn("sync: {}; retrying (backing off)", failure->error);
        }
        last_error = failure->error;
      }
      state = SyncState::kBackingOff;
    } else {
      if (state == SyncState::kBackingOff) spdlog::info("sync: server reachable again");
      state = SyncState::kOk;
      last_error = local_error;
    }

    // Sleep until the earliest piece is due (each file, the outbox, the ends).
    retry_at = Clock::time_point::max();
    for (const std::string& rel : dirty) retry_at = std::min(retry_at, schedule.NextDue(rel));
    if (outbox_pending) retry_at = std::min(retry_at, schedule.NextDue(kOutboxKey));
    if (drain_pending) {
      for (const std::string& session : grown_sessions) {
        if (ended_sessions.count(session) == 0) {
          retry_at = std::min(retry_at, schedule.NextDue(EndKey(session)));
        }
      }
    }
    if (drained) {
      std::lock_guard<std::mutex> lock(mu_);
      if (notified_.empty()) {
        drains_done_ = std::max(drains_done_, drain_target);
        drained_.notify_all();
      }
    }
    Publish(state, last_error);
  }
  Publish(unauthorized ? SyncState::kStoppedUnauthorized : state, last_error);
}

}  // namespace ccfs
