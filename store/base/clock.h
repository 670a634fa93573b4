// The clocks ccfs reads, in one place, so every file agrees on units and on
// which clock is which.
#pragma once

#include <cstdint>

namespace ccfs {

// Wall-clock time, nanoseconds since the Unix epoch (CLOCK_REALTIME): what
// mtimes, ctimes and "at" fields in status output hold.
int64_t NowNs();

// Wall-clock time, milliseconds since the Unix epoch.
int64_t NowUnixMs();

// Monotonic time in nanoseconds (CLOCK_MONOTONIC): for intervals and
// deadlines, which must not jump when the wall clock is set.
int64_t MonotonicNs();

}  // namespace ccfs
