// SyncRetrySchedule: when the sidecar may next send each piece of its work (a
// transcript file, a session's end, the outbox), and when it may next talk to
// the server at all.
//
// Why per piece: a server that fails a steady share of requests at random
// still answers most of them, so one request's failure says little about the
// next one. Each key backs off on its own (capped exponential with jitter: its
// n-th consecutive failure waits a random time in [d/2, d], d = min(cap,
// initial * 2^(n-1))) while the other keys go on. Any success shows the
// server answers: the key that got through starts again from `initial`, and
// every other key is due within `initial` (after an outage the files come
// back at once, not each at the end of its own long delay); a key that keeps
// failing on its own keeps its count, so its next failure still waits long.
// A 429/503's Retry-After holds back the key that got it; when the server
// keeps saying so, the caller holds all keys back (HoldAll). Either is
// bounded, so that a server asking for an hour cannot park an unmount.
//
// Time is passed in (no clock inside): tests step through hours of backoff
// without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>

namespace ccfs {

class SyncRetrySchedule {
 public:
  using Clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  SyncRetrySchedule(ms initial, ms max, uint64_t seed);

  // `key` failed at `now`: it waits its next backoff delay, at most `cap`
  // (lower than max while an unmount waits). Returns the delay.
  // A Retry-After from the server is `at_least` (already bounded by the
  // caller): the key waits the longer of the two.
  ms Failed(const std::string& key, Clock::time_point now, ms cap, ms at_least = ms(0));
  ms Failed(const std::string& key, Clock::time_point now) { return Failed(key, now, max_); }
  // The server asked everyone to wait `retry_after` (from a 429/503): no key
  // is due before now + min(retry_after, bound).
  void HoldAll(Clock::time_point now, ms retry_after, ms bound);
  // `key` got through at `now`: its next failure starts again from
  // `initial`, and no other key waits past now + initial.
  void Succeeded(const std::string& key, Clock::time_point now);
  // `key` is no longer pending without the server having answered it.
  void Forget(const std::string& key) { keys_.erase(key); }

  // May `key` be sent at `now`?
  bool Due(const std::string& key, Clock::time_point now) const { return NextDue(key) <= now; }
  // The earliest time `key` may be sent.
  Clock::time_point NextDue(const std::string& key) const;
  // An unmount is waiting: every key is due at once, and a server's hold
  // ends at `now + hold_bound` at the latest.
  void Hurry(Clock::time_point now, ms hold_bound);

  // Some key has failed since its last success.
  bool BackingOff() const { return !keys_.empty(); }
  int failures(const std::string& key) const;

 private:
  struct KeyState {
    int failures = 0;
    Clock::time_point due;
  };
  ms initial_;
  ms max_;
  std::mt19937_64 rng_;
  std::map<std::string, KeyState> keys_;
  Clock::time_point hold_until_ = Clock::time_point::min();
};

}  // namespace ccfs
