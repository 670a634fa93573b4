#include "fs/tree/meta_db.h"

#include <cerrno>

namespace ccfs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY,
  parent INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  link_target TEXT NOT NULL,
  state INTEGER NOT NULL,
  origin_kind INTEGER NOT NULL,
  origin_path TEXT NOT NULL,
  origin_etag TEXT NOT NULL,
  implicit INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS base_transcripts(
  path TEXT PRIMARY KEY, etag TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
  mode INTEGER NOT NULL DEFAULT 384);
)sql";

// Finalizes a statement when the scope ends (one-off queries).
struct StmtGuard {
  sqlite3_stmt* stmt = nullptr;
  ~StmtGuard() { sqlite3_finalize(stmt); }
};

std::string ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, col));
}

void BindText(sqlite3_stmt* s, int col, const std::string& v) {
  sqlite3_bind_text(s, col, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

Result<std::unique_ptr<MetaDb>> MetaDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<MetaDb> db(new MetaDb(raw));
  if (rc != SQLITE_OK) return db->Error("open " + path);
  sqlite3_busy_timeout(raw, 5000);
  CCFS_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  CCFS_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  CCFS_RETURN_IF_ERROR(db->Exec(kSchema));
  CCFS_RETURN_IF_ERROR(db->AddTranscriptModeColumn());
  CCFS_RETURN_IF_ERROR(
      db->Prepare("INSERT OR REPLACE INTO inodes(ino,parent,name,type,mode,size,mtime_ns,ctime_ns,"
                  "link_target,state,origin_kind,origin_path,origin_etag,implicit) "
                  "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  &db->put_node_));
  CCFS_RETURN_IF_ERROR(db->Prepare("DELETE FROM inodes WHERE ino=?", &db->delete_node_));
  CCFS_RETURN_IF_ERROR(
      db->Prepare("INSERT OR REPLACE INTO base_transcripts(path,etag,size,mtime,mode) "
                  "VALUES(?,?,?,?,?)",
                  &db->put_transcript_));
  return db;
}

Status MetaDb::AddTranscriptModeColumn() {
  // Caches made before transcript modes were kept lack the column.
  StmtGuard g;
  if (sqlite3_prepare_v2(db_,
                         "SELECT 1 FROM pragma_table_info('base_transcripts') WHERE name='mode'",
                         -1, &g.stmt, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  int rc = sqlite3_step(g.stmt);
  if (rc == SQLITE_ROW) return Status::OK();
  if (rc != SQLITE_DONE) return Error("read the base_transcripts columns");
  return Exec("ALTER TABLE base_transcripts ADD COLUMN mode INTEGER NOT NULL DEFAULT 384");
}

MetaDb::~MetaDb() {
  for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Status MetaDb::Error(const std::string& what) {
  std::string msg = db_ == nullptr ? "out of memory" : sqlite3_errmsg(db_);
  return Status::IOError("sqlite " + what + ": " + msg).WithErrno(ErrnoOf(db_));
}

int MetaDb::ErrnoOf(sqlite3* db) {
  if (db == nullptr) return ENOMEM;
  switch (sqlite3_errcode(db)) {
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_READONLY:
      return EROFS;
    default:
      return EIO;
  }
}

Status MetaDb::Exec(const std::string& sql) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return Status::IOError("sqlite: " + msg + " (in: " + sql.substr(0, 60) + ")")
        .WithErrno(ErrnoOf(db_));
  }
  return Status::OK();
}

Status MetaDb::Apply(const MetaChange& change) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CCFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s;
  for (size_t i = 0; s.ok() && i < change.deletes.size(); ++i) {
    s = DeleteNodeLocked(change.deletes[i]);
  }
  for (size_t i = 0; s.ok() && i < change.puts.size(); ++i) s = PutNodeLocked(change.puts[i]);
  for (size_t i = 0; s.ok() && i < change.values.size(); ++i) {
    s = SetValue(change.values[i].first, change.values[i].second);
  }
  if (s.ok() && commit_fault_.load() != 0) {
    s = Status::IOError("sqlite: database or disk is full (injected)").WithErrno(commit_fault_);
  }
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    // Nothing of the change may stay: the caller reports the failure and
    // leaves its tree as it was.
    Status rolled_back = Exec("ROLLBACK");
    if (!rolled_back.ok() && sqlite3_get_autocommit(db_) == 0) return rolled_back;
  }
  return s;
}

Status MetaDb::Prepare(const char* sql, sqlite3_stmt** stmt) {
  if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) return Error("prepare");
  statements_.push_back(*stmt);
  return Status::OK();
}

Status MetaDb::GetValue(const std::string& key, std::string* value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StmtGuard g;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key=?", -1, &g.stmt, nullptr) !=
      SQLITE_OK) {
    return Error("prepare");
  }
  BindText(g.stmt, 1, key);
  int rc = sqlite3_step(g.stmt);
  if (rc == SQLITE_DONE) return Status::NotFound("meta key " + key);
  if (rc != SQLITE_ROW) return Error("get " + key);
  *value = ColumnText(g.stmt, 0);
  return Status::OK();
}

