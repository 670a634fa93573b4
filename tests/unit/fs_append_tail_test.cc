// Appends without downloads (issue 12, item 2): on a layout-v2 base, an
// append to a remote transcript fetches only the page holding its end, and
// the file is "tail-only" (NodeRecord::local_from) until something needs its
// earlier bytes. Over the file:// store through Mounts driven by their
// Filesystem (no kernel), with the store's bytes counted:
// - an append downloads one page, reads back exactly, and flushes as one
//   chunk of the new bytes; a whole read afterwards downloads the prefix
//   once and returns the original bytes followed by the appended ones;
// - the kernel's way (a READ of the last page, then the page written back
//   whole with the new bytes) does the same;
// - a restart (meta.db reloaded) between the append and the flush keeps the
//   watermark, so the holes are never taken for content; the flush still
//   sends only the new bytes, and a restart after it still reads right;
// - a write below the watermark, a truncate, a settled copy and a merge with
//   a conflicting remote change complete the file first (nothing lost);
// - a cache made before the column existed opens with every file whole;
// - a v1 base keeps hydrating whole.
#include <gtest/gtest.h>

#include "fs/hydrate/remote_tree_v2.h"
#include "fs/lifecycle/mount.h"
#include "fs/tree/settled_copy.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::AppendTo;
using fstest::PutFile;
using fstest::ReadAll;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr const char* kTranscript = "projects/-home-dev-x/s1.jsonl";

// About 300 KB of JSON lines, none alike, ending mid-page.
std::string BigTranscript() {
  std::string out;
  for (int i = 0; out.size() < 300000; ++i) {
    out += "{\"type\":\"assistant\",\"i\":" + std::to_string(i) + ",\"text\":\"" +
           std::string(static_cast<size_t>(40 + i % 97), static_cast<char>('a' + i % 26)) + "\"}\n";
  }
  return out;
}

class AppendTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = BigTranscript();
    ASSERT_NE(original_.size() % 4096, 0u);
    const std::string src = dir_ / "src";
    WriteFile(src + "/settings.json", "{\"model\": \"sonnet\"}\n");
    WriteFile(src + "/" + kTranscript, original_, 0600);
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushResult pr;
    Status s = PushWorkspace(**store, src, "ws", PushOptions{}, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    // Adopt it into v2 once, so the mounts below start from a v2 root.
    auto m = Open("adopt");
    ASSERT_TRUE(m);
  }

  std::unique_ptr<Mount> Open(const std::string& cache, FaultStore** faults = nullptr,
                              bool v2 = true) {
    MountOptions o = fstest::FileMountOptions(dir_, cache);
    o.layout_v2 = v2;
    auto base = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(base.ok());
    auto wrapped = std::make_unique<FaultStore>(std::move(base).value());
    if (faults != nullptr) *faults = wrapped.get();
    auto m = Mount::Prepare(std::move(wrapped), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  std::unique_ptr<ObjectStore> Store() {
    auto s = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  IndexEntry StoredEntry(const std::string& path) {
    auto store = Store();
    CurrentRoot root;
    EXPECT_TRUE(ReadRoot(*store, "ws", &root).ok());
    IndexEntry e;
    Status s = LookupEntry(*store, "ws", root.root, path, &e);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return e;
  }

  static NodeInfo Node(Mount& m, const std::string& path) {
    NodeInfo n;
    uint64_t ino = Resolve(*m.filesystem(), path);
    EXPECT_NE(ino, 0u) << path;
    EXPECT_EQ(m.filesystem()->GetAttr(ino, &n), 0);
    return n;
  }

  static std::string ReadRange(Filesystem& fs, const std::string& path, uint64_t off, size_t len) {
    std::string out;
    int err = fs.Read(Resolve(fs, path), off, len, &out);
    return err == 0 ? out : "<errno " + std::to_string(err) + ">";
  }

  static uint64_t Received(FaultStore* f) { return f->stats().bytes_received.load(); }

  TempDir dir_;
  std::string original_;
};

TEST_F(AppendTailTest, ColdAppendFetchesTheLastPageAndFlushesTheNewBytes) {
  FaultStore* faults = nullptr;
  auto m = Open("c1", &faults);
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  const uint64_t page = original_.size() / 4096 * 4096;
  const std::string line = "{\"type\":\"user\",\"appended\":1}\n";

  const uint64_t before = Received(faults);
  ASSERT_EQ(AppendTo(fs, kTranscript, line), 0);
  const uint64_t fetched = Received(faults) - before;
  EXPECT_EQ(fetched, original_.size() - page) << "an append downloaded more than its last page";
  EXPECT_EQ(m->hydrator()->stats().tail_files.load(), 1u);
  NodeInfo n = Node(*m, kTranscript);
  EXPECT_EQ(n.local_from, page);
  EXPECT_EQ(n.size, original_.size() + line.size());
  EXPECT_EQ(n.state, ContentState::kDirty);

  // Reads at or past the watermark are served locally, byte-exact.
  const uint64_t before_read = Received(faults);
  EXPECT_EQ(ReadRange(fs, kTranscript, page, 1 << 20), original_.substr(page) + line);
  EXPECT_EQ(Received(faults), before_read);

  FlushReport r;
  Status s = m->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.transcripts_uploaded, 1u);
  IndexEntry e = StoredEntry(kTranscript);
  ASSERT_EQ(e.chunks.size(), 2u);
  EXPECT_EQ(e.chunks[1].size, line.size());  // only the appended bytes
  EXPECT_EQ(e.size, original_.size() + line.size());
  // Still tail-only, now relative to the new stored version.
  n = Node(*m, kTranscript);
  EXPECT_EQ(n.local_from, page);
  EXPECT_EQ(n.state, ContentState::kCached);
  EXPECT_EQ(Received(faults) - before, fetched) << "the flush downloaded the transcript";

  // A read from the start completes the file: the prefix comes down once.
  const uint64_t before_whole = Received(faults);
  EXPECT_EQ(ReadAll(fs, kTranscript), original_ + line);
  EXPECT_EQ(Received(faults) - before_whole, page);
  EXPECT_EQ(Node(*m, kTranscript).local_from, 0u);
  EXPECT_EQ(m->hydrator()->stats().completed_files.load(), 1u);

  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), original_ + line);
}

TEST_F(AppendTailTest, KernelStylePageWritebackIsStillAnAppend) {
  FaultStore* faults = nullptr;
  auto m = Open("c1", &faults);
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  const uint64_t page = original_.size() / 4096 * 4096;
  const std::string line = "{\"type\":\"user\",\"kernel\":1}\n";
  // The writeback cache reads the page holding the end, then writes it back
  // whole with the new bytes in it.
  const uint64_t start = Received(faults);
  std::string got = ReadRange(fs, kTranscript, page, 4096);
  ASSERT_EQ(got, original_.substr(page));
  EXPECT_EQ(Received(faults) - start, original_.size() - page);
  const uint64_t after_read = Received(faults);
  const std::string back = got + line;
  ASSERT_EQ(fs.Write(Resolve(fs, kTranscript), page, back.data(), back.size()), 0);
  EXPECT_EQ(Received(faults), after_read);
  EXPECT_EQ(Node(*m, kTranscript).local_from, page);

  FlushReport r;
  Status s = m->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  IndexEntry e = StoredEntry(kTranscript);
  ASSERT_EQ(e.chunks.size(), 2u) << "the rewritten page made it a rewrite";
  EXPECT_EQ(e.chunks[1].size, line.size());
  // The page read, and the flush comparing the rewritten page with the store's.
  EXPECT_LE(Received(faults) - start, 2 * (original_.size() - page));

  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), original_ + line);
}

