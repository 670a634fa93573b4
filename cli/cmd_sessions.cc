// `ccfs sessions ls|show|grep`: sessions of a workspace read straight from a
// store (no mount) or from a local config directory, through a cached
// SessionIndex that each run brings up to date by reading only what changed.
// A directory that is a ccfs mount keeps its own index, current with every
// write (fs/feeds/mount_sessions.h): the mount is asked to catch up and that index
// is read, with no walk.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "fs/lifecycle/control.h"
#include "store/base/clock.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"
#include "sync/sessions/session_grep.h"
#include "sync/sessions/session_render.h"
#include "sync/sessions/session_source.h"
#include "sync/sessions/session_tree.h"

namespace ccfs::cli {
namespace {

constexpr size_t kMalformedShown = 20;

// Where the sessions come from; shared by the three subcommands.
struct SourceFlags {
  std::string dir;
  std::string workspace;
  bool all = false;
  StoreFlags store;
  std::string index_path;
  bool no_cache = false;
  size_t jobs = 0;
  bool stats = false;
};

void AddSourceFlags(CLI::App* cmd, SourceFlags* f) {
  auto* dir = cmd->add_option("--dir", f->dir,
                              "Config directory to read (e.g. ~/.claude or a mounted workspace; "
                              "default: $CLAUDE_CONFIG_DIR, else ~/.claude)");
  auto* ws = cmd->add_option("--workspace,-w", f->workspace,
                             "Workspace to read straight from the store (no mount)");
  auto* all = cmd->add_flag("--all", f->all, "Every workspace in the store");
  ws->excludes(all)->excludes(dir);
  all->excludes(dir);
  AddStoreFlags(cmd, &f->store);
  cmd->add_option("--index", f->index_path,
                  "Index database to use (default: ~/.cache/ccfs/sessions/...)");
  cmd->add_flag("--no-cache", f->no_cache, "Build the index in memory and keep nothing");
  cmd->add_option("--jobs,-j", f->jobs,
                  "Transcripts read at once (default: 8 from a store, "
                  "one per core from a directory)");
  cmd->add_flag("--stats", f->stats,
                "Print what the refresh read to stderr (or that a mount's own index was used)");
}

struct LoadedIndex {
  std::string workspace;  // "" for a directory
  std::unique_ptr<SessionIndex> index;
};

void PrintRefreshStats(const std::string& what, const RefreshStats& r, double seconds) {
  std::cerr << "ccfs sessions: " << what << ": " << r.files << " transcripts, " << r.unchanged
            << " unchanged, " << r.appended << " appended, " << r.reread << " read whole, "
            << r.forgotten << " gone; " << r.bytes_read << " bytes read in " << seconds << " s\n";
}

std::string DefaultDir() {
  if (const char* c = std::getenv("CLAUDE_CONFIG_DIR"); c != nullptr && c[0] != '\0') return c;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.claude";
}

// Waits at most this long for a mount's index to catch up (the mount itself
// gives up after 10 s and says so).
constexpr int kMountReplyTimeoutMs = 15000;

// The session index of the ccfs mount at `dir` (given as typed, and
// resolved), caught up with everything written so far; nullptr when `dir` is
// not a mount's root or its mount does not answer (then the caller walks).
std::unique_ptr<SessionIndex> MountIndex(const std::string& dir, const std::string& real,
                                         bool stats) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> candidates;
  if (auto abs = AbsoluteMountpoint(dir); abs.ok()) candidates.push_back(abs.value());
  if (candidates.empty() || candidates.front() != real) candidates.push_back(real);
  for (const std::string& mp : candidates) {
    auto socket = ControlSocketPath(mp);
    if (!socket.ok()) continue;
    struct stat st;
    if (::stat(socket->c_str(), &st) != 0) continue;  // not a mount: no need to try
    auto t0 = Clock::now();
    nlohmann::json reply;
    Status s = ControlCall(*socket, {{"op", "sessions"}}, &reply, kMountReplyTimeoutMs);
    if (s.IsNotFound()) continue;  // a stale socket: nobody listens
    std::string why;
    if (s.ok() && reply.is_object() &&
        reply.value("error", std::string()).rfind("unknown op", 0) == 0) {
      return nullptr;  // a mount without an index (`mount --all`): walk, quietly
    }
    if (!s.ok()) {
      why = s.ToString();
    } else if (!reply.is_object() || !reply.value("ok", false)) {
      why = reply.is_object() ? reply.value("error", std::string("no reason given")) : "bad reply";
    } else if (!reply.contains("index") || !reply["index"].is_string()) {
      why = "the reply names no index";
    } else {
      std::string path = reply["index"].get<std::string>();
      // A plain reader (SessionIndex::Open, WAL): never OpenCachedIndex, which
      // would remove an index it cannot read, under the mount's feet.
      auto index = SessionIndex::Open(path);
      if (index.ok()) {
        if (stats) {
          std::cerr << "ccfs sessions: " << real << ": a ccfs mount: read its session index "
                    << path << " (caught up in "
                    << std::chrono::duration<double>(Clock::now() - t0).count()
                    << " s; no directory walk)\n";
        }
        return std::move(index).value();
      }
      why = index.status().ToString();
    }
    std::cerr << "ccfs sessions: " << real << " is a ccfs mount but its session index is not "
              << "usable (" << why << "); walking the directory instead\n";
    return nullptr;
  }
  return nullptr;
}

Result<std::unique_ptr<SessionIndex>> OpenIndex(const SourceFlags& f, const std::string& path) {
  if (f.no_cache) return OpenCachedIndex(":memory:");
  return OpenCachedIndex(!f.index_path.empty() ? f.index_path : path);
}

// Opens and refreshes the index of every source the flags name.
Status LoadIndexes(const SourceFlags& f, std::vector<LoadedIndex>* out) {
  using Clock = std::chrono::steady_clock;
  if (f.workspace.empty() && !f.all && !f.store.url.empty()) {
    return Status::InvalidArgument("--store needs --workspace W (or --all)");
  }
  if (f.workspace.empty() && !f.all) {
    std::string dir = f.dir.empty() ? DefaultDir() : f.dir;
    char real[PATH_MAX];
    if (::realpath(dir.c_str(), real) == nullptr) {
      return Status::InvalidArgument("cannot read " + dir + ": " + std::strerror(errno));
    }
    // --index / --no-cache ask for an index of their own: walk then.
    if (f.index_path.empty() && !f.no_cache) {
      if (auto index = MountIndex(dir, real, f.stats)) {
        out->push_back({"", std::move(index)});
        return Status::OK();
      }
    }
    CCFS_ASSIGN_OR_RETURN(auto index, OpenIndex(f, DirIndexPath(real)));
    RefreshOptions opts;
    opts.parallel = f.jobs > 0 ? f.jobs : std::max(1u, std::thread::hardware_concurrency());
    RefreshStats stats;
    auto t0 = Clock::now();
    CCFS_RETURN_IF_ERROR(RefreshFromDir(real, *index, opts, &stats));
    if (f.stats) {
      PrintRefreshStats(real, stats, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    out->push_back({"", std::move(index)});
    return Status::OK();
  }
  if (f.all && !f.index_path.empty()) {
    return Status::InvalidArgument("--index names one database; --all needs one per workspace");
  }
  std::string url = f.store.url.empty() ? DefaultStoreUrl() : f.store.url;
  CCFS_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore(url, f.store.options));
  std::vector<std::string> names;
  if (f.all) {
    std::vector<WorkspaceInfo> infos;
    CCFS_RETURN_IF_ERROR(ListWorkspaces(*store, &infos));
    for (const auto& w : infos) names.push_back(w.name);
  } else {
    CCFS_RETURN_IF_ERROR(ValidateWorkspaceName(f.workspace));
    names.push_back(f.workspace);
  }
  RefreshOptions opts;
  opts.parallel = f.jobs > 0 ? f.jobs : 8;
  for (const std::string& w : names) {
    CCFS_ASSIGN_OR_RETURN(auto index, OpenIndex(f, StoreIndexPath(url, w)));
    RefreshStats stats;
    auto t0 = Clock::now();
    CCFS_RETURN_IF_ERROR(RefreshFromStore(*store, w, *index, opts, &stats).Annotate(w));
    if (f.stats) {
      PrintRefreshStats(store->Describe() + " " + w, stats,
                        std::chrono::duration<double>(Clock::now() - t0).count());
    }
    out->push_back({w, std::move(index)});
  }
  return Status::OK();
}

// Malformed lines are skipped, never fatal; say which on stderr.
void ReportMalformed(std::vector<LoadedIndex>& indexes) {
  for (LoadedIndex& li : indexes) {
    std::vector<MalformedLine> bad;
    if (!li.index->ListMalformed(&bad).ok() || bad.empty()) continue;
    std::cerr << "ccfs sessions: " << (li.workspace.empty() ? "" : li.workspace + ": ")
              << bad.size() << " malformed line(s) skipped:\n";
    for (size_t i = 0; i < bad.size() && i < kMalformedShown; ++i) {
      std::cerr << "  " << bad[i].rel_path << ":" << bad[i].line_no << ": " << bad[i].error << "\n";
    }
    if (bad.size() > kMalformedShown) {
      std::cerr << "  ... and " << bad.size() - kMalformedShown << " more\n";
    }
  }
}

// "2025-10-09", "2025-10-09T12:00:00Z", or an age: "30m", "12h", "7d".
Result<int64_t> ParseSince(const std::string& s) {
  if (auto ms = ParseTimestampMs(s)) return *ms;
  if (auto ms = ParseTimestampMs(s + "T00:00:00Z")) return *ms;
  if (s.size() >= 2) {
    char unit = s.back();
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    int64_t scale = unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    if (scale != 0 && end == s.c_str() + s.size() - 1 && n >= 0) {
      int64_t now_ms = NowUnixMs();
      return now_ms - n * scale * 1000;
    }
  }
  return Status::InvalidArgument("--since " + s +
                                 ": want a date (2025-10-09), a time (2025-10-09T12:00:00Z) "
                                 "or an age (30m, 12h, 7d)");
}

void Fail(CommandContext& ctx, const std::string& what, const Status& s) {
  ctx.exit_code = ReportError(what, s);
}

void RegisterSessionsLs(CLI::App* parent, CommandContext& ctx) {
  struct Args {
    SourceFlags source;
    bool json = false;
    std::string project, since;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent->add_subcommand("ls", "List sessions, most recently active first");
  AddSourceFlags(cmd, &args->source);
  cmd->add_flag("--json", args->json, "Print a JSON array");
  cmd->add_option("--project,-p", args->project,
                  "Only sessions whose project directory (or its projects/ folder) contains this");
  cmd->add_option("--since", args->since,
                  "Only sessions active since: 2025-10-09, 2025-10-09T12:00:00Z, 30m, 12h, 7d");
  cmd->callback([args, &ctx] {
    SessionFilter filter;
    filter.project = args->project;
    if (!args->since.empty()) {
      auto since = ParseSince(args->since);
      if (!since.ok()) return Fail(ctx, "sessions ls", since.status());
      filter.since_ms = since.value();
    }
    std::vector<LoadedIndex> indexes;
    if (Status s = LoadIndexes(args->source, &indexes); !s.ok()) {
      return Fail(ctx, "sessions ls", s);
    }
    ReportMalformed(indexes);
    std::vector<ListedSession> all;
    for (LoadedIndex& li : indexes) {
      std::vector<SessionSummary> sessions;
      if (Status s = li.index->ListSessions(filter, &sessions); !s.ok()) {
        return Fail(ctx, "sessions ls", s);
      }
      for (auto& s : sessions) all.push_back({li.workspace, std::move(s)});
    }
    if (indexes.size() > 1) {  // merge: most recently active first
      std::stable_sort(all.begin(), all.end(), [](const ListedSession& a, const ListedSession& b) {
        return a.session.last_ms.value_or(INT64_MIN) > b.session.last_ms.value_or(INT64_MIN);
      });
    }
    if (args->json) {
      std::cout << SessionsJson(all) << "\n";
    } else {
      PrintSessionTable(all, args->source.all, std::cout);
    }
  });
}

void RegisterSessionsShow(CLI::App* parent, CommandContext& ctx) {
  struct Args {
    SourceFlags source;
    std::string id, agent;
    bool json = false;
    ShowOptions show;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent->add_subcommand(
      "show",
      "Show a session's active branch (from its newest message back to the start), "
      "its forks and subagents");
  cmd->add_option("ID", args->id, "Session id or a unique prefix of one")->required();
  AddSourceFlags(cmd, &args->source);
  cmd->add_flag("--all-branches", args->show.all_branches,
                "Show every branch, not only the active one");
  cmd->add_option("--agent", args->agent,
                  "Show this subagent's transcript (agent-<id>, or <id>) instead");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &ctx] {
    std::vector<LoadedIndex> indexes;
    if (Status s = LoadIndexes(args->source, &indexes); !s.ok()) {
      return Fail(ctx, "sessions show", s);
    }
    LoadedIndex* where = nullptr;
    std::vector<std::string> matches;
    std::string id;
    for (LoadedIndex& li : indexes) {
      std::vector<std::string> ids;
      if (Status s = li.index->FindSessions(args->id, &ids); !s.ok()) {
        return Fail(ctx, "sessions show", s);
      }
      for (const auto& i : ids)
        matches.push_back((li.workspace.empty() ? "" : li.workspace + ":") + i);
      if (!ids.empty()) {
        where = &li;
        id = ids.front();
      }
    }
    if (matches.empty()) {
      return Fail(ctx, "sessions show", Status::NotFound("no session " + args->id));
    }
    if (matches.size() > 1) {
      std::string list;
      for (const auto& m : matches) list += "\n  " + m;
      return Fail(ctx, "sessions show",
                  Status::InvalidArgument("'" + args->id + "' names several sessions:" + list));
    }
    ShowData d;
    d.listed.workspace = where->workspace;
    auto summary = where->index->GetSession(id);
    Status s = summary.status();
    if (s.ok()) {
      d.listed.session = std::move(summary).value();
      s = where->index->ListSessionFiles(id, &d.files);
    }
    if (!s.ok()) return Fail(ctx, "sessions show", s);
    d.shown_path = d.listed.session.transcript_path;
    if (!args->agent.empty()) {
      std::string want = args->agent.rfind("agent-", 0) == 0 ? args->agent : "agent-" + args->agent;
      d.shown_path.clear();
      for (const SessionFile& f : d.files) {
        if (f.is_subagent && f.agent_id == want) d.shown_path = f.rel_path;
      }
      if (d.shown_path.empty()) {
        return Fail(ctx, "sessions show",
                    Status::NotFound("session " + id + " has no subagent " + want));
      }
      d.sidechain_file = true;
    }
    if (s = where->index->ReadLines(d.shown_path, &d.lines); !s.ok()) {
      return Fail(ctx, "sessions show", s);
    }
    d.tree = BuildSessionTree(d.lines, d.sidechain_file);
    if (args->json) {
      std::cout << ShowJson(d, args->show) << "\n";
    } else {
      PrintShow(d, args->show, std::cout);
    }
  });
}

void RegisterSessionsGrep(CLI::App* parent, CommandContext& ctx) {
  struct Args {
    SourceFlags source;
    std::string pattern, session;
    std::vector<std::string> roles;
    bool json = false, ignore_case = false, fixed = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent->add_subcommand(
      "grep",
      "Search message text (prompts, replies and tool calls, tool results); exit 1 when "
      "nothing matches, as grep does");
  cmd->add_option("PATTERN", args->pattern, "POSIX extended regular expression")->required();
  AddSourceFlags(cmd, &args->source);
  cmd->add_option("--role", args->roles, "Only these speakers (repeatable; default: all three)")
      ->check(CLI::IsMember({"user", "assistant", "tool", "system"}));
  cmd->add_option("--session", args->session, "Only this session (id or unique prefix)");
  cmd->add_flag("-i,--ignore-case", args->ignore_case, "Match case-insensitively");
  cmd->add_flag("-F,--fixed-strings", args->fixed, "PATTERN is a plain string");
  cmd->add_flag("--json", args->json, "Print a JSON array of matches");
  cmd->callback([args, &ctx] {
    auto matcher = TextMatcher::Create(args->pattern, args->fixed, args->ignore_case);
    if (!matcher.ok()) return Fail(ctx, "sessions grep", matcher.status());
    GrepOptions opts;
    if (!args->roles.empty()) {
      opts.roles.clear();
      for (const std::string& r : args->roles) {
        opts.roles.push_back(r == "user"        ? LineRole::kUser
                             : r == "assistant" ? LineRole::kAssistant
                             : r == "tool"      ? LineRole::kToolResult
                                                : LineRole::kSystem);
      }
    }
    std::vector<LoadedIndex> indexes;
    if (Status s = LoadIndexes(args->source, &indexes); !s.ok()) {
      return Fail(ctx, "sessions grep", s);
    }
    ReportMalformed(indexes);
    std::vector<ListedHit> hits;
    size_t count = 0;
    for (LoadedIndex& li : indexes) {
      if (!args->session.empty()) {  // an id prefix, as show takes
        std::vector<std::string> ids;
        if (Status s = li.index->FindSessions(args->session, &ids); !s.ok()) {
          return Fail(ctx, "sessions grep", s);
        }
        if (ids.size() > 1) {
          return Fail(ctx, "sessions grep",
                      Status::InvalidArgument("'" + args->session + "' names several sessions"));
        }
        if (ids.empty()) continue;
        opts.session_id = ids.front();
      }
      Status s = GrepSessions(*li.index, *matcher.value(), opts, [&](const GrepHit& h) {
        ++count;
        ListedHit lh{li.workspace, h};
        if (args->json) {
          hits.push_back(std::move(lh));
        } else {
          PrintGrepHit(lh, args->source.all, std::cout);
        }
      });
      if (!s.ok()) return Fail(ctx, "sessions grep", s);
    }
    if (args->json) std::cout << GrepHitsJson(hits) << "\n";
    if (count == 0) ctx.exit_code = kExitError;
  });
}

}  // namespace

void RegisterSessions(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "sessions",
      "Claude Code sessions of a workspace (from a store, no mount) or a config directory");
  cmd->require_subcommand(1);
  RegisterSessionsLs(cmd, ctx);
  RegisterSessionsShow(cmd, ctx);
  RegisterSessionsGrep(cmd, ctx);
}

}  // namespace ccfs::cli
