#include "store/sqlite/sqlite_db.h"

#include <cerrno>
#include <utility>

namespace ccfs {
namespace {

// The errno behind the connection's last error: callers (FUSE replies) tell
// a full disk or a read-only cache apart from a plain I/O failure. A null
// connection is one SQLite could not allocate.
int ErrnoOf(sqlite3* db) {
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

Status SqliteError(sqlite3* db, const std::string& what) {
  return Status::IOError("sqlite " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"))
      .WithErrno(ErrnoOf(db));
}

}  // namespace

SqliteStatement::SqliteStatement(SqliteStatement&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), stmt_(std::exchange(o.stmt_, nullptr)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& o) noexcept {
  if (this != &o) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

SqliteStatement::~SqliteStatement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

bool SqliteStatement::Step(Status* status) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) *status = SqliteError(db_, "step");
  return false;
}

Status SqliteStatement::Run() {
  Status s;
  while (Step(&s)) {
  }
  Reset();
  return s;
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStatement::ColumnText(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool SqliteStatement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path,
                                                 const SqliteOpenOptions& options) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
              (options.serialized ? SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(raw, "open " + path);
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, path));
  sqlite3_busy_timeout(raw, 5000);
  CCFS_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  CCFS_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  if (options.foreign_keys) CCFS_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  return db;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    // The statement's start says which of a script's statements failed.
    return Status::IOError("sqlite exec: " + msg + " (in: " + sql.substr(0, 60) + ")")
        .WithErrno(ErrnoOf(db_));
  }
  return Status::OK();
}

Result<SqliteStatement> SqliteDb::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, "prepare");
  return SqliteStatement(db_, stmt);
}

SqliteTransaction::~SqliteTransaction() {
  if (open_)
    IgnoreError(db_->Exec("ROLLBACK"),
                "a destructor cannot report; SQLite discards a transaction left open at close");
}

Status SqliteTransaction::Begin() {
  CCFS_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::OK();
}

Status SqliteTransaction::Commit() {
  CCFS_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  open_ = false;
  return Status::OK();
}

Status SqliteTransaction::Rollback() {
  if (!open_) return Status::OK();
  open_ = false;
  return db_->Exec("ROLLBACK");
}

}  // namespace ccfs
