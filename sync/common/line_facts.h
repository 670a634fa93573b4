// What the sidecar learns from a transcript line (already redacted) to send
// beside it: cwd and git branch (session metadata), the first user prompt,
// a {"type":"summary"} line's summary, and GitHub commit / PR URLs. Lines are
// only parsed when they can hold what is asked for (cheap substring checks
// first), so a chunk of tool output costs little.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccfs {

struct LineFacts {
  std::string cwd;
  std::string git_branch;
  std::optional<std::string> user_prompt;  // a genuine user prompt (not meta, not a tool result)
  std::optional<std::string> summary;      // from {"type":"summary","summary":...}
  std::vector<std::string> github_urls;    // canonical commit / pull-request URLs
};

struct LineFactsWanted {
  bool location = false;     // cwd, git_branch
  bool user_prompt = false;  // first user message not known yet
};

LineFacts ExtractLineFacts(std::string_view line, const LineFactsWanted& wanted);

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence.
std::string TruncateUtf8(std::string s, size_t max_bytes);

}  // namespace ccfs
