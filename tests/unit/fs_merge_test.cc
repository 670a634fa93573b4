// PlanMerge (fs/flush/merge.h) over hand-made base / remote / local trees: every
// row of the merge table, with a fake content comparer (no store).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "fs/flush/merge.h"

namespace ccfs {
namespace {

constexpr const char* kBaseEtag = "base-etag";
constexpr const char* kRemoteEtag = "remote-etag";
constexpr const char* kT = "projects/p/s.jsonl";

TarEntry File(const std::string& path, uint64_t size, int64_t mtime = 100, uint32_t mode = 0644) {
  TarEntry e;
  e.path = path;
  e.type = EntryType::kFile;
  e.size = size;
  e.mtime = mtime;
  e.mode = mode;
  return e;
}

TarEntry Dir(const std::string& path) {
  TarEntry e;
  e.path = path;
  e.type = EntryType::kDir;
  e.mode = 0755;
  e.mtime = 100;
  return e;
}

class MergeTest : public ::testing::Test {
 protected:
  // The base every test starts from: a.txt, b.txt, d/, d/x, the transcript.
  void SetUp() override {
    base_entries_ = {File("a.txt", 1), File("b.txt", 2), Dir("d"), File("d/x", 3)};
    base_transcripts_[kT] = BaseTranscript{kT, "t1", 10, 100};
    remote_entries_ = base_entries_;
    remote_transcripts_ = base_transcripts_;
    // The local tree: every base entry, unchanged.
    for (const TarEntry& e : base_entries_) AddLocalFromBase(e);
    AddLocalTranscript(kT, "t1", 10);
  }

  void AddLocalFromBase(const TarEntry& e) {
    SnapshotEntry s;
    s.path = e.path;
    s.node.ino = next_ino_++;
    s.node.type = e.type == EntryType::kDir ? NodeType::kDir : NodeType::kFile;
    s.node.mode = e.mode;
    s.node.size = e.size;
    s.node.mtime_ns = e.mtime * 1000000000;
    s.node.state = e.type == EntryType::kDir ? ContentState::kCached : ContentState::kRemote;
    s.node.origin_kind = OriginKind::kTarball;
    s.node.origin_path = e.path;
    s.node.origin_etag = kBaseEtag;
    local_.push_back(s);
  }

  void AddLocalTranscript(const std::string& path, const std::string& etag, uint64_t size) {
    SnapshotEntry s;
    s.path = path;
    s.node.ino = next_ino_++;
    s.node.type = NodeType::kFile;
    s.node.mode = 0600;
    s.node.size = size;
    s.node.state = ContentState::kCached;
    s.node.origin_kind = OriginKind::kTranscript;
    s.node.origin_path = path;
    s.node.origin_etag = etag;
    local_.push_back(s);
  }

  // A file created or rewritten here.
  SnapshotEntry& LocalDirty(const std::string& path, uint64_t size) {
    auto it = std::find_if(local_.begin(), local_.end(),
                           [&](const SnapshotEntry& s) { return s.path == path; });
    if (it == local_.end()) {
      SnapshotEntry s;
      s.path = path;
      s.node.ino = next_ino_++;
      s.node.type = NodeType::kFile;
      s.node.mode = 0644;
      local_.push_back(s);
      it = local_.end() - 1;
    }
    it->node.type = NodeType::kFile;
    it->node.state = ContentState::kDirty;
    it->node.size = size;
    it->node.data_gen = 7;
    return *it;
  }

  SnapshotEntry& LocalDir(const std::string& path) {
    SnapshotEntry s;
    s.path = path;
    s.node.ino = next_ino_++;
    s.node.type = NodeType::kDir;
    s.node.mode = 0755;
    local_.push_back(s);
    return local_.back();
  }

  void LocalRemove(const std::string& path) {
    local_.erase(std::remove_if(local_.begin(), local_.end(),
                                [&](const SnapshotEntry& s) { return s.path == path; }),
                 local_.end());
  }

  void RemoteSet(const TarEntry& e) {
    RemoteRemove(e.path);
    remote_entries_.push_back(e);
  }
  void RemoteRemove(const std::string& path) {
    remote_entries_.erase(std::remove_if(remote_entries_.begin(), remote_entries_.end(),
                                         [&](const TarEntry& e) { return e.path == path; }),
                          remote_entries_.end());
  }

  uint64_t InoOf(const std::string& path) const {
    for (const auto& s : local_) {
      if (s.path == path) return s.node.ino;
    }
    return 0;
  }

