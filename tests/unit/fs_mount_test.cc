// Hydration and flush of a Mount against the file:// store, driven through
// Filesystem (no kernel mount): lazy reads fetch only their blocks, the
// background stream fills everything, changes flush and read back from a
// fresh cache, conflicts keep local state, crashes resume.
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "fs/hydrate/remote_tree.h"
#include "fs/lifecycle/mount.h"
#include "fs_test_util.h"
#include "store/archive/tar_scanner.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

using fstest::PutFile;
using fstest::RandomBytes;
using fstest::ReadAll;
using fstest::ReadFile;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr const char* kTranscript = "projects/-home-dev-x/s1.jsonl";

class FsMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = "file://" + (dir_ / "store");
    src_ = dir_ / "src";
    WriteFile(src_ + "/settings.json", "{\"model\": \"sonnet\"}\n");
    WriteFile(src_ + "/.claude.json", "{\"numStartups\": 1}\n", 0600);
    WriteFile(src_ + "/CLAUDE.md", "# memory\n");
    WriteFile(src_ + "/debug/.keep", "");
    // Incompressible bulk: several 1 MiB tarball blocks.
    for (int i = 0; i < 6; ++i) {
      WriteFile(src_ + "/file-history/h" + std::to_string(i), RandomBytes(700 << 10, i));
    }
    for (int i = 0; i < 40; ++i) {
      WriteFile(src_ + "/plugins/p/f" + std::to_string(i) + ".md", "plugin " + std::to_string(i));
    }
    WriteFile(src_ + "/" + kTranscript, "{\"type\":\"user\"}\n", 0600);
    ::symlink("../CLAUDE.md", (src_ + "/debug/latest").c_str());
    Push();
  }

  void Push(const std::string& ws = "ws") {
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    Status s = PushWorkspace(**store, src_, ws, po, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Mount> Open(const std::string& cache, HydrateMode mode = HydrateMode::kLazy,
                              const std::string& ws = "ws") {
    auto store = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(store.ok());
    MountOptions o;
    o.store_url = url_;
    o.workspace = ws;
    o.mountpoint = dir_ / "unused-mountpoint";
    o.cache_root = dir_ / cache;
    o.hydrate = mode;
    auto m = Mount::Prepare(std::move(store).value(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  Status Flush(Mount& m, bool force = false) {
    FlushOptions fo;
    fo.force = force;
    FlushReport report;
    return m.Flush(fo, &report);
  }

  TempDir dir_;
  std::string url_, src_;
};

TEST_F(FsMountTest, LazyReadFetchesOnlyTheBlocksOfThatFile) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  uint64_t after_mount = m->store()->stats().bytes_received;
  EXPECT_LT(after_mount, 64u << 10);  // trailer + index only
  EXPECT_EQ(ReadAll(*m->filesystem(), ".claude.json"), "{\"numStartups\": 1}\n");
  uint64_t one_file = m->store()->stats().bytes_received - after_mount;
  EXPECT_GT(one_file, 0u);
  EXPECT_LT(one_file, 1200u << 10);  // one block, not the 4+ MiB workspace
  // A neighbour in the same block came along for free.
  EXPECT_EQ(ReadAll(*m->filesystem(), "CLAUDE.md"), "# memory\n");
  EXPECT_EQ(m->store()->stats().bytes_received - after_mount, one_file);
  EXPECT_EQ(ReadAll(*m->filesystem(), "settings.json"), "{\"model\": \"sonnet\"}\n");
  EXPECT_EQ(ReadAll(*m->filesystem(), "file-history/h3"), RandomBytes(700 << 10, 3));
  EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), "{\"type\":\"user\"}\n");
  std::string target;
  ASSERT_EQ(m->filesystem()->Readlink(Resolve(*m->filesystem(), "debug/latest"), &target), 0);
  EXPECT_EQ(target, "../CLAUDE.md");
  EXPECT_EQ(m->filesystem()->Readlink(Resolve(*m->filesystem(), "CLAUDE.md"), &target), EINVAL);
}

TEST_F(FsMountTest, BackgroundStreamHydratesEverything) {
  auto m = Open("c1", HydrateMode::kBackground);
  ASSERT_NE(m, nullptr);
  m->hydrator()->StartBackground();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (m->StatusJson()["remote_files"].get<size_t>() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto st = m->StatusJson();
  ASSERT_EQ(st["remote_files"].get<size_t>(), 0u);
  // Roughly one pass over the data: the tarball plus the transcript.
  EXPECT_LT(st["store_stats"]["bytes_received"].get<uint64_t>(), 6u << 20);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(ReadAll(*m->filesystem(), "file-history/h" + std::to_string(i)),
              RandomBytes(700 << 10, i));
  }
}

TEST_F(FsMountTest, ChangesFlushAndReadBackFromAFreshCache) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  ASSERT_EQ(PutFile(fs, ".claude.json.tmp", "{\"numStartups\": 2}\n"), 0);
  ASSERT_EQ(fs.Rename(kRootIno, ".claude.json.tmp", kRootIno, ".claude.json", 0), 0);
  uint64_t t = Resolve(fs, kTranscript);
  NodeInfo n;
  fs.GetAttr(t, &n);
  std::string line = "{\"type\":\"assistant\"}\n";
  ASSERT_EQ(fs.Write(t, n.size, line.data(), line.size()), 0);
  ASSERT_EQ(PutFile(fs, "projects/-home-dev-x/s2.jsonl", "{\"new\":1}\n"), 0);
  ASSERT_EQ(fs.Unlink(Resolve(fs, "plugins/p"), "f7.md"), 0);
  NodeInfo d;
  ASSERT_EQ(fs.MakeDir(kRootIno, "todos", 0755, &d), 0);
  ASSERT_EQ(fs.MakeSymlink(Resolve(fs, "debug"), "abs", "/etc/passwd", &d), 0);
  SetAttrRequest trunc;
  trunc.set_size = true;
  trunc.size = 3;
  ASSERT_EQ(fs.SetAttr(Resolve(fs, "file-history/h1"), trunc, &d), 0);
  FlushReport report;
  Status s = m->Flush(FlushOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(report.tarball_written);
  EXPECT_EQ(report.transcripts_uploaded, 2u);
  EXPECT_EQ(report.skipped.size(), 1u);  // the absolute symlink cannot be stored
  EXPECT_TRUE(report.clean_after);
  EXPECT_NE(report.new_etag, report.base_etag);

  // A second flush has nothing to do.
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_TRUE(report.nothing_to_flush);

  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  Filesystem& f2 = *fresh->filesystem();
  EXPECT_EQ(ReadAll(f2, ".claude.json"), "{\"numStartups\": 2}\n");
  EXPECT_EQ(ReadAll(f2, kTranscript), "{\"type\":\"user\"}\n" + line);
  EXPECT_EQ(ReadAll(f2, "projects/-home-dev-x/s2.jsonl"), "{\"new\":1}\n");
  EXPECT_EQ(ReadAll(f2, "file-history/h1"), RandomBytes(700 << 10, 1).substr(0, 3));
  EXPECT_EQ(ReadAll(f2, "file-history/h2"), RandomBytes(700 << 10, 2));
  EXPECT_EQ(Resolve(f2, ".claude.json.tmp"), 0u);
  EXPECT_EQ(Resolve(f2, "plugins/p/f7.md"), 0u);
  EXPECT_NE(Resolve(f2, "todos"), 0u);
  EXPECT_EQ(Resolve(f2, "debug/abs"), 0u);
  NodeInfo mode;
  f2.GetAttr(Resolve(f2, ".claude.json"), &mode);
  EXPECT_EQ(mode.mode, 0644u);  // the temp file's mode came with the rename
}

TEST_F(FsMountTest, FlushCopiesUnchangedBlocksAsCompressedBytes) {
  auto m = Open("c1");  // lazy: nothing hydrated
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  ASSERT_EQ(PutFile(fs, "settings.json", "{\"model\": \"opus\"}\n"), 0);
  ASSERT_EQ(PutFile(fs, "zz-new.md", "new"), 0);
  FlushReport report;
  Status s = m->Flush(FlushOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(report.tarball_written);
  EXPECT_GE(report.blocks_copied, 4u);  // the big incompressible files' blocks
  EXPECT_GT(report.bytes_copied, 3u << 20);
  // Small files sharing a block with settings.json are packed again; the rest is copied.
  EXPECT_LT(report.entries_rewritten, 50u);

  // The object is an ordinary tar.gz whose stream matches its index.
  std::string tgz = dir_ / "new.tgz";
  {
    std::string body;
    ASSERT_TRUE(GetToString(*m->store(), TarballKey("ws"), {}, &body).ok());
    fstest::WriteFile(tgz, body);
  }
  TarIndex scanned;
  ASSERT_TRUE(IndexTarGzFile(tgz, &scanned, nullptr).ok());
  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  Filesystem& f2 = *fresh->filesystem();
  size_t files = 0;
  for (const TarEntry& e : scanned.entries) {
    if (e.type != EntryType::kFile) continue;
    ++files;
    std::string want = e.path == "settings.json" ? "{\"model\": \"opus\"}\n"
                       : e.path == "zz-new.md"   ? "new"
                                                 : ReadFile(src_ + "/" + e.path);
    EXPECT_EQ(ReadAll(f2, e.path), want) << e.path;
  }
  EXPECT_GT(files, 40u);
  EXPECT_EQ(ReadAll(f2, "file-history/h5"), RandomBytes(700 << 10, 5));
}

TEST_F(FsMountTest, ConflictKeepsEverythingLocalAndForceOverwrites) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->hydrator()->HydrateTarballMembers().ok());  // as the background stream does
  ASSERT_EQ(PutFile(*m->filesystem(), "mine.txt", "mine"), 0);
  // Another machine replaced the workspace meanwhile, with a tarball of
  // another tool (no ccfs index): that cannot be merged with.
  WriteFile(src_ + "/theirs.txt", "theirs");
  std::string tgz = dir_ / "theirs.tgz";
  ASSERT_EQ(std::system(("tar czf " + tgz + " -C " + src_ + " .").c_str()), 0);
  ASSERT_TRUE(m->store()->PutFile(TarballKey("ws"), tgz, {}, nullptr).ok());
  FlushReport report;
  Status s = m->Flush(FlushOptions{}, &report);
  ASSERT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_NE(s.message().find("conflict"), std::string::npos);
  EXPECT_NE(s.message().find("--force"), std::string::npos);
  EXPECT_EQ(ReadAll(*m->filesystem(), "mine.txt"), "mine");
  EXPECT_TRUE(m->StatusJson()["local_changes"].get<bool>());

  // The state survives the process too.
  m.reset();
  m = Open("c1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ReadAll(*m->filesystem(), "mine.txt"), "mine");
  EXPECT_TRUE(m->Flush(FlushOptions{}, &report).IsPreconditionFailed());
  Status forced = Flush(*m, /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.ToString();
  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "mine.txt"), "mine");
}