TEST_F(AppendTailTest, RestartBetweenAppendAndFlushKeepsEverything) {
  const uint64_t page = original_.size() / 4096 * 4096;
  const std::string line1 = "{\"type\":\"user\",\"before_restart\":1}\n";
  const std::string line2 = "{\"type\":\"user\",\"after_restart\":2}\n";
  {
    auto m = Open("c1");
    ASSERT_TRUE(m);
    ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, line1), 0);
    EXPECT_EQ(Node(*m, kTranscript).local_from, page);
    // Gone without a flush or an fsync, as in a crash.
  }
  {
    FaultStore* faults = nullptr;
    auto m = Open("c1", &faults);
    ASSERT_TRUE(m);
    const uint64_t start = Received(faults);
    Filesystem& fs = *m->filesystem();
    NodeInfo n = Node(*m, kTranscript);
    EXPECT_EQ(n.local_from, page) << "the watermark did not survive the restart";
    EXPECT_EQ(n.size, original_.size() + line1.size());
    EXPECT_EQ(n.state, ContentState::kDirty);
    EXPECT_EQ(ReadRange(fs, kTranscript, page, 1 << 20), original_.substr(page) + line1);
    ASSERT_EQ(AppendTo(fs, kTranscript, line2), 0);
    FlushReport r;
    Status s = m->Flush(FlushOptions{}, &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    IndexEntry e = StoredEntry(kTranscript);
    ASSERT_EQ(e.chunks.size(), 2u);
    EXPECT_EQ(e.chunks[1].size, line1.size() + line2.size());
    // Only the stretch between the watermark and the stored size was read
    // back to tell the append from a rewrite.
    EXPECT_LE(Received(faults) - start, original_.size() - page);
    EXPECT_EQ(Node(*m, kTranscript).local_from, page);
  }
  {
    // A restart after the flush: still tail-only, and a whole read is right.
    auto m = Open("c1");
    ASSERT_TRUE(m);
    EXPECT_EQ(Node(*m, kTranscript).local_from, page);
    EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), original_ + line1 + line2);
    EXPECT_EQ(Node(*m, kTranscript).local_from, 0u);
  }
  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), original_ + line1 + line2);
}

TEST_F(AppendTailTest, WriteBelowTheWatermarkCompletesFirst) {
  auto m = Open("c1");
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  const std::string line = "{\"type\":\"user\",\"appended\":1}\n";
  ASSERT_EQ(AppendTo(fs, kTranscript, line), 0);
  ASSERT_NE(Node(*m, kTranscript).local_from, 0u);
  ASSERT_EQ(fs.Write(Resolve(fs, kTranscript), 10, "XYZ", 3), 0);
  EXPECT_EQ(Node(*m, kTranscript).local_from, 0u);
  std::string expect = original_ + line;
  expect.replace(10, 3, "XYZ");
  EXPECT_EQ(ReadAll(fs, kTranscript), expect);
  FlushReport r;
  Status s = m->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), expect);
}

TEST_F(AppendTailTest, TruncatesCompleteFirst) {
  auto m = Open("c1");
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  const std::string line = "{\"type\":\"user\",\"appended\":1}\n";
  const uint64_t ino = Resolve(fs, kTranscript);
  ASSERT_EQ(AppendTo(fs, kTranscript, line), 0);
  SetAttrRequest r;
  r.set_size = true;
  r.size = 100;
  NodeInfo out;
  ASSERT_EQ(fs.SetAttr(ino, r, &out), 0);
  EXPECT_EQ(out.local_from, 0u);
  EXPECT_EQ(ReadAll(fs, kTranscript), original_.substr(0, 100));

  // A truncate to 0 of another tail-only file, then new bytes.
  auto m2 = Open("c3");
  ASSERT_TRUE(m2);
  Filesystem& f2 = *m2->filesystem();
  ASSERT_EQ(AppendTo(f2, kTranscript, line), 0);
  ASSERT_NE(Node(*m2, kTranscript).local_from, 0u);
  r.size = 0;
  ASSERT_EQ(f2.SetAttr(Resolve(f2, kTranscript), r, &out), 0);
  EXPECT_EQ(out.local_from, 0u);
  EXPECT_EQ(out.size, 0u);
  ASSERT_EQ(AppendTo(f2, kTranscript, "fresh\n"), 0);
  EXPECT_EQ(ReadAll(f2, kTranscript), "fresh\n");
  FlushReport fr;
  Status s = m2->Flush(FlushOptions{}, &fr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), "fresh\n");
}

