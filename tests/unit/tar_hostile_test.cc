// Hostile and damaged archives: everything dangerous is skipped and
// reported, every damage is Corruption, and nothing lands outside dest.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "store/archive/pack_dir.h"
#include "store/archive/safe_extract.h"
#include "store/archive/seekable_tar_format.h"
#include "store/archive/seekable_tar_reader.h"
#include "tar_test_util.h"

namespace ccfs {
namespace {

using tartest::FileFetcher;
using tartest::Gzip;
using tartest::RawTarBuilder;
using tartest::ReadFile;
using tartest::Snapshot;
using tartest::TempDir;
using tartest::UstarHeader;
using tartest::WriteFile;

class HostileTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    std::filesystem::create_directories(sibling_);
  }
  void TearDown() override {
    EXPECT_TRUE(Snapshot(sibling_).empty()) << "something was written outside dest";
  }

  Status ExtractBytes(const std::string& gz, std::vector<SkippedEntry>* skipped,
                      const ExtractOptions& opts = {}) {
    WriteFile(tmp_ / "in.tgz", gz);
    return ExtractTarGz(tmp_ / "in.tgz", dest_, opts, skipped, nullptr);
  }

  static std::string ReasonFor(const std::vector<SkippedEntry>& skipped, const std::string& path) {
    for (const auto& s : skipped) {
      if (s.path == path) return s.reason;
    }
    return "(not skipped)";
  }

  // A small seekable tarball of ours, and its index.
  std::string PackSample(TarIndex* idx) {
    WriteFile(tmp_ / "src/a.txt", tartest::PseudoRandomText(20000, 1));
    WriteFile(tmp_ / "src/b.txt", tartest::PseudoRandomText(20000, 2));
    const std::string t = tmp_ / "ours.tar.gz";
    EXPECT_TRUE(PackDirectory(tmp_ / "src", nullptr, t, {}, idx, nullptr).ok());
    return t;
  }

  TempDir tmp_;
  const std::string dest_ = tmp_ / "dest";
  const std::string sibling_ = tmp_ / "sibling";
};

TEST_F(HostileTarTest, EscapingPathsAreSkipped) {
  std::string tar = RawTarBuilder()
                        .Dir("./")
                        .File(sibling_ + "/abs-pwned", "x")
                        .File("../sibling/dotdot-pwned", "x")
                        .File("a/../../sibling/pwned", "x")
                        .File("./ok/../fine.txt", "fine")
                        .File("./x//y", "y")
                        .Finish();
  std::vector<SkippedEntry> skipped;
  Status s = ExtractBytes(Gzip(tar), &skipped);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(skipped.size(), 3u);
  EXPECT_EQ(ReasonFor(skipped, sibling_ + "/abs-pwned"), "absolute path");
  EXPECT_EQ(ReasonFor(skipped, "../sibling/dotdot-pwned"), "path escapes the archive root (..)");
  EXPECT_EQ(ReasonFor(skipped, "a/../../sibling/pwned"), "path escapes the archive root (..)");
  EXPECT_EQ(ReadFile(dest_ + "/fine.txt"), "fine");
  EXPECT_EQ(ReadFile(dest_ + "/x/y"), "y");
  EXPECT_EQ(Snapshot(dest_).size(), 3u);
}