TEST_F(FsMountTest, TranscriptAppendedAlikeOnBothSidesMerges) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (Mount* m : {a.get(), b.get()}) {
    Filesystem& fs = *m->filesystem();
    uint64_t t = Resolve(fs, kTranscript);
    NodeInfo n;
    fs.GetAttr(t, &n);
    ASSERT_EQ(fs.Write(t, n.size, "x\n", 2), 0);
  }
  ASSERT_TRUE(Flush(*a).ok());
  // The same bytes on both sides: merged, no conflict (fs_flush_merge_test.cc has the rest).
  FlushReport report;
  ASSERT_TRUE(b->Flush(FlushOptions{}, &report).ok());
  EXPECT_EQ(report.merge_rounds, 1u);
  EXPECT_TRUE(report.conflicts.empty());
}

TEST_F(FsMountTest, NewWorkspaceIsCreatedByItsFirstFlush) {
  auto m = Open("cn", HydrateMode::kLazy, "fresh-ws");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->StatusJson()["files"].get<size_t>(), 0u);
  FlushReport report;
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_TRUE(report.nothing_to_flush);  // nothing written: nothing created
  ASSERT_EQ(PutFile(*m->filesystem(), "settings.json", "{}"), 0);
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_TRUE(report.tarball_written);
  ObjectInfo info;
  ASSERT_TRUE(m->store()->Head(TarballKey("fresh-ws"), &info).ok());
  EXPECT_EQ(info.etag, report.new_etag);
  // A second "new" mount of it elsewhere now conflicts instead of clobbering.
}