  Status Run(MergePlan* plan) {
    TarIndex bi, ri;
    bi.entries = base_entries_;
    ri.entries = remote_entries_;
    std::sort(local_.begin(), local_.end(),
              [](const SnapshotEntry& a, const SnapshotEntry& b) { return a.path < b.path; });
    auto base = TarballVersion::Make(kBaseEtag, 1000, true, bi);
    auto remote = TarballVersion::Make(kRemoteEtag, 1000, true, ri);
    MergeInputs in;
    in.base_tarball = base.get();
    in.base_transcripts = &base_transcripts_;
    in.remote_tarball = remote.get();
    in.remote_transcripts = &remote_transcripts_;
    in.local = &local_;
    in.host = "h";
    in.time = "20261121T142500Z";
    in.theirs_same_as_base = same_as_base_;
    compared_.clear();
    return PlanMerge(
        in,
        [&](const SnapshotEntry& ours, const NodeRecord& theirs, ContentRelation* rel) {
          compared_.push_back(ours.path);
          EXPECT_EQ(theirs.origin_path, ours.path);
          auto it = relation_.find(ours.path);
          *rel = it == relation_.end() ? ContentRelation::kDifferent : it->second;
          return Status::OK();
        },
        plan);
  }

  static const MergePlan::Take* FindTake(const MergePlan& p, const std::string& path) {
    for (const auto& t : p.takes) {
      if (t.path == path) return &t;
    }
    return nullptr;
  }
  static bool Has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  static std::string Copy(const std::string& path) { return path + ".conflict-h-20261121T142500Z"; }

  std::vector<TarEntry> base_entries_, remote_entries_;
  std::map<std::string, BaseTranscript> base_transcripts_, remote_transcripts_;
  std::vector<SnapshotEntry> local_;
  std::map<std::string, ContentRelation> relation_;
  std::vector<std::string> compared_;
  std::function<Status(const std::string&, bool*)> same_as_base_;
  uint64_t next_ino_ = 2;
};

TEST_F(MergeTest, NothingChangedAnywhereOnlyMovesOrigins) {
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.applied.empty());
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(p.hydrate_first.empty());
  // a.txt, b.txt, d, d/x now name the same members of the new version.
  EXPECT_EQ(p.retarget.size(), 4u);
}

TEST_F(MergeTest, ChangedOnlyThereTakesTheirs) {
  RemoteSet(File("a.txt", 5, 200));
  RemoteSet(File("new.txt", 4));
  remote_transcripts_[kT].etag = "t2";
  remote_transcripts_[kT].size = 20;
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  const auto* a = FindTake(p, "a.txt");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ino, InoOf("a.txt"));  // updated in place
  EXPECT_FALSE(a->keep_content);
  EXPECT_EQ(a->theirs.size, 5u);
  EXPECT_EQ(a->theirs.state, ContentState::kRemote);
  EXPECT_EQ(a->theirs.origin_etag, kRemoteEtag);
  const auto* n = FindTake(p, "new.txt");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->ino, 0u);  // created
  const auto* t = FindTake(p, kT);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->theirs.origin_kind, OriginKind::kTranscript);
  EXPECT_EQ(t->theirs.origin_etag, "t2");
  EXPECT_TRUE(Has(p.taken, "a.txt") && Has(p.taken, "new.txt") && Has(p.taken, kT));
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(compared_.empty());
  // b.txt, d, d/x are unchanged: retargeted, not taken.
  EXPECT_EQ(p.retarget.size(), 3u);
}

TEST_F(MergeTest, ChangedOnlyHereKeepsOurs) {
  LocalDirty("b.txt", 9);
  LocalDirty("mine.txt", 3);
  LocalDirty(kT, 30);
  LocalRemove("d/x");
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.empty());
  for (const char* path : {"b.txt", "mine.txt", kT, "d/x"}) {
    EXPECT_TRUE(Has(p.applied, path)) << path;
  }
  EXPECT_TRUE(p.conflicts.empty());
}

TEST_F(MergeTest, ChangedOnBothSidesKeepsTheirsAndOursBeside) {
  LocalDirty("a.txt", 7);
  RemoteSet(File("a.txt", 8, 300));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_EQ(compared_, std::vector<std::string>{"a.txt"});
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].path, "a.txt");
  EXPECT_EQ(p.moves[0].to, Copy("a.txt"));
  EXPECT_EQ(p.moves[0].ino, InoOf("a.txt"));
  const auto* t = FindTake(p, "a.txt");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ino, 0u);  // theirs is a new node at the path
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0], std::make_pair(std::string("a.txt"), Copy("a.txt")));
}

