#include <cstdio>
#include <iostream>

#include "cli/commands.h"

namespace ccfs::cli {

void AddStoreFlags(CLI::App* cmd, StoreFlags* flags) {
  cmd->add_option("--store", flags->url,
                  "Store URL: s3://bucket[/prefix] or file:///dir "
                  "(default: $CCFS_STORE, else file://$HOME/.local/share/ccfs/store)");
  cmd->add_option("--endpoint", flags->options.endpoint,
                  "S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)");
  cmd->add_option("--region", flags->options.region, "S3 region (default: $AWS_REGION, profile)");
  cmd->add_option("--profile", flags->options.profile,
                  "Profile in ~/.aws/credentials and ~/.aws/config (default: $AWS_PROFILE)");
  cmd->add_option("--addressing", flags->options.addressing,
                  "S3 addressing style: path or virtual (default: virtual only for AWS)")
      ->check(CLI::IsMember({"path", "virtual"}));
}

std::unique_ptr<ObjectStore> OpenStoreOrReport(const StoreFlags& flags) {
  std::string url = flags.url.empty() ? DefaultStoreUrl() : flags.url;
  auto store = OpenStore(url, flags.options);
  if (!store.ok()) {
    std::cerr << "ccfs: cannot open store " << url << ": " << store.status().ToString() << "\n";
    return nullptr;
  }
  return std::move(store).value();
}

int ReportError(const std::string& what, const Status& s) {
  std::cerr << "ccfs " << what << ": " << s.ToString() << "\n";
  if (s.IsPreconditionFailed()) return kExitPrecondition;
  if (s.IsInvalidArgument()) return kExitUsage;
  return kExitError;
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  } else if (b >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  }
  return buf;
}

}  // namespace ccfs::cli
