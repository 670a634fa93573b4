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
constexpr milliseconds kDrainRetryMax{2000};
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
  SyncBackoff backoff(options_.backoff_initial, options_.backoff_max);
  Clock::time_point retry_at = Clock::time_point::min();
  bool rate_limited = false;
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
        bool work = !unauthorized && (!dirty.empty() || drain_requests_ > drains_done_);
        if (work && Clock::now() >= retry_at) break;
        if (work) {
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
        // Unmount is waiting: try at once rather than sit out a long backoff
        // (but honour a server's explicit Retry-After).
        if (!rate_limited) retry_at = Clock::time_point::min();
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
    if (unauthorized || Clock::now() < retry_at) {
      Publish(state, last_error);
      continue;
    }

    // One pass over the dirty files. A file whose request fails is left for
    // the next pass while the others go on (a server failing a share of its
    // requests at random still gets most of them); only a server that asks
    // everyone to wait (429/503) or refuses the token ends the pass early.
    std::optional<ApiReply> failure;
    bool progressed = false;  // some request of this pass succeeded
    std::string local_error;
    for (auto it = dirty.begin(); it != dirty.end() && !stop_;) {
      const int64_t requests_before = client_->requests();
      StepOutcome o = uploader_->SyncFile(*it);
      if (o.kind != StepOutcome::Kind::kRemote && client_->requests() > requests_before) {
        progressed = true;
      }
      bool end_pass = false;
      switch (o.kind) {
        case StepOutcome::Kind::kDone:
          it = dirty.erase(it);
          break;
        case StepOutcome::Kind::kMore:
          ++it;
          break;
        case StepOutcome::Kind::kLocal:
          // Unreadable local file: nothing the server can fix; retried when it grows again.
          local_error = *it + ": " + o.local.ToString();
          spdlog::warn("sync: {}", local_error);
          it = dirty.erase(it);
          break;
        case StepOutcome::Kind::kRemote:
          end_pass = o.reply.kind == ApiReply::Kind::kRateLimited ||
                     o.reply.kind == ApiReply::Kind::kUnauthorized ||
                     o.reply.kind == ApiReply::Kind::kAborted;
          if (!failure || end_pass) failure = std::move(o.reply);
          ++it;
          break;
      }
      if (end_pass) break;
    }
    if (!stop_ && (!failure || failure->kind == ApiReply::Kind::kRetryable)) {
      const int64_t requests_before = client_->requests();
      StepOutcome o = uploader_->FlushOutbox();
      if (o.kind == StepOutcome::Kind::kRemote && !failure) failure = std::move(o.reply);
      if (o.kind == StepOutcome::Kind::kLocal) local_error = o.local.ToString();
      if (o.kind != StepOutcome::Kind::kRemote && client_->requests() > requests_before) {
        progressed = true;
      }
    }
    bool drained = false;
    if (!failure && !stop_ && drain_pending && dirty.empty()) {
      // Each session's end goes out on its own: one that fails waits for the
      // next pass, the others do not.
      for (const std::string& session : grown_sessions) {
        if (ended_sessions.count(session) != 0) continue;
        StepOutcome o = uploader_->EndSession(session);
        if (o.kind == StepOutcome::Kind::kRemote) {
          const bool end_pass = o.reply.kind != ApiReply::Kind::kRetryable;
          if (!failure || end_pass) failure = std::move(o.reply);
          if (end_pass) break;
          continue;
        }
        progressed = true;
        ended_sessions.insert(session);
      }
      drained = !failure;
    }

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
    } else if (failure) {
      // Backoff grows only while nothing gets through: a pass in which some
      // request succeeded starts it again from its initial delay.
      if (progressed) backoff.Reset();
      milliseconds delay = backoff.Next();
      rate_limited = failure->kind == ApiReply::Kind::kRateLimited;
      // An unmount is waiting on the drain: keep trying every couple of
      // seconds at most rather than sit out a long backoff (a server's own
      // Retry-After still counts).
      if (drain_pending) delay = std::min(delay, kDrainRetryMax);
      if (rate_limited && failure->retry_after_s >= 0) {
        delay = std::max(delay, std::min(milliseconds(failure->retry_after_s * 1000LL),
                                         options_.max_retry_after));
      }
      retry_at = Clock::now() + delay;
      if (state != SyncState::kBackingOff) {
        spdlog::warn("sync: {}; retrying (backing off)", failure->error);
      } else {
        spdlog::debug("sync: {}; retry in {} ms", failure->error, delay.count());
      }
      state = SyncState::kBackingOff;
      last_error = failure->error;
    } else {
      if (state == SyncState::kBackingOff) spdlog::info("sync: server reachable again");
      backoff.Reset();
      rate_limited = false;
      state = SyncState::kOk;
      last_error = local_error;
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
