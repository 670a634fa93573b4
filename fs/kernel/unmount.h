// Detaching FUSE mounts from the process that serves them (or cleans up
// after one that died): umount2 as root, fusermount3 otherwise. Shared by
// the workspace mount, the --all view and crash recovery.
#pragma once

#include <string>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

// Runs a program (looked up in PATH) and waits for it: its exit status, or
// -1 when it could not be started or was killed.
int RunProgramAndWait(const std::vector<std::string>& argv);

// Unmounts the FUSE mount at `mountpoint`; when it is busy and
// `lazy_if_busy`, detaches it lazily (MNT_DETACH / fusermount3 -z) instead.
Status UnmountFuse(const std::string& mountpoint, bool lazy_if_busy);

}  // namespace ccfs
