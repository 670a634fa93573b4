// ParallelFor: run fn(i) for i in [0, n) on up to `threads` threads and return
// the first error (the remaining items are not started once one fails).
// Used for the many small transcript objects of a workspace, where one
// request at a time would leave the link idle on round trips.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

inline Status ParallelFor(size_t n, size_t threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      if (failed.load()) return;
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) first_error = s;
        return;
      }
    }
  };
  size_t t = std::max<size_t>(1, std::min(threads, n));
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (size_t k = 1; k < t; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  return first_error;
}

}  // namespace ccfs
