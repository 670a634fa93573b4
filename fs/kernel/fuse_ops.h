// The libfuse low-level callbacks: a thin adapter from fuse_req_t to
// Filesystem (fs/ops/filesystem.h). Entries and attributes are cached by the
// kernel for long (every change goes through this mount), negative lookups
// too; the writeback cache is on for writable mounts; open, flush and the
// xattr calls are left unimplemented so the kernel stops sending them (one
// round trip per open/close/write less). No exception leaves a callback.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <cstdint>

#include "fs/ops/filesystem.h"

namespace ccfs {

struct FuseContext {
  Filesystem* fs = nullptr;
  double entry_timeout = 3600;  // seconds the kernel may trust names and attrs
  bool writeback_cache = true;
  std::atomic<uint64_t> requests{0};
};

// The operations table; the session's userdata must be a FuseContext*.
const fuse_lowlevel_ops& FuseOperations();

}  // namespace ccfs
