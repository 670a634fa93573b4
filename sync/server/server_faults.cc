#include "sync/server/server_faults.h"

#include <algorithm>

namespace ccfs {
namespace {

constexpr int kDefaultRetryAfterS = 1;

bool KnownKind(const std::string& k) {
  return k == "500" || k == "503" || k == "429" || k == "drop";
}

}  // namespace

Result<SyncFaultRule> SyncFaultInjector::AddFromJson(const nlohmann::json& spec) {
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
    rule.seed = spec.contains("seed")
                    ? spec["seed"].get<uint64_t>()
                    : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    rule.kinds = spec.value("kinds", std::vector<std::string>{});
    rule.after_apply = spec.value("after_apply", 0.0);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("bad fault spec: ") + e.what());
  }
  if (rule.status < 100 || rule.status > 599 || rule.count < 1 || rule.delay_ms < 0 ||
      rule.rate < 0 || rule.rate > 1 || rule.after_apply < 0 || rule.after_apply > 1) {
    return Status::InvalidArgument(
        "bad fault spec: status 100..599, count >= 1, rate and after_apply 0..1");
  }
  if (!std::all_of(rule.kinds.begin(), rule.kinds.end(), KnownKind)) {
    return Status::InvalidArgument("bad fault spec: kinds are \"500\", \"503\", \"429\", \"drop\"");
  }
  if (!rule.kinds.empty() && rule.rate <= 0) {
    return Status::InvalidArgument("bad fault spec: kinds need a rate");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (rule.rate > 0) rng_.seed(rule.seed);
  rules_.push_back(rule);
  return rule;
}

void SyncFaultInjector::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

std::optional<SyncFault> SyncFaultInjector::Take(const std::string& method,
                                                 const std::string& path) {
  if (method == "GET") return std::nullopt;  // read-back stays reliable for the test's checks
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (path.compare(0, it->path_prefix.size(), it->path_prefix) != 0) continue;
    SyncFault hit{it->status, it->retry_after_s, it->rewind, it->delay_ms, false, false};
    if (it->rate > 0) {
      std::uniform_real_distribution<double> unit(0, 1);
      if (unit(rng_) >= it->rate) continue;
      if (!it->kinds.empty()) {
        const std::string& kind =
            it->kinds[std::uniform_int_distribution<size_t>(0, it->kinds.size() - 1)(rng_)];
        hit.drop = kind == "drop";
        hit.status = hit.drop ? 200 : std::stoi(kind);
        if ((hit.status == 429 || hit.status == 503) && hit.retry_after_s < 0) {
          hit.retry_after_s = kDefaultRetryAfterS;
        }
      }
      hit.after_apply = it->after_apply > 0 && unit(rng_) < it->after_apply;
      return hit;
    }
    if (--it->count == 0) rules_.erase(it);
    return hit;
  }
  return std::nullopt;
}

}  // namespace ccfs
