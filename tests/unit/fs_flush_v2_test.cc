// Flushing onto a layout-v2 base (fs/flush/flush_v2.cc) end to end over the
// file:// store, through Mounts driven by their Filesystem (no kernel):
// - a fault at each step of a commit (the pack, a chunk, a segment, the
//   root PUT refused, the root PUT's answer lost) leaves the store at the old
//   generation or the new one, every object of it readable, and the next
//   flush commits everything;
// - an append to a transcript goes up as one chunk of the new bytes only;
//   a rewrite of one as a single fresh chunk;
// - a mount that adopted a v1 workspace shows the same tree;
// - a cache holding unflushed changes made on v1 before the workspace moved
//   to v2 resumes them, and its flush merges them with what v2 writers did.
#include <gtest/gtest.h>

#include "fs/hydrate/remote_tree_v2.h"
#include "fs/lifecycle/mount.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "store/layout/file_reader.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

using fstest::AppendTo;
using fstest::PutFile;
using fstest::ReadAll;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr const char* kTranscript = "projects/-home-dev-x/s1.jsonl";

class FlushV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string src = dir_ / "src";
    WriteFile(src + "/settings.json", "{\"model\": \"sonnet\"}\n");
    WriteFile(src + "/CLAUDE.md", "# memory\n");
    WriteFile(src + "/agents/a.md", "agent a\n");
    WriteFile(src + "/" + kTranscript, "{\"type\":\"user\",\"n\":0}\n", 0600);
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushResult pr;
    Status s = PushWorkspace(**store, src, "ws", PushOptions{}, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // A mount whose store calls go through a FaultStore (*faults).
  std::unique_ptr<Mount> Open(const std::string& cache, FaultStore** faults = nullptr) {
    MountOptions o = fstest::FileMountOptions(dir_, cache);
    o.layout_v2 = true;
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

  // The current root, with every file of its tree read back in full.
  uint64_t CheckStoreReadable() {
    auto store = Store();
    CurrentRoot root;
    Status s = ReadRoot(*store, "ws", &root);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    auto cache = std::make_unique<CacheDir>(dir_ / "check-cache");
    EXPECT_TRUE(cache->Prepare().ok());
    std::shared_ptr<const V2Tree> tree;
    s = LoadV2Tree(*store, "ws", *cache, root, &tree);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    TreeFileReader reader(*store, "ws");
    for (const auto& [path, e] : tree->entries) {
      if (e.type != EntryType::kFile) continue;
      uint64_t got = 0;
      s = reader.Read(e, 0, e.size, [&](const char*, size_t n) {
        got += n;
        return Status::OK();
      });
      EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
      EXPECT_EQ(got, e.size) << path;
    }
    return root.root.generation;
  }

  TempDir dir_;
};

TEST_F(FlushV2Test, AdoptedMountShowsTheTree) {
  auto m = Open("c1");
  ASSERT_TRUE(m);
  EXPECT_EQ(ReadAll(*m->filesystem(), "settings.json"), "{\"model\": \"sonnet\"}\n");
  EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), "{\"type\":\"user\",\"n\":0}\n");
  EXPECT_EQ(CheckStoreReadable(), 1u);
}

TEST_F(FlushV2Test, FaultAtEveryCommitStepLeavesOldOrNewGeneration) {
  struct Step {
    const char* name;
    std::string prefix;
    bool lost_answer;
  };
  const std::vector<Step> steps = {
      {"pack", "ws/v2/packs/", false},          {"chunk", "ws/v2/chunks/", false},
      {"segment", "ws/v2/index/", false},       {"root refused", "ws/v2/root", false},
      {"root answer lost", "ws/v2/root", true},
  };
  FaultStore* faults = nullptr;
  auto m = Open("c1", &faults);
  ASSERT_TRUE(m && faults);
  Filesystem& fs = *m->filesystem();
  uint64_t gen = CheckStoreReadable();
  ASSERT_EQ(gen, 1u);
  int round = 0;
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    ++round;
    const std::string file = "step-" + std::to_string(round) + ".txt";
    ASSERT_EQ(PutFile(fs, file, step.name), 0);
    ASSERT_EQ(PutFile(fs, "settings.json", "{\"round\": " + std::to_string(round) + "}\n"), 0);
    ASSERT_EQ(AppendTo(fs, kTranscript, "{\"n\":" + std::to_string(round) + "}\n"), 0);
    faults->Inject(FaultRule{StoreOp::kPut, 1,
                             Status::IOError("injected: " + std::string(step.name)), step.prefix,
                             step.lost_answer});
    FlushReport r;
    Status s = m->Flush(FlushOptions{}, &r);
    const uint64_t now = CheckStoreReadable();
    if (s.ok()) {
      // The commit got through after all: a lost root answer is resolved by
      // reading the root back, a refused one by a merge round and a retry.
      EXPECT_EQ(now, gen + 1);
    } else {
      EXPECT_FALSE(step.lost_answer) << s.ToString();
      EXPECT_EQ(now, gen) << "a failed commit moved the root";
      faults->ClearFaults();
      s = m->Flush(FlushOptions{}, &r);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(CheckStoreReadable(), gen + 1);
    }
    gen = gen + 1;
  }
  // A fresh mount sees every round's changes.
  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  Filesystem& f2 = *fresh->filesystem();
  for (int i = 1; i <= round; ++i) {
    EXPECT_EQ(ReadAll(f2, "step-" + std::to_string(i) + ".txt"), steps[i - 1].name);
  }
  EXPECT_EQ(ReadAll(f2, "settings.json"), "{\"round\": " + std::to_string(round) + "}\n");
  std::string expect = "{\"type\":\"user\",\"n\":0}\n";
  for (int i = 1; i <= round; ++i) expect += "{\"n\":" + std::to_string(i) + "}\n";
  EXPECT_EQ(ReadAll(f2, kTranscript), expect);
}

