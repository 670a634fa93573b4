// S3Store against a real S3 server (Ceph RGW from scripts/s3-server). The
// endpoint and keys come from the AWS_* variables that `scripts/s3-server env`
// prints; CCFS_TEST_S3_BUCKET names the bucket. Without it these tests FAIL
// (never skip): run them via scripts/test, or after
//   scripts/s3-server start && eval "$(scripts/s3-server env)"
// Each test works under its own random prefix and deletes it afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include "scoped_env.h"
#include "store/base/content_hash.h"
#include "store/objects/condition_probe.h"
#include "store/objects/object_store.h"

namespace ccfs {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

GetOptions Range(uint64_t offset, uint64_t length, const std::string& if_match = "") {
  GetOptions o;
  o.range = ByteRange{offset, length};
  o.if_match = if_match;
  return o;
}

GetOptions Match(const std::string& if_match) {
  GetOptions o;
  o.if_match = if_match;
  return o;
}

ListOptions Under(const std::string& prefix, const std::string& delimiter = "") {
  ListOptions o;
  o.prefix = prefix;
  o.delimiter = delimiter;
  return o;
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bucket = std::getenv("CCFS_TEST_S3_BUCKET");
    if (bucket == nullptr || *bucket == '\0') {
      FAIL() << "CCFS_TEST_S3_BUCKET is not set: these tests need a real S3 server. Run them via "
                "scripts/test, or: scripts/s3-server start && eval \"$(scripts/s3-server env)\"";
    }
    bucket_ = bucket;
    std::random_device rd;
    prefix_ = "s3test-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 1000000);
    store_ = Open("s3://" + bucket_ + "/" + prefix_);
    ASSERT_NE(store_, nullptr);
    char tmpl[] = "/tmp/ccfs-s3test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }

  void TearDown() override {
    if (store_ != nullptr) {
      ListResult all;
      if (store_->List({}, &all).ok()) {
        for (const ObjectInfo& o : all.objects) (void)store_->Delete(o.key);
      }
    }
    if (!tmp_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_, ec);
    }
  }

