// MetaDb and InodeTable: the durable inode table and its namespace rules.
#include <gtest/gtest.h>
#include <linux/fs.h>

#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"
#include "fs_test_util.h"

namespace ccfs {
namespace {

using fstest::TempDir;

NodeRecord Root() {
  NodeRecord r;
  r.ino = kRootIno;
  r.type = NodeType::kDir;
  r.mode = 0755;
  return r;
}

TEST(FsMetaDbTest, RoundTripsNodesValuesAndTranscripts) {
  TempDir dir;
  {
    auto db = MetaDb::Open(dir / "meta.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    NodeRecord n;
    n.ino = 7;
    n.parent = 1;
    n.name = "a b.json";
    n.type = NodeType::kSymlink;
    n.link_target = "x/y";
    n.mode = 0600;
    n.size = 3;
    n.mtime_ns = -5;
    n.state = ContentState::kDirty;
    n.origin_kind = OriginKind::kTranscript;
    n.origin_path = "projects/p/s.jsonl";
    n.origin_etag = "abc";
    n.implicit = true;
    ASSERT_TRUE((*db)->PutNode(Root()).ok());
    ASSERT_TRUE((*db)->PutNode(n).ok());
    ASSERT_TRUE((*db)->SetValue("base_etag", "e1").ok());
    ASSERT_TRUE((*db)->PutBaseTranscript({"projects/p/s.jsonl", "abc", 10, 99}).ok());
  }
  auto db = MetaDb::Open(dir / "meta.db");  // reopened: everything is still there
  ASSERT_TRUE(db.ok());
  std::vector<NodeRecord> nodes;
  ASSERT_TRUE((*db)->LoadNodes(&nodes).ok());
  ASSERT_EQ(nodes.size(), 2u);
  const NodeRecord& n = nodes[1];
  EXPECT_EQ(n.name, "a b.json");
  EXPECT_EQ(n.type, NodeType::kSymlink);
  EXPECT_EQ(n.link_target, "x/y");
  EXPECT_EQ(n.mtime_ns, -5);
  EXPECT_EQ(n.state, ContentState::kDirty);
  EXPECT_EQ(n.origin_kind, OriginKind::kTranscript);
  EXPECT_EQ(n.origin_etag, "abc");
  EXPECT_TRUE(n.implicit);
  std::string v;
  ASSERT_TRUE((*db)->GetValue("base_etag", &v).ok());
  EXPECT_EQ(v, "e1");
  EXPECT_TRUE((*db)->GetValue("nope", &v).IsNotFound());
  std::vector<BaseTranscript> ts;
  ASSERT_TRUE((*db)->LoadBaseTranscripts(&ts).ok());
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].size, 10u);

