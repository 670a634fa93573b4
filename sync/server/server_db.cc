#include "sync/server/server_db.h"

#include "sync/common/sync_common.h"

namespace ccfs {
namespace {

using nlohmann::json;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions(
  pk INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  session_id TEXT NOT NULL UNIQUE,
  transcript_path TEXT NOT NULL DEFAULT '',
  metadata TEXT NOT NULL DEFAULT '{}',
  summary TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  session_pk INTEGER NOT NULL REFERENCES sessions(pk),
  file_name TEXT NOT NULL,
  file_type TEXT NOT NULL,
  last_line INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(session_pk, file_name));
CREATE TABLE IF NOT EXISTS lines(
  session_pk INTEGER NOT NULL,
  file_name TEXT NOT NULL,
  line_no INTEGER NOT NULL,
  content TEXT NOT NULL,
  PRIMARY KEY(session_pk, file_name, line_no)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  session_pk INTEGER NOT NULL REFERENCES sessions(pk),
  event_type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS github_links(
  id INTEGER PRIMARY KEY,
  session_pk INTEGER NOT NULL REFERENCES sessions(pk),
  url TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  link_type TEXT NOT NULL,
  owner TEXT NOT NULL,
  repo TEXT NOT NULL,
  ref TEXT NOT NULL,
  UNIQUE(session_pk, url));
)sql";

json ParseOr(const std::string& text, json fallback) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

}  // namespace

Result<std::unique_ptr<SyncServerDb>> SyncServerDb::Open(const std::string& path) {
  CCFS_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  CCFS_RETURN_IF_ERROR(db->Exec(kSchema));
  return std::unique_ptr<SyncServerDb>(new SyncServerDb(std::move(db)));
}

Result<int64_t> SyncServerDb::SessionPk(const std::string& column, const std::string& value) {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT pk FROM sessions WHERE " + column + " = ?"));
  st.Bind(1, value);
  Status s;
  if (st.Step(&s)) return st.ColumnInt(0);
  CCFS_RETURN_IF_ERROR(s);
  return Status::NotFound("unknown session " + value);
}

Status SyncServerDb::MergeMetadata(int64_t session_pk, const json& metadata) {
  if (!metadata.is_object() || metadata.empty()) return Status::OK();
  CCFS_ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT metadata FROM sessions WHERE pk = ?"));
  get.Bind(1, session_pk);
  Status s;
  json merged = json::object();
  if (get.Step(&s)) merged = ParseOr(get.ColumnText(0), json::object());
  CCFS_RETURN_IF_ERROR(s);
  for (auto it = metadata.begin(); it != metadata.end(); ++it) {
    if (!it.value().is_null()) merged[it.key()] = it.value();
  }
  CCFS_ASSIGN_OR_RETURN(auto put, db_->Prepare("UPDATE sessions SET metadata = ?, updated_at = ? "
                                               "WHERE pk = ?"));
  put.Bind(1, merged.dump()).Bind(2, NowRfc3339()).Bind(3, session_pk);
  return put.Run();
}

Result<SyncServerDb::InitReply> SyncServerDb::InitSession(const std::string& external_id,
                                                          const std::string& transcript_path,
                                                          const json& metadata) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTransaction tx(db_.get());
  CCFS_RETURN_IF_ERROR(tx.Begin());
  auto pk = SessionPk("external_id", external_id);
  if (!pk.ok() && !pk.status().IsNotFound()) return pk.status();
  if (!pk.ok()) {
    CCFS_ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO sessions(external_id, session_id, "
                                                 "transcript_path, created_at, updated_at) "
                                                 "VALUES(?, ?, ?, ?, ?)"));
    std::string now = NowRfc3339();
    ins.Bind(1, external_id).Bind(2, "ses_" + RandomHex(12)).Bind(3, transcript_path);
    ins.Bind(4, now).Bind(5, now);
    CCFS_RETURN_IF_ERROR(ins.Run());
    pk = db_->LastInsertRowId();
  } else if (!transcript_path.empty()) {
    CCFS_ASSIGN_OR_RETURN(auto upd, db_->Prepare("UPDATE sessions SET transcript_path = ? "
                                                 "WHERE pk = ?"));
    upd.Bind(1, transcript_path).Bind(2, *pk);
    CCFS_RETURN_IF_ERROR(upd.Run());
  }
  CCFS_RETURN_IF_ERROR(MergeMetadata(*pk, metadata));

  InitReply reply;
  CCFS_ASSIGN_OR_RETURN(auto sid, db_->Prepare("SELECT session_id FROM sessions WHERE pk = ?"));
  sid.Bind(1, *pk);
  Status s;
  if (sid.Step(&s)) reply.session_id = sid.ColumnText(0);
  CCFS_RETURN_IF_ERROR(s);
  CCFS_ASSIGN_OR_RETURN(auto files, db_->Prepare("SELECT file_name, last_line FROM files "
                                                 "WHERE session_pk = ? ORDER BY file_name"));
  files.Bind(1, *pk);
  while (files.Step(&s)) reply.files.emplace_back(files.ColumnText(0), files.ColumnInt(1));
  CCFS_RETURN_IF_ERROR(s);
  CCFS_RETURN_IF_ERROR(tx.Commit());
  return reply;
}

