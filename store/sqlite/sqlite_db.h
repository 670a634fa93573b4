// SqliteDb / SqliteStatement: thin RAII over sqlite3, the one SQLite wrapper
// (the mount's meta.db, the sync progress DB, the reference server's store).
// Errors come back as ccfs::Status carrying the errno behind them (ENOSPC for
// SQLITE_FULL), so a FUSE reply can pass it on; callers that share a
// connection between threads serialise access themselves.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "store/base/status.h"

namespace ccfs {

class SqliteStatement {
 public:
  SqliteStatement() = default;
  SqliteStatement(SqliteStatement&& o) noexcept;
  SqliteStatement& operator=(SqliteStatement&& o) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Binds are 1-based, as in sqlite3_bind_*. Text and blobs are copied.
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& BindNull(int index);

  // Step(): true when a row is available, false when done; errors in *status.
  bool Step(Status* status);
  // Runs the statement to completion (for statements returning no rows).
  Status Run();
  void Reset();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class SqliteDb;
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// How SqliteDb::Open sets up the connection.
struct SqliteOpenOptions {
  // SQLite's own per-call mutex (SQLITE_OPEN_FULLMUTEX). A caller that
  // serialises every use of the connection and its statements under its own
  // lock turns it off (SQLITE_OPEN_NOMUTEX) and saves a lock per call.
  bool serialized = true;
  // PRAGMA foreign_keys=ON.
  bool foreign_keys = true;
};

class SqliteDb {
 public:
  // Opens (creating) the database at `path` in WAL mode with
  // synchronous=NORMAL and a 5 s busy timeout: a committed transaction
  // survives a process crash.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path,
                                                const SqliteOpenOptions& options = {});
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  Status Exec(const std::string& sql);
  Result<SqliteStatement> Prepare(const std::string& sql);
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  // True between BEGIN and the COMMIT/ROLLBACK that ends it (SQLite may end
  // a transaction by itself when a statement fails, e.g. on a full disk).
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back on destruction unless committed.
class SqliteTransaction {
 public:
  explicit SqliteTransaction(SqliteDb* db) : db_(db) {}
  ~SqliteTransaction();
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  Status Begin();
  Status Commit();
  // Rolls back now and says how that went, which the destructor cannot. The
  // transaction is over either way; OK when none is open.
  Status Rollback();

 private:
  SqliteDb* db_;
  bool open_ = false;
};

}  // namespace ccfs
