#include "fs/feeds/mount_sync.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "store/workspace/workspace_layout.h"
#include "sync/common/sync_common.h"

namespace ccfs {

std::string SyncUrlForDisplay(const std::string& url) {
  size_t scheme = url.find("://");
  size_t host = scheme == std::string::npos ? 0 : scheme + 3;
  size_t path = url.find('/', host);
  size_t at = url.rfind('@', path == std::string::npos ? url.size() : path);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

MountSync::MountSync(const MountSyncOptions& options, InodeTable* table, TranscriptWatch* watch)
    : options_(options), table_(table), watch_(watch) {}

Result<std::unique_ptr<MountSync>> MountSync::Create(const MountSyncOptions& options,
                                                     InodeTable* table, TranscriptWatch* watch) {
  std::unique_ptr<MountSync> sync(new MountSync(options, table, watch));
  SyncSidecarOptions so;
  so.url = options.url;
  so.token = options.token;
  so.progress_db_path = options.progress_db_path;
  so.drain_timeout = options.drain_timeout;
  so.local_path = [watch](const std::string& rel) {
    // A remote-only transcript is not fetched for sync: its lines went out
    // from the machine that wrote them.
    return watch->LocalPath(rel);
  };
  auto sidecar = SyncSidecar::Create(std::move(so));
  if (!sidecar.ok()) return sidecar.status().Annotate("transcript sync");
  sync->sidecar_ = std::move(sidecar).value();
  SyncSidecar* sidecar_raw = sync->sidecar_.get();
  TranscriptSubscriber sub;
  sub.grew = [sidecar_raw](const std::string& rel) { sidecar_raw->NotifyGrew(rel); };
  sync->subscription_ = watch->Subscribe(std::move(sub));
  sync->AnnounceLocalDirtyTranscripts();
  spdlog::info("transcript sync to {} (progress in {})", SyncUrlForDisplay(options.url),
               options.progress_db_path);
  return sync;
}

MountSync::~MountSync() {
  if (subscription_ != 0) watch_->Unsubscribe(subscription_);
  if (drain_.valid()) drain_.wait();
  sidecar_.reset();  // stops its thread before the rest goes
}

void MountSync::AnnounceLocalDirtyTranscripts() {
  // Lines written before a crash (or a drain that ran out of time) are in
  // dirty local files; the progress DB knows most of them, but a file that
  // was never announced before the crash is only found here.
  std::vector<SnapshotEntry> entries;
  table_->Snapshot(&entries);
  for (const SnapshotEntry& e : entries) {
    if (e.node.type == NodeType::kFile && e.node.state == ContentState::kDirty &&
        IsTranscriptPath(e.path)) {
      sidecar_->NotifyGrew(e.path);
    }
  }
}

void MountSync::BeginDrain() {
  if (drain_.valid()) return;
  drain_started_ = std::chrono::steady_clock::now();
  auto deadline = drain_started_ + options_.drain_timeout;
  SyncSidecar* sidecar = sidecar_.get();
  drain_ = std::async(std::launch::async, [sidecar, deadline] { return sidecar->Drain(deadline); });
}

Status MountSync::FinishDrain() {
  BeginDrain();
  Status s = drain_.get();
  SyncStatus st = sidecar_->Snapshot();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_started_).count();
  if (s.ok()) {
    spdlog::info(
        "transcript sync drained: {} files in step with the server, {} requests (drain {:.2f} s)",
        st.files.size(), st.requests, took);
  } else {
    spdlog::warn("transcript sync at unmount: {} (after {:.2f} s)", s.ToString(), took);
  }
  return s;
}

nlohmann::json MountSync::StatusJson() const {
  nlohmann::json j = SyncStatusToJson(sidecar_->Snapshot());
  j["url"] = SyncUrlForDisplay(options_.url);
  return j;
}

std::string DescribeSyncStatusJson(const nlohmann::json& sync) {
  SyncStatus st;
  std::string state = sync.value("state", std::string());
  for (SyncState s : {SyncState::kOk, SyncState::kBackingOff, SyncState::kStoppedUnauthorized}) {
    if (state == SyncStateName(s)) st.state = s;
  }
  st.last_error = sync.value("last_error", std::string());
  st.pending_lines = sync.value("pending_lines", int64_t{0});
  st.requests = sync.value("requests", int64_t{0});
  for (const auto& f : sync.value("files", nlohmann::json::array())) {
    if (!f.is_object()) continue;
    st.files.push_back({f.value("path", std::string()), f.value("lines_written", int64_t{0}),
                        f.value("lines_acked", int64_t{0})});
  }
  std::string out = DescribeSyncStatus(st);
  std::string url = sync.value("url", std::string());
  if (!url.empty()) out.insert(out.find(':'), " to " + url);
  return out;
}

}  // namespace ccfs
