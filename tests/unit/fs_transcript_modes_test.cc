// Transcript modes (store/workspace/transcript_modes.h): S3 keeps no mode for a
// transcript object, so modes other than 0600 travel in the modes object.
// Push, mount, flush, merge of the modes map, pull, a damaged modes object,
// and a cache from before the modes column.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "fs/lifecycle/mount.h"
#include "fs/tree/meta_db.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::PutFile;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr const char* kOpen = "projects/-home-dev-x/open.jsonl";        // 0644
constexpr const char* kPrivate = "projects/-home-dev-x/private.jsonl";  // 0600

class TranscriptModesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_ / "src";
    WriteFile(src_ + "/settings.json", "{}\n");
    WriteFile(src_ + "/" + kOpen, "{\"type\":\"user\"}\n", 0644);
    WriteFile(src_ + "/" + kPrivate, "{\"type\":\"user\"}\n", 0600);
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    PushOptions po;
    po.force = true;
    PushResult pr;
    Status s = PushWorkspace(*store_, src_, "ws", po, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Mount> Open(const std::string& cache) {
    return fstest::PrepareFileMount(fstest::FileMountOptions(dir_, cache));
  }

  static uint32_t ModeOf(Filesystem& fs, const std::string& path) {
    NodeInfo n;
    uint64_t ino = Resolve(fs, path);
    if (ino == 0 || fs.GetAttr(ino, &n) != 0) return 0;
    return n.mode;
  }

  static uint32_t LocalMode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
  }

  TranscriptModes StoredModes() {
    TranscriptModes m;
    Status s = ReadTranscriptModes(*store_, "ws", &m);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return m;
  }

  TempDir dir_;
  std::string src_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(TranscriptModesTest, PushedModesShowOnTheMountAndComeBackFromPull) {
  EXPECT_EQ(StoredModes(), (TranscriptModes{{kOpen, 0644}}));  // the default is not listed
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ModeOf(*m->filesystem(), kOpen), 0644u);
  EXPECT_EQ(ModeOf(*m->filesystem(), kPrivate), 0600u);

  PullResult pr;
  Status s = PullWorkspace(*store_, "ws", dir_ / "pulled", PullOptions{}, &pr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(LocalMode(dir_ / "pulled" + "/" + kOpen), 0644u);
  EXPECT_EQ(LocalMode(dir_ / "pulled" + "/" + kPrivate), 0600u);
}

