// The store side of merging at flush (the rules are in fs/flush/merge.h): fetch
// the store's version now (HEAD + index + one LIST), compare contents where
// both sides changed a file (ours from the cache, theirs streamed with
// If-Match its ETag), apply the plan to the mounted tree, and make the new
// version the base the flush then writes onto.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fs/hydrate/hydrator.h"
#include "fs/tree/base_version.h"
#include "fs/tree/cache_dir.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Names and inodes the kernel may have cached that a merge changed: entry
// (`parent`, `name`) when parent != 0, attributes and data of `ino` when
// ino != 0.
struct KernelInvalidation {
  uint64_t parent = 0;
  std::string name;
  uint64_t ino = 0;
};
using KernelInvalidator = std::function<void(const std::vector<KernelInvalidation>&)>;

struct MergeContext {
  ObjectStore* store = nullptr;
  std::string workspace;
  const CacheDir* cache = nullptr;
  MetaDb* db = nullptr;
  InodeTable* table = nullptr;
  ContentCache* content = nullptr;
  Hydrator* hydrator = nullptr;
  BaseVersion* base = nullptr;
  std::string host;  // conflict copy names
  std::string time;
};

struct MergeOutcome {
  std::string remote_etag;                                     // the version merged into
  std::vector<std::string> taken;                              // paths now as the store has them
  std::vector<std::string> applied;                            // local changes kept, to go onto it
  std::vector<std::pair<std::string, std::string>> conflicts;  // path -> our copy
  std::vector<KernelInvalidation> invalidations;
};

// Merges the local tree with the store's current version and makes that
// version the base. PreconditionFailed when it cannot (the store's tarball
// is gone, or was written by another tool).
Status MergeWithRemote(const MergeContext& ctx, MergeOutcome* out);

// This host's name for conflict copies (characters safe in a file name).
std::string ConflictHostName();
// Now, UTC, compact: 20261121T142500Z.
std::string ConflictTimeNow();

}  // namespace ccfs
