#include "store/archive/tar_index.h"

#include <gtest/gtest.h>

#include <random>

namespace ccfs {
namespace {

TarIndex SampleIndex() {
  TarIndex idx;
  idx.raw_size = 10240;
  idx.data_comp_size = 3000;
  idx.blocks = {{0, 1000, 0, 4096}, {1000, 1500, 4096, 4096}, {2500, 500, 8192, 2048}};
  TarEntry d;
  d.path = "dir";
  d.type = EntryType::kDir;
  d.mode = 0755;
  d.mtime = -5;  // before 1970: must survive
  d.header_offset = 0;
  d.data_offset = 512;
  TarEntry f;
  f.path = "dir/日本語.txt";
  f.mode = 0600;
  f.size = 3000;
  f.mtime = 1700000000;
  f.header_offset = 512;
  f.data_offset = 2048;  // a pax record precedes the ustar header
  TarEntry l;
  l.path = "dir/link";
  l.type = EntryType::kSymlink;
  l.mode = 0755;
  l.link_target = "日本語.txt";
  l.header_offset = 5120;
  l.data_offset = 5632;
  idx.entries = {d, f, l};
  return idx;
}

void ExpectSame(const TarIndex& a, const TarIndex& b) {
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const auto& x = a.entries[i];
    const auto& y = b.entries[i];
    EXPECT_EQ(x.path, y.path);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.mode, y.mode);
    EXPECT_EQ(x.size, y.size);
    EXPECT_EQ(x.mtime, y.mtime);
    EXPECT_EQ(x.link_target, y.link_target);
    EXPECT_EQ(x.header_offset, y.header_offset);
    EXPECT_EQ(x.data_offset, y.data_offset);
  }
  ASSERT_EQ(a.blocks.size(), b.blocks.size());
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    EXPECT_EQ(a.blocks[i].comp_offset, b.blocks[i].comp_offset);
    EXPECT_EQ(a.blocks[i].comp_size, b.blocks[i].comp_size);
    EXPECT_EQ(a.blocks[i].raw_offset, b.blocks[i].raw_offset);
    EXPECT_EQ(a.blocks[i].raw_size, b.blocks[i].raw_size);
  }
  EXPECT_EQ(a.raw_size, b.raw_size);
  EXPECT_EQ(a.data_comp_size, b.data_comp_size);
}

TEST(TarIndexTest, SerializeParseRoundTrip) {
  TarIndex idx = SampleIndex();
  std::string text = idx.Serialize();
  EXPECT_EQ(text.find('\0'), std::string::npos);
  EXPECT_EQ(text.rfind("ccfs-index-v1:", 0), 0u);
  Result<TarIndex> back = TarIndex::Parse(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSame(idx, *back);
}

TEST(TarIndexTest, ManyEntriesStaySmall) {
  // ~25k entries shaped like a real config tree: deep paths, uuids.
  std::mt19937_64 rng(42);
  auto hex = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "0123456789abcdef"[rng() % 16];
    return s;
  };
  TarIndex idx;
  uint64_t off = 0;
  for (int i = 0; i < 25000; ++i) {
    TarEntry e;
    e.path = "projects/-home-user-src-project-" + std::to_string(i % 40) + "/" + hex(8) + "-" +
             hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12) + "/tool-results/" + hex(10) +
             ".txt";
    e.mode = 0644;
    e.size = rng() % 20000;
    e.mtime = 1700000000 + int64_t(rng() % 10000000);
    e.header_offset = off;
    e.data_offset = off + 512;
    off = e.data_offset + (e.size + 511) / 512 * 512;
    idx.entries.push_back(e);
  }
  off += 1024;
  idx.raw_size = off;
  for (uint64_t r = 0; r < off; r += 1 << 20) {
    uint64_t n = std::min<uint64_t>(1 << 20, off - r);
    idx.blocks.push_back({idx.data_comp_size, n / 3 + 20, r, n});
    idx.data_comp_size += n / 3 + 20;
  }
  std::string text = idx.Serialize();
  EXPECT_LT(text.size(), 2u << 20) << "index text is " << text.size() << " bytes";
  Result<TarIndex> back = TarIndex::Parse(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSame(idx, *back);
}

TEST(TarIndexTest, BlocksCovering) {
  TarIndex idx = SampleIndex();
  size_t first = 0, last = 0;
  idx.BlocksCovering(0, 1, &first, &last);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, 0u);
  idx.BlocksCovering(4095, 2, &first, &last);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, 1u);
  idx.BlocksCovering(4096, 4096, &first, &last);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(last, 1u);
  idx.BlocksCovering(100, 100000, &first, &last);  // clipped to the stream
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, 2u);
  idx.BlocksCovering(100, 0, &first, &last);
  EXPECT_GT(first, last);
  idx.BlocksCovering(10240, 10, &first, &last);
  EXPECT_GT(first, last);
}

TEST(TarIndexTest, Find) {
  TarIndex idx = SampleIndex();
  ASSERT_NE(idx.Find("dir/link"), nullptr);
  EXPECT_EQ(idx.Find("dir/link")->link_target, "日本語.txt");
  EXPECT_EQ(idx.Find("nope"), nullptr);
}

void ExpectCorrupt(const std::string& text, const std::string& why) {
  Result<TarIndex> r = TarIndex::Parse(text);
  EXPECT_FALSE(r.ok()) << why;
  if (!r.ok()) {
    EXPECT_TRUE(r.status().IsCorruption()) << why << ": " << r.status().ToString();
  }
}

TEST(TarIndexTest, ParseRejectsDamagedOrForgedIndexes) {
  const std::string good = SampleIndex().Serialize();
  ExpectCorrupt("", "empty");
  ExpectCorrupt("ccfs-index-v2:" + good.substr(14), "unknown magic");
  ExpectCorrupt(good.substr(0, good.size() - 8), "truncated");
  ExpectCorrupt(good + "AAAA", "trailing base64");
  std::string flipped = good;
  flipped[good.size() / 2] = flipped[good.size() / 2] == 'A' ? 'B' : 'A';
  ExpectCorrupt(flipped, "flipped character");
  ExpectCorrupt("ccfs-index-v1:!!!!", "bad base64");

  auto forged = [](auto mutate) {
    TarIndex idx = SampleIndex();
    mutate(idx);
    return idx.Serialize();
  };
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[1].path = "../evil"; }), "escaping path");
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[1].path = "/etc/passwd"; }), "absolute path");
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[1].mode = 04755; }), "setuid mode");
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[2].link_target = "../../x"; }),
                "escaping symlink");
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[1].size = 1u << 20; }), "size beyond stream");
  ExpectCorrupt(forged([](TarIndex& i) { i.entries[2].path = "dir"; }), "duplicate path");
  ExpectCorrupt(forged([](TarIndex& i) { i.blocks[1].raw_size += 1; }), "blocks not covering");
  ExpectCorrupt(forged([](TarIndex& i) { i.data_comp_size += 1; }), "comp size mismatch");
}

}  // namespace
}  // namespace ccfs
