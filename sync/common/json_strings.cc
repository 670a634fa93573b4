#include "sync/common/json_strings.h"

#include <cstdint>
#include <cstdio>

#include "store/base/utf8.h"

namespace ccfs {

namespace {

JsonSegment Plain(std::string_view raw) {
  JsonSegment s;
  s.raw = raw;
  return s;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// End of the string token starting at the quote at `begin` (one past its
// closing quote), or npos when it is not terminated.
size_t StringEnd(std::string_view s, size_t begin) {
  for (size_t i = begin + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Hex4(std::string_view s, size_t at, uint32_t* v) {
  if (at + 4 > s.size()) return false;
  *v = 0;
  for (size_t k = 0; k < 4; ++k) {
    int h = HexValue(s[at + k]);
    if (h < 0) return false;
    *v = *v * 16 + static_cast<uint32_t>(h);
  }
  return true;
}

}  // namespace

std::vector<JsonSegment> SplitJsonStrings(std::string_view line) {
  std::vector<JsonSegment> out;
  size_t plain_begin = 0;
  std::string_view last_key;  // the key token of the member being read
  bool after_colon = false;   // the last non-space character was ':'
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (c != '"') {
      if (c == ':') {
        after_colon = true;
      } else if (!IsSpace(c)) {
        after_colon = false;
        if (c == ',' || c == '{' || c == '[' || c == '}' || c == ']') last_key = {};
      }
      ++i;
      continue;
    }
    size_t end = StringEnd(line, i);
    if (end == std::string_view::npos) break;  // the rest is plain
    if (i > plain_begin) out.push_back(Plain(line.substr(plain_begin, i - plain_begin)));
    JsonSegment token = Plain(line.substr(i, end - i));
    token.is_string = true;
    size_t next = end;
    while (next < line.size() && IsSpace(line[next])) ++next;
    token.is_key = next < line.size() && line[next] == ':';
    if (token.is_key) {
      last_key = token.raw;
    } else if (after_colon) {
      token.key = last_key;
    }
    after_colon = false;
    out.push_back(token);
    i = plain_begin = end;
  }
  if (plain_begin < line.size()) out.push_back(Plain(line.substr(plain_begin)));
  return out;
}

bool DecodeJsonString(std::string_view token, std::string* out) {
  out->clear();
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
  std::string_view s = token.substr(1, token.size() - 2);
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i >= s.size()) return false;
    switch (s[i]) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!Hex4(s, i + 1, &cp)) return false;
        i += 4;
        uint32_t low = 0;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < s.size() && s[i + 1] == '\\' &&
            s[i + 2] == 'u' && Hex4(s, i + 3, &low) && low >= 0xDC00 && low < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        AppendUtf8(cp, out);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

std::string EncodeJsonString(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c == 0xED && i + 2 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xE0) == 0xA0) {
      // A lone surrogate (WTF-8): back to its escape.
      uint32_t cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6) |
                    (static_cast<unsigned char>(text[i + 2]) & 0x3Fu);
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace ccfs
