#include "sync/sessions/session_index.h"

#include <cstdio>

#include "store/sqlite/sqlite_db.h"
#include "sync/common/transcript_file.h"
#include "sync/sessions/session_index_rows.h"
#include "sync/sessions/session_stats.h"

namespace ccfs {

std::string TailHash(std::string_view tail) {
  // FNV-1a, 64 bit: a fingerprint, not a defence against forgery.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : tail) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%zu:%016llx", tail.size(), static_cast<unsigned long long>(h));
  return buf;
}

SessionIndex::SessionIndex(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
SessionIndex::~SessionIndex() = default;

Result<std::unique_ptr<SessionIndex>> SessionIndex::Open(const std::string& db_path) {
  CCFS_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(db_path));
  std::unique_ptr<SessionIndex> index(new SessionIndex(std::move(db)));
  CCFS_RETURN_IF_ERROR(index->Init().Annotate("session index " + db_path));
  return index;
}

Status SessionIndex::Init() {
  CCFS_RETURN_IF_ERROR(
      db_->Exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)"));
  CCFS_ASSIGN_OR_RETURN(SqliteStatement get,
                        db_->Prepare("SELECT value FROM meta WHERE key = 'schema'"));
  Status s;
  std::string version = get.Step(&s) ? get.ColumnText(0) : std::string();
  CCFS_RETURN_IF_ERROR(s);
  if (version != kSessionSchemaVersion) {
    // Another layout (or none): the index is a cache, start it over.
    CCFS_RETURN_IF_ERROR(db_->Exec(
        "DROP TABLE IF EXISTS lines; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS dirty; "
        "DROP TABLE IF EXISTS sessions; DELETE FROM meta;"));
  }
  CCFS_RETURN_IF_ERROR(db_->Exec(kSessionSchema));
  return db_->Exec(std::string("INSERT OR REPLACE INTO meta(key, value) VALUES('schema', '") +
                   kSessionSchemaVersion + "')");
}

Status SessionIndex::AddLines(const std::string& rel_path, int64_t first_line_number,
                              const std::vector<std::string_view>& lines) {
  return AddLinesImpl(rel_path, first_line_number, lines, nullptr);
}

Status SessionIndex::AddLines(const std::string& rel_path, int64_t first_line_number,
                              const std::vector<std::string_view>& lines,
                              const FileSourceState& state) {
  return AddLinesImpl(rel_path, first_line_number, lines, &state);
}

Status SessionIndex::AddLinesImpl(const std::string& rel_path, int64_t first_line_number,
                                  const std::vector<std::string_view>& lines,
                                  const FileSourceState* state) {
  CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(rel_path));
  if (first_line_number < 1) return Status::InvalidArgument("line numbers start at 1");
  // Parse before taking the lock: several feeders parse in parallel.
  std::vector<Result<TranscriptLine>> parsed;
  parsed.reserve(lines.size());
  for (std::string_view line : lines) parsed.push_back(ParseTranscriptLine(line));

  const bool subagent = ref.file_type == "agent";
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement file,
      db_->Prepare("INSERT OR IGNORE INTO files(rel_path, session_id, project_dir, is_subagent, "
                   "agent_id) VALUES(?1, ?2, ?3, ?4, ?5)"));
  file.Bind(1, rel_path).Bind(2, ref.external_id).Bind(3, ProjectDirOf(ref));
  file.Bind(4, int64_t{subagent}).Bind(5, AgentIdOf(ref));
  CCFS_RETURN_IF_ERROR(file.Run());
  CCFS_ASSIGN_OR_RETURN(SqliteStatement insert, db_->Prepare(kInsertLine));
  for (size_t i = 0; i < parsed.size(); ++i) {
    insert.Bind(1, ref.external_id).Bind(2, rel_path);
    insert.Bind(3, first_line_number + static_cast<int64_t>(i)).Bind(4, int64_t{subagent});
    if (parsed[i].ok()) {
      insert.BindNull(5);
      BindLine(insert, parsed[i].value());
    } else {
      insert.Bind(5, parsed[i].status().message());
    }
    CCFS_RETURN_IF_ERROR(insert.Run());
  }
  CCFS_ASSIGN_OR_RETURN(SqliteStatement dirty,
                        db_->Prepare("INSERT OR IGNORE INTO dirty(session_id) VALUES(?1)"));
  CCFS_RETURN_IF_ERROR(dirty.Bind(1, ref.external_id).Run());
  if (state != nullptr) CCFS_RETURN_IF_ERROR(SetSourceStateLocked(rel_path, *state));
  return txn.Commit();
}

