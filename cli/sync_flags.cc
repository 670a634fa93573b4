#include "cli/sync_flags.h"

#include "fs/feeds/mount_sync.h"

namespace ccfs::cli {

void AddSyncFlags(CLI::App* cmd, SyncFlags* flags) {
  cmd->add_option("--sync-url", flags->url,
                  "Stream appended transcript lines to this sync API (http[s]://host[:port])");
  cmd->add_option("--sync-token-file", flags->token_file,
                  "File holding the sync API bearer token (default: $CCFS_SYNC_TOKEN)");
  cmd->add_option("--sync-drain-timeout", flags->drain_timeout_s,
                  "Seconds to keep sending at unmount; the rest goes after the next mount "
                  "(default 10)");
}

Status ApplySyncFlags(const SyncFlags& flags, MountOptions* options) {
  return ConfigureMountSync(flags.url, flags.token_file, flags.drain_timeout_s, options);
}

}  // namespace ccfs::cli
