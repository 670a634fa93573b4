// UTF-8 encoding of one code point, for the decoders of escaped text (XML
// character references in S3 listings, \u escapes in JSON lines).
#pragma once

#include <cstdint>
#include <string>

namespace ccfs {

// Appends `cp` encoded as UTF-8. Lone surrogates (U+D800..U+DFFF) are encoded
// as three bytes like any other BMP code point (WTF-8), so a JSON string
// holding one decodes and re-encodes to the same bytes. `cp` above U+10FFFF is
// the caller's to refuse.
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace ccfs