Status SessionIndex::Forget(const std::string& rel_path) {
  CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(rel_path));
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  CCFS_ASSIGN_OR_RETURN(SqliteStatement del_lines,
                        db_->Prepare("DELETE FROM lines WHERE session_id = ?1 AND rel_path = ?2"));
  CCFS_RETURN_IF_ERROR(del_lines.Bind(1, ref.external_id).Bind(2, rel_path).Run());
  CCFS_ASSIGN_OR_RETURN(SqliteStatement del_file,
                        db_->Prepare("DELETE FROM files WHERE rel_path = ?1"));
  CCFS_RETURN_IF_ERROR(del_file.Bind(1, rel_path).Run());
  CCFS_ASSIGN_OR_RETURN(SqliteStatement dirty,
                        db_->Prepare("INSERT OR IGNORE INTO dirty(session_id) VALUES(?1)"));
  CCFS_RETURN_IF_ERROR(dirty.Bind(1, ref.external_id).Run());
  return txn.Commit();
}

Result<std::optional<FileSourceState>> SessionIndex::GetSourceState(const std::string& rel_path) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare("SELECT src_size, src_mtime_ns, src_etag, src_bytes, src_lines, src_tail "
                   "FROM files WHERE rel_path = ?1 AND src_known = 1"));
  st.Bind(1, rel_path);
  Status s;
  if (!st.Step(&s)) {
    CCFS_RETURN_IF_ERROR(s);
    return std::optional<FileSourceState>();
  }
  FileSourceState state;
  state.size = st.ColumnInt(0);
  state.mtime_ns = st.ColumnInt(1);
  state.etag = st.ColumnText(2);
  state.indexed_bytes = static_cast<uint64_t>(st.ColumnInt(3));
  state.indexed_lines = st.ColumnInt(4);
  state.tail_hash = st.ColumnText(5);
  return std::optional<FileSourceState>(std::move(state));
}

Status SessionIndex::SetSourceState(const std::string& rel_path, const FileSourceState& state) {
  CCFS_RETURN_IF_ERROR(RefOf(rel_path).status());
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  CCFS_RETURN_IF_ERROR(SetSourceStateLocked(rel_path, state));
  return txn.Commit();
}

Status SessionIndex::SetSourceStateLocked(const std::string& rel_path,
                                          const FileSourceState& state) {
  CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(rel_path));
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare("INSERT INTO files(rel_path, session_id, project_dir, is_subagent, agent_id, "
                   "src_known, src_size, src_mtime_ns, src_etag, src_bytes, src_lines, src_tail) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11) "
                   "ON CONFLICT(rel_path) DO UPDATE SET src_known = 1, src_size = ?6, "
                   "src_mtime_ns = ?7, src_etag = ?8, src_bytes = ?9, src_lines = ?10, "
                   "src_tail = ?11"));
  st.Bind(1, rel_path).Bind(2, ref.external_id).Bind(3, ProjectDirOf(ref));
  st.Bind(4, int64_t{ref.file_type == "agent"}).Bind(5, AgentIdOf(ref));
  st.Bind(6, state.size).Bind(7, state.mtime_ns).Bind(8, state.etag);
  st.Bind(9, static_cast<int64_t>(state.indexed_bytes)).Bind(10, state.indexed_lines);
  st.Bind(11, state.tail_hash);
  CCFS_RETURN_IF_ERROR(st.Run());
  // A file known only by its state (an empty subagent) still makes a session.
  CCFS_ASSIGN_OR_RETURN(SqliteStatement dirty,
                        db_->Prepare("INSERT OR IGNORE INTO dirty(session_id) VALUES(?1)"));
  return dirty.Bind(1, ref.external_id).Run();
}

