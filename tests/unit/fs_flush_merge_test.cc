// Merging at flush (fs/flush/flush_merge.h) end to end over the file:// store: two
// Mounts of one workspace (two caches, driven through Filesystem, no kernel)
// change things, the first flushes, the second's flush merges with it and
// retries. Afterwards the second mount shows the merged tree and a fresh
// mount reads every change back.
#include <gtest/gtest.h>

#include "fs/flush/flush_merge.h"
#include "fs/lifecycle/mount.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
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
constexpr const char* kFirstLine = "{\"type\":\"user\"}\n";

class FlushMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_ / "src";
    WriteFile(src_ + "/settings.json", "{\"model\": \"sonnet\"}\n");
    WriteFile(src_ + "/CLAUDE.md", "# memory\n");
    WriteFile(src_ + "/agents/a.md", "agent a\n");
    WriteFile(src_ + "/agents/b.md", "agent b\n");
    WriteFile(src_ + "/" + kTranscript, kFirstLine, 0600);
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    PushResult pr;
    Status s = PushWorkspace(**store, src_, "ws", po, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Mount> Open(const std::string& cache) {
    return fstest::PrepareFileMount(fstest::FileMountOptions(dir_, cache));
  }

  static bool Merged(const FlushReport& r, const std::string& path, bool from_remote) {
    for (const auto& m : r.merged) {
      if (m.path == path && m.from_remote == from_remote) return true;
    }
    return false;
  }

  TempDir dir_;
  std::string src_;
};

TEST_F(FlushMergeTest, DisjointChangesBothLand) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(PutFile(*a->filesystem(), "settings.json", "{\"model\": \"opus\"}\n"), 0);
  ASSERT_EQ(PutFile(*a->filesystem(), "from-a.md", "A"), 0);
  ASSERT_EQ(a->filesystem()->Unlink(Resolve(*a->filesystem(), "agents"), "a.md"), 0);
  FlushReport ra;
  ASSERT_TRUE(a->Flush(FlushOptions{}, &ra).ok());
  EXPECT_EQ(ra.merge_rounds, 0u);

  Filesystem& fb = *b->filesystem();
  ASSERT_EQ(PutFile(fb, "CLAUDE.md", "# memory of b\n"), 0);
  ASSERT_EQ(AppendTo(fb, kTranscript, "{\"b\":1}\n"), 0);
  ASSERT_EQ(PutFile(fb, "projects/-home-dev-x/s2.jsonl", "{\"new\":\"b\"}\n"), 0);
  FlushReport rb;
  Status s = b->Flush(FlushOptions{}, &rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rb.merge_rounds, 1u);
  EXPECT_TRUE(rb.conflicts.empty());
  EXPECT_TRUE(Merged(rb, "settings.json", true));
  EXPECT_TRUE(Merged(rb, "from-a.md", true));
  EXPECT_TRUE(Merged(rb, "agents/a.md", true));
  EXPECT_TRUE(Merged(rb, "CLAUDE.md", false));
  EXPECT_TRUE(Merged(rb, kTranscript, false));
  EXPECT_TRUE(rb.clean_after);
  EXPECT_NE(rb.new_etag, ra.new_etag);

  // B's own view is the merged tree.
  EXPECT_EQ(ReadAll(fb, "settings.json"), "{\"model\": \"opus\"}\n");
  EXPECT_EQ(ReadAll(fb, "from-a.md"), "A");
  EXPECT_EQ(Resolve(fb, "agents/a.md"), 0u);
  EXPECT_EQ(ReadAll(fb, "agents/b.md"), "agent b\n");
  EXPECT_EQ(ReadAll(fb, "CLAUDE.md"), "# memory of b\n");
  // A second flush has nothing left to do.
  ASSERT_TRUE(b->Flush(FlushOptions{}, &rb).ok());
  EXPECT_TRUE(rb.nothing_to_flush);

  auto c = Open("cc");
  ASSERT_NE(c, nullptr);
  Filesystem& fc = *c->filesystem();
  EXPECT_EQ(ReadAll(fc, "settings.json"), "{\"model\": \"opus\"}\n");
  EXPECT_EQ(ReadAll(fc, "from-a.md"), "A");
  EXPECT_EQ(Resolve(fc, "agents/a.md"), 0u);
  EXPECT_EQ(ReadAll(fc, "CLAUDE.md"), "# memory of b\n");
  EXPECT_EQ(ReadAll(fc, kTranscript), std::string(kFirstLine) + "{\"b\":1}\n");
  EXPECT_EQ(ReadAll(fc, "projects/-home-dev-x/s2.jsonl"), "{\"new\":\"b\"}\n");
}

TEST_F(FlushMergeTest, SameFileChangedOnBothSidesKeepsBoth) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(PutFile(*a->filesystem(), "settings.json", "theirs\n"), 0);
  FlushReport ra;
  ASSERT_TRUE(a->Flush(FlushOptions{}, &ra).ok());
  Filesystem& fb = *b->filesystem();
  ASSERT_EQ(PutFile(fb, "settings.json", "ours, longer\n"), 0);
  FlushReport rb;
  Status s = b->Flush(FlushOptions{}, &rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(rb.conflicts.size(), 1u);
  const std::string copy = rb.conflicts[0].copy;
  EXPECT_EQ(rb.conflicts[0].path, "settings.json");
  EXPECT_EQ(copy.rfind("settings.json.conflict-" + ConflictHostName() + "-", 0), 0u) << copy;
  EXPECT_EQ(copy.back(), 'Z');
  EXPECT_EQ(ReadAll(fb, "settings.json"), "theirs\n");
  EXPECT_EQ(ReadAll(fb, copy), "ours, longer\n");
  auto c = Open("cc");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ReadAll(*c->filesystem(), "settings.json"), "theirs\n");
  EXPECT_EQ(ReadAll(*c->filesystem(), copy), "ours, longer\n");
}

