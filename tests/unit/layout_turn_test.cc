// The point of layout v2, at the store level: after a workspace is
// committed, one agent turn (rewrite .claude.json, append 40 lines to a
// transcript, write three small files) moves a small fraction of the stored
// bytes, counted at the store, instead of the whole tarball; and the tree
// after it is exact.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "store/base/unique_fd.h"
#include "store/layout/chunks.h"
#include "store/layout/commit.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

class LayoutTurnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-turn-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    std::filesystem::create_directories(dir_ + "/files");
    auto store = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    base_store_ = std::move(store).value();
    store_ = std::make_unique<FaultStore>(base_store_.get());
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // A local file holding `content`, open for the commit.
  int Local(const std::string& content) {
    std::string path = dir_ + "/files/" + std::to_string(fds_.size());
    std::ofstream(path, std::ios::binary) << content;
    fds_.emplace_back(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fds_.back().get();
  }
  PackFile File(const std::string& path, const std::string& content) {
    PackFile f;
    f.entry.path = path;
    f.entry.mtime_ns = 1777000000000000000;
    f.fd = Local(content);
    return f;
  }
  TranscriptAppend Append(const IndexEntry& base, const std::string& content) {
    TranscriptAppend a;
    a.base = base;
    a.fd = Local(content);
    a.new_size = content.size();
    a.mtime_ns = 1777000001000000007;
    return a;
  }
  uint64_t Moved() {
    return store_->stats().bytes_sent.load() + store_->stats().bytes_received.load();
  }
  uint64_t Stored() {
    uint64_t total = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/store")) {
      if (e.is_regular_file()) total += e.file_size();
    }
    return total;
  }
  std::string ReadTranscript(const WorkspaceRoot& root, const std::string& path) {
    IndexEntry e;
    EXPECT_TRUE(LookupEntry(*store_, "ws", root, path, &e).ok()) << path;
    std::string got;
    EXPECT_TRUE(ReadChunks(*store_, "ws", e.chunks, 0, e.size, [&](const char* d, size_t n) {
                  got.append(d, n);
                  return Status::OK();
                }).ok());
    return got;
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> base_store_;
  std::unique_ptr<FaultStore> store_;
  std::vector<UniqueFd> fds_;
};

TEST_F(LayoutTurnTest, ATurnMovesAFractionOfAPercentAndKeepsTheTreeExact) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto text = [&](size_t n) {
    std::string s;
    while (s.size() < n) s += std::to_string(rng()) + " ";
    return s.substr(0, n);
  };

  CommitInput first;
  first.scratch_dir = dir_;
  first.segment_entries = 100;
  first.writer.host = "a";
  first.files.push_back(File(".claude.json", text(2000)));
  first.files.push_back(File("settings.json", text(500)));
  for (int i = 0; i < 600; ++i) {
    first.files.push_back(
        File("plugins/p" + std::to_string(i % 7) + "/f" + std::to_string(i), text(30000)));
  }
  std::vector<std::string> transcripts;
  for (int i = 0; i < 10; ++i) {
    IndexEntry fresh;
    fresh.path = "projects/-home-u/s" + std::to_string(i) + ".jsonl";
    fresh.mode = 0600;
    transcripts.push_back(text(300000));
    first.appends.push_back(Append(fresh, transcripts.back()));
  }
  CommitReport r1;
  Status s = CommitOnce(*store_, "ws", nullptr, first, &r1);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r1.root.generation, 1u);
  EXPECT_EQ(r1.root.files, 612u);
  const uint64_t stored = Stored();

  // The turn, on the root as a fresh reader finds it.
  const uint64_t before = Moved();
  CurrentRoot base;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &base).ok());
  IndexEntry t0;
  ASSERT_TRUE(LookupEntry(*store_, "ws", base.root, "projects/-home-u/s0.jsonl", &t0).ok());
  ASSERT_EQ(t0.chunks.size(), 1u);
  std::string lines;
  for (int i = 0; i < 40; ++i) {
    lines += "{\"n\":" + std::to_string(i) + ",\"t\":\"" + text(430) + "\"}\n";
  }
  CommitInput turn;
  turn.scratch_dir = dir_;
  turn.segment_entries = 100;
  turn.writer.host = "a";
  turn.files.push_back(File(".claude.json", text(2100)));
  turn.files.push_back(File("todos/t.json", "[]"));
  turn.files.push_back(File("shell-snapshots/snap.sh", text(600)));
  turn.files.push_back(File("file-history/s/h@v1", text(450)));
  turn.appends.push_back(Append(t0, transcripts[0] + lines));
  CommitReport r2;
  s = CommitOnce(*store_, "ws", &base, turn, &r2);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const uint64_t moved = Moved() - before;
  std::printf("stored %llu B; the turn moved %llu B (%.3f%%), read %zu and wrote %zu segments\n",
              static_cast<unsigned long long>(stored), static_cast<unsigned long long>(moved),
              100.0 * static_cast<double>(moved) / static_cast<double>(stored), r2.segments_read,
              r2.segments_written);
  EXPECT_LT(moved, stored / 100) << "a turn must move under 1% of the stored bytes";
  EXPECT_EQ(r2.root.generation, 2u);
  EXPECT_EQ(r2.root.files, 615u);

  // The tree after the turn: the transcript grew by exactly the lines and
  // kept its first chunk; .claude.json points at the new pack.
  EXPECT_EQ(ReadTranscript(r2.root, "projects/-home-u/s0.jsonl"), transcripts[0] + lines);
  EXPECT_EQ(ReadTranscript(r2.root, "projects/-home-u/s5.jsonl"), transcripts[5]);
  IndexEntry t0_after, claude;
  ASSERT_TRUE(LookupEntry(*store_, "ws", r2.root, "projects/-home-u/s0.jsonl", &t0_after).ok());
  ASSERT_EQ(t0_after.chunks.size(), 2u);
  EXPECT_EQ(t0_after.chunks[0].name, t0.chunks[0].name);
  EXPECT_EQ(t0_after.mtime_ns, 1777000001000000007);
  ASSERT_TRUE(LookupEntry(*store_, "ws", r2.root, ".claude.json", &claude).ok());
  EXPECT_EQ(claude.size, 2100u);
  EXPECT_TRUE(LookupEntry(*store_, "ws", r2.root, "todos/missing", &claude).IsNotFound());

  // A commit on the stale base loses, and reports the root that won.
  CommitReport r3;
  CommitInput late;
  late.scratch_dir = dir_;
  late.entries.push_back([] {
    IndexEntry d;
    d.path = "newdir";
    d.type = EntryType::kDir;
    d.mode = 0755;
    return d;
  }());
  EXPECT_TRUE(CommitOnce(*store_, "ws", &base, late, &r3).IsPreconditionFailed());
  EXPECT_EQ(r3.root.generation, 2u);
}

}  // namespace
}  // namespace ccfs
