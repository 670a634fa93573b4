// Leases against both backends, like the store conformance suite: the file
// store (a fresh temp dir) and S3 (a fresh random prefix in the bucket that
// $CCFS_TEST_S3_BUCKET names; unset is a failure, not a skip). Select one with
// --gtest_filter='File/LeaseTest.*' or 'S3/LeaseTest.*'.
#include "store/workspace/lease.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/objects/fault_store.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid()));
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 12; ++i) s.push_back(kAlnum[rng() % 36]);
  return s;
}

LeaseOptions Who(const std::string& host, int64_t pid, const std::string& user, int ttl = 30) {
  LeaseOptions o;
  o.host = host;
  o.pid = pid;
  o.user = user;
  o.ttl_seconds = ttl;
  return o;
}

class LeaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ccfs-lease-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_dir_ = tmpl;
    std::string url;
    if (GetParam() == "file") {
      url = "file://" + tmp_dir_ + "/bucket";
    } else {
      const char* bucket = std::getenv("CCFS_TEST_S3_BUCKET");
      ASSERT_TRUE(bucket != nullptr && *bucket != '\0')
          << "CCFS_TEST_S3_BUCKET is not set: the S3 lease tests need a real S3 server. "
             "Run them under scripts/test, or start one with `scripts/s3-server start` and "
             "`eval \"$(scripts/s3-server env)\"` first.";
      url = std::string("s3://") + bucket + "/lease-" + RandomSuffix();
    }
    auto opened = OpenStore(url);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  void TearDown() override {
    if (store_ != nullptr) {
      ListResult rest;
      if (store_->List({}, &rest).ok()) {
        for (const ObjectInfo& o : rest.objects) EXPECT_TRUE(store_->Delete(o.key).ok()) << o.key;
      }
    }
    std::error_code ec;
    if (!tmp_dir_.empty()) std::filesystem::remove_all(tmp_dir_, ec);
  }

  nlohmann::json StoredLease() {
    std::string text;
    Status s = GetToString(*store_, LeaseKey(ws_), {}, &text);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  }

  // Retries Acquire until the old lease has expired (bounded), and checks it
  // was not taken over before its ttl could have run out.
  Result<Lease> AcquireAfterExpiry(const LeaseOptions& opts, steady_clock::time_point written,
                                   int ttl) {
    const auto limit = steady_clock::now() + std::chrono::seconds(ttl + kLeaseGraceSeconds + 8);
    for (;;) {
      LeaseHolder holder;
      Result<Lease> r = Lease::Acquire(*store_, ws_, opts, &holder);
      if (r.ok()) {
        EXPECT_GE(steady_clock::now() - written, std::chrono::seconds(ttl))
            << "taken over before its ttl ran out";
        return r;
      }
      if (!r.status().IsPreconditionFailed() || steady_clock::now() > limit) return r;
      std::this_thread::sleep_for(milliseconds(250));
    }
  }

  std::string tmp_dir_;
  std::unique_ptr<ObjectStore> store_;
  const std::string ws_ = "ws42";
};

TEST_P(LeaseTest, AcquireWritesTheHolderRecord) {
  auto lease = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_TRUE(lease->held());
  nlohmann::json j = StoredLease();
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["host"], "host-a");
  EXPECT_EQ(j["pid"], 111);
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["ttl_seconds"], 30);
  EXPECT_EQ(j["released"], false);
  EXPECT_EQ(j["holder_id"], lease->self().holder_id);
  EXPECT_EQ(j["holder_id"].get<std::string>().size(), 32u);
  EXPECT_GT(j["acquired_at"].get<int64_t>(), 1600000000);
  ObjectInfo head;
  ASSERT_TRUE(store_->Head(LeaseKey(ws_), &head).ok());
  EXPECT_EQ(head.etag, lease->etag());
  EXPECT_GT(lease->valid_until(), steady_clock::now() + std::chrono::seconds(25));
  ASSERT_TRUE(lease->Release().ok());
}

