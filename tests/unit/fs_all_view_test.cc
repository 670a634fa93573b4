// The read-only view of every workspace (fs/all/all_view.h) driven without a
// kernel: inode routing, the root listing, lazy opening (a workspace is
// prepared only when something inside it is looked up), reads through the
// owning workspace, new workspaces picked up by a re-list, a broken
// workspace failing alone, one view per cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fs/all/all_view.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::TempDir;
using fstest::WriteFile;

TEST(AllViewInoTest, EncodesSlotAndLocalInode) {
  EXPECT_EQ(AllViewIno(0, kRootIno), (uint64_t{1} << 40) | 1);
  EXPECT_EQ(AllViewIno(2, 77), (uint64_t{3} << 40) | 77);
  for (size_t slot : {size_t{0}, size_t{1}, size_t{4095}, kAllViewMaxSlots - 1}) {
    for (uint64_t local : {uint64_t{1}, uint64_t{2}, uint64_t{123456}, kAllViewLocalMask}) {
      uint64_t ino = AllViewIno(slot, local);
      EXPECT_NE(ino, kAllViewRootIno);
      size_t s = 99;
      uint64_t l = 0;
      ASSERT_TRUE(SplitAllViewIno(ino, &s, &l)) << ino;
      EXPECT_EQ(s, slot);
      EXPECT_EQ(l, local);
    }
  }
  size_t s;
  uint64_t l;
  EXPECT_FALSE(SplitAllViewIno(kAllViewRootIno, &s, &l));    // the virtual root
  EXPECT_FALSE(SplitAllViewIno(uint64_t{5} << 40, &s, &l));  // local 0 never exists
  EXPECT_FALSE(SplitAllViewIno(kAllViewLocalMask, &s, &l));  // no slot
  EXPECT_NE(AllViewIno(0, 5), AllViewIno(1, 5));             // same local, other workspace
}

class AllViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_dir_ = dir_ / "store";
    for (const std::string ws : {"gamma", "alpha", "beta"}) Push(ws);
  }

  void Push(const std::string& ws) {
    std::string src = dir_ / ("src-" + ws);
    WriteFile(src + "/settings.json", "{\"owner\": \"" + ws + "\"}\n");
    WriteFile(src + "/CLAUDE.md", "# memory of " + ws + "\n");
    WriteFile(src + "/projects/-home-x/s-" + ws + ".jsonl", "{\"ws\":\"" + ws + "\"}\n", 0600);
    auto store = OpenFileStore(store_dir_);
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    Status s = PushWorkspace(**store, src, ws, po, &pr);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  AllViewOptions Options() {
    AllViewOptions o;
    o.store_url = "file://" + store_dir_;
    o.mountpoint = dir_ / "mnt";
    o.cache_root = dir_ / "cache";
    o.relist_interval_ms = 0;  // every root listing asks the store
    return o;
  }

  std::unique_ptr<AllView> OpenView() {
    std::string root = store_dir_;
    auto v = AllView::Open([root] { return OpenFileStore(root); }, Options());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }

  // Resolves "ws/a/b" from the virtual root; 0 and *err on failure.
  uint64_t Resolve(AllView& v, const std::string& path, int* err) {
    uint64_t ino = kAllViewRootIno;
    size_t start = 0;
    while (start < path.size()) {
      size_t slash = path.find('/', start);
      std::string part = path.substr(start, slash == std::string::npos ? slash : slash - start);
      NodeInfo n;
      if ((*err = v.Lookup(ino, part, &n)) != 0) return 0;
      ino = n.ino;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return ino;
  }

  std::string Read(AllView& v, const std::string& path) {
    int err = 0;
    uint64_t ino = Resolve(v, path, &err);
    if (ino == 0) return "<errno " + std::to_string(err) + ">";
    std::shared_ptr<UniqueFd> fd;
    if ((err = v.OpenContent(ino, &fd)) != 0) return "<errno " + std::to_string(err) + ">";
    std::string out(1 << 16, '\0');
    ssize_t n = ::pread(fd->get(), out.data(), out.size(), 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }

  TempDir dir_;
  std::string store_dir_;
};

TEST_F(AllViewTest, RootListsEveryWorkspaceWithoutOpeningAny) {
  auto v = OpenView();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->WorkspaceNames(), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  std::vector<DirEntryInfo> entries;
  ASSERT_EQ(v->ListDir(kAllViewRootIno, &entries), 0);
  ASSERT_EQ(entries.size(), 3u);
  std::set<size_t> slots;
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].name, v->WorkspaceNames()[i]);
    EXPECT_EQ(entries[i].type, NodeType::kDir);
    size_t slot;
    uint64_t local;
    ASSERT_TRUE(SplitAllViewIno(entries[i].ino, &slot, &local));
    EXPECT_EQ(local, kRootIno);
    slots.insert(slot);
    NodeInfo n;
    ASSERT_EQ(v->GetAttr(entries[i].ino, &n), 0);
    EXPECT_EQ(n.type, NodeType::kDir);
    EXPECT_EQ(n.name, entries[i].name);
    EXPECT_EQ(n.parent, kAllViewRootIno);
    EXPECT_EQ(n.mode & 0222, 0u);
  }
  EXPECT_EQ(slots.size(), 3u);
  NodeInfo root;
  ASSERT_EQ(v->GetAttr(kAllViewRootIno, &root), 0);
  EXPECT_EQ(root.type, NodeType::kDir);
  NodeInfo n;
  EXPECT_EQ(v->Lookup(kAllViewRootIno, "beta", &n), 0);
  EXPECT_EQ(v->Lookup(kAllViewRootIno, "nope", &n), ENOENT);
  EXPECT_EQ(v->OpenedCount(), 0u);  // names and attributes of the roots need no workspace
}

