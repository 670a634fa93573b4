#include "store/workspace/generations.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include "store/objects/condition_probe.h"
#include "store/workspace/lease.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

// Whether the workspace has any v1 object: its tarball or a transcript.
Status HasV1Objects(ObjectStore& store, const std::string& workspace, bool* found) {
  *found = false;
  ObjectInfo info;
  Status head = store.Head(TarballKey(workspace), &info);
  if (head.ok()) {
    *found = true;
    return Status::OK();
  }
  if (!head.IsNotFound()) return head;
  ListOptions opts;
  opts.prefix = TranscriptPrefix(workspace);
  ListResult listed;
  CCFS_RETURN_IF_ERROR(store.List(opts, &listed));
  for (const ObjectInfo& o : listed.objects) {
    if (IsTranscriptPath(o.key.substr(workspace.size() + 1))) {
      *found = true;
      break;
    }
  }
  return Status::OK();
}

Status NoWorkspace(ObjectStore& store, const std::string& workspace) {
  return Status::NotFound("workspace '" + workspace + "' not found in " + store.Describe());
}

// Takes the lease as push does (see HistoryCommitOptions); the holder id goes
// into the root's writer so that `ccfs log` ties the commit to the lease.
Status TakeLease(ObjectStore& store, const std::string& workspace, const char* what,
                 const HistoryCommitOptions& options, std::optional<Lease>* lease,
                 std::optional<LeaseKeeper>* keeper, RootWriter* writer) {
  if (options.ignore_lease || options.lease_ttl_seconds <= 0) return Status::OK();
  LeaseOptions lo;
  lo.ttl_seconds = options.lease_ttl_seconds;
  LeaseHolder holder;
  auto taken = Lease::Acquire(store, workspace, lo, &holder);
  if (taken.status().IsPreconditionFailed() && !holder.holder_id.empty()) {
    return Status::Unavailable("workspace '" + workspace + "' is held writable by " +
                               holder.Describe() + "; unmount it there or wait for its lease " +
                               "to expire, or " + what + " with --ignore-lease");
  }
  CCFS_RETURN_IF_ERROR(taken.status().Annotate(std::string(what) + ": taking the lease"));
  lease->emplace(std::move(taken).value());
  keeper->emplace(&**lease);
  writer->holder = (*lease)->self().holder_id;
  return Status::OK();
}

// The lease must still be ours when the commit lands: a lost lease means
// another writer may have worked on the old tree meanwhile. The commit is
// already made then, so this only tells the user to check.
Status CheckLeaseKept(const std::optional<LeaseKeeper>& keeper, const std::string& workspace) {
  if (keeper && keeper->lost()) {
    return Status::Unavailable("the lease on '" + workspace + "' was lost while committing (" +
                               keeper->loss_reason().ToString() +
                               "); the commit landed, but another writer may have flushed on top "
                               "of the old tree: check `ccfs log " +
                               workspace + "`");
  }
  return Status::OK();
}

}  // namespace

Status ParseGeneration(std::string_view text, uint64_t* out) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0) {
    return Status::InvalidArgument("bad generation '" + std::string(text) +
                                   "': a number from 1 up (see `ccfs log`)");
  }
  *out = value;
  return Status::OK();
}

Status ParseGenerationRef(std::string_view text, GenerationRef* out) {
  GenerationRef ref;
  const size_t at = text.find('@');
  ref.workspace = std::string(text.substr(0, at));
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(ref.workspace));
  if (at != std::string_view::npos) {
    CCFS_RETURN_IF_ERROR(ParseGeneration(text.substr(at + 1), &ref.generation));
  }
  *out = std::move(ref);
  return Status::OK();
}

Status ReadCurrentRootExplained(ObjectStore& store, const std::string& workspace,
                                CurrentRoot* out) {
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  Status s = ReadRoot(store, workspace, out);
  if (!s.IsNotFound()) return s;
  bool v1 = false;
  CCFS_RETURN_IF_ERROR(HasV1Objects(store, workspace, &v1));
  if (!v1) return NoWorkspace(store, workspace);
  return Status::NotFound("workspace '" + workspace +
                          "' has no history yet (it is a layout-v1 workspace): `ccfs upgrade " +
                          workspace + "` adopts it as generation 1");
}

Status ResolveGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                         WorkspaceRoot* out) {
  CurrentRoot current;
  CCFS_RETURN_IF_ERROR(ReadCurrentRootExplained(store, workspace, &current));
  if (generation == 0 || generation == current.root.generation) {
    *out = std::move(current.root);
    return Status::OK();
  }
  Status s = ReadGeneration(store, workspace, generation, out);
  if (s.IsNotFound()) {
    return Status::NotFound("workspace '" + workspace + "' has no generation " +
                            std::to_string(generation) +
                            " (current: " + std::to_string(current.root.generation) +
                            "; `ccfs log` lists what history holds)");
  }
  return s;
}

