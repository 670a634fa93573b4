// SigV4 signer against AWS's published vectors: the Signature Version 4 test
// suite (credentials AKIDEXAMPLE, us-east-1, service "service",
// 20150830T123600Z) and the worked examples of the S3 API documentation
// ("Signature Calculations for the Authorization Header", 20130524).
#include "store/objects/sigv4.h"

#include <gtest/gtest.h>

namespace ccfs {
namespace {

const SigV4Credentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr char kSuiteDate[] = "20150830T123600Z";
constexpr char kSuiteScope[] = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

SigV4Signature SignSuite(SigV4Request req, const SigV4Credentials& creds = kSuiteCreds) {
  req.host = "example.amazonaws.com";
  if (req.payload_hash.empty()) req.payload_hash = kEmptySha256;
  return SignV4(req, creds, "us-east-1", "service", kSuiteDate);
}

std::string SuiteAuthorization(const std::string& signed_headers, const std::string& sig) {
  return std::string("AWS4-HMAC-SHA256 Credential=") + kSuiteScope +
         ", SignedHeaders=" + signed_headers + ", Signature=" + sig;
}

TEST(SigV4, EmptyPayloadHash) { EXPECT_EQ(Sha256Hex(""), kEmptySha256); }

TEST(SigV4, GetVanilla) {
  SigV4Signature s = SignSuite({.method = "GET", .canonical_uri = "/"});
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n" +
                std::string(kEmptySha256));
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;x-amz-date",
                               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  ASSERT_EQ(s.added_headers.size(), 1u);
  EXPECT_EQ(s.added_headers[0].first, "x-amz-date");
  EXPECT_EQ(s.added_headers[0].second, kSuiteDate);
}

TEST(SigV4, PostVanilla) {
  SigV4Signature s = SignSuite({.method = "POST", .canonical_uri = "/"});
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, GetVanillaQueryOrderKeyCase) {
  SigV4Signature s = SignSuite({.method = "GET",
                                .canonical_uri = "/",
                                .query = {{"Param2", "value2"}, {"Param1", "value1"}}});
  EXPECT_NE(s.canonical_request.find("\nParam1=value1&Param2=value2\n"), std::string::npos);
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;x-amz-date",
                               "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
}

TEST(SigV4, GetVanillaQueryOrderEncoded) {
  SigV4Signature s = SignSuite(
      {.method = "GET",
       .canonical_uri = "/",
       .query = {{"Param-3", "Value3"}, {"Param", "Value2"}, {"\xE1\x88\xB4", "Value1"}}});
  EXPECT_NE(s.canonical_request.find("\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n"),
            std::string::npos);
  EXPECT_EQ(s.signature, "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac");
}

TEST(SigV4, PostXWwwFormUrlencoded) {
  const std::string body = "Param1=value1";
  SigV4Signature s = SignSuite({.method = "POST",
                                .canonical_uri = "/",
                                .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
                                .payload_hash = Sha256Hex(body)});
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("content-type;host;x-amz-date",
                               "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
}

TEST(SigV4, PostHeaderValueCase) {
  SigV4Signature s =
      SignSuite({.method = "POST", .canonical_uri = "/", .headers = {{"My-Header1", "VALUE1"}}});
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;my-header1;x-amz-date",
                               "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"));
}

TEST(SigV4, GetHeaderValueTrim) {
  SigV4Signature s =
      SignSuite({.method = "GET",
                 .canonical_uri = "/",
                 .headers = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}});
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos);
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;my-header1;my-header2;x-amz-date",
                               "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"));
}

