// Reading a workspace's remote version and turning it into a mounted tree:
// HEAD of the tarball + its index (two ranged GETs, or the cache by ETag) +
// one LIST of the transcripts. A tarball written by another tool has no
// index: it is downloaded once and unpacked into the cache while indexing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fs/tree/base_version.h"
#include "fs/tree/cache_dir.h"
#include "fs/tree/meta_db.h"
#include "store/objects/object_store.h"

namespace ccfs {

// The tarball's ETag and size; etag "" (and OK) when the workspace has none.
Status HeadTarball(ObjectStore& store, const std::string& workspace, ObjectInfo* info);

// Every transcript object of the workspace (one paginated LIST).
Status ListTranscripts(ObjectStore& store, const std::string& workspace,
                       std::vector<BaseTranscript>* out);

// Where a foreign tarball's files went: content_files[i] holds the data of
// index.entries[i] (files only; "" otherwise).
struct ForeignContent {
  std::vector<std::string> content_files;
};

// The tarball version `head` names: its index from the cache, else from the
// object. For a foreign tarball `foreign` receives its unpacked files (in
// cache.TmpDir()); it stays empty for ours.
Status LoadTarballVersion(ObjectStore& store, const std::string& workspace, const ObjectInfo& head,
                          const CacheDir& cache, std::shared_ptr<const TarballVersion>* out,
                          ForeignContent* foreign);

// Loads only the cached index of `etag` (for resuming a mount whose local
// changes were never flushed). NotFound when it is not cached.
Status LoadCachedVersion(const CacheDir& cache, const std::string& etag, uint64_t size,
                         std::shared_ptr<const TarballVersion>* out);
Status SaveCachedIndex(const CacheDir& cache, const TarballVersion& version);

// The inode records of a fresh mount: root, every tarball entry and every
// transcript, all files remote; directories implied by paths are added.
std::vector<NodeRecord> BuildTree(const TarballVersion& tarball,
                                  const std::vector<BaseTranscript>& transcripts, int64_t now_ns);

}  // namespace ccfs
