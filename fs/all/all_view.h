// AllView: every workspace of a store as one read-only tree, for reading the
// sessions of every machine in one place (`ccfs mount --all`). Free of
// libfuse types so unit tests drive it directly (fs/all/all_fuse_ops.cc adapts it
// to the kernel, fs/all/all_mount.cc runs it).
//
//   /          virtual: one directory per workspace in the store
//   /<ws>/...  that workspace's tree: a read-only, lazily hydrated Mount
//              (fs/lifecycle/mount.h) prepared the first time something inside it is
//              looked up or listed (HEAD + index + LIST), never mounted itself;
//              its cache is <cache_root>/<ws>. A workspace is read as it was
//              when the view first opened it.
//
// The root re-lists the store when it is listed, or a name is missing, and
// the last listing is older than `relist_interval_ms`: workspaces pushed
// later appear, removed ones disappear from the root (one already opened
// keeps serving its snapshot to whoever holds it open).
//
// Inode numbers: 1 is the virtual root; local inode L of the workspace in
// slot S (the order in which the view learnt it, stable for its life) is
// (S + 1) << 40 | L. Every method returns 0 or an errno value.
#pragma once

#include <sys/statvfs.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <vector>

#include "fs/tree/inode_table.h"
#include "store/base/status.h"
#include "store/base/unique_fd.h"
#include "store/objects/object_store.h"

namespace ccfs {

class Filesystem;
class Mount;

inline constexpr uint64_t kAllViewRootIno = 1;
inline constexpr int kAllViewSlotShift = 40;
inline constexpr uint64_t kAllViewLocalMask = (uint64_t{1} << kAllViewSlotShift) - 1;
inline constexpr size_t kAllViewMaxSlots = (size_t{1} << (64 - kAllViewSlotShift)) - 2;

// Global inode of local inode `local` (1 .. 2^40-1) of slot `slot`.
inline uint64_t AllViewIno(size_t slot, uint64_t local) {
  return (static_cast<uint64_t>(slot + 1) << kAllViewSlotShift) | local;
}
// Slot and local inode of a workspace inode; false for the virtual root and
// numbers no workspace can have.
inline bool SplitAllViewIno(uint64_t ino, size_t* slot, uint64_t* local) {
  uint64_t high = ino >> kAllViewSlotShift;
  uint64_t low = ino & kAllViewLocalMask;
  if (high == 0 || low == 0) return false;
  *slot = static_cast<size_t>(high - 1);
  *local = low;
  return true;
}

struct AllViewOptions {
  std::string store_url;   // for messages and each workspace's MountOptions
  std::string mountpoint;  // absolute; each workspace "lives" at <mountpoint>/<ws>
  std::string cache_root;  // locked for the view's life; workspace caches below it
  int64_t relist_interval_ms = 10000;
  // A workspace whose preparation failed answers EIO until this much later.
  int64_t prepare_retry_ms = 10000;
};

// Each workspace gets its own store (its own connection and byte counters).
using StoreFactory = std::function<Result<std::unique_ptr<ObjectStore>>()>;

class AllView {
 public:
  // Locks the cache root and lists the store once (a failure fails the mount).
  static Result<std::unique_ptr<AllView>> Open(StoreFactory stores, AllViewOptions options);
  ~AllView();
  AllView(const AllView&) = delete;
  AllView& operator=(const AllView&) = delete;

  // Lookup counts a kernel reference on workspace nodes (as FUSE lookup does).
  int Lookup(uint64_t parent, const std::string& name, NodeInfo* out);
  void Forget(uint64_t ino, uint64_t count);
  void AddLookup(uint64_t ino);
  int GetAttr(uint64_t ino, NodeInfo* out);
  int Readlink(uint64_t ino, std::string* target);
  // Entries carry global inode numbers.
  int ListDir(uint64_t ino, std::vector<DirEntryInfo>* out);
  // The descriptor to read a file from (hydrating it first).
  int OpenContent(uint64_t ino, std::shared_ptr<UniqueFd>* fd);
  int Statfs(struct statvfs* out);

  // Workspaces the root lists now, sorted.
  std::vector<std::string> WorkspaceNames();
  // Number of workspaces opened (prepared) so far.
  size_t OpenedCount();
  // Status for `ccfs status`: totals shaped like a mount's, plus "workspaces".
  nlohmann::json StatusJson();
  // Ends every opened workspace (persists its cache state); call once the
  // kernel session is over.
  void Close();

  const AllViewOptions& options() const { return options_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  std::atomic<uint64_t>& fuse_requests() { return fuse_requests_; }

 private:
  struct Slot;
  AllView(StoreFactory stores, AllViewOptions options);
  Status Relist();
  void MaybeRelist();
  Slot* SlotAt(size_t slot);
  // The slot of a workspace the root lists now.
  bool FindListed(const std::string& name, size_t* slot);
  // The workspace's filesystem, preparing it on first use; 0 or EIO.
  int Opened(size_t slot, Filesystem** fs);
  NodeInfo RootInfo() const;
  NodeInfo WorkspaceRootInfo(size_t slot, const Slot& s) const;
  NodeInfo Globalize(size_t slot, const Slot& s, NodeInfo n) const;

  StoreFactory stores_;
  AllViewOptions options_;
  UniqueFd lock_;
  std::unique_ptr<ObjectStore> list_store_;
  uid_t uid_;
  gid_t gid_;
  int64_t started_ns_;
  std::atomic<uint64_t> fuse_requests_{0};

  std::shared_mutex mu_;  // slots_, by_name_, each slot's listing fields
  std::vector<std::unique_ptr<Slot>> slots_;
  std::map<std::string, size_t> by_name_;
  std::mutex relist_mu_;  // one listing at a time
  std::atomic<int64_t> listed_at_ns_{0};
  std::string last_list_error_;  // under mu_
};

}  // namespace ccfs
