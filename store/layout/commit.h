// One layout-v2 commit: upload what changed (one pack, one chunk per grown
// transcript, the touched index segments), then swap the root conditionally.
// What it moves grows with what changed, not with the workspace
// (docs/layout-v2-plan.md).
//
// On a 412 the commit returns PreconditionFailed with the root that won; the
// caller merges its changes onto that root (per path, as fs/flush/merge does)
// and commits again. Uploads already made are content-named, so the retry
// finds them in place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/base/status.h"
#include "store/layout/pack_builder.h"
#include "store/layout/root_store.h"
#include "store/layout/segment_plan.h"
#include "store/objects/object_store.h"

namespace ccfs {

// Files that grow by appends (transcripts, history.jsonl) are stored as
// chunks, never in a pack, so that an append costs its own bytes.
inline bool StoredAsChunks(std::string_view path) {
  constexpr std::string_view kSuffix = ".jsonl";
  return path.size() >= kSuffix.size() && path.substr(path.size() - kSuffix.size()) == kSuffix;
}

// A transcript that only grew since the base: its base entry as the index
// has it (its chunks; or just its path, size 0, for a new transcript) and an
// open settled copy holding at least `new_size` bytes, of which the first
// `base.size` are the base's. A transcript kept in a pack (not as chunks) is
// rewritten through `files` instead.
struct TranscriptAppend {
  IndexEntry base;
  int fd = -1;
  uint64_t new_size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0600;
};

struct CommitInput {
  std::vector<PackFile> files;            // new or rewritten regular files with bytes
  std::vector<TranscriptAppend> appends;  // transcripts that only grew
  // Entries without new bytes, as they should now be: directories, symlinks,
  // empty files, and files whose metadata alone changed (location kept).
  std::vector<IndexEntry> entries;
  std::vector<std::string> removed;  // paths (a removed directory lists its contents too)
  RootWriter writer;
  std::string scratch_dir;  // where the pack is built
  size_t segment_entries = 2000;
  // Where the base's segments come from; unset: GET from the store. A mount
  // passes its own copies, so a commit reads nothing it already has.
  SegmentLoader load_segment;
  // Non-empty: the v1 tarball version whose changes this commit took in
  // (store/workspace/late_v1.h); otherwise the base's is carried forward.
  std::string adopted_v1_etag;
};

struct CommitReport {
  WorkspaceRoot root;  // committed, or on PreconditionFailed the one that won
  std::string etag;
  uint64_t bytes_uploaded = 0;  // pack + chunks + segments + root
  size_t segments_read = 0;
  size_t segments_written = 0;
  // On success: every path the commit set, as the new tree has it (files
  // with their pack location, appends with their chunks), and the segments
  // it wrote (name -> stored bytes), so a mount updates its copy of the tree
  // without reading it back.
  std::vector<IndexEntry> changed;
  std::vector<std::pair<std::string, std::string>> written_segments;
};

// Commits `input` on top of `base` (nullptr: the workspace has no root yet).
// Reads only the segments the changes fall in (from the store; a local cache
// of segments by name is for the mount to add).
Status CommitOnce(ObjectStore& store, const std::string& workspace, const CurrentRoot* base,
                  const CommitInput& input, CommitReport* report);

}  // namespace ccfs