Status MetaDb::SetValue(const std::string& key, const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StmtGuard g;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)", -1, &g.stmt,
                         nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  BindText(g.stmt, 1, key);
  BindText(g.stmt, 2, value);
  if (sqlite3_step(g.stmt) != SQLITE_DONE) return Error("set " + key);
  return Status::OK();
}

Status MetaDb::PutNodeLocked(const NodeRecord& n) {
  sqlite3_stmt* s = put_node_;
  sqlite3_reset(s);
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(n.ino));
  sqlite3_bind_int64(s, 2, static_cast<int64_t>(n.parent));
  BindText(s, 3, n.name);
  sqlite3_bind_int(s, 4, static_cast<int>(n.type));
  sqlite3_bind_int(s, 5, static_cast<int>(n.mode));
  sqlite3_bind_int64(s, 6, static_cast<int64_t>(n.size));
  sqlite3_bind_int64(s, 7, n.mtime_ns);
  sqlite3_bind_int64(s, 8, n.ctime_ns);
  BindText(s, 9, n.link_target);
  sqlite3_bind_int(s, 10, static_cast<int>(n.state));
  sqlite3_bind_int(s, 11, static_cast<int>(n.origin_kind));
  BindText(s, 12, n.origin_path);
  BindText(s, 13, n.origin_etag);
  sqlite3_bind_int(s, 14, n.implicit ? 1 : 0);
  if (sqlite3_step(s) != SQLITE_DONE) return Error("put inode " + std::to_string(n.ino));
  return Status::OK();
}

Status MetaDb::PutNode(const NodeRecord& n) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return PutNodeLocked(n);
}

Status MetaDb::DeleteNode(uint64_t ino) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return DeleteNodeLocked(ino);
}

Status MetaDb::DeleteNodeLocked(uint64_t ino) {
  sqlite3_reset(delete_node_);
  sqlite3_bind_int64(delete_node_, 1, static_cast<int64_t>(ino));
  if (sqlite3_step(delete_node_) != SQLITE_DONE) return Error("delete inode");
  return Status::OK();
}