TEST_F(FlushV2Test, AppendsGoUpAsChunksOfTheNewBytes) {
  auto m = Open("c1");
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  // The adopted transcript is one raw chunk; an append adds one chunk.
  const std::string line(450, 'x');
  ASSERT_EQ(AppendTo(fs, kTranscript, line + "\n"), 0);
  FlushReport r;
  ASSERT_TRUE(m->Flush(FlushOptions{}, &r).ok());
  EXPECT_EQ(r.transcripts_uploaded, 1u);
  EXPECT_EQ(r.entries_rewritten, 0u);  // nothing went into a pack

  auto store = Store();
  IndexEntry e;
  CurrentRoot root;
  ASSERT_TRUE(ReadRoot(*store, "ws", &root).ok());
  ASSERT_TRUE(LookupEntry(*store, "ws", root.root, kTranscript, &e).ok());
  ASSERT_EQ(e.chunks.size(), 2u);
  EXPECT_EQ(e.chunks[1].size, line.size() + 1);  // only the appended bytes

  // A rewrite (not an append) is one fresh chunk of the whole file.
  ASSERT_EQ(PutFile(fs, kTranscript, "{\"rewritten\":true}\n"), 0);
  ASSERT_TRUE(m->Flush(FlushOptions{}, &r).ok());
  ASSERT_TRUE(ReadRoot(*store, "ws", &root).ok());
  ASSERT_TRUE(LookupEntry(*store, "ws", root.root, kTranscript, &e).ok());
  ASSERT_EQ(e.chunks.size(), 1u);
  EXPECT_EQ(e.size, std::string("{\"rewritten\":true}\n").size());

  auto fresh = Open("c2");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ReadAll(*fresh->filesystem(), kTranscript), "{\"rewritten\":true}\n");
}

TEST_F(FlushV2Test, UnflushedV1ChangesResumeOntoTheAdoptedWorkspace) {
  {
    // A v1 mount whose changes never got flushed (it went away, as in a crash).
    auto old = fstest::PrepareFileMount(fstest::FileMountOptions(dir_, "old"));
    ASSERT_TRUE(old);
    Filesystem& fs = *old->filesystem();
    ASSERT_EQ(PutFile(fs, "from-v1-cache.txt", "kept"), 0);
    ASSERT_EQ(PutFile(fs, "settings.json", "{\"v1\": true}\n"), 0);
    ASSERT_EQ(AppendTo(fs, kTranscript, "{\"n\":\"v1\"}\n"), 0);
  }
  {
    // Meanwhile the workspace moves to v2 and another machine commits.
    auto other = Open("other");
    ASSERT_TRUE(other);
    ASSERT_EQ(PutFile(*other->filesystem(), "from-v2.txt", "v2"), 0);
    ASSERT_EQ(PutFile(*other->filesystem(), "CLAUDE.md", "# memory of v2\n"), 0);
    FlushReport r;
    ASSERT_TRUE(other->Flush(FlushOptions{}, &r).ok());
  }
  // The old cache mounts again: its changes are there and flush by merging.
  auto again = fstest::PrepareFileMount(fstest::FileMountOptions(dir_, "old"));
  ASSERT_TRUE(again);
  EXPECT_EQ(ReadAll(*again->filesystem(), "from-v1-cache.txt"), "kept");
  FlushReport r;
  Status s = again->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(r.merge_rounds, 1u);
  EXPECT_TRUE(r.conflicts.empty());

  auto fresh = Open("fresh");
  ASSERT_TRUE(fresh);
  Filesystem& f = *fresh->filesystem();
  EXPECT_EQ(ReadAll(f, "from-v1-cache.txt"), "kept");
  EXPECT_EQ(ReadAll(f, "from-v2.txt"), "v2");
  EXPECT_EQ(ReadAll(f, "settings.json"), "{\"v1\": true}\n");
  EXPECT_EQ(ReadAll(f, "CLAUDE.md"), "# memory of v2\n");
  EXPECT_EQ(ReadAll(f, kTranscript), "{\"type\":\"user\",\"n\":0}\n{\"n\":\"v1\"}\n");
  EXPECT_EQ(ReadAll(f, "agents/a.md"), "agent a\n");
}