TEST_F(HostileTarTest, SymlinkEscapesAndWritesThroughThem) {
  std::string tar = RawTarBuilder()
                        .Symlink("evil", "../sibling")
                        .File("evil/pwned", "x")
                        .Symlink("abs", sibling_)
                        .File("abs/pwned", "x")
                        .Dir("d")
                        .Symlink("d/up", "..")              // the root: allowed
                        .Symlink("esc", "d/up/../sibling")  // lexically inside, really not
                        .File("esc/pwned", "x")
                        .Symlink("esc2", "d/up/../sibling")
                        .Symlink("inlink", "realdir")
                        .Dir("realdir")
                        .File("inlink/f", "x")
                        .Finish();
  std::vector<SkippedEntry> skipped;
  Status s = ExtractBytes(Gzip(tar), &skipped);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReasonFor(skipped, "evil"), "symlink target escapes the tree (-> ../sibling)");
  EXPECT_EQ(ReasonFor(skipped, "abs"), "symlink target is absolute (-> " + sibling_ + ")");
  EXPECT_NE(ReasonFor(skipped, "esc").find("through another symlink"), std::string::npos);
  EXPECT_NE(ReasonFor(skipped, "esc2").find("through another symlink"), std::string::npos);
  EXPECT_EQ(ReasonFor(skipped, "inlink"), "a directory already exists at this path");
  // Files "through" a skipped or deferred symlink land in real directories.
  auto tree = Snapshot(dest_);
  EXPECT_EQ(tree["evil"].type, 'd');
  EXPECT_EQ(tree["evil/pwned"].type, 'f');
  EXPECT_EQ(tree["abs/pwned"].type, 'f');
  EXPECT_EQ(tree["esc"].type, 'd');
  EXPECT_EQ(tree["inlink/f"].type, 'f');
  EXPECT_EQ(tree["d/up"].type, 'l');
  EXPECT_EQ(tree["d/up"].content, "..");
  EXPECT_EQ(tree.count("esc2"), 0u);
}

TEST_F(HostileTarTest, HardLinksDevicesAndFifosAreSkipped) {
  std::string tar = RawTarBuilder()
                        .File("target", "t")
                        .HardLink("hl", "target")
                        .HardLink("hl2", "/etc/passwd")
                        .Special("chr", AE_IFCHR)
                        .Special("blk", AE_IFBLK)
                        .Special("fifo", AE_IFIFO)
                        .Finish();
  std::vector<SkippedEntry> skipped;
  Status s = ExtractBytes(Gzip(tar), &skipped);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReasonFor(skipped, "hl"), "hard link (to target)");
  EXPECT_EQ(ReasonFor(skipped, "hl2"), "hard link (to /etc/passwd)");
  EXPECT_EQ(ReasonFor(skipped, "chr"), "character device");
  EXPECT_EQ(ReasonFor(skipped, "blk"), "block device");
  EXPECT_EQ(ReasonFor(skipped, "fifo"), "FIFO");
  auto tree = Snapshot(dest_);
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_EQ(tree["target"].content, "t");
}

TEST_F(HostileTarTest, SpecialModeBitsAreStripped) {
  std::string tar = RawTarBuilder()
                        .File("suid", "x", 04755)
                        .File("sgid", "x", 02755)
                        .Dir("sticky", 01777)
                        .File("world-writable", "x", 0666)
                        .File("private", "x", 0600)
                        .Finish();
  ASSERT_TRUE(ExtractBytes(Gzip(tar), nullptr).ok());
  auto tree = Snapshot(dest_);
  EXPECT_EQ(tree["suid"].mode, 0755u);
  EXPECT_EQ(tree["sgid"].mode, 0755u);
  EXPECT_EQ(tree["sticky"].mode, 0755u);
  EXPECT_EQ(tree["world-writable"].mode, 0644u);
  EXPECT_EQ(tree["private"].mode, 0600u);
}

TEST_F(HostileTarTest, LaterDuplicatesWin) {
  std::string tar = RawTarBuilder()
                        .File("dup", "one")
                        .File("dup", "two")
                        .File("x", "file")
                        .Dir("x")
                        .File("x/inside", "in")
                        .Finish();
  TarIndex entries;
  WriteFile(tmp_ / "in.tgz", Gzip(tar));
  ASSERT_TRUE(ExtractTarGz(tmp_ / "in.tgz", dest_, nullptr, &entries).ok());
  auto tree = Snapshot(dest_);
  EXPECT_EQ(tree["dup"].content, "two");
  EXPECT_EQ(tree["x"].type, 'd');
  EXPECT_EQ(tree["x/inside"].content, "in");
  std::vector<std::string> paths;
  for (const auto& e : entries.entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"dup", "x", "x/inside"}));
}

