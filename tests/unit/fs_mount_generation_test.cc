// A mount of a past generation (`ccfs mount WS@GEN --read-only`,
// MountOptions::generation) over the file:// store, driven through its
// Filesystem (no kernel):
// - it shows that generation's tree, not the current one, and refuses every
//   write with EROFS;
// - nothing it does writes to the store (no PUT, copy or delete: no flush,
//   no lease, no root), and the current generation stays;
// - its cache is its own: it records "ws@GEN", so neither it nor a mount of
//   the current workspace can take the other's cache, and unflushed changes
//   in the current workspace's cache survive a past-generation mount;
// - a writable past generation, a generation history does not hold and a
//   workspace without history (v1) are refused with errors that say so.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "fs/lifecycle/mount.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "store/layout/root_store.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/workspace/generations.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::PutFile;
using fstest::ReadAll;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

class MountGenerationTest : public ::testing::Test {
 protected:
  // Generation 1: the pushed tree, adopted; 2 and 3: flushes of a writable
  // mount.
  void SetUp() override {
    const std::string src = dir_ / "src";
    WriteFile(src + "/settings.json", "{\"gen\": 1}\n");
    WriteFile(src + "/CLAUDE.md", "# memory\n");
    WriteFile(src + "/agents/a.md", "agent a\n");
    WriteFile(src + "/projects/-home-dev-x/s1.jsonl", "{\"n\":1}\n", 0600);
    auto store = Store();
    PushOptions push;
    push.lease_ttl_seconds = 0;
    PushResult pushed;
    Status s = PushWorkspace(*store, src, "ws", push, &pushed);
    ASSERT_TRUE(s.ok()) << s.ToString();
    HistoryCommitOptions upgrade;
    upgrade.lease_ttl_seconds = 0;
    AdoptReport adopted;
    ASSERT_TRUE(UpgradeWorkspace(*store, "ws", upgrade, &adopted).ok());

    auto writer = fstest::PrepareFileMount(fstest::FileMountOptions(dir_, "writer"));
    ASSERT_TRUE(writer);
    Filesystem& fs = *writer->filesystem();
    ASSERT_EQ(PutFile(fs, "settings.json", "{\"gen\": 2}\n"), 0);
    ASSERT_EQ(PutFile(fs, "gen2-only.txt", "two"), 0);
    ASSERT_EQ(fs.Unlink(kRootIno, "CLAUDE.md"), 0);
    Flush(*writer, 2);
    ASSERT_EQ(PutFile(fs, "settings.json", "{\"gen\": 3}\n"), 0);
    ASSERT_EQ(fs.Unlink(kRootIno, "gen2-only.txt"), 0);
    ASSERT_EQ(PutFile(fs, "gen3-only.txt", "three"), 0);
    Flush(*writer, 3);
  }