Status SessionIndex::ListFiles(std::vector<std::string>* rel_paths) {
  rel_paths->clear();
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(SqliteStatement st,
                        db_->Prepare("SELECT rel_path FROM files ORDER BY rel_path"));
  Status s;
  while (st.Step(&s)) rel_paths->push_back(st.ColumnText(0));
  return s;
}

Result<int64_t> SessionIndex::NextLineNumber(const std::string& rel_path) {
  CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(rel_path));
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare("SELECT MAX(line_no) FROM lines WHERE session_id = ?1 AND rel_path = ?2"));
  st.Bind(1, ref.external_id).Bind(2, rel_path);
  Status s;
  int64_t next = 1;
  if (st.Step(&s) && !st.ColumnIsNull(0)) next = st.ColumnInt(0) + 1;
  CCFS_RETURN_IF_ERROR(s);
  return next;
}

Status SessionIndex::RefreshDirtyLocked() {
  std::vector<std::string> ids;
  {
    CCFS_ASSIGN_OR_RETURN(SqliteStatement st, db_->Prepare("SELECT session_id FROM dirty"));
    Status s;
    while (st.Step(&s)) ids.push_back(st.ColumnText(0));
    CCFS_RETURN_IF_ERROR(s);
  }
  if (ids.empty()) return Status::OK();
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  for (const std::string& id : ids) CCFS_RETURN_IF_ERROR(RecomputeSessionLocked(id));
  CCFS_RETURN_IF_ERROR(db_->Exec("DELETE FROM dirty"));
  return txn.Commit();
}

Status SessionIndex::RecomputeSessionLocked(const std::string& session_id) {
  CCFS_ASSIGN_OR_RETURN(SqliteStatement del,
                        db_->Prepare("DELETE FROM sessions WHERE session_id = ?1"));
  CCFS_RETURN_IF_ERROR(del.Bind(1, session_id).Run());

  SessionSummary sum;
  sum.session_id = session_id;
  {
    CCFS_ASSIGN_OR_RETURN(
        SqliteStatement files,
        db_->Prepare("SELECT rel_path, project_dir, is_subagent FROM files WHERE session_id = ?1 "
                     "ORDER BY rel_path"));
    files.Bind(1, session_id);
    Status s;
    bool any = false;
    while (files.Step(&s)) {
      if (!any) {
        CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(files.ColumnText(0)));
        sum.transcript_path = ref.transcript_path;
        sum.project_dir = files.ColumnText(1);
        any = true;
      }
      if (files.ColumnInt(2) != 0) ++sum.subagents;
    }
    CCFS_RETURN_IF_ERROR(s);
    if (!any) return Status::OK();  // every file forgotten: no session
  }
  SessionStats stats;
  {
    CCFS_ASSIGN_OR_RETURN(SqliteStatement rows,
                          db_->Prepare(std::string("SELECT ") + kStatsColumns +
                                       " FROM lines WHERE session_id = ?1 "
                                       "ORDER BY rel_path, line_no"));
    rows.Bind(1, session_id);
    Status s;
    while (rows.Step(&s)) stats.Add(ReadStatsRow(rows));
    CCFS_RETURN_IF_ERROR(s);
  }
  stats.FillSummary(&sum);
  CCFS_ASSIGN_OR_RETURN(SqliteStatement ins,
                        db_->Prepare(std::string("INSERT INTO sessions(") + kSessionColumns +
                                     ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                                     "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"));
  ins.Bind(1, sum.session_id).Bind(2, sum.project_dir).Bind(3, sum.cwd);
  ins.Bind(4, sum.transcript_path).Bind(5, sum.title).Bind(6, sum.git_branch);
  BindOptional(ins, 7, sum.first_ms);
  BindOptional(ins, 8, sum.last_ms);
  ins.Bind(9, JoinLines(sum.models)).Bind(10, sum.user_messages);
  ins.Bind(11, sum.assistant_messages).Bind(12, sum.tool_calls);
  ins.Bind(13, sum.tokens.input).Bind(14, sum.tokens.output);
  ins.Bind(15, sum.tokens.cache_creation).Bind(16, sum.tokens.cache_read);
  ins.Bind(17, sum.subagents).Bind(18, sum.lines).Bind(19, sum.malformed_lines);
  return ins.Run();
}

