// One behaviour, two backends: every test here runs against the file store
// (a fresh temp dir) and against S3 (a fresh random prefix in the bucket that
// $CCFS_TEST_S3_BUCKET names, with the AWS_* environment; scripts/test and
// `eval "$(scripts/s3-server env)"` provide both). Select one backend with
// --gtest_filter='File/StoreConformance.*' or 'S3/StoreConformance.*'.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/objects/object_store.h"

namespace ccfs {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid()));
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 12; ++i) s.push_back(kAlnum[rng() % 36]);
  return s;
}

// Deterministic bytes that do not repeat with a short period.
std::string PseudoRandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

// Option builders (designated initializers trip -Wmissing-field-initializers).
GetOptions Range(uint64_t offset, uint64_t length, const std::string& if_match = "") {
  GetOptions o;
  o.range = ByteRange{offset, length};
  o.if_match = if_match;
  return o;
}
GetOptions IfMatch(const std::string& etag) {
  GetOptions o;
  o.if_match = etag;
  return o;
}
PutOptions PutIfMatch(const std::string& etag) {
  PutOptions o;
  o.if_match = etag;
  return o;
}
PutOptions CreateOnly() {
  PutOptions o;
  o.if_none_match_any = true;
  return o;
}
ListOptions Listing(const std::string& prefix, const std::string& delimiter = "",
                    int page_size = 1000) {
  ListOptions o;
  o.prefix = prefix;
  o.delimiter = delimiter;
  o.max_keys_per_page = page_size;
  return o;
}

class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ccfs-conformance-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_dir_ = tmpl;
    std::string url;
    if (GetParam() == "file") {
      // A root below the temp dir, so the store creates it on first write.
      url = "file://" + tmp_dir_ + "/bucket";
    } else {
      const char* bucket = std::getenv("CCFS_TEST_S3_BUCKET");
      ASSERT_TRUE(bucket != nullptr && *bucket != '\0')
          << "CCFS_TEST_S3_BUCKET is not set: the S3 conformance tests need a real S3 server. "
             "Run them under scripts/test, or start one with `scripts/s3-server start` and "
             "`eval \"$(scripts/s3-server env)\"` first.";
      url = std::string("s3://") + bucket + "/conformance-" + RandomSuffix();
    }
    auto opened = OpenStore(url);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  void TearDown() override {
    if (store_ != nullptr) {
      for (const std::string& key : made_) {
        Status s = store_->Delete(key);
        EXPECT_TRUE(s.ok()) << "cleanup of " << key << ": " << s.ToString();
      }
      // Whatever a failed test left behind under this test's root.
      ListResult rest;
      if (store_->List({}, &rest).ok()) {
        for (const ObjectInfo& o : rest.objects) EXPECT_TRUE(store_->Delete(o.key).ok()) << o.key;
      }
    }
    std::error_code ec;
    if (!tmp_dir_.empty()) std::filesystem::remove_all(tmp_dir_, ec);
  }

  // Records `key` for cleanup and returns it.
  const std::string& K(const std::string& key) { return *made_.insert(key).first; }

  Status Put(const std::string& key, const std::string& body, ObjectInfo* info = nullptr,
             PutOptions opts = {}) {
    return store_->PutBytes(K(key), body, opts, info);
  }

  std::string GetOrDie(const std::string& key, GetOptions opts = {}, ObjectInfo* info = nullptr) {
    std::string out;
    Status s = GetToString(*store_, key, opts, &out, info);
    EXPECT_TRUE(s.ok()) << key << ": " << s.ToString();
    return out;
  }

  std::string WriteLocalFile(const std::string& name, const std::string& body) {
    std::string path = tmp_dir_ + "/" + name;
    std::ofstream f(path, std::ios::binary);
    f.write(body.data(), static_cast<std::streamsize>(body.size()));
    f.close();
    EXPECT_TRUE(f.good()) << path;
    return path;
  }

  std::vector<std::string> Keys(const ListResult& r) {
    std::vector<std::string> keys;
    for (const ObjectInfo& o : r.objects) keys.push_back(o.key);
    return keys;
  }

  std::string tmp_dir_;
  std::unique_ptr<ObjectStore> store_;
  std::set<std::string> made_;
};

