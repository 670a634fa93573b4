// Garbage collection of a layout-v2 workspace (`ccfs gc`): history copies
// past the retention window, and packs, chunks and segments that no kept
// root names.
//
// Safety rules:
// - Never delete what a kept root names. The kept roots are the current
//   root, the newest `keep_generations`, and every root committed within
//   `keep_seconds`.
// - Never delete an object younger than `grace_seconds`. A commit uploads
//   its objects before its root, and a reader may still walk an older root;
//   the grace period covers both.
// - Re-read the root just before deleting. A commit that landed meanwhile
//   adds what it names to the kept set.
// A reader that still meets a 404 reads the root again.
//
// Known gap: a commit that reuses a dead object older than the grace period
// (its If-None-Match PUT found the object already there) can lose it to a
// collection running at that moment. Content naming makes this rare: the
// object must hold bytes that no kept root has.
#pragma once

#include <cstdint>
#include <string>

#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct GcOptions {
  uint64_t keep_generations = 100;
  int64_t keep_seconds = 30 * 86400;
  int64_t grace_seconds = 86400;
  int64_t now_unix = 0;  // 0: the local clock
  bool dry_run = false;  // count, delete nothing
};

struct GcReport {
  uint64_t roots_kept = 0;
  uint64_t history_deleted = 0;
  uint64_t objects_kept = 0;
  uint64_t objects_deleted = 0;  // packs, chunks, segments
  uint64_t bytes_freed = 0;
  uint64_t young_spared = 0;  // dead, but within the grace period
};

Status CollectGarbage(ObjectStore& store, const std::string& workspace, const GcOptions& options,
                      GcReport* report);

}  // namespace ccfs
