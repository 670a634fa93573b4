// The ccfs subcommands. Each cmd_*.cc registers one (or a family) on the
// root CLI11 app; main.cc only wires them together and maps the result to an
// exit code. Subcommand callbacks never throw: they report through
// CommandContext::exit_code and stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "store/objects/object_store.h"

namespace ccfs::cli {

// Exit codes shared by every subcommand (documented in README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // anything else went wrong
inline constexpr int kExitUsage = 2;  // bad flags or arguments
inline constexpr int kExitPrecondition =
    3;  // the remote changed / already exists (If-Match refused)

struct CommandContext {
  int exit_code = kExitOk;
};

// Store selection flags every store-using command takes.
struct StoreFlags {
  std::string url;  // "" = DefaultStoreUrl()
  StoreOptions options;
};
void AddStoreFlags(CLI::App* cmd, StoreFlags* flags);
// Opens the store the flags name; on failure prints the error and returns null.
std::unique_ptr<ObjectStore> OpenStoreOrReport(const StoreFlags& flags);

// Prints "ccfs <what>: <status>" to stderr and returns the exit code for it.
int ReportError(const std::string& what, const Status& s);

// "1.5 MiB" style sizes for human-readable output.
std::string HumanBytes(uint64_t b);

// Before mounting at the absolute path `mp`: detaches a stale mount a crashed
// daemon left there (saying so), and checks it is a directory that no ccfs
// process serves yet and that is empty (a mount would hide its files until
// the unmount) unless `allow_non_empty`. kExitOk, or the exit code after
// reporting why not.
int CheckMountpointUsable(const std::string& mp, bool allow_non_empty);

void RegisterPush(CLI::App& app, CommandContext& ctx);
void RegisterPull(CLI::App& app, CommandContext& ctx);
void RegisterLs(CLI::App& app, CommandContext& ctx);
void RegisterCat(CLI::App& app, CommandContext& ctx);
void RegisterSyncServer(CLI::App& app, CommandContext& ctx);
// The FUSE mount and the commands that drive it (cli/cmd_mount.cc, cmd_exec.cc).
void RegisterMount(CLI::App& app, CommandContext& ctx);
void RegisterUmount(CLI::App& app, CommandContext& ctx);
void RegisterFlush(CLI::App& app, CommandContext& ctx);
void RegisterStatus(CLI::App& app, CommandContext& ctx);
void RegisterExec(CLI::App& app, CommandContext& ctx);
// `ccfs sessions ls|show|grep` (cli/cmd_sessions.cc).
void RegisterSessions(CLI::App& app, CommandContext& ctx);
// Layout-v2 history: `ccfs upgrade|log|diff|restore|gc|export`
// (cli/cmd_history.cc).
void RegisterHistory(CLI::App& app, CommandContext& ctx);

}  // namespace ccfs::cli
