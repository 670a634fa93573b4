// `ccfs mount --all [STORE] MOUNTPOINT`: every workspace of a store, read-only,
// under MOUNTPOINT/<workspace>/ (fs/all/all_view.h). The flag lives on the `mount`
// command; cmd_mount.cc installs it with one call.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/commands.h"

namespace ccfs::cli {

// Adds --all to the `mount` command `mount_cmd` (whose positionals are
// "workspace" and "mountpoint", and whose store flags fill *store) and
// returns the callback to install on it: the --all view when the flag is
// given, else `mount_one` (after checking both positionals are there, which
// --all makes optional).
std::function<void()> WithMountAll(CLI::App* mount_cmd, StoreFlags* store, CommandContext& ctx,
                                   std::function<void()> mount_one);

}  // namespace ccfs::cli
