#include "cli/cmd_recover.h"

#include <iostream>

#include "fs/lifecycle/mount.h"
#include "fs/lifecycle/recovery.h"
#include "fs/tree/cache_dir.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs::cli {

int RunRecoverFlush(const StoreFlags& store_flags, const std::string& workspace,
                    const std::string& cache, int lease_ttl_seconds, nlohmann::json* result) {
  *result = nullptr;
  if (Status s = ValidateWorkspaceName(workspace); !s.ok()) return ReportError("flush", s);
  std::unique_ptr<ObjectStore> store = OpenStoreOrReport(store_flags);
  if (store == nullptr) return kExitError;
  MountOptions options;
  options.store_url = store_flags.url.empty() ? DefaultStoreUrl() : store_flags.url;
  options.workspace = workspace;
  options.mountpoint = "(flush --recover)";
  options.cache_root = cache.empty() ? DefaultCacheRoot(options.store_url, workspace) : cache;
  options.lease_ttl_seconds = lease_ttl_seconds;
  FlushReport report;
  std::string note;
  Status s = RecoverUnflushed(std::move(store), options, &report, &note);
  if (s.IsNotFound() && note.empty()) {
    std::cerr << "ccfs flush: " << s.message() << "\n";
    return kExitError;
  }
  if (note.empty()) return ReportError("flush", s);  // the cache could not be opened
  std::cerr << "ccfs flush --recover: " << options.cache_root << ": " << note << "\n";
  *result = FlushResultJson(s, report);
  (*result)["recovered"] = note;
  return (*result).value("exit_code", kExitError);
}

}  // namespace ccfs::cli
