// S3 client behaviour that a healthy RGW never shows: retries and backoff,
// Retry-After, resumed GETs, lost responses, the AWS flavour of conditional
// requests (quoted If-Match, 404 for If-Match on a missing key, 409
// ConditionalRequestConflict), errors inside a 200. A scripted HTTP/1.1
// server on 127.0.0.1 plays S3; each test says what it answers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "fake_s3_server.h"
#include "scoped_env.h"
#include "store/base/content_hash.h"
#include "store/objects/object_store.h"
#include "store/objects/sigv4.h"

namespace ccfs {
namespace {

class S3FaultTest : public ::testing::Test {
 protected:
  S3FaultTest()
      : key_("AWS_ACCESS_KEY_ID", "AKFAKE"),
        secret_("AWS_SECRET_ACCESS_KEY", "fake-secret-do-not-print"),
        token_("AWS_SESSION_TOKEN", nullptr),
        profile_("AWS_PROFILE", nullptr) {}

  std::unique_ptr<ObjectStore> Open(const FakeS3& server, int max_retries = 3,
                                    StoreOptions opts = {}) {
    opts.endpoint = server.url();
    opts.max_retries = max_retries;
    Result<std::unique_ptr<ObjectStore>> r = OpenStore("s3://bkt/pre", opts);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  ScopedEnv key_, secret_, token_, profile_;
};

TEST_F(S3FaultTest, RetriesServerErrorsThenSucceeds) {
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest&) {
    switch (n++) {
      case 0:
        return Reply(500, ErrorXml("InternalError"));
      case 1:
        return Reply(503, ErrorXml("SlowDown"), {{"Retry-After", "0"}});
      default:
        return Reply(200, "", {{"ETag", "\"e1\""}});
    }
  });
  auto store = Open(server);
  ObjectInfo info;
  Status s = store->PutBytes("k", "body", {}, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.etag, "e1");
  EXPECT_EQ(store->stats().requests, 3u);
  EXPECT_EQ(store->stats().retries, 2u);
  for (const FakeRequest& r : server.requests()) EXPECT_EQ(r.body, "body");
}

TEST_F(S3FaultTest, GivesUpAfterMaxRetriesWithUnavailable) {
  FakeS3 server([](const FakeRequest&) { return Reply(503, ErrorXml("SlowDown")); });
  auto store = Open(server, 2);
  ObjectInfo info;
  Status s = store->PutBytes("k", "body", {}, &info);
  ASSERT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_EQ(s.http_status(), 503);
  EXPECT_NE(s.message().find(server.url() + "/bkt/pre/k"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("SlowDown"), std::string::npos) << s.message();
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(S3FaultTest, NeverRetriesOtherClientErrors) {
  std::string code = "InvalidArgument";
  int status = 400;
  FakeS3 server([&](const FakeRequest&) { return Reply(status, ErrorXml(code)); });
  auto store = Open(server);
  Status s = store->PutBytes("k", "x", {}, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(server.requests().size(), 1u);

  status = 403;
  code = "AccessDenied";
  s = store->PutBytes("k", "x", {}, nullptr);
  EXPECT_TRUE(s.IsPermissionDenied()) << s.ToString();
  EXPECT_NE(s.message().find("HTTP 403 AccessDenied"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("fake-secret-do-not-print"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(store->stats().retries, 0u);
}

TEST_F(S3FaultTest, HonoursRetryAfter) {
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest&) {
    if (n++ == 0) return Reply(429, ErrorXml("TooManyRequests"), {{"Retry-After", "1"}});
    return Reply(200, "", {{"ETag", "\"e\""}});
  });
  auto store = Open(server);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store->PutBytes("k", "x", {}, nullptr).ok());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(secs, 0.95);
  EXPECT_LT(secs, 5.0);
}

// A server that accepts the request and never answers cannot hang us: the
// attempt times out, is retried, and the call ends Unavailable in bounded time.
TEST_F(S3FaultTest, SilentServerTimesOutAndIsRetried) {
  FakeS3 server([](const FakeRequest&) { return FakeReply{"", false}; });
  StoreOptions opts;
  opts.request_timeout_ms = 300;
  auto store = Open(server, 2, opts);
  auto start = std::chrono::steady_clock::now();
  ObjectInfo info;
  Status s = store->Head("k", &info);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("curl error 28"), std::string::npos) << s.message();
  EXPECT_LT(secs, 5.0);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(store->stats().retries, 2u);
}

TEST_F(S3FaultTest, HugeRangeLengthMeansToTheEnd) {
  FakeS3 server([](const FakeRequest& r) {
    return Reply(206, "tail", {{"ETag", "\"e\""}, {"Content-Range", "bytes 6-9/10"}},
                 r.method == "HEAD");
  });
  auto store = Open(server);
  GetOptions opts;
  opts.range = ByteRange{6, ~0ull};
  std::string got;
  ASSERT_TRUE(GetToString(*store, "k", opts, &got).ok());
  EXPECT_EQ(got, "tail");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].Header("range"), "bytes=6-");
}

TEST_F(S3FaultTest, EveryRequestIsSignedWithContentSha256) {
  FakeS3 server([](const FakeRequest& r) {
    if (r.method == "HEAD") return Reply(404, "", {}, true);
    return Reply(r.method == "DELETE" ? 204 : 200, "", {{"ETag", "\"e\""}});
  });
  auto store = Open(server);
  ObjectInfo info;
  (void)store->Head("a b", &info);
  (void)store->PutBytes("k", "payload", {}, nullptr);
  (void)store->Delete("k");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].target, "/bkt/pre/a%20b");
  for (const FakeRequest& r : reqs) {
    EXPECT_FALSE(r.Header("x-amz-content-sha256").empty()) << r.method;
    EXPECT_NE(r.Header("authorization").find("x-amz-content-sha256"), std::string::npos);
    EXPECT_EQ(r.Header("authorization").find("fake-secret"), std::string::npos);
  }
  EXPECT_EQ(reqs[1].Header("x-amz-content-sha256"), Sha256Hex("payload"));
  EXPECT_EQ(reqs[0].Header("x-amz-content-sha256"), kEmptySha256);
}