TEST_P(StoreConformance, PutBytesRoundTripWithConsistentEtag) {
  ObjectInfo put;
  ASSERT_TRUE(Put("ws/settings.json", "{\"model\":\"sonnet\"}\n", &put).ok());
  EXPECT_FALSE(put.etag.empty());
  EXPECT_EQ(put.size, 19u);
  EXPECT_NE(put.etag.front(), '"') << "ETags come without quotes";

  ObjectInfo head;
  ASSERT_TRUE(store_->Head("ws/settings.json", &head).ok());
  EXPECT_EQ(head.etag, put.etag);
  EXPECT_EQ(head.size, 19u);
  EXPECT_EQ(head.key, "ws/settings.json");
  EXPECT_GT(head.mtime_unix, 1600000000);

  ObjectInfo got;
  EXPECT_EQ(GetOrDie("ws/settings.json", {}, &got), "{\"model\":\"sonnet\"}\n");
  EXPECT_EQ(got.etag, put.etag);
  EXPECT_EQ(got.size, 19u);

  ListResult list;
  ASSERT_TRUE(store_->List(Listing("ws/"), &list).ok());
  ASSERT_EQ(list.objects.size(), 1u);
  EXPECT_EQ(list.objects[0].key, "ws/settings.json");
  EXPECT_EQ(list.objects[0].etag, put.etag);
  EXPECT_EQ(list.objects[0].size, 19u);
}

TEST_P(StoreConformance, PutFileRoundTrip) {
  const std::string body = PseudoRandomBytes(300 * 1024 + 7, 1);
  const std::string local = WriteLocalFile("body.bin", body);
  ObjectInfo put;
  ASSERT_TRUE(store_->PutFile(K("ws/claude-home.tar.gz"), local, {}, &put).ok());
  EXPECT_EQ(put.size, body.size());
  ObjectInfo head;
  ASSERT_TRUE(store_->Head("ws/claude-home.tar.gz", &head).ok());
  EXPECT_EQ(head.etag, put.etag);
  ObjectInfo got;
  EXPECT_TRUE(GetOrDie("ws/claude-home.tar.gz", {}, &got) == body);
  EXPECT_EQ(got.etag, put.etag);
  EXPECT_EQ(got.size, body.size());
}

TEST_P(StoreConformance, EtagChangesOnOverwrite) {
  ObjectInfo first, second;
  ASSERT_TRUE(Put("lease", "holder=a", &first).ok());
  ASSERT_TRUE(Put("lease", "holder=bb", &second).ok());
  EXPECT_NE(first.etag, second.etag);
  ObjectInfo head;
  ASSERT_TRUE(store_->Head("lease", &head).ok());
  EXPECT_EQ(head.etag, second.etag);
  EXPECT_EQ(GetOrDie("lease"), "holder=bb");
}

TEST_P(StoreConformance, RangedGet) {
  const std::string body = "0123456789abcdefghij";
  ASSERT_TRUE(Put("r", body).ok());
  ObjectInfo info;
  EXPECT_EQ(GetOrDie("r", Range(5, 4), &info), "5678");
  EXPECT_EQ(info.size, body.size()) << "info carries the full size, not the range's";
  EXPECT_EQ(GetOrDie("r", Range(15, 100)), "fghij") << "tail clipped at the end";
  EXPECT_EQ(GetOrDie("r", Range(0, 1)), "0");
  EXPECT_EQ(GetOrDie("r", Range(19, 1)), "j");
  EXPECT_EQ(GetOrDie("r", Range(20, 10)), "") << "start at the end: no bytes";
  EXPECT_EQ(GetOrDie("r", Range(1000, 10)), "") << "start past the end: no bytes";
}

TEST_P(StoreConformance, GetWithIfMatch) {
  ObjectInfo v1, v2;
  ASSERT_TRUE(Put("tar", "version one", &v1).ok());
  EXPECT_EQ(GetOrDie("tar", IfMatch(v1.etag)), "version one");
  EXPECT_EQ(GetOrDie("tar", Range(8, 3, v1.etag)), "one");
  ASSERT_TRUE(Put("tar", "version two", &v2).ok());
  std::string out;
  Status s = GetToString(*store_, "tar", IfMatch(v1.etag), &out);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(out, "") << "no bytes of the other version";
  s = GetToString(*store_, "tar", Range(0, 4, v1.etag), &out);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(GetOrDie("tar", IfMatch(v2.etag)), "version two");
}

