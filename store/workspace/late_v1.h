// A v1 tarball written after its workspace moved to layout v2: an older
// ccfs (or a mount that began before the move) still flushes the v1
// tarball, conditional on the version it read, which the move left in
// place. Those changes are not in the v2 tree. The next writable mount
// finds them (the tarball's ETag is not the one the root says it adopted)
// and takes them in as one more generation, by a three-way merge per path:
//
//   base   = the generation that adopted the tarball version the old writer
//            started from (empty when there is none);
//   theirs = the late tarball, adopted as a pack (a server-side copy; a
//            foreign tar.gz is read once and packed again);
//   ours   = the current root.
//
// A path is changed on a side when its type, size, mtime (seconds), mode or
// symlink target differ from the base: the two packs hold the bytes in
// different places, so locations cannot be compared. Their change is taken
// where ours did not change the path; where both did, ours stays and theirs
// is kept beside it as `<path>.conflict-v1-<etag>`. A file they changed that
// ours removed comes back. Their removals are not applied: a path that is
// gone from the tarball stays (nothing is ever lost to a merge; history has
// every version).
//
// Transcript objects an old writer uploaded are found by a LIST, which a
// mount pays only when the lease tells it an older ccfs held the workspace
// (store/workspace/lease.h, reads_layout_v2): MergeLateV1Transcripts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/base/status.h"
#include "store/layout/root.h"
#include "store/layout/root_store.h"
#include "store/objects/object_store.h"
#include "store/workspace/adopt_v1.h"

namespace ccfs {

struct LateV1Report {
  bool found = false;   // the tarball is not the version the root adopted
  bool merged = false;  // ... and a generation now holds its changes
  std::string tarball_etag;
  uint64_t generation = 0;                                     // the generation committed
  std::vector<std::string> taken;                              // paths set from the tarball
  std::vector<std::pair<std::string, std::string>> conflicts;  // path, where theirs went
  std::vector<std::string> skipped;                            // "path: why"
  AdoptReport adopted;                                         // bytes the tarball cost
};

// Merges a late v1 tarball into `*current` (updated to the new root when a
// generation is committed). Nothing to do (found == false) when there is no
// tarball or it is the adopted version. Commits If-Match `*current`, reading
// the root again and redoing the merge when another writer came first.
Status MergeLateV1Tarball(ObjectStore& store, const std::string& workspace,
                          const RootWriter& writer, const std::string& scratch_dir,
                          CurrentRoot* current, LateV1Report* report);

struct LateTranscriptsReport {
  uint64_t generation = 0;                                     // 0: nothing committed
  std::vector<std::string> taken;                              // transcripts set from v1
  std::vector<std::pair<std::string, std::string>> conflicts;  // path, where theirs went
  std::vector<std::string> skipped;                            // "path: why"
  uint64_t bytes_copied = 0;                                   // inside the store
};

// Takes in v1 transcript objects that no generation adopted: written by an
// older ccfs after the move to v2 (or after a v2 workspace was created).
// Every adopted transcript version is a raw chunk named by its key and ETag
// (AdoptedObjectName), so "adopted already" is exact: an object is theirs
// to take when neither the current tree nor the tree that adopted the v1
// tarball begins that path with its chunk. Per path, as for the tarball:
// taken where ours left the path as the adoption had it (or never had it),
// kept beside ours as `<path>.conflict-v1-<etag>` where both changed it; a
// path ours removed comes back. Commits If-Match `*current`, redoing the
// merge when another writer came first.
Status MergeLateV1Transcripts(ObjectStore& store, const std::string& workspace,
                              const RootWriter& writer, const std::string& scratch_dir,
                              CurrentRoot* current, LateTranscriptsReport* report);

}  // namespace ccfs