Status SessionIndex::QuerySessionsLocked(const std::string& where,
                                         const std::vector<std::string>& binds,
                                         std::vector<SessionSummary>* out) {
  CCFS_RETURN_IF_ERROR(RefreshDirtyLocked());
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare(std::string("SELECT ") + kSessionColumns + " FROM sessions " + where +
                   " ORDER BY last_ms IS NULL, last_ms DESC, session_id"));
  for (size_t i = 0; i < binds.size(); ++i) st.Bind(static_cast<int>(i + 1), binds[i]);
  Status s;
  while (st.Step(&s)) {
    SessionSummary sum;
    sum.session_id = st.ColumnText(0);
    sum.project_dir = st.ColumnText(1);
    sum.cwd = st.ColumnText(2);
    sum.transcript_path = st.ColumnText(3);
    sum.title = st.ColumnText(4);
    sum.git_branch = st.ColumnText(5);
    sum.first_ms = ColumnOptional(st, 6);
    sum.last_ms = ColumnOptional(st, 7);
    sum.models = SplitLines(st.ColumnText(8));
    sum.user_messages = st.ColumnInt(9);
    sum.assistant_messages = st.ColumnInt(10);
    sum.tool_calls = st.ColumnInt(11);
    sum.tokens = {st.ColumnInt(12), st.ColumnInt(13), st.ColumnInt(14), st.ColumnInt(15)};
    sum.subagents = st.ColumnInt(16);
    sum.lines = st.ColumnInt(17);
    sum.malformed_lines = st.ColumnInt(18);
    out->push_back(std::move(sum));
  }
  return s;
}

Status SessionIndex::ListSessions(const SessionFilter& filter, std::vector<SessionSummary>* out) {
  out->clear();
  std::string where = "WHERE 1";
  std::vector<std::string> binds;
  if (!filter.project.empty()) {
    binds.push_back(filter.project);
    where += " AND (instr(cwd, ?1) > 0 OR instr(project_dir, ?1) > 0)";
  }
  if (filter.since_ms) where += " AND last_ms >= " + std::to_string(*filter.since_ms);
  std::lock_guard<std::mutex> lock(mu_);
  return QuerySessionsLocked(where, binds, out);
}

Status SessionIndex::FindSessions(const std::string& id_or_prefix, std::vector<std::string>* ids) {
  ids->clear();
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_RETURN_IF_ERROR(RefreshDirtyLocked());
  CCFS_ASSIGN_OR_RETURN(SqliteStatement st,
                        db_->Prepare("SELECT session_id FROM sessions WHERE session_id = ?1 "
                                     "OR substr(session_id, 1, length(?1)) = ?1 "
                                     "ORDER BY session_id = ?1 DESC, session_id"));
  st.Bind(1, id_or_prefix);
  Status s;
  while (st.Step(&s)) {
    std::string id = st.ColumnText(0);
    if (id == id_or_prefix) {  // an exact match wins over longer ids sharing the prefix
      ids->assign(1, id);
      return Status::OK();
    }
    ids->push_back(std::move(id));
  }
  return s;
}

Result<SessionSummary> SessionIndex::GetSession(const std::string& session_id) {
  std::vector<SessionSummary> found;
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_RETURN_IF_ERROR(QuerySessionsLocked("WHERE session_id = ?1", {session_id}, &found));
  if (found.empty()) return Status::NotFound("no session " + session_id + " in the index");
  return std::move(found.front());
}

