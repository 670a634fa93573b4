// `ccfs sessions grep`: search the indexed message text of every session
// (user prompts, assistant text and tool calls, tool results) and report
// each matching transcript line once, with a snippet around the first match.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "sync/sessions/session_index.h"

namespace ccfs {

// A POSIX extended regular expression (or a fixed string), matched per line
// of text: '^' and '$' anchor at line ends, '.' does not cross lines.
class TextMatcher {
 public:
  static Result<std::unique_ptr<TextMatcher>> Create(const std::string& pattern, bool fixed,
                                                     bool ignore_case);
  ~TextMatcher();
  TextMatcher(const TextMatcher&) = delete;
  TextMatcher& operator=(const TextMatcher&) = delete;

  // First match in `text`: true and its [*begin, *end), else false.
  bool Find(const std::string& text, size_t* begin, size_t* end) const;
  // Number of lines of `text` that match.
  int64_t CountMatchingLines(const std::string& text) const;

 private:
  TextMatcher() = default;
  struct Regex;
  std::unique_ptr<Regex> regex_;  // null for a fixed string
  std::string fixed_;
  bool ignore_case_ = false;
};

struct GrepOptions {
  std::vector<LineRole> roles = {LineRole::kUser, LineRole::kAssistant, LineRole::kToolResult};
  std::string session_id;  // "" = every session
  size_t max_snippet_bytes = 160;
};

struct GrepHit {
  std::string session_id;
  std::string rel_path;
  int64_t line_no = 0;
  LineRole role = LineRole::kNone;
  std::optional<int64_t> timestamp_ms;
  std::string snippet;         // the matching line of text, cut around the match
  int64_t matching_lines = 0;  // lines of this message's text that match
};

// Calls `hit` for each match, in session, path, line order.
Status GrepSessions(SessionIndex& index, const TextMatcher& matcher, const GrepOptions& opts,
                    const std::function<void(const GrepHit&)>& hit);

// The line of `text` holding [begin, end), cut to about `max_bytes` around
// the match on UTF-8 boundaries ("…" marks a cut).
std::string SnippetAround(const std::string& text, size_t begin, size_t end, size_t max_bytes);

}  // namespace ccfs
