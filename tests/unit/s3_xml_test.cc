// The small S3 XML extractor, ETag and date helpers, content hashes.
#include "store/objects/s3_xml.h"

#include <gtest/gtest.h>

#include "store/base/content_hash.h"
#include "store/objects/s3_client.h"

namespace ccfs {
namespace {

TEST(S3Xml, ElementsMatchWholeNamesOnly) {
  const std::string xml =
      "<R><KeyCount>2</KeyCount><Key>a</Key><Key attr=\"1\">b</Key><Key/><Keys>x</Keys></R>";
  std::vector<std::string_view> keys = XmlElements(xml, "Key");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], "a");
  EXPECT_EQ(keys[1], "b");
  EXPECT_EQ(keys[2], "");
  EXPECT_EQ(XmlText(xml, "KeyCount"), "2");
  EXPECT_EQ(XmlText(xml, "Missing"), "");
  EXPECT_FALSE(XmlHas(xml, "Ke"));
}

TEST(S3Xml, UnescapeEntitiesAndCharacterReferences) {
  EXPECT_EQ(XmlUnescape("a&amp;b&lt;c&gt;d&quot;e&apos;f"), "a&b<c>d\"e'f");
  EXPECT_EQ(XmlUnescape("&#65;&#x42;&#xe9;&#x4E2D;"), "AB\xC3\xA9\xE4\xB8\xAD");
  EXPECT_EQ(XmlUnescape("&unknown; & &#xZZ;"), "&unknown; & &#xZZ;");
  EXPECT_EQ(XmlUnescape(XmlEscape("<a&b>\"'")), "<a&b>\"'");
}

TEST(S3Xml, ParsesErrorDocuments) {
  S3Error e;
  ASSERT_TRUE(ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature &amp; stuff</Message><RequestId>1</RequestId></Error>",
      &e));
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message, "The request signature & stuff");
  EXPECT_FALSE(ParseS3Error("<ListBucketResult/>", &e));
  EXPECT_FALSE(ParseS3Error("", &e));
}

TEST(S3Xml, ListObjectsV2Page) {
  ListObjectsPage page;
  ASSERT_TRUE(ParseListObjectsV2(
                  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                  "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
                  "<IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1"
                  "</NextContinuationToken><Contents><Key>p/x y</Key>"
                  "<LastModified>2024-01-02T03:04:05.000Z</LastModified>"
                  "<ETag>&quot;abc-2&quot;</ETag><Size>42</Size></Contents>"
                  "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes></ListBucketResult>",
                  &page)
                  .ok());
  ASSERT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.objects[0].key, "p/x y");
  EXPECT_EQ(page.objects[0].etag, "abc-2");
  EXPECT_EQ(page.objects[0].size, 42u);
  EXPECT_EQ(page.objects[0].mtime_unix, 1704164645);
  EXPECT_EQ(page.common_prefixes, std::vector<std::string>{"p/d/"});
  EXPECT_TRUE(page.is_truncated);
  EXPECT_EQ(page.next_continuation_token, "tok&1");

  ListObjectsPage bad;
  EXPECT_TRUE(ParseListObjectsV2("<Error/>", &bad).IsCorruption());
  EXPECT_TRUE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                 "</ListBucketResult>",
                                 &bad)
                  .IsCorruption());
  EXPECT_TRUE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x</Size>"
                                 "</Contents></ListBucketResult>",
                                 &bad)
                  .IsCorruption());
}

TEST(S3Xml, CompleteMultipartUploadBody) {
  EXPECT_EQ(CompleteMultipartUploadXml({{1, "\"a\""}, {2, "\"b\""}}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Xml, EtagsAndDates) {
  EXPECT_EQ(UnquoteEtag("\"abc\""), "abc");
  EXPECT_EQ(UnquoteEtag("abc"), "abc");
  EXPECT_EQ(UnquoteEtag("\""), "\"");
  EXPECT_EQ(ParseIso8601("2024-01-02T03:04:05Z"), 1704164645);
  EXPECT_EQ(ParseIso8601("garbage"), 0);
  EXPECT_EQ(ParseHttpDate("Tue, 15 Nov 1994 08:12:31 GMT"), 784887151);
  EXPECT_EQ(ParseHttpDate(""), 0);
}

TEST(ContentHash, Md5Sha256AndMultipartEtag) {
  ContentHashes h = HashBytes("a");
  EXPECT_EQ(h.md5_hex, "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(h.sha256_hex, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
  EXPECT_EQ(MultipartEtag({HashBytes("a").md5_hex, HashBytes("b").md5_hex}),
            "96e024ba2074fe77e8e965ba43a704be-2");
}

}  // namespace
}  // namespace ccfs
