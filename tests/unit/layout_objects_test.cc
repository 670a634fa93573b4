// The layout-v2 object codecs: the workspace root and index segments. Both
// are read from a store that anyone with write access can fill, so every
// malformed input must come back as a clear error, never as a tree.
#include <gtest/gtest.h>

#include <string>

#include "store/layout/index_segment.h"
#include "store/layout/root.h"

namespace ccfs {
namespace {

std::string Name(char c) { return std::string(64, c); }

WorkspaceRoot SampleRoot() {
  WorkspaceRoot r;
  r.generation = 7;
  r.parent_generation = 6;
  r.nonce = std::string(32, 'a');
  r.writer = {"laptop", 4242, "holder-1"};
  r.committed_unix_ms = 1780000000123;
  r.segments = {{Name('1'), ".claude.json", "projects/a/x.jsonl", 2000, 91000},
                {Name('2'), "projects/b/y.jsonl", "todos/z.json", 1500, 70000}};
  r.adopted_v1_etag = "d41d8cd98f00b204e9800998ecf8427e";
  r.files = 3500;
  r.bytes = 58000000;
  return r;
}

TEST(LayoutRootTest, RoundTripsAndEncodesStably) {
  WorkspaceRoot r = SampleRoot();
  std::string text = EncodeRoot(r);
  EXPECT_EQ(text, EncodeRoot(r));
  auto back = DecodeRoot(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->parent_generation, 6u);
  EXPECT_EQ(back->nonce, r.nonce);
  EXPECT_EQ(back->writer.host, "laptop");
  EXPECT_EQ(back->writer.pid, 4242);
  EXPECT_EQ(back->writer.holder, "holder-1");
  EXPECT_EQ(back->committed_unix_ms, r.committed_unix_ms);
  ASSERT_EQ(back->segments.size(), 2u);
  EXPECT_EQ(back->segments[1].first_path, "projects/b/y.jsonl");
  EXPECT_EQ(back->segments[0].entries, 2000u);
  EXPECT_EQ(back->adopted_v1_etag, r.adopted_v1_etag);
  EXPECT_EQ(EncodeRoot(*back), text);
}

TEST(LayoutRootTest, EmptyTreeHasNoSegments) {
  WorkspaceRoot r = SampleRoot();
  r.segments.clear();
  auto back = DecodeRoot(EncodeRoot(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->segments.empty());
}

TEST(LayoutRootTest, RefusesMalformedRoots) {
  auto corrupt = [](const WorkspaceRoot& r) { return DecodeRoot(EncodeRoot(r)).status(); };
  EXPECT_TRUE(DecodeRoot("").status().IsCorruption());
  EXPECT_TRUE(DecodeRoot("[1,2]").status().IsCorruption());
  EXPECT_TRUE(DecodeRoot("{\"format\":\"ccfs-root-2\"}").status().IsCorruption());
  EXPECT_TRUE(DecodeRoot("{\"format\":\"tarball\"}").status().IsCorruption());

  WorkspaceRoot r = SampleRoot();
  r.generation = 0;
  r.parent_generation = 0;
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.parent_generation = 7;
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.nonce = "xyz";
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.segments[0].name = "../../etc/passwd";
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.segments[1].first_path = "projects/a/x.jsonl";  // overlaps the first
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.segments[0].last_path = ".a";  // reversed range
  EXPECT_TRUE(corrupt(r).IsCorruption());
  r = SampleRoot();
  r.segments[0].entries = 0;
  EXPECT_TRUE(corrupt(r).IsCorruption());

  std::string text = EncodeRoot(SampleRoot());
  text.replace(text.find("\"generation\":7"), 14, "\"generation\":\"7\"");
  Status wrong_type = DecodeRoot(text).status();
  EXPECT_TRUE(wrong_type.IsCorruption());
  EXPECT_NE(wrong_type.message().find("generation"), std::string::npos) << wrong_type.ToString();
}

TEST(LayoutRootTest, NewerFormatIsNotSupported) {
  std::string text = EncodeRoot(SampleRoot());
  text.replace(text.find("ccfs-root-2"), 11, "ccfs-root-3");
  Status s = DecodeRoot(text).status();
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
}

IndexSegment SampleSegment() {
  IndexSegment s;
  IndexEntry dir;
  dir.path = "projects";
  dir.type = EntryType::kDir;
  dir.mode = 0755;
  dir.mtime_ns = 1780000000000000001;
  IndexEntry transcript;
  transcript.path = "projects/-home-u/0b6a.jsonl";
  transcript.mode = 0600;
  transcript.mtime_ns = 1777000000123456789;  // kept to the nanosecond
  transcript.size = 300;
  transcript.chunks = {{Name('a'), 100}, {Name('b'), 200}};
  IndexEntry settings;
  settings.path = "settings.json";
  settings.size = 42;
  settings.mtime_ns = 1780000000000000000;
  settings.pack = Name('c');
  settings.pack_data_offset = 512;
  IndexEntry empty;
  empty.path = "todos/empty.json";
  IndexEntry link;
  link.path = "todos/link";
  link.type = EntryType::kSymlink;
  link.mode = 0777;
  link.link_target = "empty.json";
  s.entries = {dir, transcript, settings, empty, link};
  return s;
}

TEST(LayoutSegmentTest, RoundTripsEveryKindOfEntry) {
  IndexSegment s = SampleSegment();
  std::string text = EncodeSegmentText(s);
  auto back = DecodeSegmentText(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->entries.size(), 5u);
  const IndexEntry& t = back->entries[1];
  EXPECT_EQ(t.mtime_ns, 1777000000123456789);
  EXPECT_EQ(t.mode, 0600u);
  ASSERT_EQ(t.chunks.size(), 2u);
  EXPECT_EQ(t.chunks[1].size, 200u);
  EXPECT_EQ(back->entries[2].pack, Name('c'));
  EXPECT_EQ(back->entries[2].pack_data_offset, 512u);
  EXPECT_EQ(back->entries[4].link_target, "empty.json");
  EXPECT_EQ(back->entries[0].type, EntryType::kDir);
  EXPECT_EQ(EncodeSegmentText(*back), text);
  // The stored form: compressed, stable, and checked on the way in.
  auto encoded = EncodeSegment(s);
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  std::string stored = encoded.value();
  EXPECT_LT(stored.size(), text.size());
  EXPECT_EQ(stored, EncodeSegment(*back).value());
  auto unpacked = DecodeSegment(stored);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status().ToString();
  EXPECT_EQ(EncodeSegmentText(*unpacked), text);
  std::string damaged = stored;
  damaged[damaged.size() / 2] ^= 0x40;
  EXPECT_TRUE(DecodeSegment(damaged).status().IsCorruption());
  EXPECT_TRUE(DecodeSegment(text).status().IsCorruption());  // not gzip
}

TEST(LayoutSegmentTest, RefusesMalformedSegments) {
  auto status_of = [](const IndexSegment& s) {
    return DecodeSegmentText(EncodeSegmentText(s)).status();
  };
  EXPECT_TRUE(DecodeSegmentText("").status().IsCorruption());
  EXPECT_TRUE(DecodeSegmentText("not json\n").status().IsCorruption());

  for (const char* bad : {"../escape", "/abs", "a//b", "a/./b", ""}) {
    IndexSegment s = SampleSegment();
    s.entries[2].path = bad;
    EXPECT_TRUE(status_of(s).IsCorruption()) << bad;
  }
  IndexSegment s = SampleSegment();
  std::swap(s.entries[1], s.entries[2]);  // out of order
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[3] = s.entries[2];  // repeated path
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[1].pack = Name('d');  // both a pack and chunks
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[1].size = 301;  // chunks fall short
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[1].size = 250;  // chunks overrun
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[2].pack.clear();  // bytes with no location
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[0].pack = Name('e');  // a directory with bytes
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[2].mode = 010644;
  EXPECT_TRUE(status_of(s).IsCorruption());
  s = SampleSegment();
  s.entries[4].link_target.clear();
  EXPECT_TRUE(status_of(s).IsCorruption());

  std::string text = EncodeSegmentText(SampleSegment());
  std::string truncated = text.substr(0, text.rfind('\n', text.size() - 2) + 1);
  Status cut = DecodeSegmentText(truncated).status();
  EXPECT_TRUE(cut.IsCorruption());
  EXPECT_NE(cut.message().find("truncated"), std::string::npos) << cut.ToString();

  std::string newer = text;
  newer.replace(newer.find("ccfs-index-2"), 12, "ccfs-index-9");
  EXPECT_TRUE(DecodeSegmentText(newer).status().IsNotSupported());
}

TEST(LayoutSegmentTest, ObjectNamesAreSha256) {
  EXPECT_EQ(ObjectNameOf("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsObjectName(ObjectNameOf("")));
  EXPECT_FALSE(IsObjectName(std::string(64, 'A')));
  EXPECT_FALSE(IsObjectName(std::string(63, 'a')));
}

TEST(LayoutSegmentTest, SplitKeepsEveryEntryOnceInOrder) {
  std::vector<IndexEntry> all;
  for (int i = 0; i < 5; ++i) {
    IndexEntry e;
    e.path = "f" + std::to_string(i);
    all.push_back(e);
  }
  auto parts = SplitIntoSegments(all, 2);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].entries.size(), 2u);
  EXPECT_EQ(parts[2].entries.size(), 1u);
  EXPECT_EQ(parts[1].entries[0].path, "f2");
  EXPECT_EQ(parts[2].entries[0].path, "f4");
  EXPECT_TRUE(SplitIntoSegments({}, 2000).empty());
}

}  // namespace
}  // namespace ccfs
