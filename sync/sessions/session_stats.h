// SessionStats: folds a session's indexed lines into the totals `sessions ls`
// shows (SessionSummary) or one file's (SessionFile). Pure: the index feeds it
// rows read back from SQLite, tests feed it parsed lines.
//
// Rows must come in (path, line) order: the main transcript sorts before its
// subagents, the first line of an API message is the one whose usage counts,
// and "latest summary" / "first prompt" mean file order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "sync/sessions/session_index.h"
#include "sync/sessions/transcript_parse.h"

namespace ccfs {

struct StatsRow {
  int64_t line_no = 0;
  bool is_subagent = false;
  bool malformed = false;
  std::string type;
  LineRole role = LineRole::kNone;
  bool is_sidechain = false;
  bool is_meta = false;
  bool is_compact_summary = false;
  bool is_prompt = false;
  std::optional<int64_t> timestamp_ms;
  std::string cwd, git_branch, model, message_id, request_id;
  std::optional<TokenUsage> usage;
  int64_t tool_use_count = 0;
  std::string summary;      // summary lines
  std::string prompt_text;  // prompts: the (possibly cut) text
};

// Title-sized single line: newlines and tabs made spaces, cut at max_bytes.
std::string OneLineTitle(const std::string& text, size_t max_bytes);

class SessionStats {
 public:
  void Add(const StatsRow& row);

  // Everything but the identity fields (id, paths), which the caller knows.
  void FillSummary(SessionSummary* out) const;
  void FillFile(SessionFile* out) const;

 private:
  std::unordered_set<std::string> usage_keys_;   // message.id:requestId already counted
  std::unordered_set<std::string> message_ids_;  // distinct assistant messages
  std::vector<std::string> models_;
  TokenTotals tokens_;
  int64_t user_messages_ = 0;
  int64_t assistant_messages_ = 0;
  int64_t tool_calls_ = 0;
  int64_t lines_ = 0;
  int64_t malformed_ = 0;
  std::optional<int64_t> first_ms_, last_ms_;
  std::string cwd_, any_cwd_, git_branch_;
  std::string last_summary_, first_prompt_, first_any_prompt_;
};

}  // namespace ccfs
