#include "store/base/clock.h"

#include <time.h>

namespace ccfs {

namespace {

int64_t Read(clockid_t clock) {
  struct timespec ts;
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

int64_t NowNs() { return Read(CLOCK_REALTIME); }

int64_t NowUnixMs() { return NowNs() / 1000000; }

int64_t MonotonicNs() { return Read(CLOCK_MONOTONIC); }

}  // namespace ccfs