TEST_P(StoreConformance, IfNoneMatchCreatesOnlyOnce) {
  const PutOptions create = CreateOnly();
  ObjectInfo first;
  ASSERT_TRUE(Put("ws/lease", "mine", &first, create).ok());
  Status s = Put("ws/lease", "theirs", nullptr, create);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  ObjectInfo head;
  ASSERT_TRUE(store_->Head("ws/lease", &head).ok());
  EXPECT_EQ(head.etag, first.etag);
  EXPECT_EQ(GetOrDie("ws/lease"), "mine");
}

TEST_P(StoreConformance, IfMatchReplacesOnlyTheNamedVersion) {
  ObjectInfo v1, v2;
  ASSERT_TRUE(Put("ws/tarball", "base", &v1).ok());
  ASSERT_TRUE(Put("ws/tarball", "ours", &v2, PutIfMatch(v1.etag)).ok());
  EXPECT_NE(v2.etag, v1.etag);
  EXPECT_EQ(GetOrDie("ws/tarball"), "ours");

  Status stale = Put("ws/tarball", "late writer", nullptr, PutIfMatch(v1.etag));
  EXPECT_TRUE(stale.IsPreconditionFailed()) << stale.ToString();
  EXPECT_EQ(GetOrDie("ws/tarball"), "ours");

  Status missing = Put("ws/never-written", "x", nullptr, PutIfMatch(v2.etag));
  EXPECT_TRUE(missing.IsPreconditionFailed()) << missing.ToString();
  ObjectInfo none;
  EXPECT_TRUE(store_->Head("ws/never-written", &none).IsNotFound());

  const std::string local = WriteLocalFile("stale.bin", "from a file");
  Status stale_file = store_->PutFile(K("ws/tarball"), local, PutIfMatch(v1.etag), nullptr);
  EXPECT_TRUE(stale_file.IsPreconditionFailed()) << stale_file.ToString();
  ObjectInfo v3;
  ASSERT_TRUE(store_->PutFile("ws/tarball", local, PutIfMatch(v2.etag), &v3).ok());
  EXPECT_EQ(GetOrDie("ws/tarball", IfMatch(v3.etag)), "from a file");
}

TEST_P(StoreConformance, ListWithPrefixAndDelimiter) {
  for (const char* key : {"a/1", "a/2", "a/x/3", "a/x/y/4", "ab", "b/5", "a-b", "a0"}) {
    ASSERT_TRUE(Put(key, key).ok()) << key;
  }
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("a/", "/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"a/x/"}));

  ASSERT_TRUE(store_->List(Listing("a/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a/1", "a/2", "a/x/3", "a/x/y/4"}));
  EXPECT_TRUE(r.common_prefixes.empty());

  ASSERT_TRUE(store_->List({}, &r).ok());
  EXPECT_EQ(Keys(r),
            (std::vector<std::string>{"a-b", "a/1", "a/2", "a/x/3", "a/x/y/4", "a0", "ab", "b/5"}))
      << "byte order: '-' < '/' < '0'";

  ASSERT_TRUE(store_->List(Listing("", "/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a-b", "a0", "ab"}));
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"a/", "b/"}));

  ASSERT_TRUE(store_->List(Listing("a/x", "/"), &r).ok());
  EXPECT_TRUE(r.objects.empty());
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"a/x/"}));

  ASSERT_TRUE(store_->List(Listing("nothing/", "/"), &r).ok());
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(r.common_prefixes.empty());
}

TEST_P(StoreConformance, ListWithPartialPrefix) {
  for (const char* key : {"ws/projects/-home-dev/s1.jsonl", "ws/projects/-home-dev/s2.jsonl",
                          "ws/plans/p.md", "ws/profile", "ws/claude-home.tar.gz"}) {
    ASSERT_TRUE(Put(key, "x").ok()) << key;
  }
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("ws/pro"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"ws/profile", "ws/projects/-home-dev/s1.jsonl",
                                               "ws/projects/-home-dev/s2.jsonl"}));
  ASSERT_TRUE(store_->List(Listing("ws/pro", "/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"ws/profile"}));
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"ws/projects/"}));
  ASSERT_TRUE(store_->List(Listing("ws/projects/-home-dev/s2"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"ws/projects/-home-dev/s2.jsonl"}));
}

