#include <string>

#include "fs/lifecycle/mount.h"
#include "sync/common/sync_common.h"

namespace ccfs {

Status ConfigureMountSync(const std::string& url, const std::string& token_file,
                          double drain_timeout_s, MountOptions* options) {
  if (url.empty()) {
    if (!token_file.empty()) return Status::InvalidArgument("--sync-token-file needs --sync-url");
    return Status::OK();
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("--sync-url must start with http:// or https://");
  }
  if (!(drain_timeout_s >= 0) || drain_timeout_s > 86400) {
    return Status::InvalidArgument("--sync-drain-timeout must be between 0 and 86400 seconds");
  }
  auto token = ResolveSyncToken(token_file);
  if (!token.ok()) return token.status();
  options->sync_url = url;
  options->sync_token = std::move(token).value();
  options->sync_drain_timeout_s = drain_timeout_s;
  return Status::OK();
}

}  // namespace ccfs