TEST_F(S3FaultTest, ConnectionIsReusedAcrossRequests) {
  FakeS3 server([](const FakeRequest& r) {
    return Reply(200, "", {{"ETag", "\"e\""}, {"Content-Length", "0"}}, r.method == "HEAD");
  });
  auto store = Open(server);
  ObjectInfo info;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Head("k", &info).ok());
  ASSERT_TRUE(store->PutBytes("k", "x", {}, nullptr).ok());
  EXPECT_EQ(server.requests().size(), 6u);
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(S3FaultTest, SessionTokenIsSentAndSigned) {
  ScopedEnv token("AWS_SESSION_TOKEN", "tok-123");
  FakeS3 server([](const FakeRequest&) { return Reply(200, "", {{"ETag", "\"e\""}}); });
  auto store = Open(server);
  ASSERT_TRUE(store->PutBytes("k", "x", {}, nullptr).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].Header("x-amz-security-token"), "tok-123");
  EXPECT_NE(reqs[0].Header("authorization").find("x-amz-security-token"), std::string::npos);
}

// The connection drops after part of the body: the read resumes at the
// next byte, pinned to the first ETag, and no byte reaches the sink twice.
TEST_F(S3FaultTest, InterruptedGetResumesWithoutRedelivering) {
  std::string object(200000, '\0');
  for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<char>('a' + i % 23);
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest& r) {
    if (n++ == 0) {
      FakeReply cut = Reply(200, object, {{"ETag", "\"v1\""}});
      cut.raw.resize(cut.raw.size() - object.size() + 70000);  // 70000 body bytes, then EOF
      cut.close = true;
      return cut;
    }
    // Resumed request: "bytes=N-"; answer the rest.
    std::string range = r.Header("range");
    size_t start = std::strtoull(range.c_str() + 6, nullptr, 10);
    return Reply(206, object.substr(start),
                 {{"ETag", "\"v1\""},
                  {"Content-Range", "bytes " + std::to_string(start) + "-" +
                                        std::to_string(object.size() - 1) + "/" +
                                        std::to_string(object.size())}});
  });
  auto store = Open(server);
  std::string got;
  ObjectInfo info;
  Status s = GetToString(*store, "obj", {}, &got, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(got == object) << "got " << got.size() << " bytes";
  EXPECT_EQ(info.size, object.size());
  EXPECT_EQ(info.etag, "v1");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Header("range"), "");
  EXPECT_EQ(reqs[1].Header("range"), "bytes=70000-");
  EXPECT_EQ(reqs[1].Header("if-match"), "\"v1\"");
  EXPECT_EQ(store->stats().retries, 1u);
}

TEST_F(S3FaultTest, InterruptedRangedGetResumesInsideTheRange) {
  std::string object(100000, 'z');
  for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<char>(i * 7);
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest& r) {
    std::string range = r.Header("range");
    size_t dash = range.find('-');
    size_t start = std::strtoull(range.c_str() + 6, nullptr, 10);
    size_t last = std::strtoull(range.c_str() + dash + 1, nullptr, 10);
    std::string part = object.substr(start, last - start + 1);
    FakeReply reply = Reply(206, part,
                            {{"ETag", "\"v1\""},
                             {"Content-Range", "bytes " + std::to_string(start) + "-" +
                                                   std::to_string(last) + "/100000"}});
    if (n++ == 0) {
      reply.raw.resize(reply.raw.size() - part.size() + 1000);
      reply.close = true;
    }
    return reply;
  });
  auto store = Open(server);
  std::string got;
  GetOptions opts;
  opts.range = ByteRange{5000, 20000};
  ASSERT_TRUE(GetToString(*store, "obj", opts, &got).ok());
  EXPECT_TRUE(got == object.substr(5000, 20000));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Header("range"), "bytes=5000-24999");
  EXPECT_EQ(reqs[1].Header("range"), "bytes=6000-24999");
}

