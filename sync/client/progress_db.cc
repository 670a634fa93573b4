#include "sync/client/progress_db.h"

namespace ccfs {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS files(
  rel_path TEXT PRIMARY KEY,
  byte_offset INTEGER NOT NULL,
  offset_line INTEGER NOT NULL,
  acked_line INTEGER NOT NULL,
  first_chunk_sent INTEGER NOT NULL DEFAULT 0,
  user_prompt_sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  external_id TEXT NOT NULL,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS github_seen(
  external_id TEXT NOT NULL,
  url TEXT NOT NULL,
  PRIMARY KEY(external_id, url)) WITHOUT ROWID;
)sql";

}  // namespace

Result<std::unique_ptr<ProgressDb>> ProgressDb::Open(const std::string& path) {
  CCFS_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  CCFS_RETURN_IF_ERROR(db->Exec(kSchema));
  return std::unique_ptr<ProgressDb>(new ProgressDb(std::move(db)));
}

Result<std::vector<FileProgress>> ProgressDb::LoadFiles() {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT rel_path, byte_offset, offset_line, "
                                              "acked_line, first_chunk_sent, user_prompt_sent "
                                              "FROM files ORDER BY rel_path"));
  std::vector<FileProgress> out;
  Status s;
  while (st.Step(&s)) {
    FileProgress f;
    f.rel_path = st.ColumnText(0);
    f.offset = static_cast<uint64_t>(st.ColumnInt(1));
    f.offset_line = st.ColumnInt(2);
    f.acked_line = st.ColumnInt(3);
    f.first_chunk_sent = st.ColumnInt(4) != 0;
    f.user_prompt_sent = st.ColumnInt(5) != 0;
    out.push_back(std::move(f));
  }
  CCFS_RETURN_IF_ERROR(s);
  return out;
}

Status ProgressDb::SaveFileLocked(const FileProgress& f) {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT OR REPLACE INTO files(rel_path, byte_offset, "
                                              "offset_line, acked_line, first_chunk_sent, "
                                              "user_prompt_sent) VALUES(?, ?, ?, ?, ?, ?)"));
  st.Bind(1, f.rel_path).Bind(2, static_cast<int64_t>(f.offset)).Bind(3, f.offset_line);
  st.Bind(4, f.acked_line)
      .Bind(5, int64_t{f.first_chunk_sent})
      .Bind(6, int64_t{f.user_prompt_sent});
  return st.Run();
}

Status ProgressDb::SaveFile(const FileProgress& file) { return SaveFileLocked(file); }

Status ProgressDb::CommitAck(const FileProgress& file, const std::string& external_id,
                             const std::optional<std::string>& summary,
                             const std::vector<std::string>& github_urls) {
  SqliteTransaction tx(db_.get());
  CCFS_RETURN_IF_ERROR(tx.Begin());
  CCFS_RETURN_IF_ERROR(SaveFileLocked(file));
  CCFS_ASSIGN_OR_RETURN(auto queue, db_->Prepare("INSERT INTO outbox(kind, external_id, value) "
                                                 "VALUES(?, ?, ?)"));
  if (summary) {
    queue.Bind(1, "summary").Bind(2, external_id).Bind(3, *summary);
    CCFS_RETURN_IF_ERROR(queue.Run());
  }
  if (!github_urls.empty()) {
    CCFS_ASSIGN_OR_RETURN(auto seen, db_->Prepare("INSERT OR IGNORE INTO github_seen(external_id, "
                                                  "url) VALUES(?, ?)"));
    for (const std::string& url : github_urls) {
      seen.Bind(1, external_id).Bind(2, url);
      CCFS_RETURN_IF_ERROR(seen.Run());
      if (db_->Changes() == 0) continue;  // queued before: once per URL
      queue.Bind(1, "github_link").Bind(2, external_id).Bind(3, url);
      CCFS_RETURN_IF_ERROR(queue.Run());
    }
  }
  return tx.Commit();
}

Result<std::vector<OutboxItem>> ProgressDb::LoadOutbox() {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT id, kind, external_id, value FROM outbox "
                                              "ORDER BY id"));
  std::vector<OutboxItem> out;
  Status s;
  while (st.Step(&s)) {
    out.push_back({st.ColumnInt(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3)});
  }
  CCFS_RETURN_IF_ERROR(s);
  return out;
}

Status ProgressDb::RemoveOutbox(int64_t id) {
  CCFS_ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM outbox WHERE id = ?"));
  st.Bind(1, id);
  return st.Run();
}

}  // namespace ccfs