Status MetaDb::LoadNodes(std::vector<NodeRecord>* out) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StmtGuard g;
  if (sqlite3_prepare_v2(db_,
                         "SELECT ino,parent,name,type,mode,size,mtime_ns,ctime_ns,link_target,"
                         "state,origin_kind,origin_path,origin_etag,implicit FROM inodes "
                         "ORDER BY ino",
                         -1, &g.stmt, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  out->clear();
  int rc;
  while ((rc = sqlite3_step(g.stmt)) == SQLITE_ROW) {
    NodeRecord n;
    n.ino = static_cast<uint64_t>(sqlite3_column_int64(g.stmt, 0));
    n.parent = static_cast<uint64_t>(sqlite3_column_int64(g.stmt, 1));
    n.name = ColumnText(g.stmt, 2);
    n.type = static_cast<NodeType>(sqlite3_column_int(g.stmt, 3));
    n.mode = static_cast<uint32_t>(sqlite3_column_int(g.stmt, 4));
    n.size = static_cast<uint64_t>(sqlite3_column_int64(g.stmt, 5));
    n.mtime_ns = sqlite3_column_int64(g.stmt, 6);
    n.ctime_ns = sqlite3_column_int64(g.stmt, 7);
    n.link_target = ColumnText(g.stmt, 8);
    n.state = static_cast<ContentState>(sqlite3_column_int(g.stmt, 9));
    n.origin_kind = static_cast<OriginKind>(sqlite3_column_int(g.stmt, 10));
    n.origin_path = ColumnText(g.stmt, 11);
    n.origin_etag = ColumnText(g.stmt, 12);
    n.implicit = sqlite3_column_int(g.stmt, 13) != 0;
    out->push_back(std::move(n));
  }
  if (rc != SQLITE_DONE) return Error("load inodes");
  return Status::OK();
}

Status MetaDb::PutBaseTranscriptLocked(const BaseTranscript& t) {
  sqlite3_stmt* s = put_transcript_;
  sqlite3_reset(s);
  BindText(s, 1, t.path);
  BindText(s, 2, t.etag);
  sqlite3_bind_int64(s, 3, static_cast<int64_t>(t.size));
  sqlite3_bind_int64(s, 4, t.mtime);
  sqlite3_bind_int64(s, 5, t.mode);
  if (sqlite3_step(s) != SQLITE_DONE) return Error("put base transcript");
  return Status::OK();
}

Status MetaDb::PutBaseTranscript(const BaseTranscript& t) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return PutBaseTranscriptLocked(t);
}

Status MetaDb::DeleteBaseTranscript(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StmtGuard g;
  if (sqlite3_prepare_v2(db_, "DELETE FROM base_transcripts WHERE path=?", -1, &g.stmt, nullptr) !=
      SQLITE_OK) {
    return Error("prepare");
  }
  BindText(g.stmt, 1, path);
  if (sqlite3_step(g.stmt) != SQLITE_DONE) return Error("delete base transcript");
  return Status::OK();
}

Status MetaDb::LoadBaseTranscripts(std::vector<BaseTranscript>* out) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StmtGuard g;
  if (sqlite3_prepare_v2(db_,
                         "SELECT path,etag,size,mtime,mode FROM base_transcripts ORDER BY path", -1,
                         &g.stmt, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  out->clear();
  int rc;
  while ((rc = sqlite3_step(g.stmt)) == SQLITE_ROW) {
    BaseTranscript t;
    t.path = ColumnText(g.stmt, 0);
    t.etag = ColumnText(g.stmt, 1);
    t.size = static_cast<uint64_t>(sqlite3_column_int64(g.stmt, 2));
    t.mtime = sqlite3_column_int64(g.stmt, 3);
    t.mode = static_cast<uint32_t>(sqlite3_column_int64(g.stmt, 4)) & 07777;
    out->push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return Error("load base transcripts");
  return Status::OK();
}

// Why a failed ROLLBACK after an error is not reported: the first error is
// the one the caller acts on, and SQLite undoes a transaction that is still
// open when the statement or connection fails.
constexpr char kRollbackAfterError[] = "the first error is the one to report";

Status MetaDb::ReplaceAll(const std::vector<NodeRecord>& nodes,
                          const std::vector<BaseTranscript>& transcripts) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CCFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = Exec("DELETE FROM inodes; DELETE FROM base_transcripts;");
  for (size_t i = 0; s.ok() && i < nodes.size(); ++i) s = PutNodeLocked(nodes[i]);
  for (size_t i = 0; s.ok() && i < transcripts.size(); ++i)
    s = PutBaseTranscriptLocked(transcripts[i]);
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) IgnoreError(Exec("ROLLBACK"), kRollbackAfterError);
  return s;
}

Status MetaDb::Begin() {
  mu_.lock();  // held until Commit: the transaction belongs to this thread
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) mu_.unlock();
  return s;
}

Status MetaDb::Commit() {
  Status s = Exec("COMMIT");
  if (!s.ok()) IgnoreError(Exec("ROLLBACK"), kRollbackAfterError);
  mu_.unlock();
  return s;
}

Status MetaDb::Checkpoint() { return Exec("PRAGMA wal_checkpoint(PASSIVE)"); }

}  // namespace ccfs
