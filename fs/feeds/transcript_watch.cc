#include "fs/feeds/transcript_watch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

// Beyond this many cached inodes the cache starts over (a tree with more
// files than this written in one mount is not what transcripts look like).
constexpr size_t kMaxCachedPaths = 1u << 16;

}  // namespace

TranscriptWatch::TranscriptWatch(InodeTable* table, ContentCache* content, Filesystem* fs)
    : table_(table), content_(content), fs_(fs) {
  FsChangeListener listener;
  listener.content_changed = [this](uint64_t ino) { OnContentChanged(ino); };
  listener.names_changed = [this] { OnNamesChanged(); };
  fs_->SetChangeListener(std::move(listener));
}

TranscriptWatch::~TranscriptWatch() { fs_->SetChangeListener(FsChangeListener{}); }

uint64_t TranscriptWatch::Subscribe(TranscriptSubscriber subscriber) {
  std::unique_lock<std::shared_mutex> lock(subs_mu_);
  uint64_t id = next_id_++;
  subscribers_.emplace_back(id, std::move(subscriber));
  return id;
}

void TranscriptWatch::Unsubscribe(uint64_t id) {
  std::unique_lock<std::shared_mutex> lock(subs_mu_);
  subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(),
                                    [id](const auto& s) { return s.first == id; }),
                     subscribers_.end());
}

void TranscriptWatch::NotifyGrew(const std::string& rel) {
  std::shared_lock<std::shared_mutex> lock(subs_mu_);
  for (const auto& [id, s] : subscribers_) {
    if (s.grew) s.grew(rel);
  }
}

void TranscriptWatch::OnContentChanged(uint64_t ino) {
  std::string path;
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = paths_.find(ino);
    if (it != paths_.end()) {
      path = it->second;
      if (path.empty()) return;
    }
    gen = names_gen_;
  }
  if (path.empty()) {
    // First change of this inode since the last invalidation: one walk up
    // the parents under the table's mutex.
    if (table_->Path(ino, &path) != 0) return;
    if (!IsTranscriptPath(path)) path.clear();
    std::lock_guard<std::mutex> lock(mu_);
    if (gen == names_gen_) {
      if (paths_.size() >= kMaxCachedPaths) paths_.clear();
      paths_.emplace(ino, path);
    }
  }
  if (!path.empty()) NotifyGrew(path);
}

void TranscriptWatch::OnNamesChanged() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paths_.clear();
    ++names_gen_;
  }
  std::shared_lock<std::shared_mutex> lock(subs_mu_);
  for (const auto& [id, s] : subscribers_) {
    if (s.names_changed) s.names_changed();
  }
}

std::string TranscriptWatch::LocalPathFrom(const std::string& rel, uint64_t* valid_from) const {
  *valid_from = 0;
  NodeInfo node;
  if (rel.empty() || table_->Resolve(rel, &node) != 0) return "";
  if (node.type != NodeType::kFile || node.state == ContentState::kRemote) return "";
  *valid_from = node.local_from;
  return content_->Path(node.ino);
}

std::string TranscriptWatch::LocalPath(const std::string& rel) const {
  NodeInfo node;
  if (rel.empty() || table_->Resolve(rel, &node) != 0) return "";
  if (node.type != NodeType::kFile || node.state == ContentState::kRemote) return "";
  if (node.local_from != 0) {
    if (int err = fs_->CompleteContent(node.ino); err != 0) {
      spdlog::warn("completing {} to read it: {}", rel, std::strerror(err));
      return "";
    }
    // Completed (or replaced meanwhile: then whatever is at the name now).
    if (table_->Resolve(rel, &node) != 0 || node.type != NodeType::kFile ||
        node.state == ContentState::kRemote || node.local_from != 0) {
      return "";
    }
  }
  return content_->Path(node.ino);
}

}  // namespace ccfs