  static void Flush(Mount& m, uint64_t want_generation) {
    FlushReport r;
    Status s = m.Flush(FlushOptions{}, &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(r.generation, want_generation);
  }

  std::unique_ptr<ObjectStore> Store() {
    auto s = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  MountOptions PastOptions(uint64_t generation, const std::string& cache) {
    MountOptions o = fstest::FileMountOptions(dir_, cache);
    o.generation = generation;
    o.read_only = true;
    return o;
  }

  // Mount::Prepare through a FaultStore (*counter) that counts the calls.
  // The counter belongs to the fixture: a refused Prepare destroys the store
  // it was given, and the test still reads the counts afterwards.
  Result<std::unique_ptr<Mount>> Open(const MountOptions& o, FaultStore** counter = nullptr) {
    counters_.push_back(std::make_unique<FaultStore>(Store()));
    if (counter != nullptr) *counter = counters_.back().get();
    return Mount::Prepare(std::make_unique<FaultStore>(counters_.back().get()), o);
  }

  uint64_t CurrentGeneration() {
    CurrentRoot root;
    Status s = ReadRoot(*Store(), "ws", &root);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return root.root.generation;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<FaultStore>> counters_;  // outlive every mount of a test
};

TEST_F(MountGenerationTest, ShowsThatGenerationReadOnlyAndWritesNothing) {
  FaultStore* calls = nullptr;
  auto m = Open(PastOptions(2, "past"), &calls);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Filesystem& fs = *(*m)->filesystem();
  EXPECT_EQ(ReadAll(fs, "settings.json"), "{\"gen\": 2}\n");
  EXPECT_EQ(ReadAll(fs, "gen2-only.txt"), "two");
  EXPECT_EQ(ReadAll(fs, "agents/a.md"), "agent a\n");
  EXPECT_EQ(ReadAll(fs, "projects/-home-dev-x/s1.jsonl"), "{\"n\":1}\n");
  int err = 0;
  EXPECT_EQ(Resolve(fs, "CLAUDE.md", &err), 0u);
  EXPECT_EQ(err, ENOENT) << "removed in generation 2";
  EXPECT_EQ(Resolve(fs, "gen3-only.txt", &err), 0u);
  EXPECT_EQ(err, ENOENT) << "added in generation 3";

  // Every kind of change is refused.
  const uint64_t settings = Resolve(fs, "settings.json");
  ASSERT_NE(settings, 0u);
  EXPECT_EQ(fs.Write(settings, 0, "x", 1), EROFS);
  NodeInfo n;
  EXPECT_EQ(fs.CreateFile(kRootIno, "new.txt", 0644, &n), EROFS);
  EXPECT_EQ(fs.MakeDir(kRootIno, "d", 0755, &n), EROFS);
  EXPECT_EQ(fs.Unlink(kRootIno, "settings.json"), EROFS);
  EXPECT_EQ(fs.Rename(kRootIno, "settings.json", kRootIno, "s.json", 0), EROFS);
  SetAttrRequest trunc;
  trunc.set_size = true;
  trunc.size = 0;
  EXPECT_EQ(fs.SetAttr(settings, trunc, &n), EROFS);
  EXPECT_EQ(ReadAll(fs, "settings.json"), "{\"gen\": 2}\n");

  nlohmann::json status = (*m)->StatusJson();
  EXPECT_EQ(status.value("generation", uint64_t{0}), 2u);
  EXPECT_TRUE(status.value("read_only", false));
  EXPECT_EQ(status.count("lease"), 0u);
  FlushReport r;
  ASSERT_TRUE((*m)->Flush(FlushOptions{}, &r).ok());
  EXPECT_TRUE(r.nothing_to_flush);
  ASSERT_TRUE((*m)->Finish(&r).ok());
  EXPECT_EQ(calls->calls(StoreOp::kPut), 0u) << "no PUT (root, lease, probe) and no copy";
  EXPECT_EQ(calls->calls(StoreOp::kDelete), 0u);
  EXPECT_EQ(CurrentGeneration(), 3u);

  // The current generation is generation 3 still, and a past mount of it by
  // number shows the same tree as the workspace.
  auto g3 = Open(PastOptions(3, "past3"));
  ASSERT_TRUE(g3.ok()) << g3.status().ToString();
  EXPECT_EQ(ReadAll(*(*g3)->filesystem(), "settings.json"), "{\"gen\": 3}\n");
  EXPECT_EQ(ReadAll(*(*g3)->filesystem(), "gen3-only.txt"), "three");
}

TEST_F(MountGenerationTest, RemountReusesItsOwnCache) {
  {
    auto m = Open(PastOptions(1, "past"));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(ReadAll(*(*m)->filesystem(), "CLAUDE.md"), "# memory\n");
  }
  FaultStore* calls = nullptr;
  auto again = Open(PastOptions(1, "past"), &calls);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE((*again)->StatusJson().value("prepared", std::string()).find("reused the cache"),
            std::string::npos)
      << (*again)->StatusJson().dump();
  EXPECT_EQ(ReadAll(*(*again)->filesystem(), "settings.json"), "{\"gen\": 1}\n");
  EXPECT_EQ(ReadAll(*(*again)->filesystem(), "CLAUDE.md"), "# memory\n");
  EXPECT_EQ(calls->calls(StoreOp::kPut), 0u);
}

TEST_F(MountGenerationTest, CacheIsNotSharedWithTheCurrentWorkspace) {
  MountOptions current = fstest::FileMountOptions(dir_, "current");
  EXPECT_EQ(CacheName(current), "ws");
  EXPECT_EQ(CacheName(PastOptions(2, "x")), "ws@2");
  MountOptions defaulted = PastOptions(2, "");
  defaulted.cache_root.clear();
  EXPECT_EQ(std::filesystem::path(DefaultCacheRoot(defaulted.store_url, CacheName(defaulted)))
                .filename()
                .string(),
            "ws@2");
  {
    // The current workspace's mount goes away with a change not flushed.
    auto m = fstest::PrepareFileMount(current);
    ASSERT_TRUE(m);
    ASSERT_EQ(PutFile(*m->filesystem(), "unflushed.txt", "mine"), 0);
  }
  // A past generation pointed at that cache is refused and leaves it be.
  auto past = Open(PastOptions(2, "current"));
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("belongs to workspace 'ws'"), std::string::npos)
      << past.status().ToString();
  {
    auto again = fstest::PrepareFileMount(current);
    ASSERT_TRUE(again);
    EXPECT_EQ(ReadAll(*again->filesystem(), "unflushed.txt"), "mine");
    EXPECT_TRUE(again->table()->has_changes());
    EXPECT_EQ(ReadAll(*again->filesystem(), "settings.json"), "{\"gen\": 3}\n");
  }
  // The other way round: a past generation's cache is not the workspace's.
  {
    auto g2 = Open(PastOptions(2, "g2"));
    ASSERT_TRUE(g2.ok()) << g2.status().ToString();
    EXPECT_EQ(ReadAll(*(*g2)->filesystem(), "settings.json"), "{\"gen\": 2}\n");
  }
  MountOptions onto_past = fstest::FileMountOptions(dir_, "g2");
  auto store = Store();
  auto refused = Mount::Prepare(std::move(store), onto_past);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("belongs to workspace 'ws@2'"), std::string::npos)
      << refused.status().ToString();
  // Nor is another generation's.
  auto g1 = Open(PastOptions(1, "g2"));
  ASSERT_FALSE(g1.ok());
  EXPECT_NE(g1.status().message().find("'ws@2'"), std::string::npos) << g1.status().ToString();
  EXPECT_EQ(CurrentGeneration(), 3u);
}

TEST_F(MountGenerationTest, RefusesWritableUnknownAndHistorylessGenerations) {
  MountOptions writable = PastOptions(2, "w");
  writable.read_only = false;
  writable.lease_ttl_seconds = 30;
  FaultStore* calls = nullptr;
  auto m = Open(writable, &calls);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsInvalidArgument()) << m.status().ToString();
  EXPECT_NE(m.status().message().find("read-only"), std::string::npos) << m.status().ToString();
  EXPECT_EQ(calls->calls(StoreOp::kPut), 0u) << "no lease, no probe";

