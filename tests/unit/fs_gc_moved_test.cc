// A mount whose base root is older than what the store keeps (issue 12,
// item 7: "a reader that meets a 404 re-reads the root"). Another writer
// flushes, compaction moves the files it left alone into new objects, and gc
// (keep 1, grace 0) deletes the objects the mount's root named. Over the
// file:// store through Mounts driven by their Filesystem (no kernel):
// - a pack member and a transcript of many chunks, both unchanged since the
//   mount's root but moved by compaction, read back exactly from where the
//   current root has them (the hydrator re-reads the root on the 404);
// - a tail-only transcript (appended to before gc) completes the same way;
// - a file another machine rewrote since, whose old bytes are gone, fails
//   with EIO and a message that says to remount, never with other bytes;
// - the background pass, meeting the gone pack, still hydrates every file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "fs/lifecycle/mount.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "scoped_env.h"
#include "store/layout/compact.h"
#include "store/layout/gc.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::AppendTo;
using fstest::ReadAll;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr const char* kTranscript = "projects/-home-dev-x/s1.jsonl";
constexpr int kNotes = 10;

std::string Note(int i, int version) {
  return "note " + std::to_string(i) + " version " + std::to_string(version) + "\n" +
         std::string(static_cast<size_t>(2000 + 37 * i), static_cast<char>('a' + i));
}

std::string Lines(int from, int count) {
  std::string out;
  for (int i = from; i < from + count; ++i) {
    out += "{\"type\":\"assistant\",\"i\":" + std::to_string(i) + ",\"text\":\"" +
           std::string(static_cast<size_t>(200 + i % 53), static_cast<char>('a' + i % 26)) +
           "\"}\n";
  }
  return out;
}

class GcMovedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string src = dir_ / "src";
    WriteFile(src + "/settings.json", "{\"model\": \"sonnet\"}\n");
    for (int i = 0; i < kNotes; ++i) WriteFile(src + "/notes/n" + std::to_string(i), Note(i, 1));
    transcript_ = Lines(0, 200);
    WriteFile(src + "/" + kTranscript, transcript_, 0600);
    auto store = Store();
    PushOptions po;
    po.new_workspace_v2 = true;
    PushResult pr;
    Status s = PushWorkspace(*store, src, "ws", po, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(pr.v2_generation, 1u);

    // A writer (no compaction of its own) rewrites most notes, so the first
    // pack falls under half live, and appends to the transcript 17 times,
    // one flush each: 18 chunks, over compaction's 16.
    writer_ = Open("writer");
    ASSERT_TRUE(writer_);
    Filesystem& fs = *writer_->filesystem();
    for (int i = 0; i < kNotes - 2; ++i) {
      ASSERT_EQ(Rewrite(fs, "notes/n" + std::to_string(i), Note(i, 2)), 0);
    }
    for (int turn = 0; turn < 17; ++turn) {
      const std::string more = Lines(200 + turn * 5, 5);
      ASSERT_EQ(AppendTo(fs, kTranscript, more), 0);
      transcript_ += more;
      ASSERT_NO_FATAL_FAILURE(Flush(*writer_));
    }
  }

  std::unique_ptr<Mount> Open(const std::string& cache, HydrateMode mode = HydrateMode::kLazy) {
    MountOptions o = fstest::FileMountOptions(dir_, cache);
    o.hydrate = mode;
    return fstest::PrepareFileMount(o);
  }

  std::unique_ptr<ObjectStore> Store() {
    auto s = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  static void Flush(Mount& m) {
    FlushReport r;
    Status s = m.Flush(FlushOptions{}, &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static int Rewrite(Filesystem& fs, const std::string& path, const std::string& data) {
    uint64_t ino = Resolve(fs, path);
    if (ino == 0) return ENOENT;
    SetAttrRequest req;
    req.set_size = true;
    NodeInfo out;
    if (int err = fs.SetAttr(ino, req, &out); err != 0) return err;
    return fs.Write(ino, 0, data.data(), data.size());
  }

  // Compaction, then gc keeping only the newest root, with no grace: every
  // object only an older root named is deleted.
  void CompactAndCollect() {
    auto store = Store();
    CompactOptions co;
    co.scratch_dir = dir_ / "scratch";
    ASSERT_EQ(::mkdir(co.scratch_dir.c_str(), 0700) == 0 || errno == EEXIST, true);
    CompactReport cr;
    Status s = Compact(*store, "ws", co, &cr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NE(cr.generation, 0u) << "compaction found nothing to move";
    GcOptions go;
    go.keep_generations = 1;
    go.keep_seconds = 0;
    go.grace_seconds = 0;
    go.now_unix = ::time(nullptr) + 10;  // every older root is past the window
    GcReport gr;
    s = CollectGarbage(*store, "ws", go, &gr);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(gr.objects_deleted, 0u);
  }

  // This test's writers do not compact on their own: the test does, then gc.
  ScopedEnv no_auto_compact_{"CCFS_AUTO_COMPACT", "0"};
  TempDir dir_;
  std::string transcript_;
  std::unique_ptr<Mount> writer_;
};

TEST_F(GcMovedTest, FilesOnlyMovedReadFromTheCurrentRoot) {
  auto reader = Open("reader");  // cold, at generation 18
  ASSERT_TRUE(reader);
  ASSERT_NO_FATAL_FAILURE(CompactAndCollect());

  Filesystem& fs = *reader->filesystem();
  EXPECT_EQ(ReadAll(fs, "settings.json"), "{\"model\": \"sonnet\"}\n");
  EXPECT_EQ(ReadAll(fs, "notes/n" + std::to_string(kNotes - 1)), Note(kNotes - 1, 1));
  EXPECT_EQ(ReadAll(fs, kTranscript), transcript_) << "the compacted transcript read wrong";
  EXPECT_GE(reader->hydrator()->stats().moved_files.load(), 3u);
  EXPECT_EQ(reader->hydrator()->stats().failures.load(), 0u) << reader->hydrator()->last_error();
}

TEST_F(GcMovedTest, ATailOnlyTranscriptCompletesFromTheCurrentRoot) {
  auto reader = Open("reader");
  ASSERT_TRUE(reader);
  Filesystem& fs = *reader->filesystem();
  const std::string more = Lines(5000, 3);
  ASSERT_EQ(AppendTo(fs, kTranscript, more), 0);  // fetches the last page only
  ASSERT_EQ(reader->hydrator()->stats().tail_files.load(), 1u);
  ASSERT_NO_FATAL_FAILURE(CompactAndCollect());

  EXPECT_EQ(ReadAll(fs, kTranscript), transcript_ + more);
  EXPECT_EQ(reader->hydrator()->stats().completed_files.load(), 1u);
  EXPECT_GE(reader->hydrator()->stats().moved_files.load(), 1u);
}

TEST_F(GcMovedTest, AFileRewrittenSinceFailsAndSaysToRemount) {
  auto reader = Open("reader");
  ASSERT_TRUE(reader);
  const std::string rewritten = "notes/n" + std::to_string(kNotes - 1);
  ASSERT_EQ(Rewrite(*writer_->filesystem(), rewritten, Note(kNotes - 1, 3)), 0);
  ASSERT_NO_FATAL_FAILURE(Flush(*writer_));
  ASSERT_NO_FATAL_FAILURE(CompactAndCollect());

  Filesystem& fs = *reader->filesystem();
  std::string out;
  EXPECT_EQ(fs.Read(Resolve(fs, rewritten), 0, 1 << 20, &out), EIO);
  EXPECT_TRUE(out.empty());
  EXPECT_NE(reader->hydrator()->last_error().find("remount"), std::string::npos)
      << reader->hydrator()->last_error();
  // The files only moved still read.
  EXPECT_EQ(ReadAll(fs, "settings.json"), "{\"model\": \"sonnet\"}\n");
}

TEST_F(GcMovedTest, TheBackgroundPassHydratesEverythingPastAGonePack) {
  auto reader = Open("reader", HydrateMode::kBackground);  // Run would start the pass
  ASSERT_TRUE(reader);
  ASSERT_NO_FATAL_FAILURE(CompactAndCollect());
  reader->hydrator()->StartBackground();
  for (int i = 0; i < 600 && !reader->hydrator()->stats().stream_done.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(reader->hydrator()->stats().stream_done.load()) << "no end to the pass in 30 s";
  EXPECT_EQ(reader->hydrator()->stats().failures.load(), 0u) << reader->hydrator()->last_error();
  EXPECT_GE(reader->hydrator()->stats().moved_files.load(), 3u);
  Filesystem& fs = *reader->filesystem();
  EXPECT_EQ(ReadAll(fs, kTranscript), transcript_);
  for (int i = 0; i < kNotes; ++i) {
    EXPECT_EQ(ReadAll(fs, "notes/n" + std::to_string(i)), Note(i, i < kNotes - 2 ? 2 : 1)) << i;
  }
}

}  // namespace
}  // namespace ccfs