TEST_P(StoreConformance, ListPaginates) {
  std::set<std::string> expected_keys;
  for (int i = 0; i < 200; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "p/k%03d", i);
    ASSERT_TRUE(Put(key, std::to_string(i)).ok()) << key;
    expected_keys.insert(key);
  }
  std::vector<std::string> expected_prefixes;
  for (int i = 0; i < 50; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "p/d%02d/x", i);
    ASSERT_TRUE(Put(key, "x").ok()) << key;
    expected_prefixes.push_back(std::string(key, 6));
  }
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("p/", "", 100), &r).ok());
  EXPECT_EQ(r.objects.size(), 250u);
  EXPECT_TRUE(
      std::is_sorted(r.objects.begin(), r.objects.end(),
                     [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; }));
  const std::vector<std::string> all = Keys(r);
  const std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), 250u) << "no key listed twice across pages";

  ASSERT_TRUE(store_->List(Listing("p/", "/", 100), &r).ok());
  std::vector<std::string> keys = Keys(r);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), expected_keys);
  EXPECT_EQ(keys.size(), 200u);
  EXPECT_EQ(r.common_prefixes, expected_prefixes);
}

TEST_P(StoreConformance, DeleteRemovesAndToleratesMissing) {
  ASSERT_TRUE(Put("d/one", "1").ok());
  ASSERT_TRUE(Put("d/two", "2").ok());
  ASSERT_TRUE(store_->Delete("d/one").ok());
  ObjectInfo info;
  EXPECT_TRUE(store_->Head("d/one", &info).IsNotFound());
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("d/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"d/two"}));
  EXPECT_TRUE(store_->Delete("d/one").ok()) << "deleting a missing key succeeds";
  EXPECT_TRUE(store_->Delete("never/was/here").ok());
  ASSERT_TRUE(store_->Delete("d/two").ok());
  ASSERT_TRUE(store_->List(Listing("", "/"), &r).ok());
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(r.common_prefixes.empty()) << "nothing left, not even an empty 'd/'";
}

TEST_P(StoreConformance, MissingObjectIsNotFound) {
  ObjectInfo info;
  Status s = store_->Head("no/such/key", &info);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  std::string out;
  s = GetToString(*store_, "no/such/key", {}, &out);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  s = GetToString(*store_, "no/such/key", Range(0, 10), &out);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  s = GetToString(*store_, "no/such/key", IfMatch("0123456789abcdef0123456789abcdef"), &out);
  EXPECT_FALSE(s.ok());
}

TEST_P(StoreConformance, BinaryContentWithEveryByteValue) {
  std::string body;
  for (int round = 0; round < 4; ++round) {
    for (int b = 0; b < 256; ++b) body.push_back(static_cast<char>(round % 2 ? 255 - b : b));
  }
  body += std::string("\r\n\0\0\x1f\x8b", 6);
  ObjectInfo put;
  ASSERT_TRUE(Put("bin/all-bytes", body, &put).ok());
  EXPECT_EQ(put.size, body.size());
  EXPECT_TRUE(GetOrDie("bin/all-bytes") == body);
  EXPECT_EQ(GetOrDie("bin/all-bytes", Range(250, 10)), body.substr(250, 10));
}

TEST_P(StoreConformance, KeyWithSpacesAndUnicode) {
  const std::string key =
      "ws/projects/-home-dev-my project/s\xC3\xA9"
      "ance \xE6\x96\x87\xE4\xBB\xB6 (1) "
      "a+b=c&d,e;f@g$h'i!~%20.jsonl";
  ObjectInfo put;
  ASSERT_TRUE(Put(key, "{\"type\":\"user\"}\n", &put).ok());
  ObjectInfo head;
  ASSERT_TRUE(store_->Head(key, &head).ok());
  EXPECT_EQ(head.etag, put.etag);
  EXPECT_EQ(GetOrDie(key), "{\"type\":\"user\"}\n");
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("ws/projects/"), &r).ok());
  EXPECT_EQ(Keys(r), (std::vector<std::string>{key}));
  ASSERT_TRUE(store_->List(Listing("ws/projects/", "/"), &r).ok());
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"ws/projects/-home-dev-my project/"}));
  ASSERT_TRUE(store_->Delete(key).ok());
  EXPECT_TRUE(store_->Head(key, &head).IsNotFound());
}

