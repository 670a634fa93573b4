// How `ccfs sessions ls|show|grep` print: a table or JSON for ls, a readable
// transcript (or JSON) for show, grep-style lines (or JSON) for grep.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "sync/sessions/session_grep.h"
#include "sync/sessions/session_index.h"
#include "sync/sessions/session_tree.h"

namespace ccfs {

struct ListedSession {
  std::string workspace;  // "" for a directory source
  SessionSummary session;
};

void PrintSessionTable(const std::vector<ListedSession>& sessions, bool with_workspace,
                       std::ostream& out);
// A JSON array, one object per session (see README for the fields).
std::string SessionsJson(const std::vector<ListedSession>& sessions);

struct ShowData {
  ListedSession listed;
  std::vector<SessionFile> files;
  std::string shown_path;  // the file rendered (main transcript or a subagent)
  bool sidechain_file = false;
  std::vector<IndexedLine> lines;
  SessionTree tree;
};

struct ShowOptions {
  bool all_branches = false;
  size_t tool_result_bytes = 160;  // tool output is cut to its first line, this long
};

void PrintShow(const ShowData& data, const ShowOptions& opts, std::ostream& out);
std::string ShowJson(const ShowData& data, const ShowOptions& opts);

struct ListedHit {
  std::string workspace;
  GrepHit hit;
};
void PrintGrepHit(const ListedHit& hit, bool with_workspace, std::ostream& out);
std::string GrepHitsJson(const std::vector<ListedHit>& hits);

// "12", "12.3k", "4.5M", "1.2B".
std::string HumanCount(int64_t n);

}  // namespace ccfs
