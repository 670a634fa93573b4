// Compaction rewrites long chunk lists and mostly dead (or many small) packs
// without changing a byte or a bit of metadata of the tree, within its byte
// budget, and commits like a flush: a race re-plans, a failure leaves the old
// root as it was.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "store/base/clock.h"
#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/compact.h"
#include "store/layout/file_reader.h"
#include "store/layout/gc.h"
#include "store/layout/tree_reader.h"
#include "store/objects/fault_store.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

// What a reader sees of one path: metadata and bytes.
struct Seen {
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  std::string link_target;
  std::string bytes;
  bool operator==(const Seen&) const = default;
};

// Runs `before` once, just before the first PUT of the root goes through,
// so another commit lands between the compaction's plan and its root swap.
class RacingStore : public FaultStore {
 public:
  RacingStore(ObjectStore* base, std::string root_key, std::function<void()> before)
      : FaultStore(base), root_key_(std::move(root_key)), before_(std::move(before)) {}
  Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                  ObjectInfo* info) override {
    if (key == root_key_ && before_) {
      auto run = std::move(before_);
      before_ = nullptr;
      run();
    }
    return FaultStore::PutBytes(key, body, opts, info);
  }

 private:
  std::string root_key_;
  std::function<void()> before_;
};

class LayoutCompactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-compact-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    std::filesystem::create_directories(dir_ + "/scratch");
    auto store = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    fds_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  int Local(const std::string& content) {
    std::string local = dir_ + "/f" + std::to_string(fds_.size());
    std::ofstream(local, std::ios::binary) << content;
    fds_.emplace_back(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    return fds_.back().get();
  }
  PackFile File(const std::string& path, const std::string& content) {
    PackFile f;
    f.entry.path = path;
    f.entry.mode = 0640;
    f.entry.mtime_ns = 1700000000123456789 + static_cast<int64_t>(fds_.size());
    f.fd = Local(content);
    return f;
  }
  // Appends `more` to transcript `path` (created when absent) as one chunk.
  TranscriptAppend Append(const std::string& path, const std::string& more) {
    IndexEntry base;
    base.path = path;
    base.mode = 0600;
    CurrentRoot cur;
    if (ReadRoot(*store_, "ws", &cur).ok()) {
      IgnoreError(LookupEntry(*store_, "ws", cur.root, path, &base), "a new transcript");
    }
    std::string all = transcripts_[path] += more;
    TranscriptAppend a;
    a.base = base;
    a.fd = Local(all);
    a.new_size = all.size();
    a.mtime_ns = 1700000000000000000 + static_cast<int64_t>(all.size());
    a.mode = 0600;
    return a;
  }
  CommitReport CommitTo(ObjectStore& store, CommitInput input) {
    input.scratch_dir = dir_ + "/scratch";
    input.segment_entries = segment_entries_;
    CurrentRoot cur;
    Status read = ReadRoot(store, "ws", &cur);
    CommitReport report;
    Status s = CommitOnce(store, "ws", read.ok() ? &cur : nullptr, input, &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return report;
  }
  CommitReport Commit(CommitInput input) { return CommitTo(*store_, std::move(input)); }
  CompactOptions Options() {
    CompactOptions o;
    o.scratch_dir = dir_ + "/scratch";
    o.segment_entries = segment_entries_;
    o.writer.host = "compact-test";
    return o;
  }
  // The whole tree of the current root, read back with the ordinary readers.
  std::map<std::string, Seen> ReadTree(ObjectStore& store) {
    std::map<std::string, Seen> out;
    CurrentRoot cur;
    Status s = ReadRoot(store, "ws", &cur);
    EXPECT_TRUE(s.ok()) << s.ToString();
    TreeFileReader reader(store, "ws");
    for (const SegmentRef& ref : cur.root.segments) {
      IndexSegment seg;
      s = LoadSegment(store, "ws", ref, &seg);
      EXPECT_TRUE(s.ok()) << s.ToString();
      for (const IndexEntry& e : seg.entries) {
        Seen& seen = out[e.path];
        seen = Seen{e.type, e.mode, e.mtime_ns, e.size, e.link_target, ""};
        if (e.type != EntryType::kFile) continue;
        s = reader.Read(e, 0, e.size, [&](const char* d, size_t n) {
          seen.bytes.append(d, n);
          return Status::OK();
        });
        EXPECT_TRUE(s.ok()) << e.path << ": " << s.ToString();
      }
    }
    return out;
  }
  IndexEntry Entry(const std::string& path) {
    CurrentRoot cur;
    EXPECT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
    IndexEntry e;
    Status s = LookupEntry(*store_, "ws", cur.root, path, &e);
    EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
    return e;
  }
  size_t CountObjects(const std::string& folder) {
    ListResult listed;
    Status s = store_->List({"ws/v2/" + folder + "/", ""}, &listed);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return listed.objects.size();
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<UniqueFd> fds_;
  std::map<std::string, std::string> transcripts_;
  size_t segment_entries_ = 4;  // small, so that trees span several segments
};

TEST_F(LayoutCompactTest, ThresholdsDecideWhatIsPlanned) {
  // 10 chunks, one pack fully live: nothing to do.
  for (int i = 0; i < 10; ++i) {
    CommitInput c;
    if (i == 0) c.files = {File("a", std::string(1000, 'a')), File("b", std::string(1000, 'b'))};
    c.appends = {Append("projects/p/s.jsonl", "line " + std::to_string(i) + "\n")};
    Commit(std::move(c));
  }
  CompactOptions opts = Options();
  CurrentRoot cur;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
  CompactPlan plan;
  ASSERT_TRUE(PlanCompaction(*store_, "ws", cur, opts, &plan).ok());
  EXPECT_TRUE(plan.empty());

  // Over the chunk threshold: planned. b rewritten elsewhere leaves the first
  // pack half dead: planned at a 0.6 threshold, not at 0.5.
  opts.max_chunks = 8;
  CommitInput c;
  c.files = {File("b", std::string(1000, 'B'))};
  Commit(std::move(c));
  ASSERT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
  ASSERT_TRUE(PlanCompaction(*store_, "ws", cur, opts, &plan).ok());
  ASSERT_EQ(plan.transcripts.size(), 1u);
  EXPECT_EQ(plan.transcripts[0].chunks, 10u);
  EXPECT_TRUE(plan.packs.empty());
  opts.min_live_fraction = 0.6;
  ASSERT_TRUE(PlanCompaction(*store_, "ws", cur, opts, &plan).ok());
  ASSERT_EQ(plan.packs.size(), 1u);
  EXPECT_EQ(plan.packs[0].live_files, 1u);
  EXPECT_EQ(plan.packs[0].live_bytes, 1000u);
  EXPECT_EQ(plan.packs[0].member_bytes, 2000u);

  // Small healthy packs: merged only once there are enough of them.
  opts = Options();
  for (int i = 0; i < 5; ++i) {
    CommitInput more;
    more.files = {File("small/" + std::to_string(i), "x" + std::to_string(i))};
    Commit(std::move(more));
  }
  ASSERT_TRUE(ReadRoot(*store_, "ws", &cur).ok());
  ASSERT_TRUE(PlanCompaction(*store_, "ws", cur, opts, &plan).ok());
  EXPECT_TRUE(plan.packs.empty())
      << plan.packs.size();  // 7 small packs (the half live one among them)
  opts.min_small_packs = 7;
  ASSERT_TRUE(PlanCompaction(*store_, "ws", cur, opts, &plan).ok());
  EXPECT_EQ(plan.packs.size(), 7u);
}

TEST_F(LayoutCompactTest, CompactionKeepsEveryByteAndEveryBitOfMetadata) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  auto text = [&](size_t n) {
    std::string s(n, '\0');
    for (char& ch : s) ch = static_cast<char>('a' + rng() % 26);
    return s;
  };
  for (int turn = 0; turn < 30; ++turn) {
    CommitInput c;
    c.files = {File(".claude.json", text(2000 + rng() % 2000)),
               File("todos/t" + std::to_string(turn) + ".json", text(50 + rng() % 500))};
    c.appends = {Append("projects/p/a.jsonl", text(400 + rng() % 4000) + "\n"),
                 Append("projects/p/b.jsonl", text(10 + rng() % 100) + "\n")};
    if (turn == 3) {
      IndexEntry d;
      d.path = "todos";
      d.type = EntryType::kDir;
      d.mode = 0700;
      d.mtime_ns = 42;
      IndexEntry l;
      l.path = "link";
      l.type = EntryType::kSymlink;
      l.link_target = ".claude.json";
      c.entries = {d, l};
    }
    Commit(std::move(c));
  }
  const std::map<std::string, Seen> before = ReadTree(*store_);
  const size_t packs_before = CountObjects("packs");
  ASSERT_EQ(Entry("projects/p/a.jsonl").chunks.size(), 30u);

  CompactReport report;
  Status s = Compact(*store_, "ws", Options(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.generation, 31u);
  EXPECT_EQ(report.attempts, 1);
  EXPECT_EQ(report.plan.transcripts.size(), 2u);
  // Each but the newest holds a dead .claude.json; the newest is all live.
  EXPECT_EQ(report.plan.packs.size(), 29u);
  EXPECT_EQ(report.plan.deferred, 0u);
  EXPECT_EQ(ReadTree(*store_), before);
  EXPECT_EQ(Entry("projects/p/a.jsonl").chunks.size(), 1u);
  EXPECT_EQ(Entry("projects/p/b.jsonl").chunks.size(), 1u);
  EXPECT_EQ(CountObjects("packs"), packs_before + 1);  // the old ones are gc's
  std::printf("compacted 2 transcripts and 29 packs: %llu B read, %llu B uploaded\n",
              static_cast<unsigned long long>(report.bytes_read),
              static_cast<unsigned long long>(report.bytes_uploaded));

  // gc with no grace removes what compaction left behind; the tree stays.
  GcOptions gc;
  gc.keep_generations = 1;
  gc.keep_seconds = 0;
  gc.grace_seconds = 0;
  gc.now_unix = NowUnixMs() / 1000 + 10;  // every root past keep_seconds
  GcReport collected;
  ASSERT_TRUE(CollectGarbage(*store_, "ws", gc, &collected).ok());
  EXPECT_EQ(CountObjects("packs"), 2u);  // the compacted one and the newest
  EXPECT_EQ(CountObjects("chunks"), 2u);
  EXPECT_EQ(ReadTree(*store_), before);

  // Nothing left to do: a second run commits nothing.
  CompactReport again;
  ASSERT_TRUE(Compact(*store_, "ws", Options(), &again).ok());
  EXPECT_EQ(again.generation, 0u);
  EXPECT_TRUE(again.plan.empty());
}

TEST_F(LayoutCompactTest, RespectsTheByteBudget) {
  for (int i = 0; i < 20; ++i) {
    CommitInput c;
    c.appends = {Append("projects/p/big.jsonl", std::string(10000, 'a' + i % 26) + "\n"),
                 Append("projects/p/small.jsonl", std::string(100, 'a' + i % 26) + "\n")};
    Commit(std::move(c));
  }
  const std::map<std::string, Seen> before = ReadTree(*store_);
  CompactOptions opts = Options();
  opts.byte_budget = 50000;  // the small transcript fits, the big one (200 KB) does not
  CompactReport report;
  ASSERT_TRUE(Compact(*store_, "ws", opts, &report).ok());
  EXPECT_LE(report.plan.bytes_to_move, opts.byte_budget);
  EXPECT_LE(report.bytes_read, opts.byte_budget);
  ASSERT_EQ(report.plan.transcripts.size(), 1u);
  EXPECT_EQ(report.plan.transcripts[0].path, "projects/p/small.jsonl");
  EXPECT_EQ(report.plan.deferred, 1u);
  EXPECT_EQ(Entry("projects/p/big.jsonl").chunks.size(), 20u);
  EXPECT_EQ(Entry("projects/p/small.jsonl").chunks.size(), 1u);
  EXPECT_EQ(ReadTree(*store_), before);
}

TEST_F(LayoutCompactTest, ARaceReplansAndLosesNothing) {
  for (int i = 0; i < 20; ++i) {
    CommitInput c;
    c.appends = {Append("projects/p/s.jsonl", "line " + std::to_string(i) + "\n")};
    Commit(std::move(c));
  }
  // Between the plan and the root swap another writer appends to the very
  // transcript being compacted and adds a file.
  RacingStore racing(store_.get(), RootKey("ws"), [&] {
    CommitInput c;
    c.appends = {Append("projects/p/s.jsonl", "raced\n")};
    c.files = {File("raced.txt", "from the other writer")};
    Commit(std::move(c));
  });
  CompactReport report;
  Status s = Compact(racing, "ws", Options(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.attempts, 2);
  EXPECT_EQ(report.generation, 22u);  // 20, the racer's 21, then ours
  const std::map<std::string, Seen> tree = ReadTree(*store_);
  ASSERT_TRUE(tree.count("raced.txt"));
  EXPECT_EQ(tree.at("raced.txt").bytes, "from the other writer");
  EXPECT_EQ(tree.at("projects/p/s.jsonl").bytes, transcripts_["projects/p/s.jsonl"]);
  EXPECT_EQ(Entry("projects/p/s.jsonl").chunks.size(), 1u);
}

TEST_F(LayoutCompactTest, AFailureLeavesTheOldRootValid) {
  for (int i = 0; i < 20; ++i) {
    CommitInput c;
    c.files = {File("settings.json", "v" + std::to_string(i)),
               File("keep/" + std::to_string(i), "k" + std::to_string(i))};
    c.appends = {Append("projects/p/s.jsonl", "line " + std::to_string(i) + "\n")};
    Commit(std::move(c));
  }
  const std::map<std::string, Seen> before = ReadTree(*store_);
  CurrentRoot old;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &old).ok());

  // A failed pack upload, a failed chunk upload, a failed root PUT.
  for (const std::string& prefix :
       {std::string("ws/v2/packs/"), ChunkKey("ws", ""), RootKey("ws")}) {
    FaultStore faulty(store_.get());
    FaultRule rule;
    rule.op = StoreOp::kPut;
    rule.times = 100;
    rule.status = Status::IOError("injected");
    rule.key_prefix = prefix;
    faulty.Inject(rule);
    CompactReport report;
    Status s = Compact(faulty, "ws", Options(), &report);
    EXPECT_FALSE(s.ok()) << prefix;
    EXPECT_EQ(report.generation, 0u);
    CurrentRoot now;
    ASSERT_TRUE(ReadRoot(*store_, "ws", &now).ok());
    EXPECT_EQ(now.etag, old.etag) << prefix;
    EXPECT_EQ(ReadTree(*store_), before) << prefix;
  }
  // And then it goes through.
  CompactReport report;
  ASSERT_TRUE(Compact(*store_, "ws", Options(), &report).ok());
  EXPECT_EQ(report.generation, old.root.generation + 1);
  EXPECT_EQ(ReadTree(*store_), before);
}

// The figure for issue 12: objects in a workspace after 100 turns (rewrite
// .claude.json, append ~40 lines to a transcript, write a small file), with
// and without a compaction after each flush, before and after a gc that
// keeps only the current generation (grace 0).
TEST_F(LayoutCompactTest, HundredTurnsObjectCount) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  struct Count {
    size_t packs = 0, chunks = 0, index = 0, roots = 0;
    size_t total() const { return packs + chunks + index + roots + 1; }
  };
  auto count = [&] {
    return Count{CountObjects("packs"), CountObjects("chunks"), CountObjects("index"),
                 CountObjects("roots")};
  };
  auto print = [](const char* what, const Count& c) {
    std::printf("%-40s %4zu objects (%zu packs, %zu chunks, %zu segments, %zu history + root)\n",
                what, c.total(), c.packs, c.chunks, c.index, c.roots);
  };
  GcOptions gc;
  gc.keep_generations = 1;
  gc.keep_seconds = 0;
  gc.grace_seconds = 0;
  segment_entries_ = 2000;  // as a mount commits
  Count without_gc[2], with_gc[2];
  uint64_t moved = 0;
  for (int compact = 0; compact < 2; ++compact) {
    TearDown();
    SetUp();
    transcripts_.clear();
    std::mt19937 rng(seed);
    auto line = [&] {
      std::string s = R"({"type":"assistant","message":")";
      for (int i = 0; i < 400; ++i) s.push_back(static_cast<char>('a' + rng() % 26));
      return s + "\"}\n";
    };
    for (int turn = 0; turn < 100; ++turn) {
      std::string lines;
      for (int i = 0; i < 40; ++i) lines += line();
      CommitInput c;
      c.files = {File(".claude.json", "{\"turn\":" + std::to_string(turn) + "}"),
                 File("todos/" + std::to_string(turn) + ".json", "[]")};
      c.appends = {Append("projects/p/session.jsonl", lines)};
      Commit(std::move(c));
      if (compact == 1) {
        CompactReport r;
        Status s = Compact(*store_, "ws", Options(), &r);
        ASSERT_TRUE(s.ok()) << s.ToString();
        moved += r.bytes_read;
      }
    }
    without_gc[compact] = count();
    gc.now_unix = NowUnixMs() / 1000 + 10;  // every root past keep_seconds
    GcReport collected;
    ASSERT_TRUE(CollectGarbage(*store_, "ws", gc, &collected).ok());
    with_gc[compact] = count();
    const std::map<std::string, Seen> tree = ReadTree(*store_);
    ASSERT_EQ(tree.at("projects/p/session.jsonl").bytes, transcripts_["projects/p/session.jsonl"]);
  }
  print("no compaction, before gc", without_gc[0]);
  print("no compaction, after gc (keep 1)", with_gc[0]);
  print("compaction each turn, before gc", without_gc[1]);
  print("compaction each turn, after gc (keep 1)", with_gc[1]);
  std::printf("compaction read back %llu file bytes over 100 turns\n",
              static_cast<unsigned long long>(moved));
  EXPECT_LT(with_gc[1].total() * 3, with_gc[0].total());
}

}  // namespace
}  // namespace ccfs
