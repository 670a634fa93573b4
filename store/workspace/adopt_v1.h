// Adopting a v1 workspace into layout v2 without downloading it: the v1
// tarball becomes the first pack and each transcript object a raw chunk,
// both by server-side copy; the index is built from the tarball's own
// seekable index (two ranged GETs) and a LIST of the transcripts.
//
// Adopted objects are named by their origin, not their content (the bytes
// never pass through this machine to be hashed): SHA-256 of
// "ccfs-adopted-v1:<key>:<etag>". They are immutable like any other.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/root.h"
#include "store/layout/segment_plan.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct AdoptReport {
  WorkspaceRoot root;
  uint64_t files = 0;
  uint64_t transcripts = 0;
  uint64_t bytes_copied = 0;  // inside the store
  // A foreign tarball only: it crossed the wire twice.
  bool foreign = false;
  uint64_t bytes_downloaded = 0;
  uint64_t bytes_uploaded = 0;
  std::vector<std::string> skipped;  // "path: why"
};

// The tarball's tree as entries of the v2 layout, its bytes made a pack:
// version `tarball` of the v1 tarball copied inside the store (ccfs's
// seekable one), or read, extracted and packed again (a foreign one). Adds
// one change per entry to `changes`; counts in `report`.
Status AdoptTarball(ObjectStore& store, const std::string& workspace, const ObjectInfo& tarball,
                    const std::string& scratch_dir, std::vector<SegmentChange>* changes,
                    AdoptReport* report);

// The v1 transcript objects (one LIST) as entries of the v2 layout, each
// object copied inside the store as a raw chunk named by its key and ETag
// (AdoptedObjectName). Only objects `wanted` accepts are copied and listed
// (null: all). Counts in report->transcripts and bytes_copied.
Status AdoptTranscripts(ObjectStore& store, const std::string& workspace,
                        const std::function<bool(const ObjectInfo&)>& wanted,
                        std::vector<IndexEntry>* out, AdoptReport* report);

// The name adoption gives the copy of v1 object `key` at `etag` (a pack for
// the tarball, a raw chunk for a transcript).
std::string AdoptedObjectName(const std::string& key, const std::string& etag);

// Commits generation 1 of `workspace` from its v1 objects. PreconditionFailed
// when a v2 root exists.
//
// A foreign tarball (a tar.gz made by `tar czf`, without ccfs's index) has no
// member a range could reach: it is downloaded once, extracted with the
// pull's safeguards under `scratch_dir` ("" = $TMPDIR or /tmp), packed again
// as a seekable pack and uploaded (report->bytes_downloaded/uploaded say so).
// Entries the extraction refuses (hostile paths) are left out and named in
// report->skipped.
Status AdoptV1(ObjectStore& store, const std::string& workspace, const RootWriter& writer,
               AdoptReport* report, const std::string& scratch_dir = "");

}  // namespace ccfs