Status SessionIndex::ListSessionFiles(const std::string& session_id,
                                      std::vector<SessionFile>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  {
    CCFS_ASSIGN_OR_RETURN(
        SqliteStatement files,
        db_->Prepare("SELECT rel_path, is_subagent, agent_id FROM files WHERE session_id = ?1 "
                     "ORDER BY rel_path"));
    files.Bind(1, session_id);
    Status s;
    while (files.Step(&s)) {
      SessionFile f;
      f.rel_path = files.ColumnText(0);
      f.is_subagent = files.ColumnInt(1) != 0;
      f.agent_id = files.ColumnText(2);
      out->push_back(std::move(f));
    }
    CCFS_RETURN_IF_ERROR(s);
  }
  CCFS_ASSIGN_OR_RETURN(SqliteStatement rows,
                        db_->Prepare(std::string("SELECT ") + kStatsColumns +
                                     " FROM lines WHERE session_id = ?1 AND rel_path = ?2 "
                                     "ORDER BY line_no"));
  for (SessionFile& f : *out) {
    SessionStats stats;
    rows.Bind(1, session_id).Bind(2, f.rel_path);
    Status s;
    while (rows.Step(&s)) stats.Add(ReadStatsRow(rows));
    rows.Reset();
    CCFS_RETURN_IF_ERROR(s);
    stats.FillFile(&f);
  }
  return Status::OK();
}

Status SessionIndex::ReadLines(const std::string& rel_path, std::vector<IndexedLine>* out) {
  out->clear();
  CCFS_ASSIGN_OR_RETURN(TranscriptRef ref, RefOf(rel_path));
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare(std::string("SELECT ") + kIndexedLineColumns +
                   " FROM lines WHERE session_id = ?1 AND rel_path = ?2 ORDER BY line_no"));
  st.Bind(1, ref.external_id).Bind(2, rel_path);
  Status s;
  while (st.Step(&s)) {
    IndexedLine l = ReadIndexedLine(st);
    l.rel_path = rel_path;
    out->push_back(std::move(l));
  }
  return s;
}

Status SessionIndex::ListMalformed(std::vector<MalformedLine>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(SqliteStatement st,
                        db_->Prepare("SELECT rel_path, line_no, error FROM lines "
                                     "WHERE error IS NOT NULL ORDER BY rel_path, line_no"));
  Status s;
  while (st.Step(&s)) out->push_back({st.ColumnText(0), st.ColumnInt(1), st.ColumnText(2)});
  return s;
}

Status SessionIndex::ScanText(const std::vector<LineRole>& roles, const std::string& session_id,
                              const LineVisitor& visit) {
  std::string in;
  for (LineRole r : roles) {
    if (!in.empty()) in += ",";
    in += std::to_string(static_cast<int>(r));
  }
  if (in.empty()) return Status::OK();
  std::string sql =
      "SELECT session_id, rel_path, line_no, role, text, tool_uses, ts_ms, flags FROM lines "
      "WHERE role IN (" +
      in + ") AND (text <> '' OR tool_uses <> '')";
  if (!session_id.empty()) sql += " AND session_id = ?1";
  sql += " ORDER BY session_id, rel_path, line_no";
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(SqliteStatement st, db_->Prepare(sql));
  if (!session_id.empty()) st.Bind(1, session_id);
  Status s;
  while (st.Step(&s)) {
    IndexedLine l;
    l.rel_path = st.ColumnText(1);
    l.line_no = st.ColumnInt(2);
    l.role = static_cast<LineRole>(st.ColumnInt(3));
    l.text = st.ColumnText(4);
    l.tool_uses = st.ColumnText(5);
    l.timestamp_ms = ColumnOptional(st, 6);
    l.tool_error = st.ColumnInt(7) & kFlagToolError;
    if (!visit(st.ColumnText(0), l)) break;
  }
  return s;
}

}  // namespace ccfs
