#include "sync/sessions/session_stats.h"

#include <algorithm>

#include "sync/common/line_facts.h"  // TruncateUtf8

namespace ccfs {
namespace {

constexpr size_t kTitleBytes = 200;

}  // namespace

std::string OneLineTitle(const std::string& text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes + 8));
  bool space = false;
  for (char c : text) {
    bool ws = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (ws) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
    if (out.size() > max_bytes + 4) break;
  }
  if (out.size() > max_bytes) out = TruncateUtf8(std::move(out), max_bytes) + "…";
  return out;
}

void SessionStats::Add(const StatsRow& row) {
  ++lines_;
  if (row.malformed) {
    ++malformed_;
    return;
  }
  if (row.timestamp_ms) {
    if (!first_ms_ || *row.timestamp_ms < *first_ms_) first_ms_ = row.timestamp_ms;
    if (!last_ms_ || *row.timestamp_ms > *last_ms_) last_ms_ = row.timestamp_ms;
  }
  bool main_line = !row.is_subagent && !row.is_sidechain;
  if (!row.cwd.empty()) {
    if (any_cwd_.empty()) any_cwd_ = row.cwd;
    if (main_line && cwd_.empty()) cwd_ = row.cwd;
  }
  if (main_line && !row.git_branch.empty()) git_branch_ = row.git_branch;
  if (row.type == "summary" && !row.is_subagent && !row.summary.empty()) {
    last_summary_ = row.summary;
  }
  if (row.is_prompt) {
    if (first_any_prompt_.empty()) first_any_prompt_ = row.prompt_text;
    if (main_line && first_prompt_.empty()) first_prompt_ = row.prompt_text;
  }
  if (row.role == LineRole::kUser && !row.is_meta && !row.is_compact_summary) ++user_messages_;
  if (row.role != LineRole::kAssistant) return;

  tool_calls_ += row.tool_use_count;
  if (row.message_id.empty() || message_ids_.insert(row.message_id).second) ++assistant_messages_;
  if (!row.model.empty() && row.model != "<synthetic>" &&
      std::find(models_.begin(), models_.end(), row.model) == models_.end()) {
    models_.push_back(row.model);
  }
  if (!row.usage) return;
  // ccusage's createUniqueHash: message.id + requestId; without both, no dedupe.
  if (!row.message_id.empty() && !row.request_id.empty() &&
      !usage_keys_.insert(row.message_id + ":" + row.request_id).second) {
    return;
  }
  tokens_.input += row.usage->input;
  tokens_.output += row.usage->output;
  tokens_.cache_creation += row.usage->cache_creation;
  tokens_.cache_read += row.usage->cache_read;
}

void SessionStats::FillSummary(SessionSummary* out) const {
  out->cwd = cwd_.empty() ? any_cwd_ : cwd_;
  const std::string& title = !last_summary_.empty()   ? last_summary_
                             : !first_prompt_.empty() ? first_prompt_
                                                      : first_any_prompt_;
  out->title = OneLineTitle(title, kTitleBytes);
  out->git_branch = git_branch_;
  out->first_ms = first_ms_;
  out->last_ms = last_ms_;
  out->models = models_;
  out->user_messages = user_messages_;
  out->assistant_messages = assistant_messages_;
  out->tool_calls = tool_calls_;
  out->tokens = tokens_;
  out->lines = lines_;
  out->malformed_lines = malformed_;
}

void SessionStats::FillFile(SessionFile* out) const {
  out->first_prompt = OneLineTitle(first_any_prompt_, kTitleBytes);
  out->lines = lines_;
  out->user_messages = user_messages_;
  out->assistant_messages = assistant_messages_;
  out->tool_calls = tool_calls_;
  out->tokens = tokens_;
}

}  // namespace ccfs
