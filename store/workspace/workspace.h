// Whole-workspace transfers between a local directory and a store: what
// `ccfs push`, `ccfs pull` and `ccfs ls` do (the mount hydrates lazily and
// flushes incrementally instead; see fs/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/archive/safe_extract.h"
#include "store/archive/tar_sanitize.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct PushOptions {
  // Replace the workspace only if its tarball still has this ETag.
  std::string if_match;
  // Replace whatever version is there (unconditional PUTs). Does not
  // override the lease: see ignore_lease.
  bool force = false;
  // Push although another writer (a writable mount, `ccfs exec`, another
  // push) holds the workspace's lease. Without it such a push is refused
  // with Unavailable naming the holder; the push holds the lease itself
  // while it runs (ttl lease_ttl_seconds, renewed; 0 = take none).
  bool ignore_lease = false;
  int lease_ttl_seconds = 30;
  // Where the tarball is built before upload ("" = $TMPDIR or /tmp).
  std::string temp_dir;
  size_t parallel_uploads = 8;
  // A workspace that does not exist yet (no tarball, no transcripts, no
  // root) is created in layout v2, as the CLI does by default. An existing
  // one keeps its layout: a v1 workspace moves to v2 at its first writable
  // mount (adoption), not by a push.
  bool new_workspace_v2 = false;
};

struct PushResult {
  std::string tarball_etag;  // the new version: pass it as --if-match next time
  uint64_t tarball_bytes = 0;
  size_t tarball_entries = 0;
  size_t transcripts_uploaded = 0;
  size_t transcripts_unchanged = 0;  // same content already in the store
  size_t transcripts_deleted = 0;    // in the store but no longer in the tree
  uint64_t transcript_bytes = 0;
  // Layout v2: the generation the push committed (tarball_* then describe
  // its one pack, and tarball_etag is the root's ETag); 0 for a v1 push.
  uint64_t v2_generation = 0;
  std::vector<SkippedEntry> skipped;  // not storable (sockets, escaping symlinks, ...)
};

// Stores `dir` as workspace `workspace`: transcripts (projects/**/*.jsonl) as
// their own objects, the rest as one seekable tarball. Replacing needs
// opts.if_match or opts.force, otherwise PreconditionFailed says what to do.
// Unless forced, every object is written conditionally: If-None-Match: * for
// what it creates, If-Match on the listed ETag for a transcript it replaces,
// If-Match on the given ETag for the tarball, each a single PUT the store
// checks atomically. Transcripts go up before the tarball (the commit
// point); stale remote transcripts are deleted only after the tarball PUT
// succeeded, so a refused push deletes nothing.
Status PushWorkspace(ObjectStore& store, const std::string& dir, const std::string& workspace,
                     const PushOptions& opts, PushResult* result);

struct PullOptions {
  size_t parallel_downloads = 8;
  // Caps on what the tarball may expand to (decompression bombs, header
  // nonsense): an archive over them is refused with Corruption before the
  // offending file is written. `ccfs pull --max-file-size/--max-total-size/
  // --max-entries` set them.
  ExtractOptions limits;
  // Layout v2: pull this generation from history (`ccfs pull WS@GEN`); 0
  // pulls the current version, v1 or v2.
  uint64_t generation = 0;
};

struct PullResult {
  std::string tarball_etag;  // v1: the tarball's; v2: the root's ("" for a past generation)
  uint64_t generation = 0;   // the v2 generation pulled (0: a v1 workspace)
  size_t tarball_entries = 0;
  size_t transcripts = 0;
  uint64_t bytes_downloaded = 0;
  std::vector<SkippedEntry> skipped;  // hostile or unsupported entries not written
};

// Recreates workspace `workspace` in `dir`, which must be absent or empty.
// With opts.generation, that generation of a layout-v2 workspace, read as the
// current root is: NotFound (nothing written) when the workspace has no
// history (v1: the message suggests `ccfs upgrade`) or history does not hold
// that generation (never committed, or collected by `ccfs gc`).
Status PullWorkspace(ObjectStore& store, const std::string& workspace, const std::string& dir,
                     const PullOptions& opts, PullResult* result);

struct WorkspaceInfo {
  std::string name;
  bool has_tarball = false;
  std::string tarball_etag;
  uint64_t tarball_bytes = 0;
  int64_t mtime_unix = 0;
  size_t transcripts = 0;
  uint64_t transcript_bytes = 0;
};

Status ListWorkspaces(ObjectStore& store, std::vector<WorkspaceInfo>* out);

// Streams one file of a workspace into `sink` without fetching the rest: a
// transcript is one GET; a tarball member is read through the seekable
// index (trailer, index, then only the blocks that hold it), every range
// pinned to one tarball version with If-Match. A tarball without an index
// (written by another tool) is scanned until the member is found.
Status ReadWorkspaceFile(ObjectStore& store, const std::string& workspace, const std::string& rel,
                         const ByteSink& sink);
// The same for generation `generation` of a layout-v2 workspace (`ccfs cat
// WS@GEN`), read as the current root is; 0 is ReadWorkspaceFile. NotFound as
// for PullOptions::generation when there is no such generation.
Status ReadWorkspaceFileAt(ObjectStore& store, const std::string& workspace, uint64_t generation,
                           const std::string& rel, const ByteSink& sink);

}  // namespace ccfs
