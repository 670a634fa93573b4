#include "sync/server/server_faults.h"

namespace ccfs {

Status SyncFaultInjector::AddFromJson(const nlohmann::json& spec) {
  if (!spec.is_object()) return Status::InvalidArgument("fault spec must be an object");
  SyncFaultRule rule;
  try {
    rule.status = spec.value("status", 500);
    rule.count = spec.value("count", 1);
    rule.retry_after_s = spec.value("retry_after", -1);
    rule.path_prefix = spec.value("path", rule.path_prefix);
    rule.rewind = spec.value("rewind", int64_t{0});
    rule.delay_ms = spec.value("delay_ms", 0);
    rule.rate = spec.value("rate", 0.0);
    rule.seed = spec.value("seed", uint64_t{1});
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("bad fault spec: ") + e.what());
  }
  if (rule.status < 100 || rule.status > 599 || rule.count < 1 || rule.delay_ms < 0 ||
      rule.rate < 0 || rule.rate > 1) {
    return Status::InvalidArgument("bad fault spec: status 100..599, count >= 1, rate 0..1");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (rule.rate > 0) rng_.seed(rule.seed);
  rules_.push_back(rule);
  return Status::OK();
}

void SyncFaultInjector::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

std::optional<SyncFaultRule> SyncFaultInjector::Take(const std::string& method,
                                                     const std::string& path) {
  if (method == "GET") return std::nullopt;  // read-back stays reliable for the test's checks
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (path.compare(0, it->path_prefix.size(), it->path_prefix) != 0) continue;
    SyncFaultRule hit = *it;
    if (it->rate > 0) {
      if (std::uniform_real_distribution<double>(0, 1)(rng_) >= it->rate) continue;
      return hit;
    }
    if (--it->count == 0) rules_.erase(it);
    return hit;
  }
  return std::nullopt;
}

}  // namespace ccfs
