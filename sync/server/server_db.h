// SyncServerDb: the reference sync server's storage in SQLite (WAL):
// sessions, their files' lines, events, summaries and GitHub links. Every
// call is one transaction, so a chunk is stored whole or not at all.
// Thread-safe (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/sqlite/sqlite_db.h"
#include "sync/common/github_url.h"

namespace ccfs {

class SyncServerDb {
 public:
  static Result<std::unique_ptr<SyncServerDb>> Open(const std::string& path);

  struct InitReply {
    std::string session_id;
    std::vector<std::pair<std::string, int64_t>> files;  // file name -> last line
  };
  // Creates the session for `external_id` or resumes it; merges `metadata`
  // (an object) into the session's.
  Result<InitReply> InitSession(const std::string& external_id, const std::string& transcript_path,
                                const nlohmann::json& metadata);

  struct ChunkReply {
    bool gap = false;  // first_line > last + 1: nothing stored
    int64_t last_synced_line = 0;
  };
  // Appends lines first_line.. to a file; lines already stored are skipped.
  // NotFound when the session is unknown.
  Result<ChunkReply> AppendLines(const std::string& session_id, const std::string& file_name,
                                 const std::string& file_type, int64_t first_line,
                                 const std::vector<std::string>& lines,
                                 const nlohmann::json& metadata);
  // The file's last stored line (0 when none). NotFound for unknown sessions.
  Result<int64_t> LastLine(const std::string& session_id, const std::string& file_name);

  Status AddEvent(const std::string& session_id, const std::string& event_type,
                  const std::string& timestamp, const std::string& payload_json);
  Status SetSummary(const std::string& external_id, const std::string& summary);
  // Links a commit / pull request once per session and URL; a repeat returns
  // the existing link. NotFound for unknown sessions.
  Result<std::pair<int64_t, GitHubRef>> AddGitHubLink(const std::string& session_id,
                                                      const GitHubRef& ref,
                                                      const std::string& title,
                                                      const std::string& source);

  // Read-back: every session with files (line counts), metadata, summary,
  // events and links.
  Result<nlohmann::json> ListSessions();
  // Up to `limit` lines of a file from `from_line` on. NotFound when the
  // session or file is unknown.
  Result<nlohmann::json> ReadLines(const std::string& external_id, const std::string& file_name,
                                   int64_t from_line, int64_t limit);

 private:
  explicit SyncServerDb(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Result<int64_t> SessionPk(const std::string& column, const std::string& value);
  // Both expect mu_ held (and run inside the caller's transaction).
  Status MergeMetadata(int64_t session_pk, const nlohmann::json& metadata);
  Status SetSummaryLocked(int64_t session_pk, const std::string& summary);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace ccfs
