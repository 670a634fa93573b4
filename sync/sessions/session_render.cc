#include "sync/sessions/session_render.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "sync/common/line_facts.h"  // TruncateUtf8
#include "sync/sessions/session_stats.h"

namespace ccfs {
namespace {

using nlohmann::json;

constexpr size_t kTableTitleBytes = 70;
constexpr size_t kForkSnippetBytes = 90;

std::string LocalTime(const std::optional<int64_t>& ms, bool seconds) {
  if (!ms) return "-";
  time_t t = static_cast<time_t>(*ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
  return buf;
}

json TimeJson(const std::optional<int64_t>& ms) {
  return ms ? json(FormatTimestampMs(*ms)) : json(nullptr);
}

// Pads (or cuts) to `width` display columns, counting UTF-8 code points.
std::string Column(const std::string& s, size_t width) {
  std::string out;
  size_t cols = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    if (cols + 1 > width) break;
    out.append(s, i, len);
    i += len;
    ++cols;
  }
  out.append(width > cols ? width - cols : 0, ' ');
  return out;
}

json TokensJson(const TokenTotals& t) {
  return {{"input", t.input},
          {"output", t.output},
          {"cache_creation", t.cache_creation},
          {"cache_read", t.cache_read},
          {"total", t.total()}};
}

json SessionObject(const ListedSession& l) {
  const SessionSummary& s = l.session;
  json j = {{"session_id", s.session_id},
            {"project", s.cwd},
            {"project_dir", s.project_dir},
            {"transcript", s.transcript_path},
            {"title", s.title},
            {"git_branch", s.git_branch},
            {"first_timestamp", TimeJson(s.first_ms)},
            {"last_timestamp", TimeJson(s.last_ms)},
            {"models", s.models},
            {"messages", {{"user", s.user_messages}, {"assistant", s.assistant_messages}}},
            {"tool_calls", s.tool_calls},
            {"tokens", TokensJson(s.tokens)},
            {"subagents", s.subagents},
            {"lines", s.lines},
            {"malformed_lines", s.malformed_lines}};
  if (!l.workspace.empty()) j["workspace"] = l.workspace;
  return j;
}

std::string Dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

void Indented(const std::string& text, std::ostream& out) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out << "    " << std::string_view(text).substr(pos, nl - pos) << "\n";
    pos = nl + 1;
  }
}

// Tool output and compact summaries: first line, cut, with the full size.
std::string Abbreviated(const std::string& text, size_t max_bytes) {
  size_t lines = text.empty() ? 0 : 1;
  for (char c : text) lines += c == '\n';
  std::string first = OneLineTitle(text.substr(0, text.find('\n')), max_bytes);
  std::string size = text.size() >= 1024 ? HumanCount(static_cast<int64_t>(text.size())) + "B"
                                         : std::to_string(text.size()) + " B";
  if (lines <= 1 && first.size() == text.size()) return first;
  return first + "  (" + std::to_string(lines) + " lines, " + size + ")";
}

std::string RoleLabel(const IndexedLine& l) {
  if (l.is_compact_summary) return "user (compact summary)";
  if (l.role == LineRole::kToolResult) return l.tool_error ? "tool (error)" : "tool";
  std::string r(LineRoleName(l.role));
  if (l.role == LineRole::kSystem && !l.subtype.empty()) r += " (" + l.subtype + ")";
  if (l.is_meta) r += " (meta)";
  return r.empty() ? l.type : r;
}

// Prints lines readably; the content-block lines of one API message (same
// message.id, one after the other) share one header.
class LinePrinter {
 public:
  LinePrinter(const ShowOptions& opts, std::ostream& out) : opts_(opts), out_(out) {}

