// The history commands' helpers (store/workspace/generations.h) and the
// `ccfs upgrade|log|diff|restore|gc|export` commands themselves, run as the
// real binary on a file:// store holding several generations, and `pull`,
// `cat` and `mount` of a past generation (WS@GEN). The generations after the
// upgrade are made here with CommitOnce.
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
  r = Ccfs("gc ws --no-compact --keep 1 --keep-days 0 --grace-hours 0");  // collection only
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

// The store helpers under `ccfs pull|cat WS@GEN`, and the commands, on three
// generations: a past one reads as it was committed, through the same code
// as the current root; the refusals name the generation or say the
// workspace has no history, and write nothing.
TEST_F(WorkspaceGenerationsTest, PullAndCatOfAPastGeneration) {
  auto cat = [&](uint64_t gen, const std::string& rel, std::string* out) {
    out->clear();
    return ReadWorkspaceFileAt(*store_, "ws", gen, rel, [&](const char* d, size_t n) {
      out->append(d, n);
      return Status::OK();
    });
  };
  auto pull = [&](uint64_t gen, const std::string& dir, PullResult* r) {
    PullOptions opts;
    opts.generation = gen;
    return PullWorkspace(*store_, "ws", dir, opts, r);
  };
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  PushV1();
  std::string got;
  PullResult pulled;
  // A v1 workspace has no history: WS@1 is refused, saying what to do.
  Status s = cat(1, "settings.json", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("ccfs upgrade ws"), std::string::npos) << s.ToString();
  s = pull(1, dir_ + "/v1pull", &pulled);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("ccfs upgrade ws"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/v1pull"));
  ASSERT_TRUE(cat(0, "settings.json", &got).ok()) << "plain WS still reads v1";
  EXPECT_EQ(got, "{\"a\":1}");

  HistoryCommitOptions opts;
  opts.lease_ttl_seconds = 0;
  AdoptReport adopted;
  ASSERT_TRUE(UpgradeWorkspace(*store_, "ws", opts, &adopted).ok());
  CommitInput c2;
  c2.files = {File("settings.json", "{\"a\":2}"), File("added.txt", "new")};
  c2.removed = {"CLAUDE.md"};
  ASSERT_EQ(Commit(std::move(c2)).generation, 2u);
  CommitInput c3;
  c3.files = {File("settings.json", "{\"a\":3}")};
  c3.removed = {"added.txt"};
  ASSERT_EQ(Commit(std::move(c3)).generation, 3u);

  for (auto [gen, want] : std::vector<std::pair<uint64_t, std::string>>{
           {1, "{\"a\":1}"}, {2, "{\"a\":2}"}, {3, "{\"a\":3}"}, {0, "{\"a\":3}"}}) {
    s = cat(gen, "settings.json", &got);
    ASSERT_TRUE(s.ok()) << gen << ": " << s.ToString();
    EXPECT_EQ(got, want) << "generation " << gen;
  }
  ASSERT_TRUE(cat(2, "added.txt", &got).ok());
  EXPECT_EQ(got, "new");
  s = cat(2, "CLAUDE.md", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("no such file in ws@2"), std::string::npos) << s.ToString();
  s = cat(3, "added.txt", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  ASSERT_TRUE(cat(1, "CLAUDE.md", &got).ok());
  EXPECT_EQ(got, "# notes\n");
  ASSERT_TRUE(cat(2, "projects/-home-u/11111111-2222-4333-8444-555555555555.jsonl", &got).ok());
  EXPECT_EQ(got, "{\"t\":1}\n") << "transcripts read through the same reader";
  s = cat(9, "settings.json", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("no generation 9"), std::string::npos) << s.ToString();
  EXPECT_TRUE(cat(2, "../x", &got).IsInvalidArgument());

  ASSERT_TRUE(pull(2, dir_ + "/g2", &pulled).ok());
  EXPECT_EQ(pulled.generation, 2u);
  EXPECT_EQ(pulled.transcripts, 1u);
  EXPECT_EQ(slurp(dir_ + "/g2/settings.json"), "{\"a\":2}");
  EXPECT_EQ(slurp(dir_ + "/g2/added.txt"), "new");
  EXPECT_EQ(slurp(dir_ + "/g2/plugins/p/readme.md"), "plugin");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/g2/CLAUDE.md"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/g2/todos"));
  ASSERT_TRUE(pull(0, dir_ + "/g3", &pulled).ok());
  EXPECT_EQ(pulled.generation, 3u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/g3/added.txt"));
  s = pull(9, dir_ + "/g9", &pulled);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("no generation 9"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/g9"));
  s = pull(2, dir_ + "/g2", &pulled);  // not empty: refused like any pull
  EXPECT_FALSE(s.ok());

  // The commands.
  CcfsRun r = Ccfs("cat ws@2 settings.json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "{\"a\":2}");
  r = Ccfs("cat ws settings.json");
  EXPECT_EQ(r.out, "{\"a\":3}");
  r = Ccfs("cat ws@2 CLAUDE.md");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no such file in ws@2"), std::string::npos) << r.out;
  r = Ccfs("cat ws@7 settings.json");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no generation 7"), std::string::npos) << r.out;
  r = Ccfs("cat ws@0 settings.json");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("bad generation"), std::string::npos) << r.out;
  r = Ccfs("pull ws@2 " + dir_ + "/cli-g2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("pulled ws@2"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(dir_ + "/cli-g2/settings.json"), "{\"a\":2}");
  EXPECT_EQ(slurp(dir_ + "/cli-g2/added.txt"), "new");
  r = Ccfs("pull ws@7 " + dir_ + "/cli-g7");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no generation 7"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/cli-g7"));
  r = Ccfs("pull nosuch@1 " + dir_ + "/cli-n");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("workspace 'nosuch' not found"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/cli-n"));

  // A past generation mounts read-only only, and the flags that would write
  // or adopt are refused before anything is created.
  std::filesystem::create_directories(dir_ + "/mp");
  for (const char* flags : {"", " --layout v2 --read-only", " --discard-local --read-only",
                            " --sync-url http://127.0.0.1:9 --read-only"}) {
    r = Ccfs("mount ws@2 " + dir_ + "/mp --cache " + dir_ + "/mcache" + flags);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.out;
    EXPECT_NE(r.out.find("ws@2"), std::string::npos) << flags << ": " << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/mcache")) << flags;
  }
  r = Ccfs("mount ws@2 " + dir_ + "/mp --cache " + dir_ + "/mcache");
  EXPECT_NE(r.out.find("--read-only"), std::string::npos) << r.out;

  // A generation gc collected is gone for pull and cat alike.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = Ccfs("gc ws --no-compact --keep 1 --keep-days 0 --grace-hours 0");  // collection only
  ASSERT_EQ(r.exit_code, 0) << r.out;
  s = cat(1, "settings.json", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("no generation 1"), std::string::npos) << s.ToString();
  r = Ccfs("pull ws@2 " + dir_ + "/gc-g2");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no generation 2"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/gc-g2"));
  r = Ccfs("cat ws@3 settings.json");
  EXPECT_EQ(r.out, "{\"a\":3}") << "the kept generation still reads";
}

}  // namespace
}  // namespace ccfs
