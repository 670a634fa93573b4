// Reading a layout-v2 workspace (docs/layout-v2-plan.md) as a mount's base:
// the root, then its index segments (kept in the cache dir by name, so a
// remount fetches only segments it has never seen), turned into the shapes a
// v1 base has (fs/tree/base_version.h). The tree, planning and merging then
// work as for v1; the Hydrator reads bytes through the entries and the
// Flusher commits through store/layout/commit.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fs/tree/base_version.h"
#include "fs/tree/cache_dir.h"
#include "fs/tree/meta_db.h"
#include "store/layout/index_segment.h"
#include "store/layout/root_store.h"
#include "store/objects/object_store.h"

namespace ccfs {

// The version tag of a v2 base (TarballVersion::etag, meta.db's base_etag):
// "v2:" + the root's ETag ("v2:" alone for a v2 workspace not yet written).
std::string V2VersionTag(const std::string& root_etag);
bool IsV2VersionTag(const std::string& tag);
// A regular file's tag (BaseTranscript::etag, its nodes' origin_etag): names
// its bytes (chunk list or pack member), so a file a commit did not touch
// keeps its tag, as a v1 transcript object keeps its ETag. So no commit has
// to re-point the origins of the files it left alone.
std::string V2FileTag(const IndexEntry& e);

// The shapes of `tree`: every regular file as an object of its own (a
// BaseTranscript, tagged by V2FileTag, whatever its path), and a
// TarballVersion (with `v2` set) listing the directories and symlinks.
std::shared_ptr<const TarballVersion> MakeV2Version(std::shared_ptr<const V2Tree> tree,
                                                    std::vector<BaseTranscript>* transcripts);

// One segment: the cache dir's copy if it has one (checked against its
// name), else a GET, which is then kept.
Status LoadV2Segment(ObjectStore& store, const std::string& workspace, const CacheDir& cache,
                     const SegmentRef& ref, IndexSegment* out);
// Keeps a segment this mount wrote (its bytes as stored).
Status SaveV2Segment(const CacheDir& cache, const std::string& name, const std::string& stored);

// Every entry of `root`'s tree, from its segments.
Status LoadV2Tree(ObjectStore& store, const std::string& workspace, const CacheDir& cache,
                  const CurrentRoot& root, std::shared_ptr<const V2Tree>* out);

// A pack of the workspace as a seekable tarball version (HEAD + its index by
// ranged GETs), so the block reader fills every member a block holds. Its
// etag is "" (packs never change: no If-Match needed).
Status LoadPackVersion(ObjectStore& store, const std::string& workspace, const std::string& pack,
                       std::shared_ptr<const TarballVersion>* out);

// The root a base was read from, kept by its ETag so a mount resuming
// unflushed changes finds its base without the store (which may have
// moved on).
Status SaveCachedV2Root(const CacheDir& cache, const CurrentRoot& root);
// The tree of the cached root whose version tag is `tag`, from cached
// segments only. NotFound when either is missing.
Status LoadCachedV2Tree(const CacheDir& cache, const std::string& tag,
                        std::shared_ptr<const V2Tree>* out);

}  // namespace ccfs