TEST_F(MergeTest, SameBytesOnBothSidesIsNoConflict) {
  LocalDirty("a.txt", 8);
  RemoteSet(File("a.txt", 8, 300));
  relation_["a.txt"] = ContentRelation::kSame;
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(p.moves.empty());
  const auto* t = FindTake(p, "a.txt");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ino, InoOf("a.txt"));
  EXPECT_TRUE(t->keep_content);
  EXPECT_EQ(t->seen_gen, 7u);
}

TEST_F(MergeTest, DeletedHereChangedThereTakesTheirs) {
  LocalRemove("a.txt");
  RemoteSet(File("a.txt", 5, 200));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  const auto* t = FindTake(p, "a.txt");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ino, 0u);
  EXPECT_TRUE(p.conflicts.empty());
}

TEST_F(MergeTest, ChangedHereDeletedThereKeepsOurs) {
  LocalDirty("a.txt", 5);
  RemoteRemove("a.txt");
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(Has(p.applied, "a.txt"));
}

TEST_F(MergeTest, DeletedThereUnchangedHereIsDeleted) {
  RemoteRemove("b.txt");
  remote_transcripts_.erase(kT);
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.deletes.size(), 2u);
  EXPECT_EQ(p.deletes[0].path, kT);  // deepest (last in order) first
  EXPECT_EQ(p.deletes[1].path, "b.txt");
  EXPECT_EQ(p.deletes[1].ino, InoOf("b.txt"));
  EXPECT_TRUE(p.takes.empty());
}

TEST_F(MergeTest, DeletedOnBothSidesIsDone) {
  LocalRemove("b.txt");
  RemoteRemove("b.txt");
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(Has(p.applied, "b.txt"));
  EXPECT_FALSE(Has(p.taken, "b.txt"));
}

TEST_F(MergeTest, TranscriptAppendedOnBothSidesFastForwardsWhenTheirsIsAPrefix) {
  LocalDirty(kT, 30);
  remote_transcripts_[kT].etag = "t2";
  remote_transcripts_[kT].size = 20;
  relation_[kT] = ContentRelation::kTheirsPrefixOfOurs;
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_EQ(compared_, std::vector<std::string>{kT});
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(Has(p.applied, kT));
  EXPECT_TRUE(p.conflicts.empty());
}

TEST_F(MergeTest, TranscriptAppendedDifferentlyOnBothSidesIsAConflict) {
  LocalDirty(kT, 30);
  remote_transcripts_[kT].etag = "t2";
  remote_transcripts_[kT].size = 20;
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0].second, Copy(kT));
  const auto* t = FindTake(p, kT);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->theirs.origin_etag, "t2");
}

// A compaction (store/layout/compact.h) moves a file's bytes without
// changing them: theirs then has another tag but the base's bytes, which is
// no change, so ours is kept and nothing is moved aside.
TEST_F(MergeTest, TheirsOnlyMovedKeepsOursWithoutAConflict) {
  LocalDirty(kT, 30);
  remote_transcripts_[kT].etag = "t1-compacted";
  std::vector<std::string> asked;
  same_as_base_ = [&](const std::string& path, bool* same) {
    asked.push_back(path);
    *same = path == kT;
    return Status::OK();
  };
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_EQ(asked, std::vector<std::string>{kT});
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(p.moves.empty());
  EXPECT_EQ(FindTake(p, kT), nullptr);
  EXPECT_TRUE(Has(p.applied, kT));

  // Really changed there: a conflict as before.
  same_as_base_ = [](const std::string&, bool* same) {
    *same = false;
    return Status::OK();
  };
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0].second, Copy(kT));
}

TEST_F(MergeTest, PrefixIsNoFastForwardForTarballFiles) {
  LocalDirty("a.txt", 9);
  RemoteSet(File("a.txt", 5, 300));
  relation_["a.txt"] = ContentRelation::kTheirsPrefixOfOurs;
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_EQ(p.conflicts.size(), 1u);
}

TEST_F(MergeTest, NewFilesOnBothSidesWithTheSameName) {
  LocalDirty("same.txt", 4);
  RemoteSet(File("same.txt", 4));
  relation_["same.txt"] = ContentRelation::kSame;
  LocalDirty("differ.txt", 4);
  RemoteSet(File("differ.txt", 6));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  const auto* same = FindTake(p, "same.txt");
  ASSERT_NE(same, nullptr);
  EXPECT_TRUE(same->keep_content);
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0].first, "differ.txt");
  EXPECT_EQ(p.moves[0].to, Copy("differ.txt"));
}

