// Transcript sync wired into a Mount (fs/feeds/mount_sync.h), driven through
// Filesystem (no kernel mount) against an in-process reference sync server:
// writes to session and subagent transcripts reach the server, other files do
// not, names are followed across renames (of files and of directories above
// them), and dirty transcripts of an earlier mount go out at the next one.
#include <gtest/gtest.h>

#include "fs/feeds/mount_sync.h"
#include "fs/lifecycle/mount.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "sync_test_util.h"

namespace ccfs {
namespace {

using fstest::Resolve;
using fstest::WriteFile;
using testing::ApiProbe;
using testing::WaitFor;

constexpr const char* kSession = "11111111-2222-4333-8444-555555555555";

class FsMountSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    WriteFile(dir_ / "src/settings.json", "{}\n");
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    ASSERT_TRUE(PushWorkspace(**store, dir_ / "src", "ws", po, &pr).ok());
    server_ = testing::StartServer(dir_ / "server.db");
    ASSERT_NE(server_, nullptr);
  }

  std::unique_ptr<Mount> Open(bool sync = true) {
    auto store = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(store.ok());
    MountOptions o;
    o.store_url = "file://" + (dir_ / "store");
    o.workspace = "ws";
    o.mountpoint = dir_ / "unused-mountpoint";
    o.cache_root = dir_ / "cache";
    o.hydrate = HydrateMode::kLazy;
    if (sync) {
      o.sync_url = server_->url();
      o.sync_token = testing::kTestToken;
      o.sync_drain_timeout_s = 10;
    }
    auto m = Mount::Prepare(std::move(store).value(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  // Creates the directories of `rel` and the file; its inode.
  uint64_t Create(Filesystem& fs, const std::string& rel) {
    uint64_t dir = kRootIno;
    size_t pos = 0;
    NodeInfo n;
    for (size_t slash; (slash = rel.find('/', pos)) != std::string::npos; pos = slash + 1) {
      std::string name = rel.substr(pos, slash - pos);
      int err = fs.Lookup(dir, name, &n);
      if (err == ENOENT) err = fs.MakeDir(dir, name, 0755, &n);
      EXPECT_EQ(err, 0) << rel;
      dir = n.ino;
    }
    EXPECT_EQ(fs.CreateFile(dir, rel.substr(pos), 0644, &n), 0) << rel;
    return n.ino;
  }

  static void Append(Filesystem& fs, uint64_t ino, const std::string& text) {
    NodeInfo n;
    ASSERT_EQ(fs.GetAttr(ino, &n), 0);
    ASSERT_EQ(fs.Write(ino, n.size, text.data(), text.size()), 0);
  }

  fstest::TempDir dir_;
  std::unique_ptr<SyncServer> server_;
};

std::vector<std::string> Lines(std::initializer_list<const char*> l) {
  return {l.begin(), l.end()};
}

TEST_F(FsMountSyncTest, TranscriptWritesReachTheServerAndOtherFilesDoNot) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  std::string main = std::string("projects/-home-u-app/") + kSession + ".jsonl";
  std::string agent = std::string("projects/-home-u-app/") + kSession + "/subagents/agent-a1.jsonl";
  uint64_t t = Create(fs, main);
  uint64_t a = Create(fs, agent);
  uint64_t other = Create(fs, "projects/-home-u-app/notes.txt");
  Append(fs, t, "{\"type\":\"user\",\"n\":1}\n{\"n\":2}\n{\"partial\":");
  Append(fs, a, "{\"agent\":1}\n");
  Append(fs, other, "not a transcript\n");

  ApiProbe api(*server_);
  EXPECT_TRUE(WaitFor([&] { return api.Lines(kSession, "agent-a1.jsonl").size() == 1; }));
  EXPECT_TRUE(
      WaitFor([&] { return api.Lines(kSession, std::string(kSession) + ".jsonl").size() == 2; }));
  // The partial line goes once it is complete.
  Append(fs, t, "3}\n");
  EXPECT_TRUE(WaitFor([&] {
    return api.Lines(kSession, std::string(kSession) + ".jsonl") ==
           Lines({"{\"type\":\"user\",\"n\":1}", "{\"n\":2}", "{\"partial\":3}"});
  }));
  // A truncate is a content change too (nothing to send, but noticed).
  SetAttrRequest trunc;
  trunc.set_size = true;
  trunc.size = 0;
  NodeInfo n;
  ASSERT_EQ(fs.SetAttr(other, trunc, &n), 0);

  nlohmann::json st = m->StatusJson();
  ASSERT_TRUE(st.contains("sync")) << st.dump();
  EXPECT_TRUE(WaitFor([&] {
    st = m->StatusJson()["sync"];
    return st["pending_lines"] == 0 && st["queued_files"] == 0 && st["files"].size() == 2;
  })) << st.dump();
  EXPECT_EQ(st["state"], "ok");
  EXPECT_EQ(st["url"], server_->url());
  for (const auto& f : st["files"]) {
    EXPECT_NE(f["path"].get<std::string>().find(kSession), std::string::npos);
    EXPECT_EQ(f["lines_written"], f["lines_acked"]);
  }
  std::string text = DescribeSyncStatusJson(st);
  EXPECT_NE(text.find("transcript sync to " + server_->url() + ": ok (2 files, 0 lines pending)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(testing::kTestToken), std::string::npos);
  EXPECT_EQ(st.dump().find(testing::kTestToken), std::string::npos);
}

TEST_F(FsMountSyncTest, FollowsRenamesOfFilesAndDirectories) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  ApiProbe api(*server_);
  // A transcript written under a temporary name, then renamed into place.
  uint64_t tmp = Create(fs, "projects/-p/tmp.txt");
  Append(fs, tmp, "{\"renamed\":1}\n");
  uint64_t p = Resolve(fs, "projects/-p");
  std::string name = std::string(kSession) + ".jsonl";
  ASSERT_EQ(fs.Rename(p, "tmp.txt", p, name, 0), 0);
  EXPECT_TRUE(WaitFor([&] { return api.Lines(kSession, name) == Lines({"{\"renamed\":1}"}); }));

  // Its project directory renamed: later writes to the same inode go by the
  // new path.
  uint64_t agent = Create(fs, std::string("projects/-p/") + kSession + "/subagents/agent-b.jsonl");
  Append(fs, agent, "{\"a\":1}\n");
  EXPECT_TRUE(WaitFor([&] { return api.Lines(kSession, "agent-b.jsonl").size() == 1; }));
  uint64_t projects = Resolve(fs, "projects");
  ASSERT_EQ(fs.Rename(projects, "-p", projects, "-q", 0), 0);
  Append(fs, agent, "{\"a\":2}\n");
  nlohmann::json st;
  EXPECT_TRUE(WaitFor([&] {
    st = m->StatusJson()["sync"];
    for (const auto& f : st["files"]) {
      if (f["path"] == std::string("projects/-q/") + kSession + "/subagents/agent-b.jsonl") {
        return f["lines_acked"] == 2;
      }
    }
    return false;
  })) << st.dump();
  // Same session and file name: the server's file continues.
  EXPECT_EQ(api.Lines(kSession, "agent-b.jsonl"), Lines({"{\"a\":1}", "{\"a\":2}"}));
}

TEST_F(FsMountSyncTest, DirtyTranscriptsOfAnEarlierMountGoOutAtTheNext) {
  std::string rel = std::string("projects/-p/") + kSession + ".jsonl";
  {
    auto m = Open(/*sync=*/false);  // written while nothing synced (or before a crash)
    ASSERT_NE(m, nullptr);
    uint64_t t = Create(*m->filesystem(), rel);
    Append(*m->filesystem(), t, "{\"before\":1}\n{\"before\":2}\n");
    ASSERT_EQ(m->filesystem()->Fsync(t, false), 0);
  }  // dropped without a flush: the cache keeps the dirty file
  auto m = Open();
  ASSERT_NE(m, nullptr);
  ApiProbe api(*server_);
  EXPECT_TRUE(WaitFor([&] {
    return api.Lines(kSession, std::string(kSession) + ".jsonl") ==
           Lines({"{\"before\":1}", "{\"before\":2}"});
  }));
}

TEST(MountSyncFlags, ResolveTheTokenAndCheckTheUrl) {
  fstest::TempDir dir;
  WriteFile(dir / "token", "  secret-token-xyz \n", 0600);
  MountOptions o;
  EXPECT_TRUE(ConfigureMountSync("", "", 10, &o).ok());
  EXPECT_TRUE(o.sync_url.empty());
  EXPECT_TRUE(ConfigureMountSync("", dir / "token", 10, &o).IsInvalidArgument());
  EXPECT_TRUE(ConfigureMountSync("ftp://x", dir / "token", 10, &o).IsInvalidArgument());
  EXPECT_TRUE(ConfigureMountSync("http://x", dir / "token", -1, &o).IsInvalidArgument());
  Status missing = ConfigureMountSync("http://x", dir / "nope", 10, &o);
  EXPECT_FALSE(missing.ok());
  ASSERT_TRUE(ConfigureMountSync("http://127.0.0.1:9", dir / "token", 2.5, &o).ok());
  EXPECT_EQ(o.sync_token, "secret-token-xyz");
  EXPECT_EQ(o.sync_drain_timeout_s, 2.5);
  EXPECT_EQ(SyncUrlForDisplay("https://u:pw@sync.example.com/x@y"), "https://sync.example.com/x@y");
  EXPECT_EQ(SyncUrlForDisplay("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
}

}  // namespace
}  // namespace ccfs