TEST_F(S3FaultTest, ResumedGetFailsIfTheObjectChanged) {
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest& r) {
    if (r.method == "HEAD") return Reply(200, "", {{"ETag", "\"v2\""}}, true);
    if (n++ == 0) {
      FakeReply cut = Reply(200, std::string(50000, 'a'), {{"ETag", "\"v1\""}});
      cut.raw.resize(cut.raw.size() - 40000);
      cut.close = true;
      return cut;
    }
    return Reply(412, ErrorXml("PreconditionFailed"));  // v1 is gone
  });
  auto store = Open(server);
  std::string got;
  Status s = GetToString(*store, "obj", {}, &got);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(got.size(), 10000u);  // what was delivered stays delivered, never repeated
}

TEST_F(S3FaultTest, PutFileResendsTheWholeFileOnRetry) {
  char tmpl[] = "/tmp/ccfs-s3fault-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/f";
  const std::string data(300000, 'q');
  std::ofstream(path) << data;
  std::atomic<int> n{0};
  FakeS3 server([&](const FakeRequest&) {
    if (n++ < 2) return Reply(500, ErrorXml("InternalError"));
    return Reply(200, "", {{"ETag", "\"e\""}});
  });
  auto store = Open(server);
  Status s = store->PutFile("k", path, {}, nullptr);
  std::filesystem::remove_all(tmpl);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const FakeRequest& r : reqs) EXPECT_TRUE(r.body == data);
  EXPECT_EQ(store->stats().bytes_sent, 3 * data.size());
}

// An AWS-like server takes the quoted If-Match at once: no extra HEAD.
TEST_F(S3FaultTest, QuotedIfMatchIsSentFirst) {
  FakeS3 server([](const FakeRequest& r) {
    if (r.Header("if-match") == "\"v1\"") return Reply(200, "", {{"ETag", "\"v2\""}});
    return Reply(412, ErrorXml("PreconditionFailed"));
  });
  auto store = Open(server);
  PutOptions o;
  o.if_match = "v1";
  ObjectInfo info;
  ASSERT_TRUE(store->PutBytes("k", "x", o, &info).ok());
  EXPECT_EQ(info.etag, "v2");
  EXPECT_EQ(server.requests().size(), 1u);
}

// An RGW-like server refuses the quoted form although the ETag matches:
// confirmed by a HEAD, retried bare, and remembered for the next request.
TEST_F(S3FaultTest, BareIfMatchFallbackIsLearnedOnce) {
  FakeS3 server([](const FakeRequest& r) {
    if (r.method == "HEAD") return Reply(200, "", {{"ETag", "\"v1\""}}, true);
    if (r.Header("if-match") == "v1") return Reply(200, "", {{"ETag", "\"v2\""}});
    return Reply(412, ErrorXml("PreconditionFailed"));
  });
  auto store = Open(server);
  PutOptions o;
  o.if_match = "v1";
  ASSERT_TRUE(store->PutBytes("k", "x", o, nullptr).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].Header("if-match"), "\"v1\"");
  EXPECT_EQ(reqs[1].method, "HEAD");
  EXPECT_EQ(reqs[2].Header("if-match"), "v1");
  ASSERT_TRUE(store->PutBytes("k", "x", o, nullptr).ok());
  reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[3].Header("if-match"), "v1");
}

// A 412 with a different current ETag is a real conflict: no second PUT.
TEST_F(S3FaultTest, RealConflictIsNeverTurnedIntoSuccess) {
  FakeS3 server([](const FakeRequest& r) {
    if (r.method == "HEAD") return Reply(200, "", {{"ETag", "\"other\""}}, true);
    return Reply(412, ErrorXml("PreconditionFailed"));
  });
  auto store = Open(server);
  PutOptions o;
  o.if_match = "v1";
  Status s = store->PutBytes("k", "x", o, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(s.http_status(), 412);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "HEAD");
}