Result<int64_t> SyncServerDb::LastLine(const std::string& session_id,
                                       const std::string& file_name) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("session_id", session_id));
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT last_line FROM files "
                                              "WHERE session_pk = ? AND file_name = ?"));
  st.Bind(1, pk).Bind(2, file_name);
  Status s;
  if (st.Step(&s)) return st.ColumnInt(0);
  CCFS_RETURN_IF_ERROR(s);
  return int64_t{0};
}

Result<SyncServerDb::ChunkReply> SyncServerDb::AppendLines(
    const std::string& session_id, const std::string& file_name, const std::string& file_type,
    int64_t first_line, const std::vector<std::string>& lines, const json& metadata) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTransaction tx(db_.get());
  CCFS_RETURN_IF_ERROR(tx.Begin());
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("session_id", session_id));
  CCFS_ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT last_line FROM files "
                                               "WHERE session_pk = ? AND file_name = ?"));
  get.Bind(1, pk).Bind(2, file_name);
  Status s;
  int64_t last = 0;
  if (get.Step(&s)) last = get.ColumnInt(0);
  CCFS_RETURN_IF_ERROR(s);

  ChunkReply reply;
  if (first_line > last + 1) {
    reply.gap = true;
    reply.last_synced_line = last;
    return reply;  // the transaction rolls back: nothing changed
  }
  CCFS_ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO lines(session_pk, file_name, "
                                               "line_no, content) VALUES(?, ?, ?, ?)"));
  for (size_t i = 0; i < lines.size(); ++i) {
    int64_t line_no = first_line + static_cast<int64_t>(i);
    if (line_no <= last) continue;  // already stored: an idempotent retry
    ins.Bind(1, pk).Bind(2, file_name).Bind(3, line_no).Bind(4, lines[i]);
    CCFS_RETURN_IF_ERROR(ins.Run());
    last = line_no;
  }
  CCFS_ASSIGN_OR_RETURN(auto put,
                        db_->Prepare("INSERT INTO files(session_pk, file_name, file_type, "
                                     "last_line) VALUES(?, ?, ?, ?) ON CONFLICT(session_pk, "
                                     "file_name) DO UPDATE SET last_line = excluded.last_line"));
  put.Bind(1, pk).Bind(2, file_name).Bind(3, file_type).Bind(4, last);
  CCFS_RETURN_IF_ERROR(put.Run());
  if (metadata.is_object()) {
    json meta = metadata;
    if (meta.contains("summary") && meta["summary"].is_string()) {
      CCFS_RETURN_IF_ERROR(SetSummaryLocked(pk, meta["summary"].get<std::string>()));
      meta.erase("summary");
    }
    CCFS_RETURN_IF_ERROR(MergeMetadata(pk, meta));
  }
  CCFS_RETURN_IF_ERROR(tx.Commit());
  reply.last_synced_line = last;
  return reply;
}

Status SyncServerDb::SetSummaryLocked(int64_t session_pk, const std::string& summary) {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE sessions SET summary = ?, updated_at = ? "
                                              "WHERE pk = ?"));
  st.Bind(1, summary).Bind(2, NowRfc3339()).Bind(3, session_pk);
  return st.Run();
}

Status SyncServerDb::AddEvent(const std::string& session_id, const std::string& event_type,
                              const std::string& timestamp, const std::string& payload_json) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("session_id", session_id));
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO events(session_pk, event_type, "
                                              "timestamp, payload) VALUES(?, ?, ?, ?)"));
  st.Bind(1, pk).Bind(2, event_type).Bind(3, timestamp).Bind(4, payload_json);
  return st.Run();
}

Status SyncServerDb::SetSummary(const std::string& external_id, const std::string& summary) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("external_id", external_id));
  return SetSummaryLocked(pk, summary);
}

Result<std::pair<int64_t, GitHubRef>> SyncServerDb::AddGitHubLink(const std::string& session_id,
                                                                  const GitHubRef& ref,
                                                                  const std::string& title,
                                                                  const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("session_id", session_id));
  CCFS_ASSIGN_OR_RETURN(auto ins,
                        db_->Prepare("INSERT OR IGNORE INTO github_links(session_pk, url, title, "
                                     "source, link_type, owner, repo, ref) "
                                     "VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
  ins.Bind(1, pk).Bind(2, ref.url).Bind(3, title).Bind(4, source).Bind(5, ref.link_type);
  ins.Bind(6, ref.owner).Bind(7, ref.repo).Bind(8, ref.ref);
  CCFS_RETURN_IF_ERROR(ins.Run());
  CCFS_ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT id FROM github_links "
                                               "WHERE session_pk = ? AND url = ?"));
  get.Bind(1, pk).Bind(2, ref.url);
  Status s;
  if (get.Step(&s)) return std::make_pair(get.ColumnInt(0), ref);
  CCFS_RETURN_IF_ERROR(s);
  return Status::IOError("github link vanished");
}