TEST_P(LeaseTest, SecondWriterIsRefusedWithTheHolderNamed) {
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  LeaseHolder holder;
  auto b = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"), &holder);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsPreconditionFailed()) << b.status().ToString();
  const std::string& msg = b.status().message();
  EXPECT_NE(msg.find("ws42"), std::string::npos) << msg;
  EXPECT_NE(msg.find("alice@host-a (pid 111)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(" since 20"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expires in "), std::string::npos) << msg;
  EXPECT_EQ(holder.host, "host-a");
  EXPECT_EQ(holder.pid, 111);
  EXPECT_EQ(holder.user, "alice");
  EXPECT_EQ(holder.holder_id, a->self().holder_id);
  EXPECT_EQ(holder.etag, a->etag());
  EXPECT_FALSE(holder.Expired());
  EXPECT_GT(holder.last_modified, 1600000000);
  // The store's clock judged it: it expires about a ttl after it was written.
  EXPECT_GE(holder.expires_at - holder.store_now, 30 - 3);
  EXPECT_LE(holder.expires_at - holder.store_now, 30 + kLeaseGraceSeconds);
  EXPECT_TRUE(a->held());
  ASSERT_TRUE(a->Release().ok());
}

TEST_P(LeaseTest, OwnLeaseLeftByACrashIsReclaimedByItsHolderIdOnly) {
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::string crashed_id = a->self().holder_id;
  a->Abandon();  // the holder crashed: not released, not expired
  LeaseOptions stranger = Who("host-b", 222, "bob");
  stranger.reclaim_holder_id = "0123456789abcdef0123456789abcdef";
  EXPECT_TRUE(Lease::Acquire(*store_, ws_, stranger).status().IsPreconditionFailed());
  LeaseOptions same_cache = Who("host-a", 333, "alice");
  same_cache.reclaim_holder_id = crashed_id;
  auto b = Lease::Acquire(*store_, ws_, same_cache);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NE(b->self().holder_id, crashed_id);
  EXPECT_EQ(StoredLease()["pid"], 333);
  ASSERT_TRUE(b->Release().ok());
}

TEST_P(LeaseTest, RenewRewritesConditionallyAndKeepsIt) {
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::string first = a->etag();
  const auto valid_before = a->valid_until();
  std::this_thread::sleep_for(milliseconds(1100));  // renewed_at moves on
  ASSERT_TRUE(a->Renew().ok());
  EXPECT_NE(a->etag(), first);
  EXPECT_GT(a->valid_until(), valid_before);
  nlohmann::json j = StoredLease();
  EXPECT_GT(j["renewed_at"].get<int64_t>(), j["acquired_at"].get<int64_t>());
  EXPECT_EQ(j["holder_id"], a->self().holder_id);
  ASSERT_TRUE(a->Renew().ok());
  auto b = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"));
  EXPECT_TRUE(b.status().IsPreconditionFailed()) << b.status().ToString();
  ASSERT_TRUE(a->Release().ok());
}

TEST_P(LeaseTest, ReleaseLeavesAMarkerThatIsFreeToTake) {
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(a->Release().ok());
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(a->Release().ok()) << "releasing twice is harmless";
  EXPECT_TRUE(a->Renew().IsPreconditionFailed());
  nlohmann::json j = StoredLease();
  EXPECT_EQ(j["released"], true);
  // Taken at once: no waiting for a ttl.
  auto b = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(StoredLease()["host"], "host-b");
  ASSERT_TRUE(b->Release().ok());
}

// Every lease this ccfs writes says it reads layout v2; the next holder
// learns whether the one before it did (an older ccfs's lease lacks the
// field), which is how a v2 mount knows an older writer has been at work.
TEST_P(LeaseTest, TheNextHolderLearnsWhetherThePreviousOneReadsLayoutV2) {
  auto first = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->replaced().has_value()) << "nothing was there before";
  EXPECT_EQ(StoredLease()["reads_layout_v2"], true);
  ASSERT_TRUE(first->Release().ok());
  EXPECT_EQ(StoredLease()["reads_layout_v2"], true) << "the released marker says it too";

  auto second = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(second->replaced().has_value());
  EXPECT_TRUE(second->replaced()->reads_layout_v2);
  EXPECT_EQ(second->replaced()->host, "host-a");
  EXPECT_TRUE(second->replaced()->released);
  ASSERT_TRUE(second->Release().ok());

  // A released marker as an older ccfs wrote it: no reads_layout_v2.
  const std::string old_marker =
      R"({"format":"ccfs-lease-v1","holder_id":"00112233445566778899aabbccddeeff",)"
      R"("host":"old-box","pid":7,"user":"carol","acquired_at":1700000000,)"
      R"("renewed_at":1700000000,"ttl_seconds":30,"released":true})";
  ASSERT_TRUE(store_->PutBytes(LeaseKey(ws_), old_marker, {}, nullptr).ok());
  auto third = Lease::Acquire(*store_, ws_, Who("host-c", 333, "dave"));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  ASSERT_TRUE(third->replaced().has_value());
  EXPECT_FALSE(third->replaced()->reads_layout_v2);
  EXPECT_EQ(third->replaced()->host, "old-box");
  ASSERT_TRUE(third->Release().ok());
}

