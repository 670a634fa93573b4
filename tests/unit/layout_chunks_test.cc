// Transcript chunks: a transcript that grows across three commits is three
// chunks, read back by range exactly; a missing or damaged chunk is an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "store/base/unique_fd.h"
#include "store/layout/chunks.h"
#include "store/layout/root_store.h"
#include "store/objects/file_store.h"

namespace ccfs {
namespace {

class LayoutChunksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-chunks-XXXXXX").string();
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
  std::string Read(const std::vector<ChunkRef>& chunks, uint64_t off, uint64_t len, Status* s) {
    std::string got;
    *s = ReadChunks(*store_, "ws", chunks, off, len, [&](const char* d, size_t n) {
      got.append(d, n);
      return Status::OK();
    });
    return got;
  }
  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LayoutChunksTest, AppendsBecomeChunksReadBackByRange) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::string transcript;
  std::string path = dir_ + "/t.jsonl";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  std::vector<ChunkRef> chunks;
  uint64_t stored_bytes = 0;
  for (int commit = 0; commit < 3; ++commit) {
    const uint64_t base = transcript.size();
    for (int i = 0; i < 40; ++i) {
      std::string line = "{\"type\":\"assistant\",\"n\":" + std::to_string(rng() % 100000) +
                         ",\"text\":\"" + std::string(380, 'x') + "\"}\n";
      ASSERT_EQ(::write(fd.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
      transcript += line;
    }
    NewChunk c;
    ASSERT_TRUE(MakeChunk(fd.get(), base, transcript.size(), &c).ok());
    EXPECT_EQ(c.ref.size, transcript.size() - base);
    ASSERT_TRUE(PutImmutable(*store_, ChunkKey("ws", c.ref.name), c.stored).ok());
    chunks.push_back(c.ref);
    stored_bytes += c.stored.size();
  }
  EXPECT_LT(stored_bytes, transcript.size() / 4) << "chunks travel compressed";

  Status s;
  EXPECT_EQ(Read(chunks, 0, UINT64_MAX, &s), transcript);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < 50; ++i) {
    uint64_t off = rng() % transcript.size();
    uint64_t len = rng() % (transcript.size() - off + 10);
    std::string want = transcript.substr(off, len);
    EXPECT_EQ(Read(chunks, off, len, &s), want) << off << "+" << len;
    ASSERT_TRUE(s.ok());
  }
  EXPECT_EQ(Read(chunks, transcript.size() + 5, 10, &s), "");
}

// A raw chunk (a v1 transcript object copied in) mixes with gzip ones and is
// read by range without fetching the rest of it.
TEST_F(LayoutChunksTest, RawChunksAreReadByRange) {
  const std::string v1 = "{\"old\":1}\n{\"old\":2}\n";
  ChunkRef raw{std::string(64, '7'), v1.size(), true};
  ASSERT_TRUE(PutImmutable(*store_, ChunkKey("ws", raw.name), v1).ok());
  std::string path = dir_ + "/t";
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_EQ(::write(fd.get(), "{\"new\":3}\n", 10), 10);
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  NewChunk appended;
  ASSERT_TRUE(MakeChunk(fd.get(), 0, 10, &appended).ok());
  ASSERT_TRUE(PutImmutable(*store_, ChunkKey("ws", appended.ref.name), appended.stored).ok());
  Status s;
  const uint64_t received = store_->stats().bytes_received.load();
  EXPECT_EQ(Read({raw, appended.ref}, 3, 5, &s), v1.substr(3, 5));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store_->stats().bytes_received.load() - received, 5u) << "only the range travels";
  EXPECT_EQ(Read({raw, appended.ref}, 0, UINT64_MAX, &s), v1 + "{\"new\":3}\n");
  // The segment keeps the encoding.
  IndexSegment seg;
  IndexEntry e;
  e.path = "projects/p/s.jsonl";
  e.size = v1.size() + 10;
  e.chunks = {raw, appended.ref};
  seg.entries = {e};
  auto back = DecodeSegmentText(EncodeSegmentText(seg));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->entries[0].chunks[0].raw);
  EXPECT_FALSE(back->entries[0].chunks[1].raw);
}

TEST_F(LayoutChunksTest, MissingOrDamagedChunkIsAnError) {
  std::string path = dir_ + "/t";
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_EQ(::write(fd.get(), "hello world\n", 12), 12);
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  NewChunk c;
  ASSERT_TRUE(MakeChunk(fd.get(), 0, 12, &c).ok());
  EXPECT_FALSE(MakeChunk(fd.get(), 0, 20, &c).ok());  // the file is shorter
  ASSERT_TRUE(MakeChunk(fd.get(), 0, 12, &c).ok());
  Status s;
  Read({c.ref}, 0, 12, &s);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();

  std::string damaged = c.stored;
  damaged[damaged.size() - 6] ^= 1;  // a CRC byte
  ASSERT_TRUE(store_->PutBytes(ChunkKey("ws", c.ref.name), damaged, PutOptions{}, nullptr).ok());
  Read({c.ref}, 0, 12, &s);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

}  // namespace
}  // namespace ccfs
