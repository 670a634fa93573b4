// Merging at flush: when the store moved on since the base a mount started
// from, the local tree and the store's new version are merged per path
// against that base, and the flush is retried onto the new version.
//
//   changed only there            -> take theirs
//   changed only here             -> keep ours (the flush applies it)
//   changed on both sides         -> theirs at the path, ours beside it as
//                                    `<name>.conflict-<host>-<time>`; the same
//                                    bytes on both sides are no conflict; a
//                                    transcript whose remote version is a
//                                    prefix of ours is a fast-forward (ours)
//   deleted on one, changed on the other -> the changed one (no bytes lost)
//   a directory on one side, a file on the other -> theirs at the path, ours
//                                    (the whole directory) moved aside
//
// PlanMerge is a pure function of the three trees (plus a callback that
// compares contents when both sides changed a file), so it is unit-tested
// without a store; fs/flush/flush_merge.h fetches the inputs and applies the plan.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fs/tree/base_version.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"
#include "store/base/status.h"

namespace ccfs {

// How our content relates to theirs, for a file changed on both sides.
enum class ContentRelation {
  kSame,                // byte for byte the same
  kTheirsPrefixOfOurs,  // ours is theirs plus more bytes (an append)
  kDifferent,
};

// Compares the content of local node `ours` with the remote file `theirs`
// (a record as RemoteRecord makes it). Errors abort the merge.
using ContentComparer =
    std::function<Status(const SnapshotEntry& ours, const NodeRecord& theirs, ContentRelation*)>;

struct MergeInputs {
  // The version the mount is based on, and the store's version now.
  const TarballVersion* base_tarball = nullptr;
  const std::map<std::string, BaseTranscript>* base_transcripts = nullptr;
  const TarballVersion* remote_tarball = nullptr;
  const std::map<std::string, BaseTranscript>* remote_transcripts = nullptr;
  // The local tree (InodeTable::Snapshot).
  const std::vector<SnapshotEntry>* local = nullptr;
  // For conflict copy names: `<name>.conflict-<host>-<time>`.
  std::string host;
  std::string time;  // UTC, compact: 20261121T142500Z
  // Optional: whether the store's file at `path` holds the base's bytes and
  // metadata although stored elsewhere (layout v2: a compaction moved it,
  // store/layout/compact.h). Asked only for a file both sides changed whose
  // contents differ: such a change of theirs is none, so ours is kept
  // rather than moved aside as a conflict copy.
  std::function<Status(const std::string& path, bool* same)> theirs_same_as_base;
};

struct MergePlan {
  // A local node taking the remote version of its path (same type as
  // theirs), or a remote entry created where nothing local is.
  struct Take {
    std::string path;
    uint64_t ino = 0;       // local node to update; 0 = create at path
    uint64_t seen_gen = 0;  // its data_gen when planned (a write since wins)
    // The content is already the same: keep the local bytes.
    bool keep_content = false;
    NodeRecord theirs;  // type, mode, size, mtime, link target, origin
  };
  struct Move {  // ours moved aside as a conflict copy
    std::string path, to;
    uint64_t ino = 0;
  };
  struct Delete {  // removed there, unchanged here
    std::string path;
    uint64_t ino = 0;
    bool is_dir = false;
    uint64_t seen_gen = 0;  // a write since keeps it (changed here)
  };
  std::vector<Delete> deletes;  // deepest first
  std::vector<Move> moves;
  std::vector<Take> takes;  // parents before children
  // Local nodes whose tarball origin is unchanged in the new version: their
  // origin ETag becomes the new one (their bytes can be fetched from it).
  std::vector<uint64_t> retarget;
  // Local files not yet hydrated whose origin the new version no longer
  // holds as it was: their bytes must be fetched before the base moves.
  std::vector<uint64_t> hydrate_first;

  // For the report.
  std::vector<std::string> taken;    // paths now as the store has them
  std::vector<std::string> applied;  // local changes kept, to go onto the store
  std::vector<std::pair<std::string, std::string>> conflicts;  // path -> our copy
  bool empty() const { return deletes.empty() && moves.empty() && takes.empty(); }
};

// The node record for remote entry `path` of the new version, as a fresh
// mount would show it (files remote, origin the new tarball or object).
bool RemoteRecord(const TarballVersion& tarball,
                  const std::map<std::string, BaseTranscript>& transcripts, const std::string& path,
                  NodeRecord* out);

// Plans the merge. `compare` is called only for files (not symlinks or
// directories) that both sides changed and that are the same type.
Status PlanMerge(const MergeInputs& in, const ContentComparer& compare, MergePlan* plan);

// `<name>.conflict-<host>-<time>` for tree path `path`.
std::string ConflictCopyPath(const std::string& path, const std::string& host,
                             const std::string& time);

}  // namespace ccfs