TEST_P(LeaseTest, DestructorReleases) {
  {
    auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice"));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
  }
  EXPECT_EQ(StoredLease()["released"], true);
}

TEST_P(LeaseTest, ExpiredLeaseIsTakenOverAndTheOldHolderCannotClobberIt) {
  constexpr int kTtl = 1;
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice", kTtl));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const auto written = steady_clock::now();
  // Holder A stalls (no renewals): B is refused until the store's clock says
  // the lease ran out, then takes it over.
  LeaseHolder holder;
  auto early = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"), &holder);
  EXPECT_TRUE(early.status().IsPreconditionFailed()) << early.status().ToString();
  auto b = AcquireAfterExpiry(Who("host-b", 222, "bob"), written, kTtl);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(StoredLease()["host"], "host-b");
  // A wakes up: its renewal and its release are refused and leave B's lease.
  Status renew = a->Renew();
  EXPECT_TRUE(renew.IsPreconditionFailed()) << renew.ToString();
  EXPECT_NE(renew.message().find("bob@host-b"), std::string::npos) << renew.message();
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(a->Release().ok()) << "A knows it lost the lease: nothing to release";
  EXPECT_EQ(StoredLease()["host"], "host-b");
  EXPECT_EQ(StoredLease()["released"], false);
  EXPECT_TRUE(b->Renew().ok());
  ASSERT_TRUE(b->Release().ok());
}

TEST_P(LeaseTest, ReleaseAfterATakeoverLeavesTheNewHoldersLease) {
  constexpr int kTtl = 1;
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice", kTtl));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = AcquireAfterExpiry(Who("host-b", 222, "bob"), steady_clock::now(), kTtl);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  // A never noticed (no renewal since): its release must not free B's lease.
  Status rel = a->Release();
  EXPECT_TRUE(rel.IsPreconditionFailed()) << rel.ToString();
  nlohmann::json j = StoredLease();
  EXPECT_EQ(j["host"], "host-b");
  EXPECT_EQ(j["released"], false);
  EXPECT_TRUE(b->Renew().ok());
}

// N contenders, released at once by a barrier, each with its own store
// handle; returns the index of the winner (-1 if none) and checks every loser
// was refused naming that winner.
int RaceToAcquire(const std::vector<ObjectStore*>& stores, const std::string& ws,
                  std::vector<std::unique_ptr<Lease>>* winners) {
  const int n = static_cast<int>(stores.size());
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Status> results(n);
  std::vector<LeaseHolder> holders(n);
  std::vector<std::unique_ptr<Lease>> leases(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      auto r = Lease::Acquire(*stores[i], ws, Who("racer-" + std::to_string(i), 1000 + i, "ci"),
                              &holders[i]);
      results[i] = r.status();
      if (r.ok()) leases[i] = std::make_unique<Lease>(std::move(r).value());
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();
  int winner = -1;
  for (int i = 0; i < n; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(winner, -1) << "two winners: " << winner << " and " << i;
      winner = i;
    } else {
      EXPECT_TRUE(results[i].IsPreconditionFailed()) << i << ": " << results[i].ToString();
    }
  }
  if (winner >= 0) {
    const std::string id = leases[winner]->self().holder_id;
    for (int i = 0; i < n; ++i) {
      if (i == winner) continue;
      EXPECT_EQ(holders[i].holder_id, id) << "loser " << i << " named someone else";
      EXPECT_NE(results[i].message().find("racer-" + std::to_string(winner)), std::string::npos)
          << results[i].message();
    }
  }
  *winners = std::move(leases);
  return winner;
}

TEST_P(LeaseTest, RacingAcquisitionsAndTakeoversHaveExactlyOneWinner) {
  constexpr int kRacers = 8;
  std::vector<ObjectStore*> stores(kRacers, store_.get());
  std::vector<std::unique_ptr<Lease>> leases;
  // No lease object yet: If-None-Match: * lets one through.
  int w1 = RaceToAcquire(stores, ws_, &leases);
  ASSERT_GE(w1, 0);
  leases[w1]->Abandon();  // a holder that crashed
  leases.clear();
  // Now an expired lease: If-Match on its ETag lets one through.
  constexpr int kTtl = 1;
  auto stale = Lease::Acquire(*store_, "ws43", Who("crashed", 1, "ci", kTtl));
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  stale->Abandon();
  std::this_thread::sleep_for(std::chrono::seconds(kTtl + kLeaseGraceSeconds + 2));
  int w2 = RaceToAcquire(stores, "ws43", &leases);
  ASSERT_GE(w2, 0);
  EXPECT_TRUE(leases[w2]->Renew().ok());
  EXPECT_TRUE(leases[w2]->Release().ok());
}