TEST_F(FsMountTest, UnflushedWritesSurviveACrash) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(PutFile(*m->filesystem(), "notes.md", "first"), 0);
  uint64_t ino = Resolve(*m->filesystem(), "notes.md");
  ASSERT_EQ(m->filesystem()->Write(ino, 5, " second", 7), 0);  // size not persisted yet
  ASSERT_EQ(m->filesystem()->Fsync(ino, false), 0);
  m.reset();  // gone without a flush, as after SIGKILL
  m = Open("c1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ReadAll(*m->filesystem(), "notes.md"), "first second");
  EXPECT_NE(m->StatusJson()["prepared"].get<std::string>().find("resumed"), std::string::npos);
  ASSERT_TRUE(Flush(*m).ok());
  auto fresh = Open("c2");
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "notes.md"), "first second");
}

// A hydrated file is written to the cache without a sync: a power loss can
// leave it short. It must be fetched again, never taken for a change and
// uploaded over the store's copy.
TEST_F(FsMountTest, ACachedFileCutShortByAPowerLossIsFetchedAgainNotUploaded) {
  uint64_t ino = 0;
  {
    auto m = Open("c1");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(ReadAll(*m->filesystem(), "CLAUDE.md"), "# memory\n");
    ino = Resolve(*m->filesystem(), "CLAUDE.md");
  }
  ASSERT_EQ(::truncate((dir_ / "c1/content/" + std::to_string(ino)).c_str(), 3), 0);
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ReadAll(*m->filesystem(), "CLAUDE.md"), "# memory\n");
  ASSERT_EQ(PutFile(*m->filesystem(), "new.md", "x"), 0);  // something to flush
  ASSERT_TRUE(Flush(*m).ok());
  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "CLAUDE.md"), "# memory\n");
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "new.md"), "x");
}

