// ccfs: Claude Code config directories on object storage.
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/commands.h"

namespace {

// A push or flush keeps one descriptor open per file it uploads (each
// transcript's chunk is read from it at commit time), and a workspace can
// hold thousands of transcripts: the default soft limit of 1024 made such a
// push fail with EMFILE. ccfs polls (never select()), so the hard limit is
// safe to use.
void RaiseOpenFileLimit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

int main(int argc, char** argv) {
  RaiseOpenFileLimit();
  // Logs go to stderr; CCFS_LOG=debug (or SPDLOG_LEVEL) raises the level.
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();
  if (const char* lvl = std::getenv("CCFS_LOG"); lvl != nullptr) {
    spdlog::set_level(spdlog::level::from_str(lvl));
  }

  CLI::App app{"ccfs: a Claude Code config directory (CLAUDE_CONFIG_DIR) kept in object storage"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ccfs 0.1.0");
  ccfs::cli::CommandContext ctx;
  ccfs::cli::RegisterPush(app, ctx);
  ccfs::cli::RegisterPull(app, ctx);
  ccfs::cli::RegisterLs(app, ctx);
  ccfs::cli::RegisterCat(app, ctx);
  ccfs::cli::RegisterSyncServer(app, ctx);
  ccfs::cli::RegisterMount(app, ctx);
  ccfs::cli::RegisterUmount(app, ctx);
  ccfs::cli::RegisterFlush(app, ctx);
  ccfs::cli::RegisterStatus(app, ctx);
  ccfs::cli::RegisterExec(app, ctx);
  ccfs::cli::RegisterSessions(app, ctx);
  ccfs::cli::RegisterHistory(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : ccfs::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "ccfs: " << e.what() << "\n";
    return ccfs::cli::kExitError;
  }
  return ctx.exit_code;
}