  std::unique_ptr<ObjectStore> Open(const std::string& url, StoreOptions opts = {}) {
    Result<std::unique_ptr<ObjectStore>> r = OpenStore(url, opts);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  std::string WriteFile(const std::string& name, const std::string& data) {
    std::string path = tmp_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }

  std::string Read(const std::string& key, GetOptions opts = {}, ObjectInfo* info = nullptr) {
    std::string out;
    Status s = GetToString(*store_, key, opts, &out, info);
    EXPECT_TRUE(s.ok()) << key << ": " << s.ToString();
    return out;
  }

  std::string bucket_;
  std::string prefix_;
  std::string tmp_;
  std::unique_ptr<ObjectStore> store_;
};

// CopyObject (adopting a v1 workspace uses it): the bytes stay in the store,
// keys with awkward characters survive, If-None-Match holds.
TEST_F(S3StoreTest, CopyInsideTheStore) {
  std::string body(300000, 'c');
  for (size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>('a' + i % 26);
  ObjectInfo put;
  ASSERT_TRUE(store_->PutBytes("ws/dir with space/src+1.bin", body, {}, &put).ok());
  const uint64_t sent = store_->stats().bytes_sent.load();
  ObjectInfo copied;
  PutOptions create;
  create.if_none_match_any = true;
  Status s =
      store_->Copy("ws/dir with space/src+1.bin", "ws/v2/packs/copy.tar.gz", create, &copied);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(copied.size, body.size());
  EXPECT_EQ(copied.etag, put.etag);  // same bytes, single part: same MD5
  EXPECT_EQ(store_->stats().bytes_sent.load(), sent);
  EXPECT_EQ(Read("ws/v2/packs/copy.tar.gz", {}, nullptr), body);
  EXPECT_TRUE(
      store_->Copy("ws/dir with space/src+1.bin", "ws/v2/packs/copy.tar.gz", create, nullptr)
          .IsPreconditionFailed());
  EXPECT_TRUE(store_->Copy("ws/missing", "ws/v2/x", PutOptions{}, nullptr).IsNotFound());

  // Pinned to the source's version: a stale ETag copies nothing.
  PutOptions pinned;
  pinned.copy_source_if_match = put.etag;
  s = store_->Copy("ws/dir with space/src+1.bin", "ws/v2/packs/pinned", pinned, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read("ws/v2/packs/pinned", {}, nullptr), body);
  pinned.copy_source_if_match = "0123456789abcdef0123456789abcdef";
  s = store_->Copy("ws/dir with space/src+1.bin", "ws/v2/packs/stale", pinned, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  ObjectInfo none;
  EXPECT_TRUE(store_->Head("ws/v2/packs/stale", &none).IsNotFound());
}

TEST_F(S3StoreTest, PutGetHeadDeleteRoundTrip) {
  ObjectInfo put;
  ASSERT_TRUE(store_->PutBytes("ws/hello.txt", "hello, rgw", {}, &put).ok());
  EXPECT_EQ(put.key, "ws/hello.txt");
  EXPECT_EQ(put.size, 10u);
  ASSERT_FALSE(put.etag.empty());
  EXPECT_EQ(put.etag.find('"'), std::string::npos);

  ObjectInfo head;
  ASSERT_TRUE(store_->Head("ws/hello.txt", &head).ok());
  EXPECT_EQ(head.key, "ws/hello.txt");
  EXPECT_EQ(head.size, 10u);
  EXPECT_EQ(head.etag, put.etag);
  EXPECT_GT(head.mtime_unix, 1600000000);

  ObjectInfo got;
  EXPECT_EQ(Read("ws/hello.txt", {}, &got), "hello, rgw");
  EXPECT_EQ(got.etag, put.etag);
  EXPECT_EQ(got.size, 10u);

  ASSERT_TRUE(store_->Delete("ws/hello.txt").ok());
  Status s = store_->Head("ws/hello.txt", &head);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(s.http_status(), 404);
  std::string out;
  EXPECT_TRUE(GetToString(*store_, "ws/hello.txt", {}, &out).IsNotFound());
  EXPECT_TRUE(store_->Delete("ws/hello.txt").ok());  // deleting a missing key succeeds

  const std::string d = store_->Describe();
  EXPECT_EQ(d.rfind("s3://" + bucket_ + "/" + prefix_ + " (", 0), 0u) << d;
  EXPECT_NE(d.find(std::getenv("AWS_ENDPOINT_URL") ? std::getenv("AWS_ENDPOINT_URL") : "http"),
            std::string::npos);
  if (const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY")) {
    EXPECT_EQ(d.find(secret), std::string::npos);
  }
}

TEST_F(S3StoreTest, PutFileSinglePartAndEmptyObject) {
  const std::string data = RandomBytes(300000, 1);
  ObjectInfo info;
  const uint64_t sent_before = store_->stats().bytes_sent;
  ASSERT_TRUE(store_->PutFile("f/one.bin", WriteFile("one.bin", data), {}, &info).ok());
  EXPECT_EQ(store_->stats().bytes_sent - sent_before, data.size());
  EXPECT_EQ(info.size, data.size());
  EXPECT_EQ(Read("f/one.bin"), data);

  ASSERT_TRUE(store_->PutFile("f/empty", WriteFile("empty", ""), {}, &info).ok());
  EXPECT_EQ(info.size, 0u);
  ObjectInfo got;
  EXPECT_EQ(Read("f/empty", {}, &got), "");
  EXPECT_EQ(got.size, 0u);
  EXPECT_EQ(Read("f/empty", Range(0, 10)), "");

  EXPECT_FALSE(store_->PutFile("f/x", tmp_ + "/does-not-exist", {}, nullptr).ok());
}

TEST_F(S3StoreTest, RangedGetFetchesOnlyTheRange) {
  const std::string data = RandomBytes(1 << 20, 2);
  ASSERT_TRUE(store_->PutBytes("big.bin", data, {}, nullptr).ok());

  const uint64_t before = store_->stats().bytes_received;
  ObjectInfo info;
  EXPECT_EQ(Read("big.bin", Range(1000, 4096), &info), data.substr(1000, 4096));
  EXPECT_EQ(store_->stats().bytes_received - before, 4096u);
  EXPECT_EQ(info.size, data.size());  // full size, not the range's

  // Clipped at the end; starting at or past the end yields nothing.
  EXPECT_EQ(Read("big.bin", Range(data.size() - 10, 100)), data.substr(data.size() - 10));
  EXPECT_EQ(Read("big.bin", Range(data.size(), 5), &info), "");
  EXPECT_EQ(info.size, data.size());
  EXPECT_EQ(Read("big.bin", Range(data.size() + 100, 5)), "");
  EXPECT_EQ(Read("big.bin", Range(5, 0)), "");

  // A sink that refuses aborts the transfer with its own status.
  Status s = store_->Get(
      "big.bin", {}, [](const char*, size_t) { return Status::IOError("sink full"); }, nullptr);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("sink full"), std::string::npos);
}

TEST_F(S3StoreTest, IfNoneMatchCreatesOnlyOnce) {
  PutOptions create;
  create.if_none_match_any = true;
  ObjectInfo first;
  ASSERT_TRUE(store_->PutBytes("lease", "holder-1", create, &first).ok());
  Status s = store_->PutBytes("lease", "holder-2", create, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_TRUE(s.http_status() == 412 || s.http_status() == 409) << s.http_status();
  EXPECT_EQ(Read("lease"), "holder-1");

  s = store_->PutFile("lease", WriteFile("h3", "holder-3"), create, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(Read("lease"), "holder-1");
}

TEST_F(S3StoreTest, IfMatchReplacesOnlyTheExpectedVersion) {
  ObjectInfo v1, v2;
  ASSERT_TRUE(store_->PutBytes("doc", "version 1", {}, &v1).ok());
  PutOptions match;
  match.if_match = v1.etag;
  Status s = store_->PutBytes("doc", "version 2", match, &v2);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(v2.etag, v1.etag);

  // v1 is gone: a writer still holding it is refused, and nothing changes.
  s = store_->PutBytes("doc", "version 3 (stale writer)", match, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(s.http_status(), 412);
  s = store_->PutFile("doc", WriteFile("v3", "version 3 from a file"), match, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(Read("doc"), "version 2");

  // Reads pinned to a version.
  EXPECT_EQ(Read("doc", Match(v2.etag)), "version 2");
  EXPECT_EQ(Read("doc", Range(0, 7, v2.etag)), "version");
  std::string out;
  s = GetToString(*store_, "doc", Match(v1.etag), &out);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_TRUE(out.empty());

  // And a file upload conditional on the current version works too.
  match.if_match = v2.etag;
  ObjectInfo v4;
  s = store_->PutFile("doc", WriteFile("v4", "version 4"), match, &v4);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read("doc"), "version 4");

  // Whichever ETag form this server takes (quoted on AWS, bare on RGW 16.2)
  // was learned above: a further conditional write is exactly one request.
  match.if_match = v4.etag;
  const uint64_t before = store_->stats().requests;
  s = store_->PutBytes("doc", "version 5", match, nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store_->stats().requests - before, 1u);
}

TEST_F(S3StoreTest, IfMatchOnMissingKeyIsPreconditionFailed) {
  PutOptions match;
  match.if_match = "0123456789abcdef0123456789abcdef";
  Status s = store_->PutBytes("missing", "x", match, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  ObjectInfo info;
  EXPECT_TRUE(store_->Head("missing", &info).IsNotFound());

  std::string out;
  s = GetToString(*store_, "missing", Match(match.if_match), &out);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
}

TEST_F(S3StoreTest, ListPaginatesAndGroupsByDelimiter) {
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back("list/a/" + std::to_string(1000 + i));
  for (int i = 0; i < 49; ++i) keys.push_back("list/b/" + std::to_string(1000 + i));
  keys.push_back("list/top");
  keys.push_back("other");
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (size_t i = t; i < keys.size(); i += 4) {
        if (!store_->PutBytes(keys[i], keys[i], {}, nullptr).ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_EQ(failures.load(), 0);

  ListOptions opts;
  opts.prefix = "list/";
  opts.max_keys_per_page = 100;
  ListResult r;
  const uint64_t requests_before = store_->stats().requests;
  const uint64_t received_before = store_->stats().bytes_received;
  ASSERT_TRUE(store_->List(opts, &r).ok());
  EXPECT_GE(store_->stats().requests - requests_before, 3u);  // 250 keys, 100 a page
  // The listing's XML counts as bytes received (over 100 B a key: key, ETag,
  // size, date, storage class), as `ccfs status` reports what crossed the wire.
  EXPECT_GT(store_->stats().bytes_received - received_before, 250u * 100);
  ASSERT_EQ(r.objects.size(), 250u);
  EXPECT_TRUE(r.common_prefixes.empty());
  std::vector<std::string> want(keys.begin(), keys.end() - 1);
  std::sort(want.begin(), want.end());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.objects[i].key, want[i]);
    EXPECT_EQ(r.objects[i].size, want[i].size());
    EXPECT_FALSE(r.objects[i].etag.empty());
    EXPECT_EQ(r.objects[i].etag.find('"'), std::string::npos);
  }

  opts.delimiter = "/";
  ASSERT_TRUE(store_->List(opts, &r).ok());
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"list/a/", "list/b/"}));
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].key, "list/top");

  // The whole store, and the bucket root seeing our prefix.
  ListResult all;
  ASSERT_TRUE(store_->List({}, &all).ok());
  EXPECT_EQ(all.objects.size(), keys.size());
  auto root = Open("s3://" + bucket_);
  ASSERT_NE(root, nullptr);
  ListResult from_root;
  ASSERT_TRUE(root->List(Under(prefix_ + "/", "/"), &from_root).ok());
  EXPECT_EQ(from_root.common_prefixes, (std::vector<std::string>{prefix_ + "/list/"}));
  ASSERT_EQ(from_root.objects.size(), 1u);
  EXPECT_EQ(from_root.objects[0].key, prefix_ + "/other");
}

TEST_F(S3StoreTest, MultipartUploadOfLargeFile) {
  StoreOptions opts;
  opts.multipart_threshold = 8 << 20;
  opts.multipart_part_size = 5 << 20;
  auto store = Open("s3://" + bucket_ + "/" + prefix_, opts);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(20 << 20, 3);
  const std::string path = WriteFile("big", data);
  ObjectInfo info;
  Status s = store->PutFile("mp/big.bin", path, {}, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.size, data.size());
  ASSERT_GE(info.etag.size(), 2u);
  EXPECT_EQ(info.etag.substr(info.etag.size() - 2), "-4");  // 5+5+5+5 MiB
  EXPECT_GE(store->stats().bytes_sent, data.size());

  ObjectInfo head;
  ASSERT_TRUE(store->Head("mp/big.bin", &head).ok());
  EXPECT_EQ(head.size, data.size());
  EXPECT_EQ(head.etag, info.etag);
  std::string got;
  ASSERT_TRUE(GetToString(*store, "mp/big.bin", {}, &got).ok());
  EXPECT_TRUE(got == data) << "multipart content differs";
  EXPECT_EQ(Read("mp/big.bin", Range((5 << 20) - 3, 6)),
            data.substr((5 << 20) - 3, 6));  // across a part boundary

  // Conditional uploads over the multipart threshold are single PUTs, whose
  // condition the store enforces atomically (RGW ignores conditions on
  // CompleteMultipartUpload): create-only over an existing key and a stale
  // If-Match are refused, the current ETag replaces it in one request.
  PutOptions create;
  create.if_none_match_any = true;
  s = store->PutFile("mp/big.bin", path, create, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  const std::string changed = RandomBytes(20 << 20, 4);
  const std::string changed_path = WriteFile("big2", changed);
  PutOptions match;
  match.if_match = info.etag;
  ObjectInfo replaced;
  s = store->PutFile("mp/big.bin", changed_path, match, &replaced);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ObjectInfo now_head;
  ASSERT_TRUE(store->Head("mp/big.bin", &now_head).ok());
  EXPECT_EQ(now_head.etag, HashBytes(changed).md5_hex);  // a single-part ETag: no "-N"
  EXPECT_EQ(replaced.etag, now_head.etag);
  s = store->PutFile("mp/big.bin", path, match, nullptr);  // info.etag is stale now
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  std::string now;
  ASSERT_TRUE(GetToString(*store, "mp/big.bin", {}, &now).ok());
  EXPECT_TRUE(now == changed) << "a refused conditional upload changed the object";
}

TEST_F(S3StoreTest, ConditionalUploadOverTheSinglePutLimitIsRefused) {
  StoreOptions opts;
  opts.max_conditional_put = 1 << 20;  // stands in for S3's 5 GiB
  auto store = Open("s3://" + bucket_ + "/" + prefix_, opts);
  ASSERT_NE(store, nullptr);
  const std::string path = WriteFile("over", RandomBytes((1 << 20) + 1, 5));
  PutOptions create;
  create.if_none_match_any = true;
  Status s = store->PutFile("limit/over.bin", path, create, nullptr);
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_NE(s.message().find("single PUT"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(std::to_string(1 << 20)), std::string::npos) << s.message();
  ObjectInfo head;
  EXPECT_TRUE(store->Head("limit/over.bin", &head).IsNotFound());
  // Unconditional, the same file goes up (multipart is fine for it).
  EXPECT_TRUE(store->PutFile("limit/over.bin", path, {}, nullptr).ok());
}

TEST_F(S3StoreTest, WrongSecretIsPermissionDenied) {
  const char* endpoint = std::getenv("AWS_ENDPOINT_URL");
  ASSERT_NE(endpoint, nullptr);
  const std::string wrong = "definitely-not-the-secret-7f3a";
  ScopedEnv env("AWS_SECRET_ACCESS_KEY", wrong.c_str());
  auto bad = Open("s3://" + bucket_ + "/" + prefix_);
  ASSERT_NE(bad, nullptr);
  Status s = bad->PutBytes("denied", "x", {}, nullptr);
  ASSERT_TRUE(s.IsPermissionDenied()) << s.ToString();
  EXPECT_EQ(s.http_status(), 403);
  const std::string& m = s.message();
  EXPECT_NE(m.find(std::string("s3 PUT ") + endpoint + "/" + bucket_ + "/" + prefix_ + "/denied"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("HTTP 403"), std::string::npos) << m;
  EXPECT_NE(m.find("SignatureDoesNotMatch"), std::string::npos) << m;
  EXPECT_EQ(m.find(wrong), std::string::npos) << m;
  EXPECT_EQ(bad->stats().retries, 0u);  // a 403 is never retried

  ObjectInfo info;
  s = bad->Head("denied", &info);
  EXPECT_TRUE(s.IsPermissionDenied()) << s.ToString();
}

TEST_F(S3StoreTest, DeadEndpointIsUnavailableWithinBoundedTime) {
  // A port that nothing listens on: bind an ephemeral one, then close it.
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(sock);

  StoreOptions opts;
  opts.endpoint = "http://127.0.0.1:" + std::to_string(port);
  opts.max_retries = 2;
  opts.connect_timeout_ms = 1000;
  auto dead = Open("s3://" + bucket_ + "/" + prefix_, opts);
  ASSERT_NE(dead, nullptr);
  const auto start = std::chrono::steady_clock::now();
  ObjectInfo info;
  Status s = dead->Head("anything", &info);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_LT(secs, 10.0);
  EXPECT_EQ(dead->stats().retries, 2u);
  EXPECT_EQ(dead->stats().requests, 3u);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("curl error"), std::string::npos) << s.message();
}

TEST_F(S3StoreTest, KeysWithSpecialCharacters) {
  const std::vector<std::string> keys = {
      "sp ace/a+b@c=d&e.txt", "punct/!$'()*,;:~_-.x",
      "pct/100% done?.txt",   "unicode/\xC3\xA9t\xC3\xA9/\xE4\xB8\xAD.jsonl",
      "xml/<tag>&\"quote\"'", "plus/+/++"};
  for (const std::string& k : keys) {
    ObjectInfo info;
    Status s = store_->PutBytes(k, "body of " + k, {}, &info);
    ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
    EXPECT_EQ(Read(k), "body of " + k);
    ObjectInfo head;
    ASSERT_TRUE(store_->Head(k, &head).ok()) << k;
    EXPECT_EQ(head.etag, info.etag);
    PutOptions match;
    match.if_match = info.etag;
    EXPECT_TRUE(store_->PutBytes(k, "again " + k, match, nullptr).ok()) << k;
  }
  ListResult r;
  ASSERT_TRUE(store_->List({}, &r).ok());
  std::vector<std::string> listed;
  for (const ObjectInfo& o : r.objects) listed.push_back(o.key);
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(listed, want);
  ListResult pct;
  ASSERT_TRUE(store_->List(Under("pct/100% "), &pct).ok());
  ASSERT_EQ(pct.objects.size(), 1u);
  for (const std::string& k : keys) EXPECT_TRUE(store_->Delete(k).ok()) << k;
  ASSERT_TRUE(store_->List({}, &r).ok());
  EXPECT_TRUE(r.objects.empty());
}

TEST_F(S3StoreTest, InvalidKeysAndUrlsAreRejected) {
  ObjectInfo info;
  EXPECT_TRUE(store_->Head("/abs", &info).IsInvalidArgument());
  EXPECT_TRUE(store_->PutBytes("a//b", "x", {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(store_->Delete("a/../b").IsInvalidArgument());
  EXPECT_TRUE(OpenStore("s3://").status().IsInvalidArgument());
  EXPECT_TRUE(OpenStore("s3://bad bucket/x").status().IsInvalidArgument());
  EXPECT_TRUE(OpenStore("s3://b/x//y").status().IsInvalidArgument());
}

// RGW honours If-Match / If-None-Match: the probe passes and leaves nothing.
TEST_F(S3StoreTest, ConditionalWriteProbePassesOnRgwAndCleansUp) {
  Status s = ProbeConditionalWrites(*store_, "ws");
  ASSERT_TRUE(s.ok()) << s.ToString();
  ListResult all;
  ASSERT_TRUE(store_->List({}, &all).ok());
  EXPECT_TRUE(all.objects.empty()) << all.objects.front().key;
  EXPECT_EQ(store_->IfMatchForm(), "unquoted");  // RGW 16.2 compares bare ETags
}

// A remembered pass tells a new process's store the If-Match form, so its
// first conditional PUT is not refused and sent again.
TEST_F(S3StoreTest, RememberedProbeSkipsTheQuotedIfMatchRoundTrip) {
  const std::string verdicts = tmp_ + "/verdicts";
  auto first = Open("s3://" + bucket_ + "/" + prefix_);
  ASSERT_TRUE(EnsureConditionalWrites(*first, "ws", verdicts).ok());
  auto fresh = Open("s3://" + bucket_ + "/" + prefix_);
  ASSERT_TRUE(EnsureConditionalWrites(*fresh, "ws", verdicts).ok());
  EXPECT_EQ(fresh->stats().requests.load(), 0u);  // no probe
  EXPECT_EQ(fresh->IfMatchForm(), "unquoted");
  ObjectInfo v1;
  ASSERT_TRUE(store_->PutBytes("obj", std::string(1000, 'a'), {}, &v1).ok());
  PutOptions put;
  put.if_match = v1.etag;
  ASSERT_TRUE(fresh->PutBytes("obj", std::string(1000, 'b'), put, nullptr).ok());
  EXPECT_EQ(fresh->stats().requests.load(), 1u);
  EXPECT_EQ(fresh->stats().bytes_sent.load(), 1000u);
}

}  // namespace
}  // namespace ccfs
