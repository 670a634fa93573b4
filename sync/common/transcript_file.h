// Transcript files as the sync API sees them: which session and file a
// tree-relative path is, and reading complete lines ('\n'-terminated) from a
// byte offset. A partial last line is never returned: it is sent once the
// writer completes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

struct TranscriptRef {
  std::string rel_path;         // "projects/<enc-cwd>/<session>.jsonl" or
                                // "projects/<enc-cwd>/<session>/subagents/agent-<id>.jsonl"
  std::string external_id;      // the session: transcript stem / dir above subagents/
  std::string file_name;        // base name
  std::string file_type;        // "transcript" or "agent"
  std::string transcript_path;  // the session's main transcript (tree-relative)
};

// nullopt for paths that are not a session transcript or a subagent
// transcript (those are not synced).
std::optional<TranscriptRef> ParseTranscriptPath(std::string_view rel_path);

struct LineBatch {
  std::vector<std::string> lines;     // without the '\n'
  std::vector<uint64_t> end_offsets;  // file offset just after each line's '\n'
};

// Reads complete lines starting at `offset` until about `soft_limit_bytes`
// are collected (at least one line, however long) or `max_lines`. A missing
// file is NotFound.
Status ReadCompleteLines(const std::string& path, uint64_t offset, size_t soft_limit_bytes,
                         size_t max_lines, LineBatch* out);

// Walks up to `max_lines` complete lines from `offset` (all of them when
// max_lines < 0): *lines gets how many, *end_offset the offset after the last.
Status ScanCompleteLines(const std::string& path, uint64_t offset, int64_t max_lines,
                         int64_t* lines, uint64_t* end_offset);

}  // namespace ccfs
