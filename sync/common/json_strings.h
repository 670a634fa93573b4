// The string tokens of a JSON line, found and rewritten in place. Redaction
// must change a secret and nothing else: parsing a line and serialising it
// again changes numbers (1.50 -> 1.5, 1e2 -> 100.0, a 23-digit integer ->
// a rounded double), and a line a strict parser rejects (a lone UTF-16
// surrogate escape, which JavaScript writes happily) could not be handled
// at all. So the line is cut into string tokens and the text between them;
// a token is decoded for inspection and re-encoded only if it changed, and
// every other byte of the line stays as it was.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ccfs {

struct JsonSegment {
  std::string_view raw;    // the bytes of the line this segment covers
  bool is_string = false;  // a complete string token, quotes included
  bool is_key = false;     // a string token followed by ':' (an object key)
  std::string_view key;    // for a string value right after `"key":`, that key token
};

// Cuts `line` into segments (their raw views concatenate to `line`). Works
// on any text: outside JSON, or after an unterminated string, everything is
// plain (is_string false).
std::vector<JsonSegment> SplitJsonStrings(std::string_view line);

// Decodes a string token (with its quotes) into UTF-8. Escaped surrogates
// that do not form a pair are kept as WTF-8 (3 bytes each) so that
// EncodeJsonString gives them back as \uXXXX. False on a malformed escape.
bool DecodeJsonString(std::string_view token, std::string* out);

// A string token (with quotes) for `text` (UTF-8, WTF-8 surrogates
// allowed): '"', '\\' and control characters escaped, lone surrogates as
// \uXXXX, everything else as it is.
std::string EncodeJsonString(std::string_view text);

}  // namespace ccfs