// What an older ccfs (one that knows only v1) does to a workspace already in
// v2: it holds the lease (its lease lacks reads_layout_v2) and PUTs whole
// transcript objects at their v1 keys.
class OlderWriterTest : public FlushV2Test {
 protected:
  static constexpr const char* kOriginal = "{\"type\":\"user\",\"n\":0}\n";

  void OlderCcfsHeldTheLease() {
    const std::string marker =
        R"({"format":"ccfs-lease-v1","holder_id":"00112233445566778899aabbccddeeff",)"
        R"("host":"old-box","pid":7,"user":"carol","acquired_at":1700000000,)"
        R"("renewed_at":1700000000,"ttl_seconds":30,"released":true})";
    ASSERT_TRUE(Store()->PutBytes(LeaseKey("ws"), marker, {}, nullptr).ok());
  }
  void OlderCcfsPuts(const std::string& rel, const std::string& bytes) {
    ASSERT_TRUE(Store()->PutBytes("ws/" + rel, bytes, {}, nullptr).ok());
  }
  std::unique_ptr<Mount> OpenWithLease(const std::string& cache) {
    MountOptions o = fstest::FileMountOptions(dir_, cache);
    o.layout_v2 = true;
    o.lease_ttl_seconds = 30;
    return fstest::PrepareFileMount(o);
  }
  static std::string Prepared(Mount& m) { return m.StatusJson().value("prepared", ""); }
  uint64_t Generation() {
    CurrentRoot root;
    EXPECT_TRUE(ReadRoot(*Store(), "ws", &root).ok());
    return root.root.generation;
  }
};

TEST_F(OlderWriterTest, TranscriptsItWroteAreTakenInOnceAndOnlyAfterItHeldTheLease) {
  ASSERT_TRUE(Open("c0"));  // adopts: generation 1
  ASSERT_EQ(Generation(), 1u);
  // Its lines, without its lease: nobody looks (no LIST for v2 writers).
  OlderCcfsPuts(kTranscript, std::string(kOriginal) + "{\"n\":\"old\"}\n");
  OlderCcfsPuts("projects/-home-dev-x/s2.jsonl", "{\"n\":\"new session\"}\n");
  {
    auto m = OpenWithLease("c1");
    ASSERT_TRUE(m);
    EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), kOriginal);
    EXPECT_EQ(Prepared(*m).find("took in"), std::string::npos) << Prepared(*m);
  }
  EXPECT_EQ(Generation(), 1u);

  OlderCcfsHeldTheLease();
  {
    auto m = OpenWithLease("c2");
    ASSERT_TRUE(m);
    const std::string prepared = Prepared(*m);
    EXPECT_NE(prepared.find("took in 2 transcripts an older ccfs wrote"), std::string::npos)
        << prepared;
    EXPECT_EQ(ReadAll(*m->filesystem(), kTranscript), std::string(kOriginal) + "{\"n\":\"old\"}\n");
    EXPECT_EQ(ReadAll(*m->filesystem(), "projects/-home-dev-x/s2.jsonl"),
              "{\"n\":\"new session\"}\n");
  }
  EXPECT_EQ(Generation(), 2u);
  EXPECT_EQ(CheckStoreReadable(), 2u);

  // The same versions again (our released lease says we read v2; an older
  // ccfs held it once more but wrote nothing): nothing is taken twice.
  OlderCcfsHeldTheLease();
  auto again = OpenWithLease("c3");
  ASSERT_TRUE(again);
  EXPECT_EQ(Prepared(*again).find("took in"), std::string::npos) << Prepared(*again);
  EXPECT_EQ(Generation(), 2u);
}

