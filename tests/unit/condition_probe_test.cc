// A store that ignores If-Match / If-None-Match is found before the first
// write and refused for writing (push, writable mounts), with reading still
// allowed; a store that honours them passes once and is remembered; the
// probe's scratch object never stays behind. The ignoring store is
// FaultStore::set_ignore_conditions over a local directory store.
#include "store/objects/condition_probe.h"

#include <gtest/gtest.h>

#include "fs/lifecycle/mount.h"
#include "fs_test_util.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

using fstest::TempDir;
using fstest::WriteFile;

// Describes itself as a remote store, so that verdicts are remembered.
class RemoteLookingStore : public FaultStore {
 public:
  using FaultStore::FaultStore;
  std::string Describe() const override { return "s3://probe-test-bucket (http://127.0.0.1:1)"; }
};

class ConditionProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(base.ok());
    base_ = std::move(base).value();
    WriteFile(dir_ / "src/settings.json", "{}\n");
  }

  size_t ObjectsUnder(const std::string& prefix) {
    ListOptions lo;
    lo.prefix = prefix;
    ListResult r;
    EXPECT_TRUE(base_->List(lo, &r).ok());
    return r.objects.size();
  }

  TempDir dir_;
  std::unique_ptr<ObjectStore> base_;
};

TEST_F(ConditionProbeTest, HonouringStorePassesAndLeavesNothing) {
  Status s = ProbeConditionalWrites(*base_, "ws");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ObjectsUnder("ws/"), 0u);
}

TEST_F(ConditionProbeTest, IgnoringStoreIsNamedAndLeavesNothing) {
  FaultStore ignoring(base_.get());
  ignoring.set_ignore_conditions(true);
  Status s = ProbeConditionalWrites(ignoring, "ws");
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_NE(s.message().find("ignores If-None-Match"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(base_->Describe()), std::string::npos) << s.ToString();
  EXPECT_EQ(ObjectsUnder("ws/"), 0u);
}

TEST_F(ConditionProbeTest, StoreIgnoringOnlyIfMatchIsFoundToo) {
  // If-None-Match honoured (the file store's own check), If-Match dropped:
  // the third PUT succeeds against a wrong ETag.
  struct OnlyIfMatchIgnored : public FaultStore {
    using FaultStore::FaultStore;
    Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                    ObjectInfo* info) override {
      PutOptions o = opts;
      o.if_match.clear();
      return FaultStore::PutBytes(key, body, o, info);
    }
  } only_if_match(base_.get());
  Status s = ProbeConditionalWrites(only_if_match, "ws");
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_NE(s.message().find("ignores If-Match"), std::string::npos) << s.ToString();
  EXPECT_EQ(ObjectsUnder("ws/"), 0u);
}

TEST_F(ConditionProbeTest, PushAndWritableMountAreRefusedReadOnlyMountIsNot) {
  // A workspace to mount (pushed through the honest store).
  PushOptions po;
  PushResult pr;
  ASSERT_TRUE(PushWorkspace(*base_, dir_ / "src", "ws", po, &pr).ok());
  ObjectInfo before;
  ASSERT_TRUE(base_->Head(TarballKey("ws"), &before).ok());

  FaultStore ignoring(base_.get());
  ignoring.set_ignore_conditions(true);
  po.force = true;
  Status s = PushWorkspace(ignoring, dir_ / "src", "ws", po, &pr);
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  ObjectInfo after;
  ASSERT_TRUE(base_->Head(TarballKey("ws"), &after).ok());
  EXPECT_EQ(after.etag, before.etag);  // nothing written

  for (bool read_only : {false, true}) {
    SCOPED_TRACE(read_only ? "read-only" : "writable");
    auto file = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(file.ok());
    auto wrapped = std::make_unique<FaultStore>(std::move(file).value());
    wrapped->set_ignore_conditions(true);
    MountOptions o;
    o.store_url = "file://" + (dir_ / "store");
    o.workspace = "ws";
    o.mountpoint = dir_ / "unused";
    o.cache_root = dir_ / (read_only ? "c-ro" : "c-rw");
    o.read_only = read_only;
    auto m = Mount::Prepare(std::move(wrapped), o);
    if (read_only) {
      EXPECT_TRUE(m.ok()) << m.status().ToString();
    } else {
      ASSERT_FALSE(m.ok());
      EXPECT_TRUE(m.status().IsNotSupported()) << m.status().ToString();
    }
  }
}

TEST_F(ConditionProbeTest, APassIsRememberedAFailureIsNot) {
  const std::string verdicts = dir_ / "verdicts";
  RemoteLookingStore store(base_.get());
  ASSERT_TRUE(EnsureConditionalWrites(store, "ws", verdicts).ok());
  const uint64_t puts = store.calls(StoreOp::kPut);
  EXPECT_GE(puts, 4u);
  ASSERT_TRUE(EnsureConditionalWrites(store, "ws", verdicts).ok());
  EXPECT_EQ(store.calls(StoreOp::kPut), puts);  // remembered: no probe

  RemoteLookingStore ignoring(base_.get());
  ignoring.set_ignore_conditions(true);
  const std::string other = dir_ / "verdicts-2";
  EXPECT_TRUE(EnsureConditionalWrites(ignoring, "ws", other).IsNotSupported());
  const uint64_t probed = ignoring.calls(StoreOp::kPut);
  EXPECT_TRUE(EnsureConditionalWrites(ignoring, "ws", other).IsNotSupported());
  EXPECT_GT(ignoring.calls(StoreOp::kPut), probed);  // probed again
  ignoring.set_ignore_conditions(false);             // the server got fixed
  EXPECT_TRUE(EnsureConditionalWrites(ignoring, "ws", other).ok());
}

}  // namespace
}  // namespace ccfs