Status ListGenerationsNewestFirst(ObjectStore& store, const std::string& workspace,
                                  std::vector<WorkspaceRoot>* out,
                                  std::vector<std::string>* damaged) {
  out->clear();
  CurrentRoot current;
  CCFS_RETURN_IF_ERROR(ReadCurrentRootExplained(store, workspace, &current));
  CCFS_RETURN_IF_ERROR(ListHistory(store, workspace, out, damaged));
  const bool has_copy = std::any_of(out->begin(), out->end(), [&](const WorkspaceRoot& r) {
    return r.generation == current.root.generation;
  });
  if (!has_copy) out->push_back(std::move(current.root));
  std::stable_sort(out->begin(), out->end(), [](const WorkspaceRoot& a, const WorkspaceRoot& b) {
    return a.generation > b.generation;
  });
  return Status::OK();
}

bool SameTree(const WorkspaceRoot& a, const WorkspaceRoot& b) {
  if (a.segments.size() != b.segments.size()) return false;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    if (a.segments[i].name != b.segments[i].name) return false;
  }
  return true;
}

std::vector<DiffLine> DiffLines(const TreeDiff& diff) {
  std::vector<DiffLine> lines;
  lines.reserve(diff.added.size() + diff.removed.size() + diff.changed.size());
  for (const std::string& p : diff.added) lines.push_back({'A', p});
  for (const std::string& p : diff.removed) lines.push_back({'D', p});
  for (const std::string& p : diff.changed) lines.push_back({'M', p});
  // A path is in at most one list, so the order by path alone is total.
  std::sort(lines.begin(), lines.end(),
            [](const DiffLine& a, const DiffLine& b) { return a.path < b.path; });
  return lines;
}

RootWriter ThisWriter() {
  RootWriter w;
  char host[256] = {0};
  w.host = (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') ? host : "unknown-host";
  w.pid = ::getpid();
  return w;
}

Status UpgradeWorkspace(ObjectStore& store, const std::string& workspace,
                        const HistoryCommitOptions& options, AdoptReport* report) {
  *report = AdoptReport{};
  CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  CurrentRoot existing;
  Status has_root = ReadRoot(store, workspace, &existing);
  if (has_root.ok()) {
    return Status::PreconditionFailed("workspace '" + workspace +
                                      "' is already layout v2 (generation " +
                                      std::to_string(existing.root.generation) + ")");
  }
  if (!has_root.IsNotFound()) return has_root;
  bool v1 = false;
  CCFS_RETURN_IF_ERROR(HasV1Objects(store, workspace, &v1));
  // AdoptV1 would commit an empty generation 1 for a name nobody pushed,
  // which a typo must not do.
  if (!v1) return NoWorkspace(store, workspace);
  // The root commit relies on If-Match: refuse a store that ignores it.
  CCFS_RETURN_IF_ERROR(EnsureConditionalWrites(store, workspace));

  RootWriter writer = ThisWriter();
  std::optional<Lease> lease;
  std::optional<LeaseKeeper> keeper;
  CCFS_RETURN_IF_ERROR(TakeLease(store, workspace, "upgrade", options, &lease, &keeper, &writer));
  Status s = AdoptV1(store, workspace, writer, report);
  if (s.IsPreconditionFailed()) {
    // Another upgrade (or a v2 writer) committed a root between our read
    // and AdoptV1's.
    return Status::PreconditionFailed("workspace '" + workspace +
                                      "' became layout v2 while upgrading: " + s.message());
  }
  CCFS_RETURN_IF_ERROR(s);
  return CheckLeaseKept(keeper, workspace);
}

Status RestoreWorkspaceGeneration(ObjectStore& store, const std::string& workspace,
                                  uint64_t generation, const HistoryCommitOptions& options,
                                  WorkspaceRoot* out, bool* committed) {
  *committed = false;
  CurrentRoot current;
  CCFS_RETURN_IF_ERROR(ReadCurrentRootExplained(store, workspace, &current));
  WorkspaceRoot old;
  CCFS_RETURN_IF_ERROR(ResolveGeneration(store, workspace, generation, &old));
  if (SameTree(old, current.root)) {
    *out = std::move(current.root);
    return Status::OK();
  }
  RootWriter writer = ThisWriter();
  std::optional<Lease> lease;
  std::optional<LeaseKeeper> keeper;
  CCFS_RETURN_IF_ERROR(TakeLease(store, workspace, "restore", options, &lease, &keeper, &writer));
  CCFS_RETURN_IF_ERROR(RestoreGeneration(store, workspace, generation, writer, out));
  *committed = true;
  return CheckLeaseKept(keeper, workspace);
}

}  // namespace ccfs
