#include "sync/sessions/session_index_rows.h"

namespace ccfs {

const char* const kSessionSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  rel_path TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  project_dir TEXT NOT NULL,
  is_subagent INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  src_known INTEGER NOT NULL DEFAULT 0,
  src_size INTEGER, src_mtime_ns INTEGER, src_etag TEXT,
  src_bytes INTEGER, src_lines INTEGER, src_tail TEXT);
CREATE INDEX IF NOT EXISTS files_by_session ON files(session_id);
CREATE TABLE IF NOT EXISTS lines(
  session_id TEXT NOT NULL,
  rel_path TEXT NOT NULL,
  line_no INTEGER NOT NULL,
  is_subagent INTEGER NOT NULL,
  error TEXT,
  type TEXT, role INTEGER, uuid TEXT, parent_uuid TEXT, logical_parent_uuid TEXT,
  flags INTEGER, subtype TEXT, ts_ms INTEGER, cwd TEXT, git_branch TEXT,
  model TEXT, message_id TEXT, request_id TEXT,
  has_usage INTEGER, in_tok INTEGER, out_tok INTEGER, cc_tok INTEGER, cr_tok INTEGER,
  tool_use_n INTEGER, summary TEXT, leaf_uuid TEXT, text TEXT, tool_uses TEXT,
  UNIQUE(session_id, rel_path, line_no));
CREATE TABLE IF NOT EXISTS dirty(session_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sessions(
  session_id TEXT PRIMARY KEY,
  project_dir TEXT, cwd TEXT, transcript_path TEXT, title TEXT, git_branch TEXT,
  first_ms INTEGER, last_ms INTEGER, models TEXT,
  user_msgs INTEGER, asst_msgs INTEGER, tool_calls INTEGER,
  in_tok INTEGER, out_tok INTEGER, cc_tok INTEGER, cr_tok INTEGER,
  subagents INTEGER, lines INTEGER, malformed INTEGER);
CREATE INDEX IF NOT EXISTS sessions_by_last ON sessions(last_ms);
)sql";

const char* const kInsertLine = R"sql(
INSERT OR REPLACE INTO lines(session_id, rel_path, line_no, is_subagent, error, type, role, uuid,
  parent_uuid, logical_parent_uuid, flags, subtype, ts_ms, cwd, git_branch, model, message_id,
  request_id, has_usage, in_tok, out_tok, cc_tok, cr_tok, tool_use_n, summary, leaf_uuid, text,
  tool_uses)
VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
  ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28))sql";

const char* const kSessionColumns =
    "session_id, project_dir, cwd, transcript_path, title, git_branch, first_ms, last_ms, models, "
    "user_msgs, asst_msgs, tool_calls, in_tok, out_tok, cc_tok, cr_tok, subagents, lines, "
    "malformed";

const char* const kStatsColumns =
    "is_subagent, error IS NOT NULL, type, role, flags, ts_ms, cwd, git_branch, model, "
    "message_id, request_id, has_usage, in_tok, out_tok, cc_tok, cr_tok, tool_use_n, summary, "
    "CASE WHEN flags & 8 THEN substr(text, 1, 400) END, line_no";

const char* const kIndexedLineColumns =
    "line_no, type, role, uuid, parent_uuid, logical_parent_uuid, flags, subtype, ts_ms, model, "
    "text, tool_uses, summary, leaf_uuid, error, message_id";

std::string ProjectDirOf(const TranscriptRef& ref) {
  // "projects/<enc-cwd>/..." -> "<enc-cwd>"
  size_t start = ref.rel_path.find('/') + 1;
  return ref.rel_path.substr(start, ref.rel_path.find('/', start) - start);
}

Result<TranscriptRef> RefOf(const std::string& rel_path) {
  auto ref = ParseTranscriptPath(rel_path);
  if (!ref) {
    return Status::InvalidArgument(rel_path + " is not a session or subagent transcript path");
  }
  return *ref;
}

std::string AgentIdOf(const TranscriptRef& ref) {
  if (ref.file_type != "agent") return {};
  return ref.file_name.substr(0, ref.file_name.size() - 6);  // strip ".jsonl"
}

void BindOptional(SqliteStatement& st, int i, const std::optional<int64_t>& v) {
  if (v) {
    st.Bind(i, *v);
  } else {
    st.BindNull(i);
  }
}