  void Print(const IndexedLine& l) {
    bool same_message = prev_ != nullptr && l.role == LineRole::kAssistant &&
                        prev_->role == LineRole::kAssistant && !l.message_id.empty() &&
                        l.message_id == prev_->message_id;
    prev_ = &l;
    if (!same_message) {
      out_ << "[" << l.line_no << "] " << LocalTime(l.timestamp_ms, true) << "  " << RoleLabel(l)
           << "\n";
    }
    if (l.role == LineRole::kToolResult || l.is_compact_summary) {
      if (!l.text.empty()) out_ << "    ⎿ " << Abbreviated(l.text, opts_.tool_result_bytes) << "\n";
      return;
    }
    if (l.has_thinking) out_ << "    (thinking)\n";
    if (!l.text.empty()) Indented(l.text, out_);
    if (!l.tool_uses.empty()) Indented(l.tool_uses, out_);
  }
  // The next line starts afresh (a new branch).
  void Break() { prev_ = nullptr; }

 private:
  const ShowOptions& opts_;
  std::ostream& out_;
  const IndexedLine* prev_ = nullptr;
};

// One-line description of a line, for fork listings.
std::string Brief(const IndexedLine& l) {
  std::string what = !l.text.empty() ? l.text : l.tool_uses;
  return RoleLabel(l) + ": " + OneLineTitle(what, kForkSnippetBytes);
}

