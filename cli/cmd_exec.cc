// ccfs exec WORKSPACE -- CMD ARGS...: one Claude Code turn on a private
// mount. Mounts the workspace on a fresh temporary directory (lazy hydration
// by default: the turn moves only the bytes it touches), runs CMD with
// CLAUDE_CONFIG_DIR pointing there, then flushes and unmounts.
// Exit code: CMD's (128+N if a signal killed it), or kExitFlushFailed (75)
// when CMD ran but the flush failed; the changes then stay in the cache for
// a later `ccfs mount` to push.
#include <signal.h>
#include <spawn.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "cli/sync_flags.h"
#include "fs/lifecycle/daemon.h"
#include "fs/lifecycle/mount.h"
#include "fs/lifecycle/mount_lease.h"
#include "fs/tree/cache_dir.h"
#include "store/workspace/workspace_layout.h"

extern char** environ;

namespace ccfs::cli {

namespace {

struct ExecArgs {
  StoreFlags store;
  std::string workspace;
  std::vector<std::string> command;
  std::string cache;
  std::string hydrate = "lazy";
  bool read_only = false;
  std::string layout;  // "" = v2, the default
  int lease_ttl = kDefaultLeaseTtlSeconds;
  bool verbose = false;
  SyncFlags sync;
};

// The turn's log goes where a mount's daemon writes its own,
// <cache>/mount.log (info and above, appended), so a finished exec leaves one
// to read; stderr, shared with the command, shows only warnings and errors
// unless --verbose (or CCFS_LOG) asks for more.
Status LogToCache(const std::string& cache_root, bool verbose) {
  const spdlog::level::level_enum asked = spdlog::get_level();
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
  try {
    file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cache_root + "/mount.log");
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError(std::string("cannot open the log in ") + cache_root + ": " + e.what());
  }
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  err->set_level(verbose ? spdlog::level::trace : asked);
  auto logger = std::make_shared<spdlog::logger>("ccfs", spdlog::sinks_init_list{file, err});
  logger->set_level(std::min(asked, verbose ? spdlog::level::debug : spdlog::level::info));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return Status::OK();
}

// Starts argv with CLAUDE_CONFIG_DIR=dir and default signal handling.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& dir) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CLAUDE_CONFIG_DIR=", 18) != 0) env_store.emplace_back(*e);
  }
  env_store.push_back("CLAUDE_CONFIG_DIR=" + dir);
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), env.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::FromErrno("cannot run " + argv[0], rc);
  return pid;
}

int RunExec(ExecArgs& a) {
  if (Status s = ValidateWorkspaceName(a.workspace); !s.ok()) return ReportError("exec", s);
  if (a.command.empty()) {
    return ReportError("exec", Status::InvalidArgument("no command given after --"));
  }
  SignalWatcher signals;  // before any thread starts
  std::string tmpl =
      std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/ccfs-exec-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return ReportError("exec", Status::FromErrno("mkdtemp " + tmpl, errno));
  }
  const std::string dir = tmpl;
  struct DirRemover {
    std::string dir;
    ~DirRemover() { ::rmdir(dir.c_str()); }
  } remover{dir};

  std::unique_ptr<ObjectStore> store = OpenStoreOrReport(a.store);
  if (store == nullptr) return kExitError;
  MountOptions options;
  options.store_url = a.store.url.empty() ? DefaultStoreUrl() : a.store.url;
  options.workspace = a.workspace;
  options.mountpoint = dir;
  options.cache_root = a.cache.empty() ? DefaultCacheRoot(options.store_url, a.workspace) : a.cache;
  options.read_only = a.read_only;
  options.hydrate = a.hydrate == "background" ? HydrateMode::kBackground : HydrateMode::kLazy;
  options.lease_ttl_seconds = a.read_only ? 0 : a.lease_ttl;
  options.layout_v2 = a.layout != "v1";
  if (Status s = ApplySyncFlags(a.sync, &options); !s.ok()) return ReportError("exec", s);
  if (Status s = MakeDirs(options.cache_root, 0700); !s.ok()) return ReportError("exec", s);
  if (Status s = LogToCache(options.cache_root, a.verbose); !s.ok()) return ReportError("exec", s);
  spdlog::info("exec of {} at {} ({} hydration)", a.workspace, dir, a.hydrate);
  auto prepared = Mount::Prepare(std::move(store), options);
  if (!prepared.ok()) return ReportError("exec", prepared.status());
  std::unique_ptr<Mount> mount = std::move(prepared).value();
  if (Status s = mount->Start(); !s.ok()) return ReportError("exec", s);

  auto child = Spawn(a.command, dir);
  int cmd_code = 127;
  if (!child.ok()) {
    std::cerr << "ccfs exec: " << child.status().ToString() << "\n";
  } else {
    pid_t pid = *child;
    // Ctrl-C and friends go to the command; the mount ends after it.
    signals.Start([pid](int sig) { ::kill(pid, sig); });
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    cmd_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1);
  }
  spdlog::info("the command exited with {}; flushing", cmd_code);
  FlushReport report;
  Status flushed = EndMount(*mount, /*busy_wait_ms=*/5000, &report);
  spdlog::info("flush: {} ({} bytes up)", flushed.ok() ? "done" : flushed.ToString(),
               report.bytes_uploaded);
  spdlog::default_logger()->flush();
  if (!flushed.ok()) {
    std::cerr << "ccfs exec: the command's changes were not flushed: " << flushed.ToString()
              << "\n";
    return kExitFlushFailed;
  }
  return cmd_code;
}

}  // namespace

void RegisterExec(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<ExecArgs>();
  CLI::App* cmd = app.add_subcommand(
      "exec",
      "Run a command with CLAUDE_CONFIG_DIR on a private mount of WORKSPACE, then flush. Exits "
      "with the command's code, or 75 if the flush failed (changes kept in the cache)");
  cmd->add_option("workspace", args->workspace, "Workspace name")->required();
  cmd->add_option("command", args->command, "The command and its arguments (after --)")->required();
  cmd->add_option("--hydrate", args->hydrate,
                  "lazy: fetch only what the command opens (default); background: stream "
                  "everything in")
      ->check(CLI::IsMember({"background", "lazy"}));
  cmd->add_option("--cache", args->cache,
                  "Cache dir (default ~/.cache/ccfs/<store-hash>/<workspace>)");
  cmd->add_flag("--read-only", args->read_only, "Mount read-only (nothing is flushed)");
  cmd->add_flag("--verbose,-v", args->verbose,
                "Show the mount's log on stderr too (it is always kept in <cache>/mount.log)");
  cmd->add_option("--layout", args->layout,
                  "v2 (default): a new workspace is created in layout v2 and a v1 one moves to it "
                  "at this writable mount (server-side copies); v1: keep a v1 workspace v1 (for "
                  "an older ccfs that shares it); a workspace already in v2 is always v2")
      ->check(CLI::IsMember({"v1", "v2"}));
  cmd->add_option("--lease-ttl", args->lease_ttl,
                  "Seconds the workspace lease lasts unless renewed (tests; 0: take no lease)")
      ->group("");  // hidden
  AddSyncFlags(cmd, &args->sync);
  AddStoreFlags(cmd, &args->store);
  cmd->callback([args, &ctx] { ctx.exit_code = RunExec(*args); });
}

}  // namespace ccfs::cli