TEST_F(AppendTailTest, SettledCopyNeverTakesTheHolesForContent) {
  auto m = Open("c1");
  ASSERT_TRUE(m);
  ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, "x\n"), 0);
  NodeInfo n = Node(*m, kTranscript);
  ASSERT_NE(n.local_from, 0u);
  SettledCopy copy;
  Status s = CopySettled(*m->table(), *m->content(), n.ino, &copy);
  EXPECT_FALSE(s.ok()) << "a copy of a tail-only file was taken as whole";
  SettledCopy partial;
  s = CopySettled(*m->table(), *m->content(), n.ino, &partial, {.allow_tail_only = true});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(partial.node.local_from, n.local_from);
}

TEST_F(AppendTailTest, MergeWithAConflictingRemoteAppendKeepsBoth) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  const std::string la = "{\"from\":\"a\"}\n", lb = "{\"from\":\"b\"}\n";
  ASSERT_EQ(AppendTo(*a->filesystem(), kTranscript, la), 0);
  ASSERT_NE(Node(*a, kTranscript).local_from, 0u);
  ASSERT_EQ(AppendTo(*b->filesystem(), kTranscript, lb), 0);
  FlushReport rb;
  ASSERT_TRUE(b->Flush(FlushOptions{}, &rb).ok());
  FlushReport ra;
  Status s = a->Flush(FlushOptions{}, &ra);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(ra.merge_rounds, 1u);

  // Every file of the fresh tree that is a version of the transcript holds
  // the whole original prefix; a's line and b's line are both somewhere.
  auto fresh = Open("cf");
  ASSERT_TRUE(fresh);
  Filesystem& f = *fresh->filesystem();
  std::vector<DirEntryInfo> names;
  ASSERT_EQ(f.ListDir(Resolve(f, "projects/-home-dev-x"), &names), 0);
  bool saw_a = false, saw_b = false;
  for (const DirEntryInfo& d : names) {
    std::string content = ReadAll(f, "projects/-home-dev-x/" + d.name);
    ASSERT_EQ(content.compare(0, original_.size(), original_), 0) << d.name;
    std::string rest = content.substr(original_.size());
    if (rest == la || rest == la + lb || rest == lb + la) saw_a = true;
    if (rest == lb || rest == la + lb || rest == lb + la) saw_b = true;
  }
  EXPECT_TRUE(saw_a) << "a's appended line was lost";
  EXPECT_TRUE(saw_b) << "b's appended line was lost";
}

TEST_F(AppendTailTest, OldCacheWithoutTheColumnOpensWhole) {
  {
    auto m = Open("c1");
    ASSERT_TRUE(m);
    ASSERT_EQ(PutFile(*m->filesystem(), "new.txt", "local"), 0);
  }
  {
    // As a cache written before the column existed.
    auto db = SqliteDb::Open(dir_ / "c1/meta.db", {});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("ALTER TABLE inodes DROP COLUMN local_from").ok());
  }
  auto m = Open("c1");
  ASSERT_TRUE(m);
  EXPECT_EQ(ReadAll(*m->filesystem(), "new.txt"), "local");
  EXPECT_EQ(Node(*m, "new.txt").local_from, 0u);
  // And the column is back for the next tail.
  ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, "y\n"), 0);
  EXPECT_NE(Node(*m, kTranscript).local_from, 0u);
}

TEST_F(AppendTailTest, V1BaseStillHydratesWhole) {
  auto store = Store();
  const std::string src = dir_ / "src";
  PushResult pr;
  Status s = PushWorkspace(*store, src, "v1ws", PushOptions{}, &pr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  MountOptions o = fstest::FileMountOptions(dir_, "v1cache");
  o.workspace = "v1ws";
  auto m = fstest::PrepareFileMount(o);
  ASSERT_TRUE(m);
  ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, "z\n"), 0);
  EXPECT_EQ(m->hydrator()->stats().tail_files.load(), 0u);
  EXPECT_EQ(Node(*m, kTranscript).local_from, 0u);
  EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), original_ + "z\n");
}

}  // namespace
}  // namespace ccfs