TEST_F(OlderWriterTest, AFailedLookAtItsTranscriptsStillMountsSaysSoAndTheNextMountLooksAgain) {
  ASSERT_TRUE(Open("c0"));  // adopts: generation 1
  OlderCcfsPuts(kTranscript, std::string(kOriginal) + "{\"n\":\"old\"}\n");
  OlderCcfsHeldTheLease();
  MountOptions o = fstest::FileMountOptions(dir_, "c1");
  o.layout_v2 = true;
  o.lease_ttl_seconds = 30;
  auto faulty = std::make_unique<FaultStore>(Store());
  faulty->FailNext(StoreOp::kList, 1, Status::Unavailable("injected: LIST refused"));
  auto m = Mount::Prepare(std::move(faulty), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::string prepared = Prepared(**m);
  EXPECT_NE(prepared.find("WARNING"), std::string::npos) << prepared;
  EXPECT_NE(prepared.find("injected: LIST refused"), std::string::npos) << prepared;
  EXPECT_EQ(ReadAll(*(*m)->filesystem(), kTranscript), kOriginal) << "the v2 tree, as it was";
  EXPECT_EQ(Generation(), 1u);
  m->reset();  // releases the lease, which says the take-in is still to do
  std::string lease;
  ASSERT_TRUE(GetToString(*Store(), LeaseKey("ws"), {}, &lease).ok());
  EXPECT_NE(lease.find("\"pending_older_writer\":\"carol@old-box"), std::string::npos) << lease;

  // The next writable mount (no older ccfs since) looks again and takes
  // the lines in; the one after it has nothing left to take.
  {
    auto next = OpenWithLease("c2");
    ASSERT_TRUE(next);
    const std::string prepared = Prepared(*next);
    EXPECT_NE(prepared.find("took in 1 transcripts an older ccfs wrote"), std::string::npos)
        << prepared;
    EXPECT_EQ(ReadAll(*next->filesystem(), kTranscript),
              std::string(kOriginal) + "{\"n\":\"old\"}\n");
  }
  EXPECT_EQ(Generation(), 2u);
  auto after = OpenWithLease("c3");
  ASSERT_TRUE(after);
  EXPECT_EQ(Prepared(*after).find("took in"), std::string::npos) << Prepared(*after);
  EXPECT_EQ(Generation(), 2u);
}

TEST_F(OlderWriterTest, ATranscriptBothSidesWroteKeepsOursAndTheirsBesideIt) {
  {
    auto m = Open("c0");
    ASSERT_TRUE(m);
    ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, "{\"n\":\"v2\"}\n"), 0);
    FlushReport r;
    ASSERT_TRUE(m->Flush(FlushOptions{}, &r).ok());
  }
  OlderCcfsPuts(kTranscript, std::string(kOriginal) + "{\"n\":\"old\"}\n");
  OlderCcfsHeldTheLease();
  auto m = OpenWithLease("c1");
  ASSERT_TRUE(m);
  Filesystem& fs = *m->filesystem();
  EXPECT_EQ(ReadAll(fs, kTranscript), std::string(kOriginal) + "{\"n\":\"v2\"}\n");
  const std::string prepared = Prepared(*m);
  EXPECT_NE(prepared.find("1 conflict copies"), std::string::npos) << prepared;
  // Theirs, whole, beside ours.
  CurrentRoot root;
  ASSERT_TRUE(ReadRoot(*Store(), "ws", &root).ok());
  auto cache = std::make_unique<CacheDir>(dir_ / "tree-cache");
  ASSERT_TRUE(cache->Prepare().ok());
  std::shared_ptr<const V2Tree> tree;
  ASSERT_TRUE(LoadV2Tree(*Store(), "ws", *cache, root, &tree).ok());
  std::string copy;
  for (const auto& [path, e] : tree->entries) {
    if (path.rfind(std::string(kTranscript) + ".conflict-v1-", 0) == 0) copy = path;
  }
  ASSERT_FALSE(copy.empty()) << prepared;
  EXPECT_EQ(ReadAll(fs, copy), std::string(kOriginal) + "{\"n\":\"old\"}\n");
}

TEST_F(OlderWriterTest, ATranscriptRemovedHereStaysRemovedWhenTheOlderCcfsLeftItAlone) {
  {
    auto m = Open("c0");
    ASSERT_TRUE(m);
    uint64_t dir = Resolve(*m->filesystem(), "projects/-home-dev-x");
    ASSERT_NE(dir, 0u);
    ASSERT_EQ(m->filesystem()->Unlink(dir, "s1.jsonl"), 0);
    FlushReport r;
    ASSERT_TRUE(m->Flush(FlushOptions{}, &r).ok());
  }
  OlderCcfsHeldTheLease();  // it held the workspace, but wrote no transcript
  auto m = OpenWithLease("c1");
  ASSERT_TRUE(m);
  EXPECT_EQ(Resolve(*m->filesystem(), kTranscript), 0u) << "the old object came back";
  EXPECT_EQ(Prepared(*m).find("took in"), std::string::npos) << Prepared(*m);
}

}  // namespace
}  // namespace ccfs