TEST_F(AllViewTest, LookupsAndReadsAreRoutedToTheirWorkspace) {
  auto v = OpenView();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(Read(*v, "beta/settings.json"), "{\"owner\": \"beta\"}\n");
  EXPECT_EQ(v->OpenedCount(), 1u);  // only beta was opened
  EXPECT_EQ(Read(*v, "alpha/projects/-home-x/s-alpha.jsonl"), "{\"ws\":\"alpha\"}\n");
  EXPECT_EQ(Read(*v, "gamma/CLAUDE.md"), "# memory of gamma\n");
  EXPECT_EQ(v->OpenedCount(), 3u);

  int err = 0;
  uint64_t beta = Resolve(*v, "beta", &err);
  uint64_t settings = Resolve(*v, "beta/settings.json", &err);
  ASSERT_NE(settings, 0u);
  size_t beta_slot, slot;
  uint64_t local;
  ASSERT_TRUE(SplitAllViewIno(beta, &beta_slot, &local));
  ASSERT_TRUE(SplitAllViewIno(settings, &slot, &local));
  EXPECT_EQ(slot, beta_slot);
  EXPECT_NE(local, kRootIno);
  NodeInfo n;
  ASSERT_EQ(v->GetAttr(settings, &n), 0);
  EXPECT_EQ(n.ino, settings);
  EXPECT_EQ(n.parent, beta);  // the workspace's root, as the view numbers it
  EXPECT_EQ(n.size, std::string("{\"owner\": \"beta\"}\n").size());

  // A listing inside a workspace carries the view's numbers.
  std::vector<DirEntryInfo> entries;
  ASSERT_EQ(v->ListDir(beta, &entries), 0);
  std::vector<std::string> names;
  for (const auto& e : entries) {
    names.push_back(e.name);
    ASSERT_TRUE(SplitAllViewIno(e.ino, &slot, &local));
    EXPECT_EQ(slot, beta_slot) << e.name;
    ASSERT_EQ(v->GetAttr(e.ino, &n), 0) << e.name;
    EXPECT_EQ(n.parent, beta);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"CLAUDE.md", "projects", "settings.json"}));
  EXPECT_EQ(Resolve(*v, "beta/missing", &err), 0u);
  EXPECT_EQ(err, ENOENT);
  std::shared_ptr<UniqueFd> fd;
  EXPECT_EQ(v->OpenContent(beta, &fd), EISDIR);
  v->Forget(settings, 1);

  nlohmann::json st = v->StatusJson();
  EXPECT_EQ(st["workspace_count"], 3);
  EXPECT_EQ(st["opened_workspaces"], 3);
  EXPECT_EQ(st["read_only"], true);
  EXPECT_EQ(st["workspaces"].size(), 3u);
  EXPECT_GT(st["files"].get<uint64_t>(), 0u);
  v->Close();
}

TEST_F(AllViewTest, WorkspacesPushedLaterAppearOnRelist) {
  auto v = OpenView();
  ASSERT_NE(v, nullptr);
  Push("delta");
  NodeInfo n;
  ASSERT_EQ(v->Lookup(kAllViewRootIno, "delta", &n), 0);  // a miss re-lists
  EXPECT_EQ(Read(*v, "delta/settings.json"), "{\"owner\": \"delta\"}\n");
  std::vector<DirEntryInfo> entries;
  ASSERT_EQ(v->ListDir(kAllViewRootIno, &entries), 0);
  EXPECT_EQ(entries.size(), 4u);
}

TEST_F(AllViewTest, ABrokenWorkspaceFailsAloneWithEio) {
  {
    auto store = OpenFileStore(store_dir_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(
        (*store)->PutBytes("broken/claude-home.tar.gz", "not a gzip at all", {}, nullptr).ok());
  }
  auto v = OpenView();
  ASSERT_NE(v, nullptr);
  NodeInfo n;
  ASSERT_EQ(v->Lookup(kAllViewRootIno, "broken", &n), 0);  // listed
  int err = 0;
  EXPECT_EQ(Resolve(*v, "broken/settings.json", &err), 0u);
  EXPECT_EQ(err, EIO);
  EXPECT_EQ(Read(*v, "alpha/settings.json"), "{\"owner\": \"alpha\"}\n");
  nlohmann::json st = v->StatusJson();
  bool reported = false;
  for (const auto& w : st["workspaces"]) {
    if (w["name"] == "broken") reported = w.contains("error") && !w["opened"].get<bool>();
  }
  EXPECT_TRUE(reported) << st.dump(2);
  EXPECT_NE(st["hydration"]["last_error"].get<std::string>(), "");
}

TEST_F(AllViewTest, OneViewPerCache) {
  auto v = OpenView();
  ASSERT_NE(v, nullptr);
  std::string root = store_dir_;
  auto second = AllView::Open([root] { return OpenFileStore(root); }, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().ToString().find("--cache"), std::string::npos);
}

}  // namespace
}  // namespace ccfs
