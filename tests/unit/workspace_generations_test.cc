// The history commands' helpers (store/workspace/generations.h) and the
// `ccfs upgrade|log|diff|restore|gc|export` commands themselves, run as the
// real binary on a file:// store holding several generations. No CLI command
// writes a second generation yet, so the generations after the upgrade are
// made here with CommitOnce.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/objects/file_store.h"
#include "store/workspace/generations.h"
#include "store/workspace/lease.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

TEST(GenerationRefTest, ParsesWorkspaceAndGeneration) {
  GenerationRef ref;
  ASSERT_TRUE(ParseGenerationRef("ws", &ref).ok());
  EXPECT_EQ(ref.workspace, "ws");
  EXPECT_EQ(ref.generation, 0u);
  ASSERT_TRUE(ParseGenerationRef("my.ws-2@17", &ref).ok());
  EXPECT_EQ(ref.workspace, "my.ws-2");
  EXPECT_EQ(ref.generation, 17u);
  ASSERT_TRUE(ParseGenerationRef("w@18446744073709551615", &ref).ok());
  EXPECT_EQ(ref.generation, 18446744073709551615ull);
  for (const char* bad : {"", "@1", "ws@", "ws@0", "ws@-1", "ws@+1", "ws@1x", "ws@ 1", "ws@1@2",
                          "ws@18446744073709551616", "a/b@1", ".ws@1"}) {
    EXPECT_TRUE(ParseGenerationRef(bad, &ref).IsInvalidArgument()) << bad;
  }
  uint64_t g = 0;
  EXPECT_TRUE(ParseGeneration("3", &g).ok());
  EXPECT_EQ(g, 3u);
  EXPECT_TRUE(ParseGeneration("0", &g).IsInvalidArgument());
  EXPECT_TRUE(ParseGeneration("", &g).IsInvalidArgument());
}

TEST(GenerationRefTest, DiffLinesAreSortedByPath) {
  TreeDiff d;
  d.added = {"b", "z"};
  d.removed = {"a", "c/d"};
  d.changed = {"c", "y"};
  std::vector<DiffLine> want = {{'D', "a"},   {'A', "b"}, {'M', "c"},
                                {'D', "c/d"}, {'M', "y"}, {'A', "z"}};
  EXPECT_EQ(DiffLines(d), want);
  EXPECT_TRUE(DiffLines(TreeDiff{}).empty());
}

struct CcfsRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

class WorkspaceGenerationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-gens-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    auto store = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Write(const std::string& rel, const std::string& content) {
    const std::string path = dir_ + "/src/" + rel;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
  }
  // Pushes a small v1 tree as workspace "ws".
  void PushV1() {
    Write("settings.json", "{\"a\":1}");
    Write("CLAUDE.md", "# notes\n");
    Write("plugins/p/readme.md", "plugin");
    Write("projects/-home-u/11111111-2222-4333-8444-555555555555.jsonl", "{\"t\":1}\n");
    std::filesystem::create_directories(dir_ + "/src/todos");
    PushOptions push;
    push.temp_dir = dir_;
    push.lease_ttl_seconds = 0;
    PushResult pushed;
    Status s = PushWorkspace(*store_, dir_ + "/src", "ws", push, &pushed);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  PackFile File(const std::string& path, const std::string& content) {
    std::string local = dir_ + "/f" + std::to_string(fds_.size());
    std::ofstream(local, std::ios::binary) << content;
    fds_.emplace_back(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    PackFile f;
    f.entry.path = path;
    f.entry.mtime_ns = 1760000000ll * 1000000000;
    f.fd = fds_.back().get();
    return f;
  }
  // Commits `input` on the current root; returns the new root.
  WorkspaceRoot Commit(CommitInput input) {
    input.scratch_dir = dir_;
    input.writer = RootWriter{"test-host", 7, ""};
    CurrentRoot cur;
    Status read = ReadRoot(*store_, "ws", &cur);
    EXPECT_TRUE(read.ok()) << read.ToString();
    CommitReport report;
    Status s = CommitOnce(*store_, "ws", &cur, input, &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return report.root;
  }
  // Runs the real ccfs binary on this test's store.
  CcfsRun Ccfs(const std::string& args) {
    const std::string cmd =
        std::string(CCFS_BINARY) + " " + args + " --store file://" + dir_ + "/store 2>&1";
    CcfsRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<UniqueFd> fds_;
};

TEST_F(WorkspaceGenerationsTest, UpgradeRefusesMissingAndV2Workspaces) {
  HistoryCommitOptions opts;
  opts.lease_ttl_seconds = 0;
  AdoptReport report;
  Status s = UpgradeWorkspace(*store_, "nosuch", opts, &report);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("workspace 'nosuch' not found"), std::string::npos) << s.ToString();
  CurrentRoot root;
  EXPECT_TRUE(ReadRoot(*store_, "nosuch", &root).IsNotFound()) << "no empty root committed";

  PushV1();
  s = ReadCurrentRootExplained(*store_, "ws", &root);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_NE(s.message().find("ccfs upgrade ws"), std::string::npos) << s.ToString();

  opts.lease_ttl_seconds = 30;  // takes and releases the lease
  ASSERT_TRUE(UpgradeWorkspace(*store_, "ws", opts, &report).ok());
  EXPECT_EQ(report.root.generation, 1u);
  EXPECT_EQ(report.root.files, 4u);
  EXPECT_FALSE(report.root.writer.holder.empty()) << "the lease holder is recorded";
  s = UpgradeWorkspace(*store_, "ws", opts, &report);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_NE(s.message().find("already layout v2 (generation 1)"), std::string::npos);

  // A writable holder of the lease blocks the upgrade of another workspace.
  PushOptions push;
  push.temp_dir = dir_;
  push.lease_ttl_seconds = 0;
  PushResult pushed;
  ASSERT_TRUE(PushWorkspace(*store_, dir_ + "/src", "ws2", push, &pushed).ok());
  auto held = Lease::Acquire(*store_, "ws2");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  s = UpgradeWorkspace(*store_, "ws2", opts, &report);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("--ignore-lease"), std::string::npos) << s.ToString();
}

TEST_F(WorkspaceGenerationsTest, HistoryHelpersAndTheCommands) {
  PushV1();
  CcfsRun r = Ccfs("upgrade ws");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("generation 1"), std::string::npos) << r.out;

  // Generation 2: one file changed, one added, one removed.
  CommitInput c2;
  c2.files = {File("settings.json", "{\"a\":2}"), File("added.txt", "new")};
  c2.removed = {"CLAUDE.md"};
  WorkspaceRoot g2 = Commit(std::move(c2));
  ASSERT_EQ(g2.generation, 2u);

  // The current generation is found without its history copy.
  ASSERT_TRUE(store_->Delete(HistoryRootKey("ws", 2, g2.nonce)).ok());
  std::vector<WorkspaceRoot> gens;
  std::vector<std::string> damaged;
  ASSERT_TRUE(ListGenerationsNewestFirst(*store_, "ws", &gens, &damaged).ok());
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_EQ(gens[0].generation, 2u);
  EXPECT_EQ(gens[1].generation, 1u);
  WorkspaceRoot resolved;
  ASSERT_TRUE(ResolveGeneration(*store_, "ws", 2, &resolved).ok());
  EXPECT_EQ(resolved.nonce, g2.nonce);
  EXPECT_TRUE(ResolveGeneration(*store_, "ws", 5, &resolved).IsNotFound());
  // Put the copy back (as the next commit would): restoring generation 2
  // once it is no longer current needs it.
  ASSERT_TRUE(
      store_->PutBytes(HistoryRootKey("ws", 2, g2.nonce), EncodeRoot(g2), PutOptions{}, nullptr)
          .ok());

  r = Ccfs("log ws");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream log(r.out);
  std::string header, line2, line1;
  std::getline(log, header);
  std::getline(log, line2);
  std::getline(log, line1);
  EXPECT_EQ(line2.rfind("2 ", 0), 0u) << r.out;
  EXPECT_NE(line2.find("test-host/7"), std::string::npos) << r.out;
  EXPECT_EQ(line1.rfind("1 ", 0), 0u) << r.out;

  r = Ccfs("diff ws 1 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "D CLAUDE.md\nA added.txt\nM settings.json\n");
  r = Ccfs("diff ws 2 1");
  EXPECT_EQ(r.out, "A CLAUDE.md\nD added.txt\nM settings.json\n");
  r = Ccfs("diff ws 1 x");
  EXPECT_EQ(r.exit_code, 2) << r.out;  // usage

  // Restore generation 1 as generation 3: its tree, a new generation.
  r = Ccfs("restore ws 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("as generation 3"), std::string::npos) << r.out;
  CurrentRoot now;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &now).ok());
  EXPECT_EQ(now.root.generation, 3u);
  r = Ccfs("diff ws 1 3");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  r = Ccfs("restore ws 1");  // already the current tree: nothing committed
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("nothing to restore"), std::string::npos) << r.out;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &now).ok());
  EXPECT_EQ(now.root.generation, 3u);
  // A writable holder of the lease blocks a restore unless told otherwise.
  {
    auto held = Lease::Acquire(*store_, "ws");
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    r = Ccfs("restore ws 2");
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("held writable"), std::string::npos) << r.out;
    r = Ccfs("restore ws 2 --ignore-lease");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("as generation 4"), std::string::npos) << r.out;
  }

  // gc: with the default grace period nothing young goes; with none, and
  // only the newest generation kept, generation 2's pack stays (generation 4
  // is its tree) while 1's history goes.
  // --keep-days 0 still keeps a root committed in the current second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = Ccfs("gc ws --dry-run --keep 1 --keep-days 0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("would delete 0 objects and 0 history copies"), std::string::npos) << r.out;
  r = Ccfs("gc ws --dry-run --keep 1 --keep-days 0 --grace-hours 0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("would delete 0 objects and 0 history copies"), std::string::npos) << r.out;
  ASSERT_EQ(Ccfs("export ws@1 " + dir_ + "/g1.tar.gz").exit_code, 0) << "dry run deleted nothing";
  r = Ccfs("gc ws --keep 1 --keep-days 0 --grace-hours 0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("deleted"), std::string::npos) << r.out;
  r = Ccfs("log ws");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("\n1 "), std::string::npos) << "generation 1 collected: " << r.out;
  r = Ccfs("export ws@1 " + dir_ + "/gone.tar.gz");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/gone.tar.gz"));
  r = Ccfs("export ws " + dir_ + "/g4.tar.gz");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = Ccfs("ls");
  EXPECT_NE(r.out.find("v2 gen 4"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ccfs