// Owners, access times, FIFOs and sockets are the mount's (meta.db): they
// survive a crash, a chown or touch -a alone asks for no flush, and the store
// keeps none of them (a fresh cache shows the mounting user's files, no FIFO).
TEST_F(FsMountTest, OwnersAtimesAndFifosLiveInTheCacheNotTheStore) {
  {
    auto m = Open("c0");
    ASSERT_NE(m, nullptr);
    Filesystem& fs = *m->filesystem();
    uint64_t ino = Resolve(fs, "CLAUDE.md");
    NodeInfo n;
    SetAttrRequest chown;
    chown.set_uid = chown.set_gid = true;
    chown.uid = 65534;
    chown.gid = 100;
    ASSERT_EQ(fs.SetAttr(ino, chown, &n), 0);
    EXPECT_EQ(n.uid, 65534u);
    FlushReport report;
    ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
    EXPECT_TRUE(report.nothing_to_flush) << "a chown alone is no change for the store";
  }
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  NodeInfo n;
  ASSERT_EQ(fs.CreateFile(kRootIno, "theirs.md", 0640, &n, Caller{.uid = 65534, .gid = 100}), 0);
  EXPECT_EQ(n.uid, 65534u);
  EXPECT_EQ(n.gid, 100u);
  ASSERT_EQ(
      fs.CreateFile(kRootIno, "mine.md", 0644, &n, Caller{.uid = ::geteuid(), .gid = ::getegid()}),
      0);
  EXPECT_EQ(n.uid, kMountOwner) << "the mounting user's own files follow the workspace";
  ASSERT_EQ(fs.MakeSpecial(kRootIno, "pipe", NodeType::kFifo, 0600, &n), 0);
  EXPECT_EQ(n.type, NodeType::kFifo);
  ASSERT_EQ(fs.MakeSpecial(kRootIno, "sock", NodeType::kSocket, 0755, &n), 0);
  EXPECT_EQ(fs.MakeSpecial(kRootIno, "f", NodeType::kFile, 0644, &n), EINVAL);
  // A set-group-ID directory hands its group down, and its bit to subdirectories.
  ASSERT_EQ(fs.MakeDir(kRootIno, "shared", 02775, &n, Caller{.uid = 65534, .gid = 100}), 0);
  uint64_t shared = n.ino;
  ASSERT_EQ(fs.MakeDir(shared, "sub", 0755, &n, Caller{.uid = 65534, .gid = 200}), 0);
  EXPECT_EQ(n.gid, 100u);
  EXPECT_EQ(n.mode, 02755u);
  SetAttrRequest huge;  // pjdfstest truncate/12: EFBIG (or success), never ENOSPC
  huge.set_size = true;
  huge.size = 999999999999999;
  EXPECT_EQ(fs.SetAttr(Resolve(fs, "theirs.md"), huge, &n), EFBIG);
  SetAttrRequest touch_a;
  touch_a.set_atime = true;
  touch_a.atime_ns = 978307200123456789;
  uint64_t settings = Resolve(fs, "settings.json");
  ASSERT_EQ(fs.SetAttr(settings, touch_a, &n), 0);
  EXPECT_EQ(n.atime_ns, 978307200123456789);

  m.reset();  // gone without a flush, as after SIGKILL
  m = Open("c1");
  ASSERT_NE(m, nullptr);
  Filesystem& again = *m->filesystem();
  ASSERT_EQ(again.GetAttr(Resolve(again, "theirs.md"), &n), 0);
  EXPECT_EQ(n.uid, 65534u);
  EXPECT_EQ(n.gid, 100u);
  ASSERT_EQ(again.GetAttr(Resolve(again, "pipe"), &n), 0);
  EXPECT_EQ(n.type, NodeType::kFifo);
  ASSERT_EQ(again.GetAttr(settings, &n), 0);
  EXPECT_EQ(n.atime_ns, 978307200123456789);
  // A read moves an atime that is not after the mtime forward (relatime).
  std::string bytes;
  ASSERT_EQ(again.Read(settings, 0, 100, &bytes), 0);
  ASSERT_EQ(again.GetAttr(settings, &n), 0);
  EXPECT_GT(n.atime_ns, 978307200123456789);
  ASSERT_TRUE(Flush(*m).ok());

  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  Filesystem& other = *fresh->filesystem();
  EXPECT_EQ(ReadAll(other, "theirs.md"), "");
  ASSERT_EQ(other.GetAttr(Resolve(other, "theirs.md"), &n), 0);
  EXPECT_EQ(n.uid, kMountOwner);
  EXPECT_EQ(other.Lookup(kRootIno, "pipe", &n), ENOENT);
  EXPECT_EQ(other.Lookup(kRootIno, "sock", &n), ENOENT);
  EXPECT_NE(Resolve(other, "shared/sub"), 0u);
}

