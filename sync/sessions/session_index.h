// SessionIndex: what `ccfs sessions ls|show|grep` reads. A SQLite database
// of every transcript line's facts (parsed once, see transcript_parse.h),
// kept current incrementally, with per-session totals computed lazily for
// the sessions that changed.
//
// How a feed uses it (the mount's line feed, or the store/dir refreshers in
// session_source.h):
//   auto index = SessionIndex::Open(db_path);
//   index->AddLines("projects/-home-u-app/<session>.jsonl", 1, {line1, line2});
//   index->AddLines("projects/-home-u-app/<session>.jsonl", 3, {line3});  // appended
//   index->Forget("projects/-home-u-app/<session>.jsonl");  // deleted or truncated
// Line numbers are 1-based. Adding a (file, line number) again replaces it,
// so a feed that repeats lines after a restart is harmless. Malformed lines
// are kept as such (ListMalformed), never fatal.
//
// Sessions: a session is projects/<enc-cwd>/<id>.jsonl plus its subagents
// projects/<enc-cwd>/<id>/subagents/*.jsonl. Token totals sum message.usage
// over both, counting each API message once per session: lines that share
// message.id and requestId (Claude Code writes one line per content block,
// each repeating the usage) count once, with the first line's usage in
// (path, line) order; a line without message.id or requestId counts on its
// own. This is ccusage's rule (its createUniqueHash), applied per session.
//
// Thread-safe: one connection behind a mutex; parsing happens outside it.
// Other processes may read the same file meanwhile (WAL).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/status.h"
#include "sync/sessions/transcript_parse.h"

namespace ccfs {

class SqliteDb;

struct TokenTotals {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_creation = 0;
  int64_t cache_read = 0;
  int64_t total() const { return input + output + cache_creation + cache_read; }
};

struct SessionSummary {
  std::string session_id;
  std::string project_dir;      // the <enc-cwd> folder under projects/
  std::string cwd;              // the project's directory, from the lines ("" if none says)
  std::string transcript_path;  // projects/<enc-cwd>/<id>.jsonl
  std::string title;            // latest summary line, else the first prompt (one line)
  std::string git_branch;       // the last one the main transcript names
  std::optional<int64_t> first_ms, last_ms;
  std::vector<std::string> models;  // in order of first use; "<synthetic>" left out
  int64_t user_messages = 0;        // user lines that are not tool results, meta or summaries
  int64_t assistant_messages = 0;   // distinct API messages (message.id)
  int64_t tool_calls = 0;           // tool_use blocks
  TokenTotals tokens;
  int64_t subagents = 0;  // subagent transcripts
  int64_t lines = 0;      // indexed lines, all files of the session
  int64_t malformed_lines = 0;
};

// One file of a session (the main transcript or a subagent's).
struct SessionFile {
  std::string rel_path;
  bool is_subagent = false;
  std::string agent_id;      // "agent-<id>" file stem for subagents
  std::string first_prompt;  // one line, truncated
  int64_t lines = 0;
  int64_t user_messages = 0;
  int64_t assistant_messages = 0;
  int64_t tool_calls = 0;
  TokenTotals tokens;  // this file alone, each API message once
};

// One stored line, as `sessions show` and `grep` need it.
struct IndexedLine {
  std::string rel_path;
  int64_t line_no = 0;
  std::string type;
  LineRole role = LineRole::kNone;
  std::string uuid, parent_uuid, logical_parent_uuid;
  bool is_sidechain = false;
  bool is_meta = false;
  bool is_compact_summary = false;
  std::string subtype;
  std::optional<int64_t> timestamp_ms;
  std::string model;
  std::string message_id;  // assistant lines: the API message the block belongs to
  std::string text;
  std::string tool_uses;
  bool has_thinking = false;
  bool tool_error = false;
  std::string summary, leaf_uuid;
  std::string error;  // non-empty for a malformed line
};

struct MalformedLine {
  std::string rel_path;
  int64_t line_no = 0;
  std::string error;
};

struct SessionFilter {
  std::string project;              // substring of the cwd or the <enc-cwd> folder; "" = any
  std::optional<int64_t> since_ms;  // sessions active at or after this time
};

// Where a source (a local file, a store object) stands: what has been read
// of it, so that a refresher reads only what changed.
struct FileSourceState {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string etag;
  uint64_t indexed_bytes = 0;  // offset just past the last complete line indexed
  int64_t indexed_lines = 0;   // lines indexed; the next one is indexed_lines + 1
  std::string tail_hash;       // TailHash of the bytes just before indexed_bytes
};

// Fingerprint of a prefix's last bytes: a grown file whose bytes before the
// old end still hash the same is taken as appended to.
inline constexpr size_t kTailHashBytes = 4096;
std::string TailHash(std::string_view tail);

class SessionIndex {
 public:
  // Opens (creating) the index at `db_path` (":memory:" for a private one).
  static Result<std::unique_ptr<SessionIndex>> Open(const std::string& db_path);
  ~SessionIndex();
  SessionIndex(const SessionIndex&) = delete;
  SessionIndex& operator=(const SessionIndex&) = delete;

