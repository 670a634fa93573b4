// `ccfs sync-server`: the reference sync API server (docs/sync-api.md), SQLite
// backed, for tests and self-hosters. Prints "listening on http://HOST:PORT"
// as its first stdout line (with --listen HOST:0 the port is picked), serves
// until SIGTERM or SIGINT, then stops gracefully.
#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "cli/commands.h"
#include "sync/common/sync_common.h"
#include "sync/server/sync_server.h"

namespace ccfs::cli {
namespace {

struct SyncServerFlags {
  std::string listen = "127.0.0.1:8787";
  std::string db;
  std::string token_file;
  bool test_endpoints = false;
};

int RunSyncServer(const SyncServerFlags& flags) {
  auto addr = ParseListenAddress(flags.listen);
  if (!addr.ok()) return ReportError("sync-server", addr.status());
  auto token = ReadTokenFile(flags.token_file);
  if (!token.ok()) return ReportError("sync-server", token.status());

  // Block the stop signals before any server thread exists, so that all of
  // them inherit the mask and only sigwait below sees the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SyncServerOptions options;
  options.db_path = flags.db;
  options.token = *token;
  options.host = addr->first;
  options.port = addr->second;
  options.enable_test_endpoints = flags.test_endpoints;
  auto server = SyncServer::Start(options);
  if (!server.ok()) return ReportError("sync-server", server.status());
  std::cout << "listening on " << (*server)->url() << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "ccfs sync-server: signal " << sig << ", stopping\n";
  (*server)->Stop();
  return kExitOk;
}

}  // namespace

void RegisterSyncServer(CLI::App& app, CommandContext& ctx) {
  auto flags = std::make_shared<SyncServerFlags>();
  CLI::App* cmd = app.add_subcommand("sync-server", "Run the reference transcript sync API server");
  cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on (PORT 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--db", flags->db, "SQLite database file (created if missing)")->required();
  cmd->add_option("--token-file", flags->token_file, "File holding the bearer token clients send")
      ->required();
  // Hidden: fault injection and request counters for tests.
  cmd->add_flag("--test-endpoints", flags->test_endpoints,
                "Enable /api/v1/_test/ (fault injection, request stats)")
      ->group("");
  cmd->callback([flags, &ctx] { ctx.exit_code = RunSyncServer(*flags); });
}

}  // namespace ccfs::cli