TEST_F(FlushMergeTest, SameBytesOnBothSidesAreNoConflict) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  for (Mount* m : {a.get(), b.get()}) {
    ASSERT_EQ(PutFile(*m->filesystem(), "settings.json", "same\n"), 0);
    ASSERT_EQ(AppendTo(*m->filesystem(), kTranscript, "{\"same\":1}\n"), 0);
  }
  FlushReport r;
  for (Mount* m : {a.get(), b.get()}) {
    Status s = m->Flush(FlushOptions{}, &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(r.merge_rounds, 1u);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(ReadAll(*b->filesystem(), "settings.json"), "same\n");
  EXPECT_EQ(ReadAll(*b->filesystem(), kTranscript), std::string(kFirstLine) + "{\"same\":1}\n");
}

TEST_F(FlushMergeTest, TranscriptFastForwardsAndDivergedOnesConflict) {
  const std::string t2 = "projects/-home-dev-x/s2.jsonl";
  WriteFile(src_ + "/" + t2, kFirstLine, 0600);
  {
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    ASSERT_TRUE(PushWorkspace(**store, src_, "ws", po, &pr).ok());
  }
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  // s1: theirs = base + x, ours = base + x + y (a fast-forward).
  // s2: theirs = base + p, ours = base + q (diverged).
  ASSERT_EQ(AppendTo(*a->filesystem(), kTranscript, "{\"x\":1}\n"), 0);
  ASSERT_EQ(AppendTo(*a->filesystem(), t2, "{\"p\":1}\n"), 0);
  Filesystem& fb = *b->filesystem();
  ASSERT_EQ(AppendTo(fb, kTranscript, "{\"x\":1}\n{\"y\":2}\n"), 0);
  ASSERT_EQ(AppendTo(fb, t2, "{\"q\":1}\n"), 0);
  FlushReport r;
  ASSERT_TRUE(a->Flush(FlushOptions{}, &r).ok());
  Status s = b->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Merged(r, kTranscript, false));
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.conflicts[0].path, t2);
  const std::string copy = r.conflicts[0].copy;
  auto c = Open("cc");
  ASSERT_NE(c, nullptr);
  Filesystem& fc = *c->filesystem();
  EXPECT_EQ(ReadAll(fc, kTranscript), std::string(kFirstLine) + "{\"x\":1}\n{\"y\":2}\n");
  EXPECT_EQ(ReadAll(fc, t2), std::string(kFirstLine) + "{\"p\":1}\n");
  EXPECT_EQ(ReadAll(fc, copy), std::string(kFirstLine) + "{\"q\":1}\n");
  EXPECT_EQ(ReadAll(fb, t2), std::string(kFirstLine) + "{\"p\":1}\n");
}

TEST_F(FlushMergeTest, DeleteOnOneSideChangeOnTheOtherKeepsTheChange) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  // There: CLAUDE.md changed, agents/a.md deleted. Here: the opposite.
  ASSERT_EQ(PutFile(*a->filesystem(), "CLAUDE.md", "# changed there\n"), 0);
  ASSERT_EQ(a->filesystem()->Unlink(Resolve(*a->filesystem(), "agents"), "a.md"), 0);
  FlushReport r;
  ASSERT_TRUE(a->Flush(FlushOptions{}, &r).ok());
  Filesystem& fb = *b->filesystem();
  ASSERT_EQ(fb.Unlink(kRootIno, "CLAUDE.md"), 0);
  ASSERT_EQ(PutFile(fb, "agents/a.md", "changed here\n"), 0);
  Status s = b->Flush(FlushOptions{}, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(ReadAll(fb, "CLAUDE.md"), "# changed there\n");
  auto c = Open("cc");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ReadAll(*c->filesystem(), "CLAUDE.md"), "# changed there\n");
  EXPECT_EQ(ReadAll(*c->filesystem(), "agents/a.md"), "changed here\n");
}

TEST_F(FlushMergeTest, ForceSkipsTheMerge) {
  auto a = Open("ca");
  auto b = Open("cb");
  ASSERT_TRUE(a && b);
  // Files never downloaded cannot be written once their version is gone.
  ASSERT_TRUE(b->hydrator()->HydrateTarballMembers().ok());
  ASSERT_EQ(PutFile(*a->filesystem(), "from-a.md", "A"), 0);
  FlushReport r;
  ASSERT_TRUE(a->Flush(FlushOptions{}, &r).ok());
  ASSERT_EQ(PutFile(*b->filesystem(), "from-b.md", "B"), 0);
  FlushOptions force;
  force.force = true;
  ASSERT_TRUE(b->Flush(force, &r).ok());
  EXPECT_EQ(r.merge_rounds, 0u);
  auto c = Open("cc");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Resolve(*c->filesystem(), "from-a.md"), 0u);
  EXPECT_EQ(ReadAll(*c->filesystem(), "from-b.md"), "B");
}

}  // namespace
}  // namespace ccfs
