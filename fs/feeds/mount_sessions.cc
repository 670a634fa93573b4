#include "fs/feeds/mount_sessions.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "store/base/parallel.h"
#include "store/workspace/workspace_layout.h"
#include "sync/common/transcript_file.h"
#include "sync/sessions/session_feed.h"
#include "sync/sessions/session_source.h"

namespace ccfs {

namespace {

bool IsIndexable(const std::string& rel) { return ParseTranscriptPath(rel).has_value(); }

}  // namespace

MountSessions::MountSessions(const MountSessionsOptions& options, ObjectStore* store,
                             TranscriptWatch* watch, std::unique_ptr<SessionIndex> index)
    : options_(options), store_(store), watch_(watch), index_(std::move(index)) {}

Result<std::unique_ptr<MountSessions>> MountSessions::Start(const MountSessionsOptions& options,
                                                            ObjectStore* store,
                                                            TranscriptWatch* watch) {
  auto index = OpenCachedIndex(options.db_path);
  if (!index.ok()) return index.status().Annotate("session index");
  std::unique_ptr<MountSessions> m(
      new MountSessions(options, store, watch, std::move(index).value()));
  TranscriptSubscriber sub;
  MountSessions* raw = m.get();
  sub.grew = [raw](const std::string& rel) { raw->OnGrew(rel); };
  sub.names_changed = [raw] {
    std::lock_guard<std::mutex> lock(raw->mu_);
    raw->names_dirty_ = true;
  };
  m->subscription_ = watch->Subscribe(std::move(sub));
  m->thread_ = std::thread([raw] { raw->Run(); });
  return m;
}

MountSessions::~MountSessions() { Stop(); }

void MountSessions::Stop() {
  if (subscription_ != 0) {
    watch_->Unsubscribe(subscription_);
    subscription_ = 0;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MountSessions::OnGrew(const std::string& rel) {
  // FUSE thread: queue the name, nothing else.
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(rel);
    ++requested_;
  }
  wake_.notify_one();
}

Status MountSessions::CatchUp(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return Status::Unavailable("the session index is stopped");
  uint64_t target = ++requested_;
  reconcile_wanted_ = true;
  // A store refresh under way counts: its outcome is reported below.
  if (!store_indexed_ && !store_running_) store_wanted_ = true;
  wake_.notify_one();
  if (!done_.wait_until(lock, deadline, [&] { return processed_ >= target || stop_; })) {
    size_t pending = pending_.size();
    return Status::Unavailable("the session index is still catching up (" +
                               std::to_string(pending) + " transcripts queued)");
  }
  if (processed_ < target) return Status::Unavailable("the session index stopped");
  return store_status_;
}

void MountSessions::Run() {
  // Background work: on a busy machine the FUSE threads (and the sync
  // sidecar) go first; a catch-up request waits for it, bounded.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) != 0) {
    spdlog::debug("session index: setpriority: {}", std::strerror(errno));
  }
  for (;;) {
    std::set<std::string> grown;
    bool do_store, do_reconcile;
    uint64_t target;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || requested_ != processed_; });
      if (stop_) return;
      grown.swap(pending_);
      target = requested_;
      do_store = store_wanted_;
      store_wanted_ = false;
      do_reconcile = do_store || (reconcile_wanted_ && names_dirty_);
      // Remote transcripts moved to a new name are fetched under it.
      if (do_reconcile && store_indexed_) do_store = true;
      store_running_ = do_store;
      reconcile_wanted_ = false;
      if (do_reconcile) names_dirty_ = false;
    }
    // Grown files first: a remote transcript renamed here was forgotten
    // under its new name by IndexGrown, the store pass fetches it there.
    for (const std::string& rel : grown) IndexGrown(rel);
    Status store_status = Status::OK();
    if (do_store) {
      store_status = IndexStore();
      if (!store_status.ok()) NoteError("indexing the store's transcripts", store_status);
    }
    if (do_reconcile) {
      Status s = Reconcile();
      if (!s.ok()) NoteError("reconciling the session index with the tree", s);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (do_store) {
        store_status_ = store_status;
        store_indexed_ = store_status.ok();
        store_running_ = false;
      }
      processed_ = target;
    }
    done_.notify_all();
  }
}

Status MountSessions::IndexRemote(const std::string& rel, const std::string& origin,
                                  const std::string& etag, uint64_t* bytes) {
  CCFS_ASSIGN_OR_RETURN(std::optional<FileSourceState> old, index_->GetSourceState(rel));
  if (old && !etag.empty() && old->etag == etag) return Status::OK();  // indexed already
  CCFS_RETURN_IF_ERROR(index_->Forget(rel));
  TranscriptFeed feed(index_.get(), rel, FileSourceState{}, "");
  const ByteSink sink = [&](const char* d, size_t n) { return feed.Feed(d, n); };
  Status s;
  if (options_.read_remote) {
    s = options_.read_remote(origin, etag, sink);
  } else {
    GetOptions opts;
    opts.if_match = etag;  // the version the tree shows, or nothing
    ObjectInfo info;
    s = store_->Get(TranscriptKey(options_.workspace, origin), opts, sink, &info);
  }
  *bytes += feed.bytes_fed();
  CCFS_RETURN_IF_ERROR(s);
  FileSourceState state;
  state.size = static_cast<int64_t>(feed.bytes_fed());
  state.etag = etag;
  return feed.Finish(state);
}