  m = Open(PastOptions(9, "nine"));
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
  EXPECT_NE(m.status().message().find("no generation 9"), std::string::npos)
      << m.status().ToString();

  // A v1 workspace has no history.
  auto store = Store();
  PushOptions push;
  push.lease_ttl_seconds = 0;
  PushResult pushed;
  ASSERT_TRUE(PushWorkspace(*store, dir_ / "src", "v1ws", push, &pushed).ok());
  MountOptions v1 = PastOptions(1, "v1");
  v1.workspace = "v1ws";
  m = Open(v1, &calls);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
  EXPECT_NE(m.status().message().find("ccfs upgrade v1ws"), std::string::npos)
      << m.status().ToString();
  EXPECT_EQ(calls->calls(StoreOp::kPut), 0u) << "a read-only mount adopts nothing";
  CurrentRoot none;
  EXPECT_TRUE(ReadRoot(*Store(), "v1ws", &none).IsNotFound());

  m = Open(PastOptions(1, "nosuch-cache"));
  ASSERT_TRUE(m.ok()) << "generation 1 is the adoption: " << m.status().ToString();
  EXPECT_EQ(ReadAll(*(*m)->filesystem(), "settings.json"), "{\"gen\": 1}\n");
}

}  // namespace
}  // namespace ccfs