std::optional<int64_t> ColumnOptional(const SqliteStatement& st, int col) {
  if (st.ColumnIsNull(col)) return std::nullopt;
  return st.ColumnInt(col);
}

void BindLine(SqliteStatement& st, const TranscriptLine& l) {
  int64_t flags = (l.is_sidechain ? kFlagSidechain : 0) | (l.is_meta ? kFlagMeta : 0) |
                  (l.is_compact_summary ? kFlagCompactSummary : 0) |
                  (l.is_prompt ? kFlagPrompt : 0) | (l.tool_error ? kFlagToolError : 0) |
                  (l.has_thinking ? kFlagThinking : 0);
  st.Bind(6, l.type).Bind(7, static_cast<int64_t>(l.role)).Bind(8, l.uuid).Bind(9, l.parent_uuid);
  st.Bind(10, l.logical_parent_uuid).Bind(11, flags).Bind(12, l.subtype);
  BindOptional(st, 13, l.timestamp_ms);
  st.Bind(14, l.cwd).Bind(15, l.git_branch).Bind(16, l.model).Bind(17, l.message_id);
  st.Bind(18, l.request_id).Bind(19, int64_t{l.usage.has_value()});
  TokenUsage u = l.usage.value_or(TokenUsage{});
  st.Bind(20, u.input).Bind(21, u.output).Bind(22, u.cache_creation).Bind(23, u.cache_read);
  st.Bind(24, int64_t{l.tool_use_count}).Bind(25, l.summary).Bind(26, l.leaf_uuid);
  st.Bind(27, l.text).Bind(28, l.tool_uses);
}

StatsRow ReadStatsRow(const SqliteStatement& st) {
  StatsRow r;
  r.is_subagent = st.ColumnInt(0) != 0;
  r.malformed = st.ColumnInt(1) != 0;
  r.type = st.ColumnText(2);
  r.role = static_cast<LineRole>(st.ColumnInt(3));
  int64_t flags = st.ColumnInt(4);
  r.is_sidechain = flags & kFlagSidechain;
  r.is_meta = flags & kFlagMeta;
  r.is_compact_summary = flags & kFlagCompactSummary;
  r.is_prompt = flags & kFlagPrompt;
  r.timestamp_ms = ColumnOptional(st, 5);
  r.cwd = st.ColumnText(6);
  r.git_branch = st.ColumnText(7);
  r.model = st.ColumnText(8);
  r.message_id = st.ColumnText(9);
  r.request_id = st.ColumnText(10);
  if (st.ColumnInt(11) != 0) {
    r.usage = TokenUsage{st.ColumnInt(12), st.ColumnInt(13), st.ColumnInt(14), st.ColumnInt(15)};
  }
  r.tool_use_count = st.ColumnInt(16);
  r.summary = st.ColumnText(17);
  r.prompt_text = st.ColumnText(18);
  r.line_no = st.ColumnInt(19);
  return r;
}

IndexedLine ReadIndexedLine(const SqliteStatement& st) {
  IndexedLine l;
  l.line_no = st.ColumnInt(0);
  l.type = st.ColumnText(1);
  l.role = static_cast<LineRole>(st.ColumnInt(2));
  l.uuid = st.ColumnText(3);
  l.parent_uuid = st.ColumnText(4);
  l.logical_parent_uuid = st.ColumnText(5);
  int64_t flags = st.ColumnInt(6);
  l.is_sidechain = flags & kFlagSidechain;
  l.is_meta = flags & kFlagMeta;
  l.is_compact_summary = flags & kFlagCompactSummary;
  l.tool_error = flags & kFlagToolError;
  l.has_thinking = flags & kFlagThinking;
  l.subtype = st.ColumnText(7);
  l.timestamp_ms = ColumnOptional(st, 8);
  l.model = st.ColumnText(9);
  l.text = st.ColumnText(10);
  l.tool_uses = st.ColumnText(11);
  l.summary = st.ColumnText(12);
  l.leaf_uuid = st.ColumnText(13);
  l.error = st.ColumnText(14);
  l.message_id = st.ColumnText(15);
  return l;
}

std::string JoinLines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

}  // namespace ccfs
