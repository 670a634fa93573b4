// ccfs mount | umount | flush | status: a workspace as a FUSE mount, and the
// commands that talk to a running mount over its control socket
// (fs/lifecycle/control.h).
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cmd_mount_all.h"
#include "cli/cmd_recover.h"
#include "cli/commands.h"
#include "cli/sync_flags.h"
#include "fs/feeds/mount_sync.h"
#include "fs/kernel/mountinfo.h"
#include "fs/lifecycle/control.h"
#include "fs/lifecycle/daemon.h"
#include "fs/lifecycle/mount.h"
#include "fs/lifecycle/mount_lease.h"
#include "fs/lifecycle/recovery.h"
#include "fs/tree/cache_dir.h"
#include "store/workspace/generations.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs::cli {

int CheckMountpointUsable(const std::string& mp, bool allow_non_empty) {
  bool stale = false;
  if (Status s = CleanStaleMount(mp, &stale); !s.ok()) return ReportError("mount", s);
  if (stale) {
    std::cerr << "ccfs mount: cleaned up a stale ccfs mount at " << mp
              << " left by a crashed process\n";
  }
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0) {
    int err = errno;
    return ReportError("mount", Status::FromErrno(mp, err));
  }
  if (!S_ISDIR(st.st_mode)) {
    return ReportError("mount", Status::InvalidArgument(mp + " is not a directory"));
  }
  auto sock = ControlSocketPath(mp);
  if (!sock.ok()) return ReportError("mount", sock.status());
  nlohmann::json reply;
  if (ControlCall(*sock, {{"op", "status"}}, &reply, 5000).ok()) {
    std::cerr << "ccfs mount: " << mp << " is already a ccfs mount (workspace "
              << reply.value("workspace", std::string("?")) << ")\n";
    return kExitError;
  }
  if (!allow_non_empty) {
    std::error_code ec;
    std::filesystem::directory_iterator it(mp, ec);
    if (!ec && it != std::filesystem::directory_iterator()) {
      std::cerr << "ccfs mount: " << mp << " is not empty (it holds "
                << it->path().filename().string()
                << "...); a mount there would hide its files until the unmount. Mount on an "
                   "empty directory, or pass --allow-non-empty to mount over them anyway\n";
      return kExitError;
    }
  }
  return kExitOk;
}