TEST_F(HostileTarTest, TruncatedArchivesAreCorruption) {
  TarIndex idx;
  const std::string ours = ReadFile(PackSample(&idx));
  for (size_t cut : {ours.size() / 2, ours.size() - 1, size_t(idx.blocks[0].comp_size - 3)}) {
    TempDir t;
    WriteFile(t / "cut.tgz", ours.substr(0, cut));
    Status s = ExtractTarGz(t / "cut.tgz", t / "out", nullptr, nullptr);
    EXPECT_TRUE(s.IsCorruption()) << "cut at " << cut << ": " << s.ToString();
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.ToString();
  }
  // A complete gzip around a tar stream that stops without its end marker.
  std::string tar = RawTarBuilder().File("a", "a").File("b", "b").Finish(/*end_marker=*/false);
  Status s = ExtractBytes(Gzip(tar), nullptr);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("end-of-archive"), std::string::npos) << s.ToString();
  // Cut inside a member's data.
  std::string cut_tar = RawTarBuilder().File("a", std::string(5000, 'a')).Finish();
  TempDir t;
  WriteFile(t / "in.tgz", Gzip(cut_tar.substr(0, 2048)));
  s = ExtractTarGz(t / "in.tgz", t / "out", nullptr, nullptr);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST_F(HostileTarTest, FlippedBytesInDataBlocksAreCaught) {
  TarIndex idx;
  const std::string path = PackSample(&idx);
  const std::string ours = ReadFile(path);
  const TarBlock& b0 = idx.blocks[0];
  const TarEntry* a = idx.Find("a.txt");
  ASSERT_NE(a, nullptr);
  size_t first = 0, last = 0;
  idx.BlocksCovering(a->data_offset, a->size, &first, &last);
  ASSERT_EQ(first, 0u);

  struct Damage {
    const char* what;
    size_t at;
  };
  for (Damage d : {Damage{"stored CRC", size_t(b0.comp_offset + b0.comp_size - 8)},
                   Damage{"deflate data", size_t(b0.comp_offset + b0.comp_size / 2)}}) {
    SCOPED_TRACE(d.what);
    std::string bad = ours;
    bad[d.at] = char(bad[d.at] ^ 0x55);
    TempDir t;
    WriteFile(t / "bad.tgz", bad);
    Status s = ExtractTarGz(t / "bad.tgz", t / "out", nullptr, nullptr);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();

    FileFetcher fetcher{t / "bad.tgz"};
    TarIndex read_idx;
    s = ReadSeekableIndex(bad.size(), std::ref(fetcher), &read_idx);
    ASSERT_TRUE(s.ok()) << "the index member is intact: " << s.ToString();
    std::string got;
    s = ReadMemberRange(read_idx, *read_idx.Find("a.txt"), 0, a->size, std::ref(fetcher),
                        [&](const char* p, size_t n) {
                          got.append(p, n);
                          return Status::OK();
                        });
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_TRUE(got.empty()) << "no bytes of a damaged block may be handed out";
  }
}