TEST_F(MergeTest, OurNewDirectoryWhereTheyAddedAFile) {
  LocalDir("n");
  LocalDirty("n/f", 2);
  RemoteSet(File("n", 3));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.moves.size(), 1u);  // the whole directory moves aside
  EXPECT_EQ(p.moves[0].path, "n");
  EXPECT_EQ(p.moves[0].to, Copy("n"));
  const auto* t = FindTake(p, "n");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->theirs.type, NodeType::kFile);
  EXPECT_TRUE(Has(p.applied, "n/f"));  // travels with its directory
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_TRUE(compared_.empty());
}

TEST_F(MergeTest, OurNewFileWhereTheyAddedADirectory) {
  LocalDirty("m", 2);
  RemoteSet(Dir("m"));
  RemoteSet(File("m/y", 4));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].path, "m");
  ASSERT_EQ(p.takes.size(), 2u);
  EXPECT_EQ(p.takes[0].path, "m");  // parents before children
  EXPECT_EQ(p.takes[0].theirs.type, NodeType::kDir);
  EXPECT_EQ(p.takes[1].path, "m/y");
}

TEST_F(MergeTest, TheirFileReplacingAnUnchangedDirectory) {
  RemoteRemove("d/x");
  RemoteSet(File("d", 4));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_TRUE(p.conflicts.empty());
  ASSERT_EQ(p.deletes.size(), 2u);
  EXPECT_EQ(p.deletes[0].path, "d/x");
  EXPECT_EQ(p.deletes[1].path, "d");
  EXPECT_TRUE(p.deletes[1].is_dir);
  const auto* t = FindTake(p, "d");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ino, 0u);
}

TEST_F(MergeTest, TheirFileReplacingADirectoryWeAddedTo) {
  RemoteRemove("d/x");
  RemoteSet(File("d", 4));
  LocalDirty("d/new", 1);
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0].first, "d");
  ASSERT_EQ(p.deletes.size(), 1u);  // d/x goes (unchanged here), d/new travels with d
  EXPECT_EQ(p.deletes[0].path, "d/x");
}

TEST_F(MergeTest, TheyDeletedADirectoryWeAddedTo) {
  RemoteRemove("d/x");
  RemoteRemove("d");
  LocalDirty("d/new", 1);
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.deletes.size(), 1u);
  EXPECT_EQ(p.deletes[0].path, "d/x");
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(Has(p.applied, "d/new"));
}

TEST_F(MergeTest, OurFileInTheWayOfTheirNewFileBelowIt) {
  // Here d became a file; there d/x changed: theirs needs d as a directory.
  LocalRemove("d/x");
  LocalRemove("d");
  LocalDirty("d", 2);
  RemoteSet(File("d/x", 9, 400));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].path, "d");
  EXPECT_NE(FindTake(p, "d"), nullptr);  // their directory
  EXPECT_NE(FindTake(p, "d/x"), nullptr);
}

TEST_F(MergeTest, ConflictCopyNamesDoNotCollide) {
  LocalDirty("a.txt", 7);
  RemoteSet(File("a.txt", 8, 300));
  RemoteSet(File(Copy("a.txt"), 1));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].to, Copy("a.txt") + "-2");
}

TEST_F(MergeTest, UnhydratedFilesWhoseOriginChangedAreFetchedFirst) {
  // a.txt was renamed here (still not downloaded); there, a.txt changed.
  for (auto& s : local_) {
    if (s.path == "a.txt") s.path = "renamed.txt";
  }
  RemoteSet(File("a.txt", 5, 200));
  MergePlan p;
  ASSERT_TRUE(Run(&p).ok());
  EXPECT_EQ(p.hydrate_first, std::vector<uint64_t>{InoOf("renamed.txt")});
  // b.txt, unchanged on both sides: its origin just moves to the new version.
  EXPECT_EQ(std::count(p.retarget.begin(), p.retarget.end(), InoOf("b.txt")), 1);
}

TEST_F(MergeTest, ComparerErrorsAbortTheMerge) {
  LocalDirty("a.txt", 7);
  RemoteSet(File("a.txt", 8, 300));
  TarIndex bi, ri;
  bi.entries = base_entries_;
  ri.entries = remote_entries_;
  auto base = TarballVersion::Make(kBaseEtag, 1, true, bi);
  auto remote = TarballVersion::Make(kRemoteEtag, 1, true, ri);
  MergeInputs in{
      base.get(), &base_transcripts_, remote.get(), &remote_transcripts_, &local_, "h", "t", {}};
  MergePlan p;
  Status s = PlanMerge(
      in,
      [](const SnapshotEntry&, const NodeRecord&, ContentRelation*) {
        return Status::IOError("store down");
      },
      &p);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("a.txt"), std::string::npos);
}

}  // namespace
}  // namespace ccfs