namespace {

struct MountArgs {
  StoreFlags store;
  std::string workspace;
  std::string mountpoint;
  std::string cache;
  std::string hydrate = "background";
  bool foreground = false;
  bool read_only = false;
  bool discard_local = false;
  bool allow_other = false;
  bool allow_non_empty = false;
  std::string layout;  // "" = v2, the default
  int lease_ttl = kDefaultLeaseTtlSeconds;
  SyncFlags sync;
};

// The control socket of the mount at `mountpoint`, or exit code via *code.
bool SocketFor(const std::string& what, const std::string& mountpoint, std::string* abs,
               std::string* socket, int* code) {
  auto mp = AbsoluteMountpoint(mountpoint);
  if (!mp.ok()) {
    *code = ReportError(what, mp.status());
    return false;
  }
  auto s = ControlSocketPath(*mp);
  if (!s.ok()) {
    *code = ReportError(what, s.status());
    return false;
  }
  *abs = *mp;
  *socket = *s;
  return true;
}

int NoMountError(const std::string& what, const std::string& mp) {
  const std::string fstype = MountedFsType(mp);
  if (!fstype.empty() && fstype != "fuse.ccfs") {
    // Someone else's mount (/proc, a disk): never suggest unmounting it.
    std::cerr << "ccfs " << what << ": " << mp << " is not a ccfs mount (it is a " << fstype
              << " mount); `ccfs status` lists what ccfs has mounted\n";
  } else if (!fstype.empty()) {
    std::cerr << "ccfs " << what << ": " << mp
              << " is mounted but no ccfs process answers for it (crashed?); unmount it with "
                 "`fusermount3 -u "
              << mp << "`; unflushed changes are kept in the cache for the next mount\n";
  } else {
    std::cerr << "ccfs " << what << ": " << mp << " is not a ccfs mount\n";
  }
  return kExitError;
}

// What a merge with the store's newer version did (flush, umount, status).
void PrintMerge(const std::string& prefix, const nlohmann::json& r) {
  for (const auto& m : r.value("merged", nlohmann::json::array())) {
    bool theirs = m.value("from", std::string()) == "remote";
    std::cerr << prefix << "merged: " << m.value("path", std::string())
              << (theirs ? " (taken from the store)" : " (local change applied)") << "\n";
  }
  for (const auto& c : r.value("conflicts", nlohmann::json::array())) {
    std::cerr << prefix << "conflict: " << c.value("path", std::string())
              << " changed on both sides: the store's version stays there, yours is "
              << c.value("copy", std::string()) << "\n";
  }
}

void PrintFlushOutcome(const std::string& what, const nlohmann::json& j) {
  const auto& r = j.value("report", nlohmann::json::object());
  PrintMerge("ccfs " + what + ": ", r);
  if (!j.value("ok", false)) {
    std::cerr << "ccfs " << what << ": " << j.value("error", std::string("flush failed")) << "\n";
    return;
  }
  if (r.value("nothing_to_flush", false)) {
    std::cerr << "ccfs " << what << ": nothing to flush\n";
    return;
  }
  if (const uint64_t gen = r.value("generation", uint64_t{0}); gen != 0) {
    // Layout v2: one commit.
    std::cerr << "ccfs " << what << ": committed generation " << gen << " ("
              << r.value("entries_rewritten", 0) << " files packed, "
              << r.value("transcripts_uploaded", 0) << " appended, " << r.value("bytes_uploaded", 0)
              << " bytes up)\n";
  } else {
    std::cerr << "ccfs " << what << ": flushed";
    if (r.value("tarball_written", false)) {
      std::cerr << " tarball (" << r.value("tarball_entries", 0) << " entries, "
                << r.value("tarball_bytes", 0) << " bytes)";
    }
    std::cerr << ", " << r.value("transcripts_uploaded", 0) << " transcripts up, "
              << r.value("transcripts_deleted", 0) << " deleted; ETag "
              << r.value("new_etag", std::string()) << "\n";
  }
  for (const auto& skipped : r.value("skipped", nlohmann::json::array())) {
    std::cerr << "ccfs " << what << ": not stored: " << skipped.get<std::string>() << "\n";
  }
}

// A past generation (WS@GEN) is history: it can only be looked at. Checked
// before anything is created, so a refused mount leaves nothing behind.
Status CheckPastGenerationFlags(const GenerationRef& ref, const MountArgs& a) {
  if (ref.generation == 0) return Status::OK();
  const std::string name = ref.workspace + "@" + std::to_string(ref.generation);
  if (!a.read_only) {
    return Status::InvalidArgument(name + " is a past generation, which is never changed: mount " +
                                   "it with --read-only (or `ccfs restore " + ref.workspace + " " +
                                   std::to_string(ref.generation) +
                                   "` to make it the current tree)");
  }
  if (!a.layout.empty()) {
    return Status::InvalidArgument("--layout does not apply to " + name +
                                   ": only a layout-v2 workspace has past generations");
  }
  if (!a.sync.url.empty()) {
    return Status::InvalidArgument("--sync-url does not apply to " + name +
                                   ": a past generation appends nothing to sync");
  }
  if (a.discard_local) {
    return Status::InvalidArgument("--discard-local does not apply to " + name +
                                   ": a past generation has no local changes");
  }
  return Status::OK();
}

int RunMountCommand(MountArgs& a) {
  GenerationRef ref;
  if (Status s = ParseGenerationRef(a.workspace, &ref); !s.ok()) return ReportError("mount", s);
  if (Status s = CheckPastGenerationFlags(ref, a); !s.ok()) return ReportError("mount", s);
  auto mp = AbsoluteMountpoint(a.mountpoint);
  if (!mp.ok()) return ReportError("mount", mp.status());
  if (int rc = CheckMountpointUsable(*mp, a.allow_non_empty); rc != kExitOk) return rc;
  MountOptions options;
  options.store_url = a.store.url.empty() ? DefaultStoreUrl() : a.store.url;
  options.workspace = ref.workspace;
  options.generation = ref.generation;
  options.mountpoint = *mp;
  options.cache_root =
      a.cache.empty() ? DefaultCacheRoot(options.store_url, CacheName(options)) : a.cache;
  options.read_only = a.read_only;
  options.hydrate = a.hydrate == "lazy" ? HydrateMode::kLazy : HydrateMode::kBackground;
  options.discard_local = a.discard_local;
  options.allow_other = a.allow_other;
  options.layout_v2 = a.layout != "v1";
  options.lease_ttl_seconds = a.read_only ? 0 : a.lease_ttl;
  if (Status s = ApplySyncFlags(a.sync, &options); !s.ok()) return ReportError("mount", s);
  // A refused mount leaves no cache behind that it created itself.
  struct stat cache_st;
  const bool cache_existed = ::stat(options.cache_root.c_str(), &cache_st) == 0;
  if (Status s = MakeDirs(options.cache_root, 0700); !s.ok()) return ReportError("mount", s);
  auto forget_new_cache = [&](int rc) {
    if (rc != kExitOk && !cache_existed) {
      std::error_code ec;
      std::filesystem::remove_all(options.cache_root, ec);
    }
    return rc;
  };

  auto run = [&](const ReadyFn& ready) -> int {
    std::unique_ptr<ObjectStore> store = OpenStoreOrReport(a.store);
    if (store == nullptr) {
      ready(Status::InvalidArgument("cannot open store " + options.store_url));
      return kExitError;
    }
    return ServeMount(std::move(store), options, ready);
  };
  if (a.foreground) {
    return forget_new_cache(run([&](const Status& s) {
      if (!s.ok()) std::cerr << "ccfs mount: " << s.ToString() << "\n";
    }));
  }
  return forget_new_cache(Daemonize(options.cache_root + "/mount.log", run));
}

int RunUmount(const std::string& mountpoint, bool force, int timeout_s) {
  std::string mp, sock;
  int code = kExitError;
  if (!SocketFor("umount", mountpoint, &mp, &sock, &code)) return code;
  if (force) {
    nlohmann::json reply;
    Status s = ControlCall(sock, {{"op", "flush"}, {"force", true}}, &reply, -1);
    if (s.IsNotFound()) return NoMountError("umount", mp);
    if (!s.ok()) return ReportError("umount", s);
    PrintFlushOutcome("umount", reply);
    if (!reply.value("ok", false)) return reply.value("exit_code", kExitError);
  }
  auto client = ControlClient::Connect(sock);
  if (!client.ok()) {
    if (client.status().IsNotFound()) return NoMountError("umount", mp);
    return ReportError("umount", client.status());
  }
  nlohmann::json ack;
  Status s = (*client)->Send({{"op", "wait-exit"}});
  if (s.ok()) s = (*client)->Receive(&ack, 10000);
  if (!s.ok()) return ReportError("umount", s);
  // The kernel writes back dirty pages during the unmount; the mount process
  // then flushes and reports to us.
  std::string cmd = "fusermount3 -u -q '" + mp + "'";
  int rc = ::geteuid() == 0 ? ::umount2(mp.c_str(), 0) : std::system(cmd.c_str());
  if (rc != 0) {
    std::cerr << "ccfs umount: cannot unmount " << mp
              << (::geteuid() == 0 ? std::string(": ") + std::strerror(errno) : std::string())
              << " (still in use? close the files and shells using it)\n";
    return kExitError;
  }
  nlohmann::json event;
  s = (*client)->Receive(&event, timeout_s > 0 ? timeout_s * 1000 : -1);
  if (!s.ok()) {
    std::cerr << "ccfs umount: unmounted, but the mount process did not report its final flush ("
              << s.ToString() << "); see its log in the cache dir\n";
    return kExitError;
  }
  PrintFlushOutcome("umount", event);
  // Wait (briefly) for the process to let go of the cache.
  nlohmann::json ignored;
  IgnoreError((*client)->Receive(&ignored, 30000),
              "the outcome is printed already; this only waits for the process to exit");
  return event.value("exit_code", kExitError);
}

int RunFlush(const std::string& mountpoint, bool force, bool json) {
  std::string mp, sock;
  int code = kExitError;
  if (!SocketFor("flush", mountpoint, &mp, &sock, &code)) return code;
  nlohmann::json reply;
  Status s = ControlCall(sock, {{"op", "flush"}, {"force", force}}, &reply, -1);
  if (s.IsNotFound()) return NoMountError("flush", mp);
  if (!s.ok()) return ReportError("flush", s);
  if (json) std::cout << reply.dump(2) << "\n";
  PrintFlushOutcome("flush", reply);
  return reply.value("exit_code", kExitError);
}

void PrintStatus(const nlohmann::json& j) {
  auto h = j.value("hydration", nlohmann::json::object());
  auto st = j.value("store_stats", nlohmann::json::object());
  std::string workspace = j.value("workspace", std::string());
  if (const uint64_t gen = j.value("generation", uint64_t{0}); gen != 0) {
    workspace += "@" + std::to_string(gen) + " (a past generation)";
  }
  std::cout << j.value("mountpoint", std::string()) << ": workspace " << workspace << " from "
            << j.value("store", std::string())
            << (j.value("read_only", false) ? " (read-only)" : "") << "\n"
            << "  base ETag:   " << j.value("base_etag", std::string("<none: new workspace>"))
            << "\n"
            << "  files:       " << j.value("files", 0) << " (" << j.value("dirty_files", 0)
            << " dirty, " << j.value("cached_files", 0) << " cached, " << j.value("remote_files", 0)
            << " not hydrated), " << j.value("dirs", 0) << " dirs, " << j.value("symlinks", 0)
            << " symlinks\n"
            << "  hydration:   " << j.value("hydrate", std::string()) << ", "
            << static_cast<int>(j.value("hydrated_percent", 0.0)) << "% of files local; "
            << st.value("bytes_received", 0) << " bytes fetched in " << st.value("requests", 0)
            << " requests\n"
            << "  cache:       " << j.value("cache", std::string()) << "\n";
  if (j.contains("sync")) {
    std::istringstream lines(DescribeSyncStatusJson(j["sync"]));
    for (std::string line; std::getline(lines, line);) std::cout << "  " << line << "\n";
  }
  std::string err = h.value("last_error", std::string());
  if (!err.empty()) std::cout << "  last error:  " << err << "\n";
  if (j.contains("lease")) {
    const auto& l = j["lease"];
    std::cout << "  lease:       "
              << (l.value("lost", false) ? "LOST: " + l.value("loss_reason", std::string())
                                         : (l.value("held", false) ? "held" : "not held"))
              << " (ttl " << l.value("ttl_seconds", 0) << " s, " << l.value("renewals", 0)
              << " renewals)\n";
  }
  if (j.contains("recovery")) {
    const auto& r = j["recovery"];
    std::cout << "  recovered:   " << r.value("what", std::string()) << ": "
              << r.value("state", std::string()) << "\n";
  }
  if (j.contains("last_flush")) {
    const auto& f = j["last_flush"];
    std::cout << "  last flush:  "
              << (f.value("ok", false) ? "ok" : f.value("error", std::string("failed"))) << "\n";
    const auto& r = f.value("report", nlohmann::json::object());
    for (const auto& m : r.value("merged", nlohmann::json::array())) {
      std::cout << "    merged:    " << m.value("path", std::string()) << " (from "
                << m.value("from", std::string()) << ")\n";
    }
    for (const auto& c : r.value("conflicts", nlohmann::json::array())) {
      std::cout << "    conflict:  " << c.value("path", std::string()) << " -> yours at "
                << c.value("copy", std::string()) << "\n";
    }
  }
}

int RunStatus(const std::string& mountpoint, bool json) {
  std::vector<std::string> sockets;
  std::string mp;
  if (!mountpoint.empty()) {
    std::string sock;
    int code = kExitError;
    if (!SocketFor("status", mountpoint, &mp, &sock, &code)) return code;
    sockets.push_back(sock);
  } else {
    sockets = ListControlSockets();
  }
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& sock : sockets) {
    nlohmann::json reply;
    Status s = ControlCall(sock, {{"op", "status"}}, &reply, 10000);
    if (s.IsNotFound()) {
      if (!mountpoint.empty()) return NoMountError("status", mp);
      continue;  // a socket left by a dead mount
    }
    if (!s.ok()) return ReportError("status", s);
    reply.erase("ok");
    all.push_back(reply);
  }
  if (json) {
    std::cout << (mountpoint.empty() ? all.dump(2) : all.at(0).dump(2)) << "\n";
  } else if (all.empty()) {
    std::cout << "no ccfs mounts\n";
  } else {
    for (const auto& j : all) PrintStatus(j);
  }
  return kExitOk;
}