  ASSERT_TRUE((*db)->ReplaceAll({Root()}, {}).ok());
  ASSERT_TRUE((*db)->LoadNodes(&nodes).ok());
  EXPECT_EQ(nodes.size(), 1u);
  ASSERT_TRUE((*db)->LoadBaseTranscripts(&ts).ok());
  EXPECT_TRUE(ts.empty());
}

class FsInodeTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = MetaDb::Open(dir_ / "meta.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->PutNode(Root()).ok());
    table_ = std::make_unique<InodeTable>(db_.get());
    ASSERT_TRUE(table_->Load({Root()}).ok());
  }
  uint64_t Make(uint64_t parent, const std::string& name, NodeType type = NodeType::kFile) {
    NodeInfo n;
    EXPECT_EQ(table_->Create(parent, name, type, 0644, "", 1, &n), 0) << name;
    return n.ino;
  }
  std::vector<std::string> Paths() {
    std::vector<SnapshotEntry> snap;
    table_->Snapshot(&snap);
    std::vector<std::string> out;
    for (const auto& e : snap) out.push_back(e.path);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<MetaDb> db_;
  std::unique_ptr<InodeTable> table_;
};

TEST_F(FsInodeTableTest, CreateLookupAndRemove) {
  uint64_t d = Make(kRootIno, "d", NodeType::kDir);
  uint64_t f = Make(d, "f");
  NodeInfo n;
  EXPECT_EQ(table_->Lookup(d, "f", false, &n), 0);
  EXPECT_EQ(n.ino, f);
  EXPECT_EQ(table_->Create(d, "f", NodeType::kFile, 0644, "", 1, &n), EEXIST);
  EXPECT_EQ(table_->Create(d, "f", NodeType::kDir, 0755, "", 1, &n), EEXIST);  // mkdir lock
  std::vector<uint64_t> dropped;
  EXPECT_EQ(table_->Remove(kRootIno, "d", true, 2, &dropped), ENOTEMPTY);
  EXPECT_EQ(table_->Remove(d, "f", true, 2, &dropped), ENOTDIR);
  EXPECT_EQ(table_->Remove(kRootIno, "d", false, 2, &dropped), EISDIR);
  EXPECT_EQ(table_->Remove(d, "f", false, 2, &dropped), 0);
  EXPECT_TRUE(dropped.empty());  // the kernel still holds a reference
  table_->Forget(f, 1, &dropped);
  EXPECT_EQ(dropped, std::vector<uint64_t>{f});
  EXPECT_EQ(table_->Remove(kRootIno, "d", true, 2, &dropped), 0);
  EXPECT_EQ(table_->Lookup(kRootIno, "d", false, &n), ENOENT);
}

TEST_F(FsInodeTableTest, LinkCountsAreTwoPlusSubdirsOneAndZeroOnceUnlinked) {
  auto nlink = [&](uint64_t ino) {
    NodeInfo n;
    EXPECT_EQ(table_->Get(ino, &n), 0);
    return n.nlink;
  };
  EXPECT_EQ(nlink(kRootIno), 2u);
  uint64_t d = Make(kRootIno, "d", NodeType::kDir);
  uint64_t f = Make(d, "f");
  Make(d, "s1", NodeType::kDir);
  uint64_t s2 = Make(d, "s2", NodeType::kDir);
  Make(d, "link", NodeType::kSymlink);
  EXPECT_EQ(nlink(kRootIno), 3u);
  EXPECT_EQ(nlink(d), 4u) << "2 + s1 + s2; files and symlinks do not count";
  EXPECT_EQ(nlink(f), 1u);
  EXPECT_EQ(nlink(s2), 2u);
  NodeInfo n;
  ASSERT_EQ(table_->Lookup(kRootIno, "d", false, &n), 0);
  EXPECT_EQ(n.nlink, 4u) << "lookup counts too";

  std::vector<uint64_t> dropped;
  ASSERT_EQ(table_->Rename(d, "s2", kRootIno, "moved", 0, 2, &dropped), 0);
  EXPECT_EQ(nlink(d), 3u);
  EXPECT_EQ(nlink(kRootIno), 4u);
  ASSERT_EQ(table_->Remove(d, "s1", true, 2, &dropped), 0);
  EXPECT_EQ(nlink(d), 2u);
  // Open (the kernel holds a reference) and unlinked: no name left.
  ASSERT_EQ(table_->Remove(d, "f", false, 2, &dropped), 0);
  EXPECT_EQ(nlink(f), 0u);

  // RENAME_EXCHANGE of a directory with a file across two directories moves
  // a ".." from one to the other; replacing an empty directory drops its.
  uint64_t e = Make(kRootIno, "e", NodeType::kDir);
  Make(e, "file");
  Make(d, "sub", NodeType::kDir);
  ASSERT_EQ(nlink(d), 3u);
  ASSERT_EQ(table_->Rename(d, "sub", e, "file", RENAME_EXCHANGE, 3, &dropped), 0);
  EXPECT_EQ(nlink(d), 2u);
  EXPECT_EQ(nlink(e), 3u);
  Make(kRootIno, "empty", NodeType::kDir);
  ASSERT_EQ(nlink(kRootIno), 6u) << "d, moved, e, empty";
  ASSERT_EQ(table_->Rename(kRootIno, "moved", kRootIno, "empty", 0, 4, &dropped), 0);
  EXPECT_EQ(nlink(kRootIno), 5u);

  // A table loaded from meta.db counts the same.
  std::vector<NodeRecord> records;
  ASSERT_TRUE(db_->LoadNodes(&records).ok());
  InodeTable reloaded(db_.get());
  ASSERT_TRUE(reloaded.Load(records).ok());
  NodeInfo r;
  ASSERT_EQ(reloaded.Get(kRootIno, &r), 0);
  EXPECT_EQ(r.nlink, 5u);
  ASSERT_EQ(reloaded.Get(e, &r), 0);
  EXPECT_EQ(r.nlink, 3u);
}

TEST_F(FsInodeTableTest, RenameReplacesNoreplaceAndExchange) {
  uint64_t a = Make(kRootIno, "a");
  uint64_t b = Make(kRootIno, "b");
  std::vector<uint64_t> dropped;
  EXPECT_EQ(table_->Rename(kRootIno, "a", kRootIno, "b", RENAME_NOREPLACE, 2, &dropped), EEXIST);
  EXPECT_EQ(table_->Rename(kRootIno, "a", kRootIno, "b", RENAME_EXCHANGE, 2, &dropped), 0);
  NodeInfo n;
  ASSERT_EQ(table_->Lookup(kRootIno, "a", false, &n), 0);
  EXPECT_EQ(n.ino, b);
  ASSERT_EQ(table_->Rename(kRootIno, "a", kRootIno, "b", 0, 2, &dropped), 0);  // over b
  ASSERT_EQ(table_->Lookup(kRootIno, "b", false, &n), 0);
  EXPECT_EQ(n.ino, b);
  EXPECT_EQ(table_->Lookup(kRootIno, "a", false, &n), ENOENT);
  table_->Forget(a, 1, &dropped);
  EXPECT_EQ(dropped, std::vector<uint64_t>{a});  // the replaced file is gone for good

  uint64_t d = Make(kRootIno, "d", NodeType::kDir);
  uint64_t sub = Make(d, "sub", NodeType::kDir);
  EXPECT_EQ(table_->Rename(kRootIno, "d", sub, "x", 0, 2, &dropped), EINVAL);  // into itself
  EXPECT_EQ(table_->Rename(kRootIno, "b", kRootIno, "d", 0, 2, &dropped), EISDIR);
  EXPECT_EQ(table_->Rename(d, "sub", kRootIno, "b", 0, 2, &dropped), ENOTDIR);
  Make(kRootIno, "e", NodeType::kDir);
  EXPECT_EQ(table_->Rename(kRootIno, "e", kRootIno, "d", 0, 2, &dropped), ENOTEMPTY);
  EXPECT_EQ(table_->Rename(d, "sub", kRootIno, "e", 0, 2, &dropped), 0);  // over an empty dir
  EXPECT_EQ(Paths(), (std::vector<std::string>{"b", "d", "e"}));
}

TEST_F(FsInodeTableTest, TreeSurvivesReloadFromTheDb) {
  uint64_t d = Make(kRootIno, "dir", NodeType::kDir);
  uint64_t f = Make(d, "file");
  Make(kRootIno, "a");
  ASSERT_EQ(table_->NoteWrite(f, 4096, 5), 0);
  std::vector<uint64_t> dropped;
  ASSERT_EQ(table_->Rename(d, "file", kRootIno, "moved", 0, 6, &dropped), 0);
  ASSERT_TRUE(table_->PersistWrittenFiles().ok());
  std::vector<std::string> before = Paths();

  std::vector<NodeRecord> records;
  ASSERT_TRUE(db_->LoadNodes(&records).ok());
  InodeTable reloaded(db_.get());
  ASSERT_TRUE(reloaded.Load(records).ok());
  std::vector<SnapshotEntry> snap;
  reloaded.Snapshot(&snap);
  std::vector<std::string> after;
  for (const auto& e : snap) after.push_back(e.path);
  EXPECT_EQ(after, before);
  EXPECT_EQ(after, (std::vector<std::string>{"a", "dir", "moved"}));
  NodeInfo n;
  ASSERT_EQ(reloaded.Lookup(kRootIno, "moved", false, &n), 0);
  EXPECT_EQ(n.size, 4096u);
  EXPECT_EQ(n.state, ContentState::kDirty);
  // New inodes never reuse old numbers.
  NodeInfo fresh;
  ASSERT_EQ(reloaded.Create(kRootIno, "z", NodeType::kFile, 0644, "", 1, &fresh), 0);
  EXPECT_GT(fresh.ino, f);
}

TEST_F(FsInodeTableTest, SnapshotIsSortedDepthFirst) {
  uint64_t b = Make(kRootIno, "b", NodeType::kDir);
  Make(b, "z");
  Make(b, "a");
  Make(kRootIno, "a");
  Make(kRootIno, "c");
  EXPECT_EQ(Paths(), (std::vector<std::string>{"a", "b", "b/a", "b/z", "c"}));
}

TEST_F(FsInodeTableTest, LocalChangesFlagIsRecordedWithTheChange) {
  auto flag = [&] {
    std::string v;
    return db_->GetValue(kLocalChangesKey, &v).ok() ? v : "<absent>";
  };
  Make(kRootIno, "x");
  EXPECT_EQ(flag(), "1");
  Make(kRootIno, "y");
  EXPECT_TRUE(table_->MarkCleanIf(table_->change_count()));
  EXPECT_FALSE(table_->has_changes());
  EXPECT_EQ(flag(), "0");
  uint64_t before = table_->change_count();
  Make(kRootIno, "z");
  EXPECT_EQ(flag(), "1");
  EXPECT_FALSE(table_->MarkCleanIf(before));  // changed while "flushing"
  EXPECT_EQ(flag(), "1");
}

// A change that cannot be recorded (the cache filesystem full: SQLite's
// COMMIT fails) fails with ENOSPC and leaves the tree exactly as it was, in
// memory and on disk; once there is room again the same change works.
TEST_F(FsInodeTableTest, ChangesThatCannotBeRecordedFailAndChangeNothing) {
  uint64_t d = Make(kRootIno, "d", NodeType::kDir);
  uint64_t f = Make(d, "f");
  Make(kRootIno, "keep");
  db_->SetCommitFaultForTest(ENOSPC);
  const std::vector<std::string> before = Paths();
  NodeInfo n;
  std::vector<uint64_t> dropped;
  InodeTable::AttrChange mode;
  mode.set_mode = true;
  mode.mode = 0600;
  mode.ctime_ns = 7;
  EXPECT_EQ(
      table_->Create(kRootIno, "new-name-that-needs-a-new-row", NodeType::kFile, 0644, "", 2, &n),
      ENOSPC);
  EXPECT_EQ(table_->Remove(d, "f", false, 3, &dropped), ENOSPC);
  EXPECT_EQ(table_->Rename(kRootIno, "keep", d, "moved-with-a-longer-name", 0, 4, &dropped),
            ENOSPC);
  EXPECT_EQ(table_->SetAttr(f, mode, &n), ENOSPC);
  EXPECT_EQ(Paths(), before);
  ASSERT_EQ(table_->Get(f, &n), 0);
  EXPECT_EQ(n.mode, 0644u);
  std::vector<NodeRecord> on_disk;
  ASSERT_TRUE(db_->LoadNodes(&on_disk).ok());
  EXPECT_EQ(on_disk.size(), 4u);  // root, d, d/f, keep: nothing half-written

  db_->SetCommitFaultForTest(0);
  EXPECT_EQ(table_->Remove(d, "f", false, 3, &dropped), 0);
  EXPECT_EQ(table_->Rename(kRootIno, "keep", d, "moved-with-a-longer-name", 0, 4, &dropped), 0);
  EXPECT_EQ(Paths(), (std::vector<std::string>{"d", "d/moved-with-a-longer-name"}));
  ASSERT_TRUE(db_->LoadNodes(&on_disk).ok());
  EXPECT_EQ(on_disk.size(), 3u);
}

}  // namespace
}  // namespace ccfs
