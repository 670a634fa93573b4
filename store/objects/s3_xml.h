// S3Xml: the few S3 XML documents ccfs reads and writes. No XML library is
// available, and S3 responses are flat, machine-written documents, so a small
// extractor that finds elements by name (never by position) is enough. It
// decodes the five predefined entities and numeric character references.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/objects/object_store.h"

namespace ccfs {

// Decodes &amp; &lt; &gt; &quot; &apos; &#NN; &#xNN; (UTF-8 out). Unknown
// entities are kept as written.
std::string XmlUnescape(std::string_view text);
// Escapes & < > " ' for element text.
std::string XmlEscape(std::string_view text);

// Inner text (raw, still escaped) of every element named `tag` in `xml`, in
// document order. Matches the name exactly ("Key" never matches "KeyCount"),
// allows attributes, and treats <tag/> as empty. Same-name nesting is not
// supported (S3 documents have none).
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);
// Unescaped text of the first `tag` element, "" when there is none.
std::string XmlText(std::string_view xml, std::string_view tag);
bool XmlHas(std::string_view xml, std::string_view tag);

// An <Error> document: <Code> and <Message>.
struct S3Error {
  std::string code;
  std::string message;
};
// False when `body` is not an S3 error document.
bool ParseS3Error(std::string_view body, S3Error* out);

// One page of a ListObjectsV2 response; keys are the full object keys.
struct ListObjectsPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;
  bool is_truncated = false;
  std::string next_continuation_token;
};
Status ParseListObjectsV2(std::string_view body, ListObjectsPage* out);

// ETag as S3 writes it ("\"abc\"" or "abc") without the quotes.
std::string UnquoteEtag(std::string_view etag);

// "2026-01-02T03:04:05.678Z" -> seconds since the epoch; 0 when unparsable.
int64_t ParseIso8601(std::string_view text);

struct CompletedPart {
  int number = 0;
  std::string etag;  // as the UploadPart response returned it (quoted)
};
std::string CompleteMultipartUploadXml(const std::vector<CompletedPart>& parts);

}  // namespace ccfs