// The commands that talk to a running mount use the mount's own store; they
// accept the store flags anyway so scripts can pass the same flags to every
// ccfs command.
std::shared_ptr<StoreFlags> AddIgnoredStoreFlags(CLI::App* cmd) {
  auto unused = std::make_shared<StoreFlags>();
  AddStoreFlags(cmd, unused.get());
  return unused;  // the command's callback keeps it alive
}

}  // namespace

void RegisterMount(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<MountArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mount", "Mount a workspace (lazily hydrated; changes flushed at unmount)");
  cmd->add_option("workspace", args->workspace,
                  "Workspace name; WORKSPACE@GEN (with --read-only) for a past generation of a "
                  "layout-v2 one, in a cache of its own")
      ->required();
  cmd->add_option("mountpoint", args->mountpoint, "Directory to mount on")->required();
  cmd->add_flag("-f,--foreground", args->foreground, "Stay in the foreground (log to stderr)");
  cmd->add_flag("--read-only", args->read_only, "Mount read-only (nothing is ever flushed)");
  cmd->add_option("--hydrate", args->hydrate,
                  "background: stream the whole workspace in at once (default); lazy: fetch "
                  "only what is opened")
      ->check(CLI::IsMember({"background", "lazy"}));
  cmd->add_option("--cache", args->cache,
                  "Cache dir (default ~/.cache/ccfs/<store-hash>/<workspace>, or "
                  "<workspace>@<gen> for a past generation)");
  cmd->add_flag("--discard-local", args->discard_local,
                "Drop unflushed local changes in the cache and start from the store's version");
  cmd->add_flag("--allow-other", args->allow_other,
                "Let other users see the mount (needs user_allow_other in /etc/fuse.conf)");
  cmd->add_flag("--allow-non-empty", args->allow_non_empty,
                "Mount over a directory that holds files (they are hidden until the unmount)");
  cmd->add_option("--lease-ttl", args->lease_ttl,
                  "Seconds the workspace lease lasts unless renewed (tests; 0: take no lease)")
      ->group("");  // hidden
  cmd->add_option("--layout", args->layout,
                  "v2 (default): a new workspace is created in layout v2 and a v1 one moves to it "
                  "at this writable mount (server-side copies); v1: keep a v1 workspace v1 (for "
                  "an older ccfs that shares it); a workspace already in v2 is always v2")
      ->check(CLI::IsMember({"v1", "v2"}));
  AddSyncFlags(cmd, &args->sync);
  AddStoreFlags(cmd, &args->store);
  cmd->callback(WithMountAll(cmd, &args->store, ctx,
                             [args, &ctx] { ctx.exit_code = RunMountCommand(*args); }));
}