Status MountSessions::IndexStore() {
  // The transcripts the tree shows as remote, fetched straight from the
  // store (as of the ETag the tree has) under their tree path.
  auto t0 = std::chrono::steady_clock::now();
  std::vector<SnapshotEntry> entries;
  watch_->table()->Snapshot(&entries);
  std::vector<const SnapshotEntry*> remote;
  for (const SnapshotEntry& e : entries) {
    if (e.node.type == NodeType::kFile && e.node.state == ContentState::kRemote &&
        e.node.origin_kind == OriginKind::kTranscript && IsIndexable(e.path)) {
      remote.push_back(&e);
    }
  }
  std::mutex mu;
  uint64_t bytes = 0;
  size_t moved_on = 0;
  Status s = ParallelFor(remote.size(), 4, [&](size_t i) {
    const SnapshotEntry& e = *remote[i];
    uint64_t n = 0;
    Status r = IndexRemote(e.path, e.node.origin_path, e.node.origin_etag, &n);
    std::lock_guard<std::mutex> lock(mu);
    bytes += n;
    // The store moved on from the version the tree shows (a read-only
    // mount of a workspace written elsewhere): it reads as EIO here too.
    if (r.IsPreconditionFailed() || r.IsNotFound()) {
      ++moved_on;
      return Status::OK();
    }
    return r.ok() ? r : r.Annotate(e.path);
  });
  CCFS_RETURN_IF_ERROR(s);
  spdlog::info("session index: {} remote transcripts, {} bytes fetched in {:.2f} s{}",
               remote.size(), bytes,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               moved_on == 0 ? "" : "; " + std::to_string(moved_on) + " changed in the store");
  return Status::OK();
}

Status MountSessions::RefreshLocal(const std::string& rel, const std::string& local,
                                   uint64_t valid_from, bool may_complete, RefreshStats* stats) {
  // A tail-only transcript (appended to here without its earlier bytes) is
  // read from its content file only past the watermark: enough when the
  // index already holds the rest (indexed from the store, or on an earlier
  // mount). Otherwise it is completed (downloaded) and read as any local
  // file, but only once the index is asked for (may_complete), as remote
  // transcripts are fetched: an append alone moves only its own bytes.
  // Its holes are never indexed.
  Status s = RefreshLocalFile(*index_, rel, local, stats, valid_from);
  if (valid_from == 0 || s.ok() || s.sys_errno() != ERANGE) return s;
  if (!may_complete) return Status::OK();  // the first catch-up's reconcile reads it
  std::string whole = watch_->LocalPath(rel);
  if (whole.empty()) {
    // Gone meanwhile (a reconcile forgets it), or not downloadable now: the
    // index keeps what it had.
    return Status::Unavailable("the earlier bytes of " + rel + " could not be read");
  }
  return RefreshLocalFile(*index_, rel, whole, stats);
}

void MountSessions::IndexGrown(const std::string& rel) {
  if (!IsIndexable(rel)) return;
  uint64_t valid_from = 0;
  std::string local = watch_->LocalPathFrom(rel, &valid_from);
  Status s;
  RefreshStats stats;
  if (local.empty()) {
    // Gone from this name (renamed on, deleted) or only in the store.
    s = index_->Forget(rel);
  } else {
    bool asked;
    {
      std::lock_guard<std::mutex> lock(mu_);
      asked = store_indexed_;
    }
    s = RefreshLocal(rel, local, valid_from, /*may_complete=*/asked, &stats);
  }
  if (!s.ok()) {
    NoteError("indexing " + rel, s);
    return;
  }
  if (stats.bytes_read > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    ++transcripts_read_;
  }
}

Status MountSessions::Reconcile() {
  std::vector<SnapshotEntry> entries;
  watch_->table()->Snapshot(&entries);
  std::unordered_set<std::string> in_tree;
  for (const SnapshotEntry& e : entries) {
    if (e.node.type != NodeType::kFile || !IsIndexable(e.path)) continue;
    in_tree.insert(e.path);
    if (e.node.state == ContentState::kRemote) continue;  // IndexStore's
    uint64_t valid_from = 0;
    std::string local = watch_->LocalPathFrom(e.path, &valid_from);
    if (local.empty()) continue;  // changed since the snapshot: a notification follows
    RefreshStats stats;
    CCFS_RETURN_IF_ERROR(
        RefreshLocal(e.path, local, valid_from, /*may_complete=*/true, &stats).Annotate(e.path));
    if (e.node.state == ContentState::kCached && e.node.origin_kind == OriginKind::kTranscript &&
        !e.node.origin_etag.empty()) {
      // The local copy is the store's object: record its ETag so that the
      // next store refresh skips it instead of fetching its tail.
      CCFS_ASSIGN_OR_RETURN(std::optional<FileSourceState> st, index_->GetSourceState(e.path));
      if (st && st->etag != e.node.origin_etag && static_cast<uint64_t>(st->size) == e.node.size) {
        st->etag = e.node.origin_etag;
        CCFS_RETURN_IF_ERROR(index_->SetSourceState(e.path, *st));
      }
    }
  }
  std::vector<std::string> known;
  CCFS_RETURN_IF_ERROR(index_->ListFiles(&known));
  for (const std::string& rel : known) {
    if (!in_tree.count(rel)) CCFS_RETURN_IF_ERROR(index_->Forget(rel));
  }
  return Status::OK();
}

void MountSessions::NoteError(const std::string& what, const Status& s) {
  spdlog::warn("session index: {}: {}", what, s.ToString());
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = what + ": " + s.ToString();
}

nlohmann::json MountSessions::StatusJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"index", options_.db_path},
          {"pending", pending_.size()},
          {"store_indexed", store_indexed_},
          {"transcripts_read", transcripts_read_},
          {"last_error", last_error_}};
}

}  // namespace ccfs
