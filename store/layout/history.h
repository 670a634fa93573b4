// History of a layout-v2 workspace: every commit leaves its root as an
// immutable W/v2/roots/<generation>-<nonce>, so a past generation can be
// listed (`ccfs log`), read (`WS@GEN`), compared (`ccfs diff`) and restored
// (a new commit whose segments are the old root's).
#pragma once

#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/layout/root.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Every recorded root, oldest first. A history copy that fails its checks is
// skipped and reported in `damaged` (its key), not fatal: one bad copy must
// not hide the rest of the history.
Status ListHistory(ObjectStore& store, const std::string& workspace,
                   std::vector<WorkspaceRoot>* roots, std::vector<std::string>* damaged = nullptr);

// The root of generation `generation`. NotFound when history has none.
Status ReadGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                      WorkspaceRoot* out);

struct TreeDiff {
  std::vector<std::string> added;    // in `to`, not in `from`
  std::vector<std::string> changed;  // in both, with other type, mode, size, mtime, bytes or target
  std::vector<std::string> removed;  // in `from`, not in `to`
};

// What changed from `from` to `to`, path by path, each list sorted. Segments
// the two roots share by name hold the same entries and are not read.
Status DiffRoots(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& from,
                 const WorkspaceRoot& to, TreeDiff* out);

// Commits a new generation whose tree is generation `generation`'s (`ccfs
// restore WS@GEN`), conditional like any commit: PreconditionFailed when
// another commit lands first. Checks first that every object the old root
// names is still there (NotFound names the first missing one: the generation
// is past what gc keeps).
Status RestoreGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                         const RootWriter& writer, WorkspaceRoot* out);

}  // namespace ccfs