TEST_P(LeaseTest, KeeperRenewsAndReportsATakeover) {
  constexpr int kTtl = 1;
  auto a = Lease::Acquire(*store_, ws_, Who("host-a", 111, "alice", kTtl));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::atomic<int> calls{0};
  Status seen;
  std::mutex mu;
  LeaseKeeper keeper(&a.value(), [&](const Status& why) {
    std::lock_guard<std::mutex> lock(mu);
    seen = why;
    ++calls;
  });
  // Well past the ttl: the keeper's renewals keep B out.
  std::this_thread::sleep_for(std::chrono::seconds(kTtl + kLeaseGraceSeconds + 2));
  EXPECT_GE(keeper.renewals(), 6u);
  EXPECT_FALSE(keeper.lost());
  auto b = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob"));
  EXPECT_TRUE(b.status().IsPreconditionFailed()) << b.status().ToString();
  // Someone overwrites the lease (a writer that ignored it): the next
  // renewal is refused and the keeper says so, once.
  ASSERT_TRUE(store_->PutBytes(LeaseKey(ws_), "{\"host\":\"intruder\"}", {}, nullptr).ok());
  const auto limit = steady_clock::now() + std::chrono::seconds(5);
  while (!keeper.lost() && steady_clock::now() < limit)
    std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(keeper.lost());
  keeper.Stop();
  EXPECT_EQ(calls.load(), 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(seen.IsPreconditionFailed()) << seen.ToString();
  EXPECT_NE(seen.message().find("intruder"), std::string::npos) << seen.message();
  EXPECT_TRUE(keeper.loss_reason().IsPreconditionFailed());
  EXPECT_FALSE(a->held());
}

TEST_P(LeaseTest, KeeperReportsLossWhenItCannotRenewWithinTheTtl) {
  FaultStore faulty(store_.get());
  constexpr int kTtl = 1;
  auto a = Lease::Acquire(faulty, ws_, Who("host-a", 111, "alice", kTtl));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  faulty.FailNext(StoreOp::kPut, 1000, Status::Unavailable("store unreachable (injected)"));
  std::atomic<bool> called{false};
  LeaseKeeper keeper(&a.value(), [&](const Status&) { called = true; });
  const auto start = steady_clock::now();
  while (!keeper.lost() && steady_clock::now() < start + std::chrono::seconds(5)) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(keeper.lost());
  EXPECT_TRUE(called.load());
  EXPECT_LE(steady_clock::now() - start, std::chrono::seconds(kTtl) + milliseconds(300))
      << "loss must be declared before the ttl runs out, not after";
  EXPECT_TRUE(keeper.loss_reason().IsUnavailable()) << keeper.loss_reason().ToString();
  EXPECT_GE(faulty.faults_injected(), 1u);
  EXPECT_FALSE(a->held());
}

TEST_P(LeaseTest, CorruptLeaseBlocksLikeAnUnknownHolderUntilItsAgeRunsOut) {
  ASSERT_TRUE(store_->PutBytes(LeaseKey(ws_), "not json {", {}, nullptr).ok());
  LeaseHolder holder;
  auto b = Lease::Acquire(*store_, ws_, Who("host-b", 222, "bob", 1), &holder);
  // Judged with our ttl (1 s) by the object's age: refused now, free soon.
  EXPECT_TRUE(b.status().IsPreconditionFailed()) << b.status().ToString();
  EXPECT_EQ(holder.host, "unknown-host");
  auto c = AcquireAfterExpiry(Who("host-b", 222, "bob", 1), steady_clock::now(), 0);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
}

TEST_P(LeaseTest, BadArgumentsAreRefused) {
  EXPECT_TRUE(Lease::Acquire(*store_, "../x", Who("h", 1, "u")).status().IsInvalidArgument());
  EXPECT_TRUE(Lease::Acquire(*store_, ws_, Who("h", 1, "u", 0)).status().IsInvalidArgument());
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(File, LeaseTest, ::testing::Values("file"), BackendName);
INSTANTIATE_TEST_SUITE_P(S3, LeaseTest, ::testing::Values("s3"), BackendName);

}  // namespace
}  // namespace ccfs
