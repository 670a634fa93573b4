// MountLease (fs/lifecycle/mount_lease.h) on a file:// store: refusal naming the
// holder, the fast reclaim of a crashed mount's lease from the same cache,
// and a flush refused as a conflict once the lease was taken over.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "fs/lifecycle/mount_lease.h"
#include "fs/tree/cache_dir.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

using fstest::ReadFile;
using fstest::TempDir;
using fstest::WriteFile;

class MountLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(MakeDirs(dir_ / "cache-a", 0700).ok());
    ASSERT_TRUE(MakeDirs(dir_ / "cache-b", 0700).ok());
  }

  Result<std::unique_ptr<MountLease>> Take(const std::string& cache, int ttl = 30) {
    return MountLease::Acquire(store_.get(), "ws", dir_ / cache, ttl);
  }

  TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(MountLeaseTest, SecondWriterIsRefusedNamingTheHolder) {
  auto a = Take("cache-a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = Take("cache-b");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsUnavailable()) << b.status().ToString();
  const std::string& msg = b.status().message();
  EXPECT_NE(msg.find("held writable by"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos) << msg;
  EXPECT_NE(msg.find(" since 20"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--read-only"), std::string::npos) << msg;
  EXPECT_TRUE((*a)->StatusJson()["held"].get<bool>());
  ASSERT_TRUE((*a)->Release().ok());
  auto c = Take("cache-b");
  ASSERT_TRUE(c.ok()) << c.status().ToString();  // a released lease is free
}

TEST_F(MountLeaseTest, ACrashedMountsLeaseIsReclaimedFromTheSameCacheOnly) {
  // A mount of cache-a took the lease and was SIGKILLed: the lease stays,
  // unexpired, and cache-a's record names its holder id.
  auto crashed = Lease::Acquire(*store_, "ws", LeaseOptions{});
  ASSERT_TRUE(crashed.ok()) << crashed.status().ToString();
  crashed->Abandon();
  WriteFile(dir_ / "cache-a/lease.json", "{\"holder_id\":\"" + crashed->self().holder_id + "\"}\n");
  EXPECT_FALSE(Take("cache-b").ok());  // another cache must wait for the ttl
  auto again = Take("cache-a");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->CheckBeforeFlush().ok());
}

TEST_F(MountLeaseTest, FlushIsAConflictAfterATakeoverAndOkOnceFreeAgain) {
  auto a = Take("cache-a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->CheckBeforeFlush().ok());
  // Another writer takes it over (as after a SIGSTOP longer than the ttl;
  // reclaiming by holder id stands in for the expiry).
  LeaseOptions o;
  o.reclaim_holder_id =
      nlohmann::json::parse(ReadFile(dir_ / "cache-a/lease.json"))["holder_id"].get<std::string>();
  auto thief = Lease::Acquire(*store_, "ws", o);
  ASSERT_TRUE(thief.ok()) << thief.status().ToString();

  Status s = (*a)->CheckBeforeFlush();
  ASSERT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_NE(s.message().find("conflict"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("lost its lease"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("flush --recover ws"), std::string::npos) << s.message();
  nlohmann::json st = (*a)->StatusJson();
  EXPECT_TRUE(st["lost"].get<bool>()) << st.dump();
  EXPECT_FALSE(st["held"].get<bool>()) << st.dump();

  // Once the other writer releases it, the next flush takes it again.
  ASSERT_TRUE(thief->Release().ok());
  s = (*a)->CheckBeforeFlush();
  ASSERT_TRUE(s.ok()) << s.ToString();
  st = (*a)->StatusJson();
  EXPECT_TRUE(st["held"].get<bool>()) << st.dump();
  EXPECT_EQ(st["reacquired"].get<int>(), 1);
}

}  // namespace
}  // namespace ccfs
