// TranscriptLine: everything the session index keeps from one line of a
// Claude Code transcript (projects/<enc-cwd>/<session>.jsonl, or a subagent's
// <session>/subagents/agent-<id>.jsonl), parsed once.
//
// Claude Code writes one JSON object per line:
//   {"type":"user"|"assistant"|"system", "uuid", "parentUuid", "timestamp",
//    "cwd", "gitBranch", "sessionId", "isSidechain", "message":{...}, ...}
//   {"type":"summary","summary":"...","leafUuid":"..."}
//   {"type":"file-history-snapshot", ...} and other bookkeeping lines
// An assistant reply is written as one line per content block (text,
// thinking, tool_use), every line repeating the message's id and usage; a
// tool result comes back as a "user" line whose content is a tool_result
// block. A /compact boundary is a "system" line with parentUuid null and
// logicalParentUuid naming the line before it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/base/status.h"

namespace ccfs {

// Who speaks in a line, as `ccfs sessions grep --role` selects it.
enum class LineRole {
  kNone,        // bookkeeping (summary, file-history-snapshot, ...)
  kUser,        // a user message (prompt, slash command, compact summary)
  kAssistant,   // a model message block (text, thinking, tool_use)
  kToolResult,  // a user line carrying tool_result blocks
  kSystem,      // a system line (compact boundary, notices)
};

std::string_view LineRoleName(LineRole role);  // "user", "assistant", "tool", "system", ""

struct TokenUsage {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_creation = 0;
  int64_t cache_read = 0;
};

struct TranscriptLine {
  std::string type;  // the line's "type"
  LineRole role = LineRole::kNone;
  std::string uuid, parent_uuid, logical_parent_uuid;
  std::string session_id;  // as the line says (the path is authoritative)
  std::optional<int64_t> timestamp_ms;
  std::string cwd, git_branch;
  bool is_sidechain = false;
  bool is_meta = false;
  bool is_compact_summary = false;
  std::string subtype;  // system lines: "compact_boundary", ...

  // Assistant lines: the API message this content block belongs to.
  std::string message_id, request_id, model;
  std::optional<TokenUsage> usage;

  // Readable content: text blocks, the user's prompt, or tool output.
  // Thinking blocks are left out (Claude Code hides them too).
  std::string text;
  // One "→ Tool(input summary)" per tool_use block, '\n'-separated.
  std::string tool_uses;
  int tool_use_count = 0;
  bool has_thinking = false;  // a thinking block (its text is not kept)
  bool tool_error = false;    // a tool_result with is_error

  // A prompt the user typed: a user line that is not meta, not a tool
  // result, not a compact summary and not slash-command plumbing.
  bool is_prompt = false;

  // {"type":"summary"} lines.
  std::string summary, leaf_uuid;
};

// Parses one line (without its '\n'). Corruption when the line is not a
// JSON object; unknown types and missing fields are fine.
Result<TranscriptLine> ParseTranscriptLine(std::string_view line);

// "2025-10-09T13:57:33.111Z" (or with an offset, or without fraction) ->
// milliseconds since the epoch; nullopt when not a timestamp.
std::optional<int64_t> ParseTimestampMs(std::string_view ts);
// Milliseconds since the epoch -> "2025-10-09T13:57:33.111Z".
std::string FormatTimestampMs(int64_t ms);

}  // namespace ccfs