TEST_F(HostileTarTest, DamagedOrForgedIndexIsCorruption) {
  TarIndex idx;
  const std::string ours = ReadFile(PackSample(&idx));
  auto read_index = [&](const std::string& bytes) {
    WriteFile(tmp_ / "x.tgz", bytes);
    FileFetcher fetcher{tmp_ / "x.tgz"};
    TarIndex out;
    return ReadSeekableIndex(bytes.size(), std::ref(fetcher), &out);
  };
  ASSERT_TRUE(read_index(ours).ok());
  const size_t index_at = idx.data_comp_size;
  const size_t trailer_at = ours.size() - kSeekableTrailerSize;

  std::string bad = ours;
  bad[index_at + 20] ^= 0x01;  // inside the FCOMMENT text
  Status s = read_index(bad);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();

  bad = ours;
  bad[trailer_at + 16 + 12] ^= 0x01;  // the index offset field of the trailer
  s = read_index(bad);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();

  bad = ours;
  bad[trailer_at + 16] ^= 0x01;  // the magic: no longer our trailer at all
  EXPECT_TRUE(read_index(bad).IsNotFound());
  EXPECT_TRUE(read_index("tiny").IsNotFound());

  // A well-formed trailer pointing at the wrong place.
  bad = ours.substr(0, trailer_at) +
        EncodeSeekableTrailer({index_at + 1, trailer_at - index_at - 1, 0});
  s = read_index(bad);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();

  // A forged index with valid checksums that smuggles in an escaping path.
  TarIndex forged = idx;
  forged.entries[0].path = "../../etc/cron.d/x";
  const std::string text = forged.Serialize();
  const std::string member = EncodeIndexMember(text);
  bad = ours.substr(0, index_at) + member +
        EncodeSeekableTrailer({index_at, member.size(), Crc32(text)});
  s = read_index(bad);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST_F(HostileTarTest, HeaderNonsenseIsCorruption) {
  const std::string data(1024, 'd');
  const std::string huge = std::string("\x80\0\0\0\x10\0\0\0\0\0\0\0", 12);  // base-256 2^60
  const std::string negative(12, '\xff');                                    // base-256 -1
  const std::string eight_gib = std::string("77777777777") + '\0';
  struct Case {
    const char* what;
    std::string header;
  };
  for (const Case& c : {Case{"2^60 bytes", UstarHeader("huge", '0', huge)},
                        Case{"negative size", UstarHeader("neg", '0', negative)},
                        Case{"bad checksum", UstarHeader("bad", '0', "00000002000", true)}}) {
    SCOPED_TRACE(c.what);
    std::string tar = RawTarBuilder().File("before", "b").Raw(c.header + data).Finish();
    TempDir t;
    WriteFile(t / "in.tgz", Gzip(tar));
    Status s = ExtractTarGz(t / "in.tgz", t / "out", nullptr, nullptr);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    auto tree = Snapshot(t / "out");
    EXPECT_EQ(tree.size(), 1u) << "only the member before the bad header";
  }
  // A plausible but large declared size is refused by the caller's cap
  // before anything is written.
  std::string tar = RawTarBuilder().Raw(UstarHeader("big", '0', eight_gib) + data).Finish();
  ExtractOptions opts;
  opts.max_entry_size = 1 << 20;
  Status s = ExtractBytes(Gzip(tar), nullptr, opts);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("above the limit"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dest_ + "/big"));
}

TEST_F(HostileTarTest, LimitsStopBombs) {
  RawTarBuilder many;
  for (int i = 0; i < 10; ++i) many.File("f" + std::to_string(i), std::string(400000, 'z'));
  const std::string gz = Gzip(many.Finish());
  EXPECT_LT(gz.size(), 100000u) << "a (mild) decompression bomb";

  ExtractOptions total;
  total.max_total_size = 1 << 20;
  Status s = ExtractBytes(gz, nullptr, total);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  std::filesystem::remove_all(dest_);

  ExtractOptions entries;
  entries.max_entries = 5;
  s = ExtractBytes(gz, nullptr, entries);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  std::filesystem::remove_all(dest_);

  ExtractOptions space;
  space.min_free_bytes = uint64_t(1) << 62;  // more than any disk has
  s = ExtractBytes(gz, nullptr, space);
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("not enough space"), std::string::npos);
  EXPECT_TRUE(Snapshot(dest_).empty());
}

TEST_F(HostileTarTest, NotGzipOrGarbageAfterIsCorruption) {
  const std::string tar = RawTarBuilder().File("a", "a").Finish();
  for (const auto& [what, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"plain text", "hello, I am not an archive\n"},
           {"empty file", ""},
           {"uncompressed tar", tar},
           {"garbage after the gzip", Gzip(tar) + "garbage"},
           {"gzip of a non-tar", Gzip(std::string(4096, 'q'))},
       }) {
    SCOPED_TRACE(what);
    TempDir t;
    WriteFile(t / "in.tgz", bytes);
    Status s = ExtractTarGz(t / "in.tgz", t / "out", nullptr, nullptr);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  }
}

}  // namespace
}  // namespace ccfs
