// What the history commands of the CLI (`ccfs upgrade`, `log`, `diff`,
// `restore`, `export`) need on top of store/layout: naming a generation
// (`WS@GEN`), finding a generation's root even when its history copy is
// missing, telling a v1 workspace from a missing one in errors, and taking
// the lease around the commits they make. Kept out of cli/ so that unit
// tests reach it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/status.h"
#include "store/layout/history.h"
#include "store/layout/root.h"
#include "store/layout/root_store.h"
#include "store/objects/object_store.h"
#include "store/workspace/adopt_v1.h"

namespace ccfs {

// A workspace and, optionally, one of its generations: "ws" or "ws@12".
// '@' cannot occur in a workspace name, so the split is unambiguous.
struct GenerationRef {
  std::string workspace;
  uint64_t generation = 0;  // 0: the current root
};

// Parses "WS" or "WS@GEN" (GEN a decimal >= 1). InvalidArgument says what
// is wrong: a bad workspace name, an empty or non-numeric generation, 0.
Status ParseGenerationRef(std::string_view text, GenerationRef* out);
// Parses a generation number alone (decimal, >= 1, no sign or spaces).
Status ParseGeneration(std::string_view text, uint64_t* out);

// The current v2 root. When there is none the NotFound says which case it
// is: the workspace does not exist at all, or it is a v1 workspace that
// `ccfs upgrade` would adopt.
Status ReadCurrentRootExplained(ObjectStore& store, const std::string& workspace, CurrentRoot* out);

// The root of `generation` (0: the current one). The current generation is
// found even when its history copy is missing: the copy is written after the
// root swap, so a crash in between leaves only the root.
Status ResolveGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                         WorkspaceRoot* out);

// Every generation, newest first: the history copies plus the current root
// when its copy is missing. `damaged` receives the keys of copies that failed
// their checks (skipped).
Status ListGenerationsNewestFirst(ObjectStore& store, const std::string& workspace,
                                  std::vector<WorkspaceRoot>* out,
                                  std::vector<std::string>* damaged);

// True when the two roots name the same segments: their trees are equal
// without reading any segment (segments are content-named).
bool SameTree(const WorkspaceRoot& a, const WorkspaceRoot& b);

// One line of `ccfs diff`: 'A' (added), 'D' (deleted) or 'M' (modified).
struct DiffLine {
  char kind = 'M';
  std::string path;
  bool operator==(const DiffLine&) const = default;
};
// The three lists of `diff` as one list sorted by path.
std::vector<DiffLine> DiffLines(const TreeDiff& diff);

// Who this process is, for the roots it commits.
RootWriter ThisWriter();

struct HistoryCommitOptions {
  // Commit although another writer holds the workspace's lease. Without it
  // such a commit is refused with Unavailable naming the holder: a writable
  // mount would otherwise change the tarball under an adoption, or flush on
  // top of a restore it never saw.
  bool ignore_lease = false;
  int lease_ttl_seconds = 30;  // 0: take no lease (tests)
};

// `ccfs upgrade`: AdoptV1 under the workspace's lease. NotFound when the
// workspace has no v1 objects at all (AdoptV1 would commit an empty tree);
// PreconditionFailed naming the generation when it is already v2.
Status UpgradeWorkspace(ObjectStore& store, const std::string& workspace,
                        const HistoryCommitOptions& options, AdoptReport* report);

// `ccfs restore`: RestoreGeneration under the workspace's lease. When
// `generation`'s tree is already the current one nothing is committed and
// *committed is false (out then holds the current root).
Status RestoreWorkspaceGeneration(ObjectStore& store, const std::string& workspace,
                                  uint64_t generation, const HistoryCommitOptions& options,
                                  WorkspaceRoot* out, bool* committed);

}  // namespace ccfs