json LineObject(const IndexedLine& l) {
  json j = {{"line", l.line_no},
            {"uuid", l.uuid},
            {"parent_uuid", l.parent_uuid.empty() ? json(nullptr) : json(l.parent_uuid)},
            {"type", l.type},
            {"role", std::string(LineRoleName(l.role))},
            {"timestamp", TimeJson(l.timestamp_ms)},
            {"text", l.text}};
  if (!l.logical_parent_uuid.empty()) j["logical_parent_uuid"] = l.logical_parent_uuid;
  if (!l.subtype.empty()) j["subtype"] = l.subtype;
  if (!l.model.empty()) j["model"] = l.model;
  if (!l.message_id.empty()) j["message_id"] = l.message_id;
  if (l.has_thinking) j["thinking"] = true;
  if (l.is_compact_summary) j["compact_summary"] = true;
  if (l.tool_error) j["tool_error"] = true;
  json tools = json::array();
  size_t pos = 0;
  while (pos < l.tool_uses.size()) {
    size_t nl = l.tool_uses.find('\n', pos);
    if (nl == std::string::npos) nl = l.tool_uses.size();
    tools.push_back(l.tool_uses.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (!tools.empty()) j["tool_uses"] = tools;
  return j;
}

std::map<size_t, std::vector<size_t>> InlineResults(const SessionTree& tree) {
  std::map<size_t, std::vector<size_t>> m;
  for (const auto& [parent, results] : tree.inline_results) m[parent] = results;
  return m;
}

}  // namespace

std::string HumanCount(int64_t n) {
  char buf[32];
  double v = static_cast<double>(n);
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.1fB", v / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  } else if (n >= 1000) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

void PrintSessionTable(const std::vector<ListedSession>& sessions, bool with_workspace,
                       std::ostream& out) {
  if (with_workspace) out << Column("WORKSPACE", 14) << " ";
  out << Column("SESSION", 9) << Column("LAST ACTIVE", 18) << Column("PROJECT", 28)
      << Column("MSGS", 10) << Column("TOOLS", 7) << Column("TOKENS", 9) << Column("SUB", 4)
      << "TITLE\n";
  for (const ListedSession& l : sessions) {
    const SessionSummary& s = l.session;
    if (with_workspace) out << Column(l.workspace, 14) << " ";
    std::string project = s.cwd.empty() ? s.project_dir : s.cwd;
    if (project.size() > 27) project = "…" + project.substr(project.size() - 26);
    out << Column(s.session_id.substr(0, 8), 9) << Column(LocalTime(s.last_ms, false), 18)
        << Column(project, 28)
        << Column(std::to_string(s.user_messages) + "/" + std::to_string(s.assistant_messages), 10)
        << Column(std::to_string(s.tool_calls), 7) << Column(HumanCount(s.tokens.total()), 9)
        << Column(std::to_string(s.subagents), 4) << TruncateUtf8(s.title, kTableTitleBytes)
        << "\n";
  }
}

std::string SessionsJson(const std::vector<ListedSession>& sessions) {
  json arr = json::array();
  for (const ListedSession& l : sessions) arr.push_back(SessionObject(l));
  return Dump(arr);
}

void PrintShow(const ShowData& d, const ShowOptions& opts, std::ostream& out) {
  const SessionSummary& s = d.listed.session;
  out << "Session    " << s.session_id << "\n";
  if (!d.listed.workspace.empty()) out << "Workspace  " << d.listed.workspace << "\n";
  out << "Title      " << s.title << "\n"
      << "Project    " << (s.cwd.empty() ? "-" : s.cwd) << "  (projects/" << s.project_dir << ")\n";
  if (!s.git_branch.empty()) out << "Branch     " << s.git_branch << "\n";
  out << "Time       " << LocalTime(s.first_ms, false) << " → " << LocalTime(s.last_ms, false)
      << "\n";
  out << "Models     ";
  for (size_t i = 0; i < s.models.size(); ++i) out << (i ? ", " : "") << s.models[i];
  out << "\nMessages   " << s.user_messages << " user, " << s.assistant_messages << " assistant, "
      << s.tool_calls << " tool calls\n"
      << "Tokens     input " << s.tokens.input << ", output " << s.tokens.output << ", cache write "
      << s.tokens.cache_creation << ", cache read " << s.tokens.cache_read << " (total "
      << HumanCount(s.tokens.total()) << ")\n";
  for (const SessionFile& f : d.files) {
    if (!f.is_subagent) continue;
    out << "Subagent   " << f.agent_id << "  " << f.lines << " lines, " << f.tool_calls
        << " tool calls, " << HumanCount(f.tokens.total()) << " tokens  " << f.first_prompt << "\n";
  }
  if (s.malformed_lines > 0) out << "Malformed  " << s.malformed_lines << " line(s), see below\n";

  auto inline_results = InlineResults(d.tree);
  LinePrinter printer(opts, out);
  auto print_with_results = [&](size_t i) {
    printer.Print(d.lines[i]);
    if (auto it = inline_results.find(i); it != inline_results.end()) {
      for (size_t r : it->second) printer.Print(d.lines[r]);
    }
  };
  out << "\n";
  if (d.shown_path != s.transcript_path) out << "File       " << d.shown_path << "\n";
  if (opts.all_branches) {
    out << "── all branches (" << d.tree.forks.size() << " forks) ──\n";
    for (const SessionTree::Step& step : d.tree.all_branches) {
      if (step.starts_branch) {
        out << "\n── branch " << step.branch;
        if (step.fork_parent != SIZE_MAX) {
          out << " (after line " << d.lines[step.fork_parent].line_no << ")";
        }
        if (std::find(d.tree.active.begin(), d.tree.active.end(), step.line) !=
            d.tree.active.end()) {
          out << " (active)";
        }
        out << " ──\n";
        printer.Break();
      }
      print_with_results(step.line);
    }
  } else {
    out << "── active branch: " << d.tree.active.size() << " lines ──\n";
    for (size_t i : d.tree.active) print_with_results(i);
  }
  if (!d.tree.forks.empty()) {
    out << "\n── forks ──\n";
    for (const SessionFork& f : d.tree.forks) {
      out << "line " << d.lines[f.parent].line_no << " (" << RoleLabel(d.lines[f.parent])
          << ") has " << f.children.size() << " branches:\n";
      for (size_t c : f.children) {
        out << (c == f.active_child ? "  * " : "    ") << "line " << d.lines[c].line_no << "  "
            << Brief(d.lines[c]) << (c == f.active_child ? "  (active)" : "") << "\n";
      }
    }
  }
  bool header = false;
  for (const IndexedLine& l : d.lines) {
    if (l.error.empty()) continue;
    if (!header) out << "\n── malformed lines (skipped) ──\n";
    header = true;
    out << l.rel_path << ":" << l.line_no << ": " << l.error << "\n";
  }
}

std::string ShowJson(const ShowData& d, const ShowOptions& opts) {
  json j;
  j["session"] = SessionObject(d.listed);
  json files = json::array();
  for (const SessionFile& f : d.files) {
    files.push_back({{"path", f.rel_path},
                     {"subagent", f.is_subagent},
                     {"agent_id", f.agent_id},
                     {"first_prompt", f.first_prompt},
                     {"lines", f.lines},
                     {"messages", {{"user", f.user_messages}, {"assistant", f.assistant_messages}}},
                     {"tool_calls", f.tool_calls},
                     {"tokens", TokensJson(f.tokens)}});
  }
  j["files"] = files;
  j["shown"] = d.shown_path;
  j["branches"] = opts.all_branches ? "all" : "active";
  json lines = json::array();
  auto inline_results = InlineResults(d.tree);
  auto add = [&](size_t i, const std::string& branch) {
    json o = LineObject(d.lines[i]);
    if (!branch.empty()) o["branch"] = branch;
    lines.push_back(std::move(o));
    if (auto it = inline_results.find(i); it != inline_results.end()) {
      for (size_t r : it->second) {
        json ro = LineObject(d.lines[r]);
        if (!branch.empty()) ro["branch"] = branch;
        lines.push_back(std::move(ro));
      }
    }
  };
  if (opts.all_branches) {
    for (const SessionTree::Step& step : d.tree.all_branches) add(step.line, step.branch);
  } else {
    for (size_t i : d.tree.active) add(i, "");
  }
  j["lines"] = lines;
  json forks = json::array();
  for (const SessionFork& f : d.tree.forks) {
    json children = json::array();
    for (size_t c : f.children) {
      children.push_back({{"line", d.lines[c].line_no},
                          {"uuid", d.lines[c].uuid},
                          {"role", std::string(LineRoleName(d.lines[c].role))},
                          {"snippet", OneLineTitle(!d.lines[c].text.empty() ? d.lines[c].text
                                                                            : d.lines[c].tool_uses,
                                                   kForkSnippetBytes)},
                          {"active", c == f.active_child}});
    }
    forks.push_back({{"line", d.lines[f.parent].line_no},
                     {"uuid", d.lines[f.parent].uuid},
                     {"children", children}});
  }
  j["forks"] = forks;
  json malformed = json::array();
  for (const IndexedLine& l : d.lines) {
    if (!l.error.empty()) {
      malformed.push_back({{"path", l.rel_path}, {"line", l.line_no}, {"error", l.error}});
    }
  }
  j["malformed"] = malformed;
  return Dump(j);
}

void PrintGrepHit(const ListedHit& h, bool with_workspace, std::ostream& out) {
  if (with_workspace) out << h.workspace << ":";
  out << h.hit.session_id;
  // Subagent lines name their file ("<session>/agent-<id>:<line>").
  size_t agents = h.hit.rel_path.find("/subagents/");
  if (agents != std::string::npos) {
    std::string base = h.hit.rel_path.substr(agents + 11);
    out << "/" << base.substr(0, base.size() - 6);
  }
  out << ":" << h.hit.line_no << ": " << LineRoleName(h.hit.role) << ": " << h.hit.snippet;
  if (h.hit.matching_lines > 1) out << "  (+" << h.hit.matching_lines - 1 << " more lines)";
  out << "\n";
}

std::string GrepHitsJson(const std::vector<ListedHit>& hits) {
  json arr = json::array();
  for (const ListedHit& h : hits) {
    json o = {{"session_id", h.hit.session_id},
              {"path", h.hit.rel_path},
              {"line", h.hit.line_no},
              {"role", std::string(LineRoleName(h.hit.role))},
              {"timestamp", TimeJson(h.hit.timestamp_ms)},
              {"snippet", h.hit.snippet},
              {"matching_lines", h.hit.matching_lines}};
    if (!h.workspace.empty()) o["workspace"] = h.workspace;
    arr.push_back(std::move(o));
  }
  return Dump(arr);
}

}  // namespace ccfs