TEST_F(FsMountTest, ForeignTarballMountsAndFlushesAsSeekable) {
  TempDir foreign;
  WriteFile(foreign / "tree/settings.json", "{\"foreign\": true}");
  WriteFile(foreign / "tree/projects/p/t.jsonl", "{\"in\":\"tarball\"}\n");
  std::string cmd = "tar czf " + (foreign / "x.tar.gz") + " -C " + (foreign / "tree") + " .";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto store = OpenFileStore(dir_ / "store");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutFile(TarballKey("foreign"), foreign / "x.tar.gz", {}, nullptr).ok());
  auto m = Open("cf", HydrateMode::kLazy, "foreign");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ReadAll(*m->filesystem(), "settings.json"), "{\"foreign\": true}");
  EXPECT_EQ(ReadAll(*m->filesystem(), "projects/p/t.jsonl"), "{\"in\":\"tarball\"}\n");
  ASSERT_EQ(PutFile(*m->filesystem(), "CLAUDE.md", "hi"), 0);
  ASSERT_TRUE(Flush(*m).ok());
  // Now in our layout: the transcript is its own object, the tarball seekable.
  ObjectInfo info;
  EXPECT_TRUE(m->store()->Head(TranscriptKey("foreign", "projects/p/t.jsonl"), &info).ok());
  auto fresh = Open("cf2", HydrateMode::kLazy, "foreign");
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->StatusJson()["seekable"].get<bool>());
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "projects/p/t.jsonl"), "{\"in\":\"tarball\"}\n");
  EXPECT_EQ(ReadAll(*fresh->filesystem(), "CLAUDE.md"), "hi");
}

TEST_F(FsMountTest, UnchangedRemountReusesTheCache) {
  {
    auto m = Open("c1");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(ReadAll(*m->filesystem(), "file-history/h0"), RandomBytes(700 << 10, 0));
  }
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m->StatusJson()["prepared"].get<std::string>().find("reused"), std::string::npos);
  uint64_t before = m->store()->stats().bytes_received;
  EXPECT_EQ(ReadAll(*m->filesystem(), "file-history/h0"), RandomBytes(700 << 10, 0));
  EXPECT_EQ(m->store()->stats().bytes_received, before);  // served from the cache
}

}  // namespace
}  // namespace ccfs