void RegisterUmount(CLI::App& app, CommandContext& ctx) {
  auto mountpoint = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto timeout = std::make_shared<int>(0);
  CLI::App* cmd = app.add_subcommand(
      "umount", "Flush and unmount; the exit code says whether the flush succeeded (3: conflict)");
  cmd->alias("unmount");  // what people type after `mount`
  cmd->add_option("mountpoint", *mountpoint, "The mount")->required();
  cmd->add_flag("--force", *force,
                "On a conflict, overwrite the store's version with this mount's");
  cmd->add_option("--timeout", *timeout, "Seconds to wait for the flush (default: no limit)");
  auto store_flags = AddIgnoredStoreFlags(cmd);
  cmd->callback([=, &ctx] {
    (void)store_flags;
    ctx.exit_code = RunUmount(*mountpoint, *force, *timeout);
  });
}

void RegisterFlush(CLI::App& app, CommandContext& ctx) {
  auto mountpoint = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("flush", "Write a mount's changes to the store now (stays mounted)");
  cmd->add_option("mountpoint", *mountpoint, "The mount")->required();
  cmd->add_flag("--force", *force,
                "On a conflict, overwrite the store's version with this mount's");
  cmd->add_flag("--json", *json, "Print the flush report as JSON");
  auto recover = std::make_shared<bool>(false);
  auto cache = std::make_shared<std::string>();
  auto lease_ttl = std::make_shared<int>(kDefaultLeaseTtlSeconds);
  cmd->add_flag("--recover", *recover,
                "The argument is a WORKSPACE: flush what a crashed mount left in its cache, "
                "without mounting (uses the store flags)");
  cmd->add_option("--cache", *cache, "With --recover: the cache dir the mount used");
  cmd->add_option("--lease-ttl", *lease_ttl, "With --recover: lease ttl (tests)")->group("");
  auto store_flags = AddIgnoredStoreFlags(cmd);
  cmd->callback([=, &ctx] {
    if (!*recover) {
      ctx.exit_code = RunFlush(*mountpoint, *force, *json);
      return;
    }
    if (*force) {
      ctx.exit_code =
          ReportError("flush", Status::InvalidArgument("--recover does not take --force: mount the "
                                                       "workspace and `ccfs flush --force` it"));
      return;
    }
    nlohmann::json result;
    ctx.exit_code = RunRecoverFlush(*store_flags, *mountpoint, *cache, *lease_ttl, &result);
    if (result.is_null()) return;
    if (*json) std::cout << result.dump(2) << "\n";
    PrintFlushOutcome("flush --recover", result);
  });
}

void RegisterStatus(CLI::App& app, CommandContext& ctx) {
  auto mountpoint = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "status", "Show a mount (or all mounts): base ETag, dirty files, hydration progress");
  cmd->add_option("mountpoint", *mountpoint, "The mount (default: every mount of this user)");
  cmd->add_flag("--json", *json, "Print JSON");
  auto store_flags = AddIgnoredStoreFlags(cmd);
  cmd->callback([=, &ctx] {
    (void)store_flags;
    ctx.exit_code = RunStatus(*mountpoint, *json);
  });
}

}  // namespace ccfs::cli