TEST_F(S3FaultTest, AwsStyleMissingKeyAndConflictArePreconditionFailed) {
  int status = 404;
  std::string code = "NoSuchKey";
  FakeS3 server([&](const FakeRequest& r) {
    if (r.method == "HEAD") return Reply(404, "", {}, true);
    return Reply(status, ErrorXml(code));
  });
  auto store = Open(server);
  PutOptions o;
  o.if_match = "v1";
  Status s = store->PutBytes("k", "x", o, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(s.http_status(), 404);

  status = 409;
  code = "ConditionalRequestConflict";
  PutOptions create;
  create.if_none_match_any = true;
  s = store->PutBytes("k", "x", create, nullptr);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_EQ(s.http_status(), 409);

  code = "BucketAlreadyOwnedByYou";  // another 409 is not a precondition
  s = store->PutBytes("k", "x", {}, nullptr);
  EXPECT_FALSE(s.IsPreconditionFailed()) << s.ToString();
}

// The first conditional PUT lands but its response is lost; the retry is
// refused (the object exists now). A HEAD shows our own bytes: success.
TEST_F(S3FaultTest, LostResponseOfConditionalPutIsRecognised) {
  std::atomic<int> puts{0};
  FakeS3 server([&](const FakeRequest& r) {
    const std::string md5 = HashBytes("lease body").md5_hex;
    if (r.method == "HEAD") {
      return Reply(200, "", {{"ETag", "\"" + md5 + "\""}, {"Content-Length", "10"}}, true);
    }
    if (puts++ == 0) return FakeReply{"", true};  // stored, then the connection died
    return Reply(412, ErrorXml("PreconditionFailed"));
  });
  auto store = Open(server);
  PutOptions create;
  create.if_none_match_any = true;
  ObjectInfo info;
  Status s = store->PutBytes("lease", "lease body", create, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.etag, HashBytes("lease body").md5_hex);
}

TEST_F(S3FaultTest, MultipartErrorInsideA200AbortsTheUpload) {
  char tmpl[] = "/tmp/ccfs-s3fault-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/big";
  std::ofstream(path) << std::string((6 << 20) + 123, 'm');
  FakeS3 server([](const FakeRequest& r) {
    if (r.method == "POST" && r.target.find("uploads") != std::string::npos) {
      return Reply(200,
                   "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
                   "</InitiateMultipartUploadResult>");
    }
    if (r.method == "PUT")
      return Reply(200, "", {{"ETag", "\"" + HashBytes(r.body).md5_hex + "\""}});
    if (r.method == "POST") return Reply(200, ErrorXml("InvalidPart"));
    return Reply(204);
  });
  StoreOptions opts;
  opts.multipart_threshold = 1 << 20;
  opts.multipart_part_size = 5 << 20;
  auto store = Open(server, 3, opts);
  Status s = store->PutFile("big", path, {}, nullptr);
  std::filesystem::remove_all(tmpl);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("InvalidPart"), std::string::npos) << s.message();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);  // initiate, 2 parts, complete, abort
  EXPECT_EQ(reqs[1].target, "/bkt/pre/big?partNumber=1&uploadId=up-1");
  EXPECT_EQ(reqs[2].body.size(), 123u + (1 << 20));
  EXPECT_NE(reqs[3].body.find("<PartNumber>2</PartNumber>"), std::string::npos);
  EXPECT_EQ(reqs[4].method, "DELETE");
  EXPECT_EQ(reqs[4].target, "/bkt/pre/big?uploadId=up-1");
}

TEST_F(S3FaultTest, ListFollowsContinuationTokensAndDecodesXml) {
  FakeS3 server([](const FakeRequest& r) {
    std::string page;
    if (r.target.find("continuation-token=") == std::string::npos) {
      page =
          "<ListBucketResult><IsTruncated>true</IsTruncated>"
          "<NextContinuationToken>t/1+=</NextContinuationToken>"
          "<Contents><Key>pre/a&amp;b</Key><Size>3</Size><ETag>&quot;e1&quot;</ETag>"
          "<LastModified>2024-01-02T03:04:05.000Z</LastModified></Contents>"
          "</ListBucketResult>";
    } else {
      page =
          "<ListBucketResult><IsTruncated>false</IsTruncated>"
          "<Contents><Key>pre/c</Key><Size>10</Size><ETag>\"e2\"</ETag></Contents>"
          "<CommonPrefixes><Prefix>pre/d/</Prefix></CommonPrefixes></ListBucketResult>";
    }
    return Reply(200, page);
  });
  auto store = Open(server);
  ListResult out;
  ASSERT_TRUE(store->List({}, &out).ok());
  ASSERT_EQ(out.objects.size(), 2u);
  EXPECT_EQ(out.objects[0].key, "a&b");
  EXPECT_EQ(out.objects[0].etag, "e1");
  EXPECT_EQ(out.objects[0].mtime_unix, 1704164645);
  EXPECT_EQ(out.objects[1].key, "c");
  EXPECT_EQ(out.objects[1].size, 10u);
  EXPECT_EQ(out.common_prefixes, std::vector<std::string>{"d/"});
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/bkt?list-type=2&max-keys=1000&prefix=pre%2F");
  EXPECT_NE(reqs[1].target.find("continuation-token=t%2F1%2B%3D"), std::string::npos);
}

}  // namespace
}  // namespace ccfs
