#include "cli/cmd_mount_all.h"

#include <sys/stat.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/all/all_mount.h"
#include "fs/lifecycle/control.h"
#include "fs/lifecycle/daemon.h"
#include "fs/lifecycle/recovery.h"
#include "fs/tree/cache_dir.h"

namespace ccfs::cli {

namespace {

struct MountAllArgs {
  StoreFlags store;
  std::vector<std::string> positionals;  // [STORE] MOUNTPOINT
  std::string cache;
  bool foreground = false;
  bool allow_other = false;
  bool allow_non_empty = false;
};

int Usage(const std::string& message) {
  std::cerr << "ccfs mount --all: " << message << "\n";
  return kExitUsage;
}

int RunMountAll(MountAllArgs a) {
  std::string mountpoint;
  if (a.positionals.size() == 2) {
    const std::string& url = a.positionals[0];
    if (url.find("://") == std::string::npos) {
      return Usage(
          "takes [STORE] MOUNTPOINT, and STORE is a store URL (s3://bucket[/prefix] or "
          "file:///dir), not '" +
          url + "': --all mounts every workspace");
    }
    if (!a.store.url.empty() && a.store.url != url) {
      return Usage("two stores given (" + url + " and --store " + a.store.url + ")");
    }
    a.store.url = url;
    mountpoint = a.positionals[1];
  } else if (a.positionals.size() == 1) {
    mountpoint = a.positionals[0];
  } else {
    return Usage("MOUNTPOINT is required");
  }
  auto mp = AbsoluteMountpoint(mountpoint);
  if (!mp.ok()) return ReportError("mount", mp.status());
  if (int rc = CheckMountpointUsable(*mp, a.allow_non_empty); rc != kExitOk) return rc;
  AllViewOptions options;
  options.store_url = a.store.url.empty() ? DefaultStoreUrl() : a.store.url;
  options.mountpoint = *mp;
  // Its own caches (a workspace name never starts with '.'): the view never
  // competes with, nor shows the unflushed state of, a writable mount here.
  options.cache_root = a.cache.empty() ? DefaultCacheRoot(options.store_url, ".all") : a.cache;
  if (Status s = MakeDirs(options.cache_root, 0700); !s.ok()) return ReportError("mount", s);

  StoreFlags flags = a.store;
  StoreFactory stores = [flags, url = options.store_url]() -> Result<std::unique_ptr<ObjectStore>> {
    return OpenStore(url, flags.options);
  };
  bool allow_other = a.allow_other;
  auto run = [&](const ReadyFn& ready) -> int {
    return ServeAllView(stores, options, allow_other, ready);
  };
  if (a.foreground) {
    return run([](const Status& s) {
      if (!s.ok()) std::cerr << "ccfs mount: " << s.ToString() << "\n";
    });
  }
  return Daemonize(options.cache_root + "/mount.log", run);
}

}  // namespace

std::function<void()> WithMountAll(CLI::App* cmd, StoreFlags* store, CommandContext& ctx,
                                   std::function<void()> mount_one) {
  auto all = std::make_shared<bool>(false);
  cmd->add_flag("--all", *all,
                "Mount every workspace of the store, read-only and lazily hydrated, each at "
                "MOUNTPOINT/<workspace>: `ccfs mount --all [STORE] MOUNTPOINT` (STORE: a URL, "
                "else --store). Workspaces pushed later appear in MOUNTPOINT within ~10 s; each "
                "one shows its tree as of its first access. --cache is the root of the view's "
                "caches (default ~/.cache/ccfs/<store-hash>/.all)");
  CLI::Option* workspace = cmd->get_option_no_throw("workspace");
  CLI::Option* mountpoint = cmd->get_option_no_throw("mountpoint");
  // --all takes one or two positionals: their count is checked below.
  if (workspace != nullptr) workspace->required(false);
  if (mountpoint != nullptr) mountpoint->required(false);
  auto given = [cmd](const char* name) {
    CLI::Option* o = cmd->get_option_no_throw(name);
    return o != nullptr && o->count() > 0;
  };
  auto value = [cmd](const char* name) {
    CLI::Option* o = cmd->get_option_no_throw(name);
    return o != nullptr && o->count() > 0 ? o->as<std::string>() : std::string();
  };
  return [=, &ctx] {
    if (!*all) {
      if (value("workspace").empty() || value("mountpoint").empty()) {
        std::cerr << "ccfs mount: WORKSPACE and MOUNTPOINT are required (or --all [STORE] "
                     "MOUNTPOINT)\n";
        ctx.exit_code = kExitUsage;
        return;
      }
      mount_one();
      return;
    }
    for (const char* writer_only : {"--discard-local", "--sync-url", "--sync-token-file"}) {
      if (given(writer_only)) {
        ctx.exit_code = Usage(std::string("does not take ") + writer_only + " (it is read-only)");
        return;
      }
    }
    if (given("--hydrate") && value("--hydrate") != "lazy") {
      ctx.exit_code = Usage("always hydrates lazily (fetches only what is read)");
      return;
    }
    MountAllArgs a;
    a.store = *store;
    for (const char* name : {"workspace", "mountpoint"}) {
      if (given(name)) a.positionals.push_back(value(name));
    }
    a.cache = value("--cache");
    a.foreground = given("--foreground");
    a.allow_other = given("--allow-other");
    a.allow_non_empty = given("--allow-non-empty");
    ctx.exit_code = RunMountAll(std::move(a));
  };
}

}  // namespace ccfs::cli