TEST(SigV4, GetHeaderKeyDuplicate) {
  SigV4Signature s = SignSuite(
      {.method = "GET",
       .canonical_uri = "/",
       .headers = {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}});
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value2,value2,value1\n"), std::string::npos);
  EXPECT_EQ(s.signature, "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

TEST(SigV4, GetHeaderValueOrder) {
  SigV4Signature s = SignSuite({.method = "GET",
                                .canonical_uri = "/",
                                .headers = {{"My-Header1", "value4"},
                                            {"My-Header1", "value1"},
                                            {"My-Header1", "value3"},
                                            {"My-Header1", "value2"}}});
  EXPECT_EQ(s.signature, "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");
}

TEST(SigV4, GetUnreserved) {
  const std::string path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(UriEncode(path, true), path);
  SigV4Signature s = SignSuite({.method = "GET", .canonical_uri = UriEncode(path, true)});
  EXPECT_EQ(s.signature, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

TEST(SigV4, GetUtf8) {
  const std::string uri = UriEncode("/\xE1\x88\xB4", true);
  EXPECT_EQ(uri, "/%E1%88%B4");
  SigV4Signature s = SignSuite({.method = "GET", .canonical_uri = uri});
  EXPECT_EQ(s.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

TEST(SigV4, GetSpaceUnnormalized) {
  const std::string uri = UriEncode("/example space/", true);
  EXPECT_EQ(uri, "/example%20space/");
  SigV4Signature s = SignSuite({.method = "GET", .canonical_uri = uri});
  EXPECT_EQ(s.signature, "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

TEST(SigV4, GetVanillaWithSessionToken) {
  SigV4Credentials creds = kSuiteCreds;
  creds.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  SigV4Signature s = SignSuite({.method = "GET", .canonical_uri = "/"}, creds);
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;x-amz-date;x-amz-security-token",
                               "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"));
  ASSERT_EQ(s.added_headers.size(), 2u);
  EXPECT_EQ(s.added_headers[1].first, "x-amz-security-token");
  EXPECT_EQ(s.added_headers[1].second, creds.session_token);
}

// --- S3 API documentation examples (examplebucket, 20130524T000000Z) ---

const SigV4Credentials kS3DocCreds{"AKIAIOSFODNN7EXAMPLE",
                                   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr char kS3DocDate[] = "20130524T000000Z";

SigV4Signature SignS3Doc(SigV4Request req) {
  req.host = "examplebucket.s3.amazonaws.com";
  req.headers.emplace_back("x-amz-content-sha256", req.payload_hash);
  return SignV4(req, kS3DocCreds, "us-east-1", "s3", kS3DocDate);
}

TEST(SigV4, S3GetObjectRange) {
  SigV4Signature s = SignS3Doc({.method = "GET",
                                .canonical_uri = "/test.txt",
                                .headers = {{"Range", "bytes=0-9"}},
                                .payload_hash = kEmptySha256});
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                std::string(kEmptySha256) +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmptySha256);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, S3PutObject) {
  const std::string body = "Welcome to Amazon S3.";
  ASSERT_EQ(Sha256Hex(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const std::string uri = "/" + UriEncode("test$file.text", true);
  EXPECT_EQ(uri, "/test%24file.text");
  SigV4Signature s = SignS3Doc({.method = "PUT",
                                .canonical_uri = uri,
                                .headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                            {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                                .payload_hash = Sha256Hex(body)});
  EXPECT_NE(s.authorization.find(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"),
            std::string::npos);
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, S3GetBucketLifecycle) {
  SigV4Signature s = SignS3Doc({.method = "GET",
                                .canonical_uri = "/",
                                .query = {{"lifecycle", ""}},
                                .payload_hash = kEmptySha256});
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, S3ListObjects) {
  SigV4Signature s = SignS3Doc({.method = "GET",
                                .canonical_uri = "/",
                                .query = {{"prefix", "J"}, {"max-keys", "2"}},
                                .payload_hash = kEmptySha256});
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// --- encoding helpers ---

TEST(SigV4, UriEncodeKeysWithSpecialCharacters) {
  EXPECT_EQ(UriEncode("a b+c@d=e&f/g", true), "a%20b%2Bc%40d%3De%26f/g");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("~x-y_z.", false), "~x-y_z.");
  EXPECT_EQ(UriEncode("%", true), "%25");
}

TEST(SigV4, CanonicalQueryStringSortsAndEncodes) {
  EXPECT_EQ(CanonicalQueryString({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQueryString({{"prefix", "a b/"}, {"list-type", "2"}, {"delimiter", "/"}}),
            "delimiter=%2F&list-type=2&prefix=a%20b%2F");
  EXPECT_EQ(CanonicalQueryString({}), "");
}

TEST(SigV4, AmzDateNowHasTheFormat) {
  std::string d = AmzDateNow();
  ASSERT_EQ(d.size(), 16u);
  EXPECT_EQ(d[8], 'T');
  EXPECT_EQ(d[15], 'Z');
}

}  // namespace
}  // namespace ccfs
