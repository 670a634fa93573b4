#include "sync/client/backoff.h"

#include <algorithm>

namespace ccfs {

SyncRetrySchedule::SyncRetrySchedule(ms initial, ms max, uint64_t seed)
    : initial_(std::max(initial, ms(1))), max_(std::max(max, initial_)), rng_(seed) {}

SyncRetrySchedule::ms SyncRetrySchedule::Failed(const std::string& key, Clock::time_point now,
                                                ms cap, ms at_least) {
  KeyState& k = keys_[key];
  const ms limit = std::max(ms(1), std::min(cap, max_));
  ms d = initial_;
  for (int i = 0; i < k.failures && d < limit; ++i) d *= 2;
  d = std::min(d, limit);
  ++k.failures;
  std::uniform_int_distribution<long long> jitter(d.count() / 2, d.count());
  const ms delay = std::max(ms(jitter(rng_)), at_least);
  k.due = now + delay;
  return delay;
}

void SyncRetrySchedule::Succeeded(const std::string& key, Clock::time_point now) {
  keys_.erase(key);
  for (auto& [other, k] : keys_) k.due = std::min(k.due, now + initial_);
}

void SyncRetrySchedule::HoldAll(Clock::time_point now, ms retry_after, ms bound) {
  hold_until_ = std::max(hold_until_, now + std::clamp(retry_after, ms(0), bound));
}

SyncRetrySchedule::Clock::time_point SyncRetrySchedule::NextDue(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? hold_until_ : std::max(hold_until_, it->second.due);
}

void SyncRetrySchedule::Hurry(Clock::time_point now, ms hold_bound) {
  for (auto& [key, k] : keys_) k.due = std::min(k.due, now);
  hold_until_ = std::min(hold_until_, now + hold_bound);
}

int SyncRetrySchedule::failures(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? 0 : it->second.failures;
}

}  // namespace ccfs
