// TranscriptWatch: the mount's always-on answer to "which transcript grew?".
// It is the Filesystem's one FsChangeListener and turns "inode N changed"
// into "transcript projects/.../x.jsonl grew" for its subscribers (the sync
// sidecar, the session index), and tells them which local file holds a
// transcript's bytes.
//
// The write-path hook costs one hash lookup under a short mutex once an
// inode's path is known: the path (and whether it is a transcript) is
// computed once per inode with InodeTable::Path and cached until a
// rename/unlink invalidates the cache. No I/O, no waiting; subscribers must
// be as cheap (queue the name, wake a thread).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/ops/filesystem.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"

namespace ccfs {

struct TranscriptSubscriber {
  // The transcript at tree-relative `rel` grew, was truncated or appeared
  // at that name.
  std::function<void(const std::string& rel)> grew;
  // Names moved or went away somewhere in the tree (may be empty).
  std::function<void()> names_changed;
};

class TranscriptWatch {
 public:
  // Installs itself as `fs`'s change listener (before the mount serves).
  // `table`, `content` and `fs` must outlive the watch.
  TranscriptWatch(InodeTable* table, ContentCache* content, Filesystem* fs);
  // Removes the listener from `fs`.
  ~TranscriptWatch();
  TranscriptWatch(const TranscriptWatch&) = delete;
  TranscriptWatch& operator=(const TranscriptWatch&) = delete;

  // Subscribers may come and go while the mount serves. After Unsubscribe
  // returns, the subscriber is not being called and never will be.
  uint64_t Subscribe(TranscriptSubscriber subscriber);
  void Unsubscribe(uint64_t id);

  // The FUSE write path (also callable directly, e.g. after a flush merge
  // moved names).
  void OnContentChanged(uint64_t ino);
  void OnNamesChanged();

  // The local content file of the transcript at `rel`; "" when it is
  // remote-only (bytes only in the store) or absent. A tail-only file
  // (NodeRecord::local_from: appended to without downloading its earlier
  // bytes) is completed first, a download on the caller's thread (never a
  // FUSE one): its holes would read as zeros.
  std::string LocalPath(const std::string& rel) const;
  // Like LocalPath, but without completing: the content file is valid only
  // from *valid_from on (0 for a whole file), and the caller reads nothing
  // below it.
  std::string LocalPathFrom(const std::string& rel, uint64_t* valid_from) const;

  InodeTable* table() const { return table_; }

 private:
  void NotifyGrew(const std::string& rel);

  InodeTable* table_;
  ContentCache* content_;
  Filesystem* fs_;

  std::mutex mu_;  // guards the cache below; held only for map operations
  std::unordered_map<uint64_t, std::string> paths_;  // ino -> transcript path, "" = not one
  uint64_t names_gen_ = 0;                           // bumped by each invalidation

  // Shared while notifying (FUSE threads in parallel), exclusive to change.
  mutable std::shared_mutex subs_mu_;
  std::vector<std::pair<uint64_t, TranscriptSubscriber>> subscribers_;
  uint64_t next_id_ = 1;
};

}  // namespace ccfs