TEST_P(StoreConformance, ZeroByteObject) {
  ObjectInfo put;
  ASSERT_TRUE(Put("debug/.keep", "", &put).ok());
  EXPECT_EQ(put.size, 0u);
  EXPECT_FALSE(put.etag.empty());
  ObjectInfo head;
  ASSERT_TRUE(store_->Head("debug/.keep", &head).ok());
  EXPECT_EQ(head.size, 0u);
  EXPECT_EQ(head.etag, put.etag);
  ObjectInfo got;
  EXPECT_EQ(GetOrDie("debug/.keep", {}, &got), "");
  EXPECT_EQ(got.etag, put.etag);
  EXPECT_EQ(GetOrDie("debug/.keep", Range(0, 10)), "");
  ListResult r;
  ASSERT_TRUE(store_->List(Listing("debug/"), &r).ok());
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].size, 0u);

  const std::string empty_file = WriteLocalFile("empty", "");
  ObjectInfo from_file;
  ASSERT_TRUE(store_->PutFile(K("debug/empty"), empty_file, {}, &from_file).ok());
  EXPECT_EQ(from_file.size, 0u);
  EXPECT_EQ(GetOrDie("debug/empty"), "");
}

TEST_P(StoreConformance, LargeFileRoundTrip) {
  const std::string body = PseudoRandomBytes((20u << 20) + 12345, 20);
  const std::string local = WriteLocalFile("large.bin", body);
  ObjectInfo put;
  ASSERT_TRUE(store_->PutFile(K("ws/claude-home.tar.gz"), local, {}, &put).ok());
  EXPECT_EQ(put.size, body.size());
  ObjectInfo got;
  std::string back = GetOrDie("ws/claude-home.tar.gz", {}, &got);
  EXPECT_EQ(back.size(), body.size());
  EXPECT_TRUE(back == body) << "content differs";
  EXPECT_EQ(got.etag, put.etag);
  // A range across several 256 KiB read chunks, deep inside the object.
  const ByteRange mid{(7u << 20) + 3, (1u << 20) + 77};
  EXPECT_TRUE(GetOrDie("ws/claude-home.tar.gz", Range(mid.offset, mid.length, put.etag)) ==
              body.substr(mid.offset, mid.length));
}

TEST_P(StoreConformance, BytesReceivedCountsOnlyTheRange) {
  const std::string body = PseudoRandomBytes(1 << 20, 3);
  ASSERT_TRUE(Put("big", body).ok());
  const uint64_t before = store_->stats().bytes_received.load();
  EXPECT_EQ(GetOrDie("big", Range(4096, 1000)), body.substr(4096, 1000));
  EXPECT_EQ(store_->stats().bytes_received.load() - before, 1000u);
  const uint64_t sent_before = store_->stats().bytes_sent.load();
  ASSERT_TRUE(Put("small", std::string(777, 'x')).ok());
  EXPECT_EQ(store_->stats().bytes_sent.load() - sent_before, 777u);
  EXPECT_GT(store_->stats().requests.load(), 0u);
}

TEST_P(StoreConformance, SinkErrorAbortsTheGet) {
  ASSERT_TRUE(Put("abort", PseudoRandomBytes(2 << 20, 4)).ok());
  size_t seen = 0;
  Status s = store_->Get(
      "abort", {},
      [&seen](const char*, size_t len) {
        seen += len;
        return Status::Corruption("caller stops here");
      },
      nullptr);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, 2u << 20);
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(File, StoreConformance, ::testing::Values("file"), BackendName);
INSTANTIATE_TEST_SUITE_P(S3, StoreConformance, ::testing::Values("s3"), BackendName);

}  // namespace
}  // namespace ccfs
