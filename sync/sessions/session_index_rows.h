// How SessionIndex stores lines and sessions in SQLite: the schema, the
// column lists, and the mapping between rows and TranscriptLine / IndexedLine
// / StatsRow. Internal to session_index.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/sqlite/sqlite_db.h"
#include "sync/common/transcript_file.h"
#include "sync/sessions/session_index.h"
#include "sync/sessions/session_stats.h"
#include "sync/sessions/transcript_parse.h"

namespace ccfs {

// Bump when the schema or what a column means changes: the index is a cache
// of the transcripts and is rebuilt from them.
inline constexpr const char* kSessionSchemaVersion = "2";
// lines.flags bits.
inline constexpr int64_t kFlagSidechain = 1;
inline constexpr int64_t kFlagMeta = 2;
inline constexpr int64_t kFlagCompactSummary = 4;
inline constexpr int64_t kFlagPrompt = 8;  // also spelled out in kStatsColumns
inline constexpr int64_t kFlagToolError = 16;
inline constexpr int64_t kFlagThinking = 32;

extern const char* const kSessionSchema;
extern const char* const kInsertLine;          // binds ?1..?28, see BindLine
extern const char* const kSessionColumns;      // the sessions table, in SessionSummary order
extern const char* const kStatsColumns;        // lines -> StatsRow
extern const char* const kIndexedLineColumns;  // lines -> IndexedLine

// "projects/<enc-cwd>/..." parsed; InvalidArgument for other paths.
Result<TranscriptRef> RefOf(const std::string& rel_path);
std::string ProjectDirOf(const TranscriptRef& ref);
std::string AgentIdOf(const TranscriptRef& ref);  // "agent-<id>", "" for a main transcript

void BindOptional(SqliteStatement& st, int i, const std::optional<int64_t>& v);
std::optional<int64_t> ColumnOptional(const SqliteStatement& st, int col);

// Binds ?6..?28 of kInsertLine (the caller binds ?1..?5).
void BindLine(SqliteStatement& st, const TranscriptLine& l);
StatsRow ReadStatsRow(const SqliteStatement& st);
IndexedLine ReadIndexedLine(const SqliteStatement& st);  // all but rel_path

std::string JoinLines(const std::vector<std::string>& v);
std::vector<std::string> SplitLines(const std::string& s);

}  // namespace ccfs
