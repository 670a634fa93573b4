// The transcript sync flags shared by `ccfs mount` and `ccfs exec`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "fs/lifecycle/mount.h"
#include "store/base/status.h"

namespace ccfs::cli {

struct SyncFlags {
  std::string url;         // --sync-url
  std::string token_file;  // --sync-token-file (else $CCFS_SYNC_TOKEN)
  double drain_timeout_s = 10;
};

void AddSyncFlags(CLI::App* cmd, SyncFlags* flags);

// Resolves the token and fills options->sync_*; nothing when no URL was given.
Status ApplySyncFlags(const SyncFlags& flags, MountOptions* options);

}  // namespace ccfs::cli
