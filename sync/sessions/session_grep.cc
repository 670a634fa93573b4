#include "sync/sessions/session_grep.h"

#include <regex.h>

#include <algorithm>
#include <cctype>

namespace ccfs {

struct TextMatcher::Regex {
  regex_t re;
  bool compiled = false;  // regfree only what regcomp built
  ~Regex() {
    if (compiled) regfree(&re);
  }
};

TextMatcher::~TextMatcher() = default;

Result<std::unique_ptr<TextMatcher>> TextMatcher::Create(const std::string& pattern, bool fixed,
                                                         bool ignore_case) {
  if (pattern.empty()) return Status::InvalidArgument("empty pattern");
  std::unique_ptr<TextMatcher> m(new TextMatcher());
  m->ignore_case_ = ignore_case;
  if (fixed) {
    m->fixed_ = pattern;
    return m;
  }
  auto rx = std::make_unique<Regex>();
  int flags = REG_EXTENDED | REG_NEWLINE | (ignore_case ? REG_ICASE : 0);
  int rc = regcomp(&rx->re, pattern.c_str(), flags);
  if (rc != 0) {
    char buf[256];
    regerror(rc, &rx->re, buf, sizeof buf);
    return Status::InvalidArgument("bad pattern '" + pattern + "': " + buf);
  }
  rx->compiled = true;
  m->regex_ = std::move(rx);
  return m;
}

bool TextMatcher::Find(const std::string& text, size_t* begin, size_t* end) const {
  if (regex_) {
    regmatch_t m[1];
    if (regexec(&regex_->re, text.c_str(), 1, m, 0) != 0) return false;
    *begin = static_cast<size_t>(m[0].rm_so);
    *end = static_cast<size_t>(m[0].rm_eo);
    return true;
  }
  std::string::const_iterator it;
  if (ignore_case_) {
    it = std::search(text.begin(), text.end(), fixed_.begin(), fixed_.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) ==
             std::tolower(static_cast<unsigned char>(b));
    });
  } else {
    it = std::search(text.begin(), text.end(), fixed_.begin(), fixed_.end());
  }
  if (it == text.end()) return false;
  *begin = static_cast<size_t>(it - text.begin());
  *end = *begin + fixed_.size();
  return true;
}

int64_t TextMatcher::CountMatchingLines(const std::string& text) const {
  int64_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    std::string rest = text.substr(pos);  // regexec needs a terminated string
    size_t b, e;
    if (!Find(rest, &b, &e)) break;
    ++count;
    size_t nl = rest.find('\n', b);
    if (nl == std::string::npos) break;
    pos += nl + 1;
  }
  return count;
}

std::string SnippetAround(const std::string& text, size_t begin, size_t end, size_t max_bytes) {
  begin = std::min(begin, text.size());
  size_t line_start = 0;
  if (begin > 0) {
    size_t nl = text.rfind('\n', begin - 1);
    line_start = nl == std::string::npos ? 0 : nl + 1;
  }
  size_t line_end = text.find('\n', begin);
  if (line_end == std::string::npos) line_end = text.size();
  end = std::min(std::max(end, begin), line_end);
  size_t from = line_start, to = line_end;
  if (to - from > max_bytes) {
    size_t match = end - begin;
    size_t context = max_bytes > match ? (max_bytes - match) / 2 : 0;
    from = begin > line_start + context ? begin - context : line_start;
    to = std::min(line_end, std::max(end, from + max_bytes));
  }
  auto is_cont = [&](size_t i) {
    return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  while (from > line_start && is_cont(from)) --from;
  while (to < line_end && is_cont(to)) ++to;
  std::string out;
  if (from > line_start) out += "…";
  for (size_t i = from; i < to; ++i)
    out.push_back(text[i] == '\t' || text[i] == '\r' ? ' ' : text[i]);
  if (to < line_end) out += "…";
  return out;
}

Status GrepSessions(SessionIndex& index, const TextMatcher& matcher, const GrepOptions& opts,
                    const std::function<void(const GrepHit&)>& hit) {
  return index.ScanText(
      opts.roles, opts.session_id, [&](const std::string& session, const IndexedLine& line) {
        // An assistant line's tool calls are searched with its text.
        const std::string* text = &line.text;
        std::string joined;
        if (!line.tool_uses.empty()) {
          joined = line.text.empty() ? line.tool_uses : line.text + "\n" + line.tool_uses;
          text = &joined;
        }
        size_t b, e;
        if (!matcher.Find(*text, &b, &e)) return true;
        GrepHit h;
        h.session_id = session;
        h.rel_path = line.rel_path;
        h.line_no = line.line_no;
        h.role = line.role;
        h.timestamp_ms = line.timestamp_ms;
        h.snippet = SnippetAround(*text, b, e, opts.max_snippet_bytes);
        h.matching_lines = matcher.CountMatchingLines(*text);
        hit(h);
        return true;
      });
}

}  // namespace ccfs