Result<json> SyncServerDb::ListSessions() {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  CCFS_ASSIGN_OR_RETURN(auto ses,
                        db_->Prepare("SELECT pk, external_id, session_id, transcript_path, "
                                     "metadata, summary, created_at, updated_at FROM sessions "
                                     "ORDER BY pk"));
  CCFS_ASSIGN_OR_RETURN(auto files, db_->Prepare("SELECT file_name, file_type, last_line "
                                                 "FROM files WHERE session_pk = ? "
                                                 "ORDER BY file_name"));
  CCFS_ASSIGN_OR_RETURN(auto events, db_->Prepare("SELECT event_type, timestamp, payload "
                                                  "FROM events WHERE session_pk = ? ORDER BY id"));
  CCFS_ASSIGN_OR_RETURN(auto links, db_->Prepare("SELECT id, url, link_type, owner, repo, ref "
                                                 "FROM github_links WHERE session_pk = ? "
                                                 "ORDER BY id"));
  Status s;
  while (ses.Step(&s)) {
    int64_t pk = ses.ColumnInt(0);
    json j = {{"external_id", ses.ColumnText(1)},
              {"session_id", ses.ColumnText(2)},
              {"transcript_path", ses.ColumnText(3)},
              {"metadata", ParseOr(ses.ColumnText(4), json::object())},
              {"summary", ses.ColumnIsNull(5) ? json(nullptr) : json(ses.ColumnText(5))},
              {"created_at", ses.ColumnText(6)},
              {"updated_at", ses.ColumnText(7)},
              {"files", json::array()},
              {"events", json::array()},
              {"github_links", json::array()}};
    files.Bind(1, pk);
    while (files.Step(&s)) {
      j["files"].push_back({{"file_name", files.ColumnText(0)},
                            {"file_type", files.ColumnText(1)},
                            {"line_count", files.ColumnInt(2)}});
    }
    files.Reset();
    events.Bind(1, pk);
    while (events.Step(&s)) {
      j["events"].push_back({{"event_type", events.ColumnText(0)},
                             {"timestamp", events.ColumnText(1)},
                             {"payload", ParseOr(events.ColumnText(2), json::object())}});
    }
    events.Reset();
    links.Bind(1, pk);
    while (links.Step(&s)) {
      j["github_links"].push_back({{"id", links.ColumnInt(0)},
                                   {"url", links.ColumnText(1)},
                                   {"link_type", links.ColumnText(2)},
                                   {"owner", links.ColumnText(3)},
                                   {"repo", links.ColumnText(4)},
                                   {"ref", links.ColumnText(5)}});
    }
    links.Reset();
    CCFS_RETURN_IF_ERROR(s);
    out.push_back(std::move(j));
  }
  CCFS_RETURN_IF_ERROR(s);
  return json{{"sessions", std::move(out)}};
}

Result<json> SyncServerDb::ReadLines(const std::string& external_id, const std::string& file_name,
                                     int64_t from_line, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(int64_t pk, SessionPk("external_id", external_id));
  CCFS_ASSIGN_OR_RETURN(auto file, db_->Prepare("SELECT file_type, last_line FROM files "
                                                "WHERE session_pk = ? AND file_name = ?"));
  file.Bind(1, pk).Bind(2, file_name);
  Status s;
  if (!file.Step(&s)) {
    CCFS_RETURN_IF_ERROR(s);
    return Status::NotFound("unknown file " + file_name);
  }
  std::string file_type = file.ColumnText(0);
  int64_t last = file.ColumnInt(1);
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT line_no, content FROM lines "
                                              "WHERE session_pk = ? AND file_name = ? AND "
                                              "line_no >= ? ORDER BY line_no LIMIT ?"));
  st.Bind(1, pk).Bind(2, file_name).Bind(3, from_line).Bind(4, limit);
  json lines = json::array();
  int64_t next = from_line;
  while (st.Step(&s)) {
    lines.push_back(st.ColumnText(1));
    next = st.ColumnInt(0) + 1;
  }
  CCFS_RETURN_IF_ERROR(s);
  json reply = {{"external_id", external_id}, {"file_name", file_name},
                {"file_type", file_type},     {"last_synced_line", last},
                {"from_line", from_line},     {"lines", std::move(lines)}};
  reply["next_from_line"] = next <= last ? json(next) : json(nullptr);
  return reply;
}

}  // namespace ccfs