TEST_F(TranscriptModesTest, ChmodAndNewTranscriptsFlushTheirModes) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  // A chmod alone is a change to flush.
  SetAttrRequest chmod;
  chmod.set_mode = true;
  chmod.mode = 0640;
  NodeInfo n;
  ASSERT_EQ(fs.SetAttr(Resolve(fs, kPrivate), chmod, &n), 0);
  FlushReport report;
  Status s = m->Flush(FlushOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(report.nothing_to_flush);
  EXPECT_FALSE(report.tarball_written);
  EXPECT_EQ(report.transcripts_uploaded, 0u);
  EXPECT_EQ(StoredModes(), (TranscriptModes{{kOpen, 0644}, {kPrivate, 0640}}));
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_TRUE(report.nothing_to_flush);

  // A new transcript made 0644; the open one back to the default.
  const std::string fresh = "projects/-home-dev-x/new.jsonl";
  ASSERT_EQ(PutFile(fs, fresh, "{\"new\":1}\n"), 0);  // created 0644
  chmod.mode = 0600;
  ASSERT_EQ(fs.SetAttr(Resolve(fs, kOpen), chmod, &n), 0);
  s = m->Flush(FlushOptions{}, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(StoredModes(), (TranscriptModes{{kPrivate, 0640}, {fresh, 0644}}));

  auto again = Open("c2");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(ModeOf(*again->filesystem(), kOpen), 0600u);
  EXPECT_EQ(ModeOf(*again->filesystem(), kPrivate), 0640u);
  EXPECT_EQ(ModeOf(*again->filesystem(), fresh), 0644u);

  // A deleted transcript leaves the modes object with it.
  ASSERT_EQ(fs.Unlink(Resolve(fs, "projects/-home-dev-x"), "new.jsonl"), 0);
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_EQ(StoredModes(), (TranscriptModes{{kPrivate, 0640}}));
}

TEST_F(TranscriptModesTest, AnotherWritersModeChangesAreKept) {
  auto m = Open("c1");
  ASSERT_NE(m, nullptr);
  // Another writer sets a mode meanwhile (the object only: no new version).
  ASSERT_TRUE(WriteTranscriptModes(*store_, "ws", {{kOpen, 0644}, {kPrivate, 0644}}).ok());
  SetAttrRequest chmod;
  chmod.set_mode = true;
  chmod.mode = 0600;
  NodeInfo n;
  ASSERT_EQ(m->filesystem()->SetAttr(Resolve(*m->filesystem(), kOpen), chmod, &n), 0);
  FlushReport report;
  ASSERT_TRUE(m->Flush(FlushOptions{}, &report).ok());
  EXPECT_EQ(StoredModes(), (TranscriptModes{{kPrivate, 0644}}));
}

TEST_F(TranscriptModesTest, MergeAppliesOurChangesOntoTheirs) {
  TranscriptModes base{{"projects/a.jsonl", 0644}, {"projects/d.jsonl", 0640}};
  TranscriptModes ours{{"projects/b.jsonl", 0640}, {"projects/d.jsonl", 0640}};
  TranscriptModes theirs{
      {"projects/a.jsonl", 0644}, {"projects/c.jsonl", 0644}, {"projects/d.jsonl", 0644}};
  // a: reset here; b: set here; c: theirs alone; d: changed there only.
  EXPECT_EQ(
      MergeTranscriptModes(base, ours, theirs),
      (TranscriptModes{
          {"projects/b.jsonl", 0640}, {"projects/c.jsonl", 0644}, {"projects/d.jsonl", 0644}}));
}

TEST_F(TranscriptModesTest, DamagedModesObjectCostsOnlyTheModes) {
  for (const char* body :
       {"not json", "{\"format\":\"other\",\"modes\":{}}",
        "{\"format\":\"ccfs-transcript-modes-1\",\"modes\":{\"../etc/passwd\":\"0644\"}}",
        "{\"format\":\"ccfs-transcript-modes-1\",\"modes\":{\"projects/a.jsonl\":\"rwx\"}}"}) {
    SCOPED_TRACE(body);
    TranscriptModes m;
    EXPECT_TRUE(DecodeTranscriptModes(body, &m).IsCorruption());
  }
  TranscriptModes m;
  ASSERT_TRUE(
      DecodeTranscriptModes(
          "{\"format\":\"ccfs-transcript-modes-1\",\"modes\":{\"projects/a.jsonl\":\"4777\"}}", &m)
          .ok());
  EXPECT_EQ(m, (TranscriptModes{{"projects/a.jsonl", 0755}}));  // sanitised as tar members are

  ASSERT_TRUE(store_->PutBytes(TranscriptModesKey("ws"), "garbage", PutOptions{}, nullptr).ok());
  auto mounted = Open("c1");
  ASSERT_NE(mounted, nullptr);
  EXPECT_EQ(ModeOf(*mounted->filesystem(), kOpen), 0600u);
  PullResult pr;
  Status s = PullWorkspace(*store_, "ws", dir_ / "pulled", PullOptions{}, &pr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(pr.skipped.size(), 1u);
  EXPECT_EQ(pr.skipped[0].path, TranscriptModesKey("ws"));
  EXPECT_EQ(LocalMode(dir_ / "pulled" + "/" + kOpen), 0600u);
}

TEST_F(TranscriptModesTest, CacheFromBeforeTheModeColumnOpens) {
  const std::string path = dir_ / "old-meta.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "CREATE TABLE base_transcripts(path TEXT PRIMARY KEY, etag TEXT NOT NULL, "
                         "size INTEGER NOT NULL, mtime INTEGER NOT NULL);"
                         "INSERT INTO base_transcripts VALUES('projects/a.jsonl','e1',3,7);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto db = MetaDb::Open(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::vector<BaseTranscript> ts;
  ASSERT_TRUE((*db)->LoadBaseTranscripts(&ts).ok());
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].mode, 0600u);
  ts[0].mode = 0644;
  ASSERT_TRUE((*db)->PutBaseTranscript(ts[0]).ok());
  ASSERT_TRUE((*db)->LoadBaseTranscripts(&ts).ok());
  EXPECT_EQ(ts[0].mode, 0644u);
}

}  // namespace
}  // namespace ccfs
