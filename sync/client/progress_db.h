// ProgressDb: the sidecar's durable progress in SQLite (WAL), so that a
// restart — even after SIGKILL — neither loses nor repeats lines:
//  - per transcript file: the byte offset and line number of the position up
//    to which lines are acknowledged by the server, and which metadata was sent;
//  - an outbox of side effects learned from acknowledged lines (summary
//    PATCHes, GitHub links), written in the same transaction as the ack, so a
//    crash between ack and side effect only delays the side effect;
//  - the GitHub URLs already queued per session ("once per URL").
// Used from the sidecar thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/sqlite/sqlite_db.h"

namespace ccfs {

struct FileProgress {
  std::string rel_path;
  uint64_t offset = 0;      // byte offset just after line `offset_line`
  int64_t offset_line = 0;  // complete lines before `offset`
  // Lines the server holds. Normally == offset_line; larger when the server
  // holds lines the local file does not have yet (they are skipped).
  int64_t acked_line = 0;
  bool first_chunk_sent = false;  // metadata went with the first chunk
  bool user_prompt_sent = false;  // first_user_message is known to the server
};

struct OutboxItem {
  int64_t id = 0;
  std::string kind;         // "summary" or "github_link"
  std::string external_id;  // the session
  std::string value;        // the summary text or the URL
};

class ProgressDb {
 public:
  static Result<std::unique_ptr<ProgressDb>> Open(const std::string& path);

  Result<std::vector<FileProgress>> LoadFiles();
  // Records a file's position (new file, or repositioned after init / 409).
  Status SaveFile(const FileProgress& file);
  // After an ack: the new position, plus the side effects the acknowledged
  // lines carried, in one transaction. URLs already seen for the session are
  // not queued again.
  Status CommitAck(const FileProgress& file, const std::string& external_id,
                   const std::optional<std::string>& summary,
                   const std::vector<std::string>& github_urls);

  Result<std::vector<OutboxItem>> LoadOutbox();
  Status RemoveOutbox(int64_t id);

 private:
  explicit ProgressDb(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Status SaveFileLocked(const FileProgress& file);
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace ccfs
