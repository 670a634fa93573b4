// The libfuse low-level callbacks of the read-only view of every workspace
// (fs/all/all_view.h). Reads, lookups and listings are routed to the workspace
// an inode belongs to; everything that would write answers EROFS (the mount
// is also "ro", so the kernel refuses most writes before asking). Entries
// inside workspaces are cached by the kernel for long (a workspace is a
// snapshot); the root's listing is not, so new workspaces show up. No
// exception leaves a callback.
#pragma once

#include <fuse_lowlevel.h>

#include "fs/all/all_view.h"

namespace ccfs {

// The operations table; the session's userdata must be the AllView*.
const fuse_lowlevel_ops& AllViewFuseOperations();

}  // namespace ccfs