  // Indexes `lines` (without '\n') as lines first_line_number... of the
  // transcript at tree-relative `rel_path`. InvalidArgument for a path that
  // is not a session or subagent transcript, or first_line_number < 1.
  Status AddLines(const std::string& rel_path, int64_t first_line_number,
                  const std::vector<std::string_view>& lines);
  // The same, and records how far the source has been read, in the same
  // transaction (a crash leaves both or neither).
  Status AddLines(const std::string& rel_path, int64_t first_line_number,
                  const std::vector<std::string_view>& lines, const FileSourceState& state);
  // Drops everything known about the file (deleted, truncated or rewritten).
  Status Forget(const std::string& rel_path);

  // Source bookkeeping for refreshers. nullopt when none was recorded.
  Result<std::optional<FileSourceState>> GetSourceState(const std::string& rel_path);
  Status SetSourceState(const std::string& rel_path, const FileSourceState& state);
  // Every file the index holds lines or a source state for.
  Status ListFiles(std::vector<std::string>* rel_paths);
  // One past the highest line number indexed for the file (1 when none).
  Result<int64_t> NextLineNumber(const std::string& rel_path);

  // Sessions matching `filter`, most recently active first.
  Status ListSessions(const SessionFilter& filter, std::vector<SessionSummary>* out);
  // Session ids equal to `id_or_prefix`, else starting with it.
  Status FindSessions(const std::string& id_or_prefix, std::vector<std::string>* ids);
  Result<SessionSummary> GetSession(const std::string& session_id);
  Status ListSessionFiles(const std::string& session_id, std::vector<SessionFile>* out);
  // Every line of one file, in line order.
  Status ReadLines(const std::string& rel_path, std::vector<IndexedLine>* out);
  Status ListMalformed(std::vector<MalformedLine>* out);

  // Calls `visit` for each line with readable text whose role is in `roles`
  // (in session, path, line order), optionally within one session; stops
  // early when `visit` returns false. Only text fields are filled. `visit`
  // runs under the index's lock: it must not call the index.
  using LineVisitor = std::function<bool(const std::string& session_id, const IndexedLine& line)>;
  Status ScanText(const std::vector<LineRole>& roles, const std::string& session_id,
                  const LineVisitor& visit);

 private:
  explicit SessionIndex(std::unique_ptr<SqliteDb> db);
  Status Init();
  Status AddLinesImpl(const std::string& rel_path, int64_t first_line_number,
                      const std::vector<std::string_view>& lines, const FileSourceState* state);
  Status SetSourceStateLocked(const std::string& rel_path, const FileSourceState& state);
  // Recomputes the summaries of sessions whose lines changed.
  Status RefreshDirtyLocked();
  Status RecomputeSessionLocked(const std::string& session_id);
  Status QuerySessionsLocked(const std::string& where, const std::vector<std::string>& binds,
                             std::vector<SessionSummary>* out);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace ccfs
