// SyncBackoff: capped exponential backoff with jitter for the sidecar's retries.
// The n-th consecutive failure waits a random time in [d/2, d] with
// d = min(max, initial * 2^(n-1)); a success resets it.
#pragma once

#include <chrono>
#include <random>

namespace ccfs {

class SyncBackoff {
 public:
  SyncBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), rng_(std::random_device{}()) {}

  std::chrono::milliseconds Next() {
    std::chrono::milliseconds d = initial_;
    for (int i = 0; i < failures_ && d < max_; ++i) d *= 2;
    if (d > max_) d = max_;
    ++failures_;
    std::uniform_int_distribution<long long> jitter(d.count() / 2, d.count());
    return std::chrono::milliseconds(jitter(rng_));
  }
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::mt19937_64 rng_;
  int failures_ = 0;
};

}  // namespace ccfs
