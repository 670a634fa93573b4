#include "sync/sessions/session_feed.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace ccfs {

size_t TailHashLength(const std::string& tail_hash) {
  size_t colon = tail_hash.find(':');
  if (colon == std::string::npos || colon == 0) return 0;
  return static_cast<size_t>(std::strtoull(tail_hash.substr(0, colon).c_str(), nullptr, 10));
}

TranscriptFeed::TranscriptFeed(SessionIndex* index, std::string rel_path,
                               const FileSourceState& start, std::string tail)
    : index_(index),
      rel_path_(std::move(rel_path)),
      batch_first_line_(start.indexed_lines + 1),
      next_line_(start.indexed_lines + 1),
      offset_(start.indexed_bytes),
      tail_(std::move(tail)) {}

Status TranscriptFeed::Feed(const char* data, size_t len) {
  bytes_fed_ += len;
  size_t start = 0;
  while (start < len) {
    const char* nl = static_cast<const char*>(std::memchr(data + start, '\n', len - start));
    if (nl == nullptr) {
      pending_.append(data + start, len - start);
      break;
    }
    size_t n = static_cast<size_t>(nl - (data + start));
    pending_.append(data + start, n);
    start += n + 1;
    offset_ += pending_.size() + 1;
    tail_.append(pending_).push_back('\n');
    if (tail_.size() > 4 * kTailHashBytes) tail_.erase(0, tail_.size() - kTailHashBytes);
    batch_bytes_ += pending_.size();
    batch_.push_back(std::move(pending_));
    pending_.clear();
    ++next_line_;
    if (batch_bytes_ >= kBatchBytes) CCFS_RETURN_IF_ERROR(Flush(nullptr));
  }
  return Status::OK();
}

Status TranscriptFeed::Flush(const FileSourceState* state) {
  std::vector<std::string_view> views(batch_.begin(), batch_.end());
  Status s = state != nullptr ? index_->AddLines(rel_path_, batch_first_line_, views, *state)
                              : index_->AddLines(rel_path_, batch_first_line_, views);
  batch_.clear();
  batch_bytes_ = 0;
  batch_first_line_ = next_line_;
  return s;
}

Status TranscriptFeed::Finish(FileSourceState state) {
  state.indexed_bytes = offset_;
  state.indexed_lines = next_line_ - 1;
  size_t n = std::min(tail_.size(), kTailHashBytes);
  state.tail_hash = TailHash(std::string_view(tail_).substr(tail_.size() - n));
  if (batch_.empty()) return index_->SetSourceState(rel_path_, state);
  return Flush(&state);
}

}  // namespace ccfs
