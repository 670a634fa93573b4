// `ccfs upgrade`, `log`, `diff`, `restore`, `gc` and `export`: the history of
// a layout-v2 workspace (docs/layout-v2-plan.md) from the command line. The
// logic lives in store/workspace/generations.h and store/layout; this file
// parses flags and prints.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "store/layout/compact.h"
#include "store/layout/export.h"
#include "store/layout/gc.h"
#include "store/workspace/generations.h"

namespace ccfs::cli {

namespace {

std::string IsoUtc(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void AddLeaseFlags(CLI::App* cmd, HistoryCommitOptions* opts, const std::string& what) {
  cmd->add_flag("--ignore-lease", opts->ignore_lease,
                "Commit although a writable mount, exec or push elsewhere holds the workspace's "
                "lease (it then works on top of the tree it had before this " +
                    what + ")");
  cmd->add_option("--lease-ttl", opts->lease_ttl_seconds,
                  "Seconds the lease this command holds lasts unless renewed (tests; 0: take none)")
      ->group("");
}

void RegisterUpgrade(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace;
    StoreFlags store;
    HistoryCommitOptions opts;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "upgrade",
      "Adopt a v1 workspace into layout v2 as generation 1 (server-side copies; the v1 objects "
      "stay)");
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  AddStoreFlags(cmd, &args->store);
  AddLeaseFlags(cmd, &args->opts, "upgrade");
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    AdoptReport r;
    Status s = UpgradeWorkspace(*store, args->workspace, args->opts, &r);
    if (!s.ok()) {
      ctx.exit_code = ReportError("upgrade", s);
      return;
    }
    std::cout << "upgraded " << args->workspace << " in " << store->Describe()
              << " to layout v2: generation " << r.root.generation << "\n"
              << "  files: " << r.root.files << " (" << r.transcripts << " transcripts), "
              << HumanBytes(r.root.bytes) << "\n"
              << "  copied inside the store: " << HumanBytes(r.bytes_copied)
              << ", downloaded: " << HumanBytes(store->stats().bytes_received.load())
              << ", uploaded: " << HumanBytes(store->stats().bytes_sent.load()) << "\n";
    if (r.foreign) {
      std::cout << "  the tarball had no ccfs index (a plain tar.gz): it was read whole and "
                   "packed again\n";
    }
    for (const std::string& why : r.skipped) std::cout << "  left out: " << why << "\n";
    std::cout << "  mount, exec, push, pull and cat now use the v2 tree\n";
  });
}

void RegisterLog(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace;
    StoreFlags store;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("log", "List a layout-v2 workspace's generations, newest first");
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  AddStoreFlags(cmd, &args->store);
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    std::vector<WorkspaceRoot> roots;
    std::vector<std::string> damaged;
    Status s = ListGenerationsNewestFirst(*store, args->workspace, &roots, &damaged);
    if (!s.ok()) {
      ctx.exit_code = ReportError("log", s);
      return;
    }
    for (const std::string& key : damaged) {
      std::cerr << "ccfs log: history copy " << key << " is damaged; skipped\n";
    }
    if (args->json) {
      nlohmann::json j = nlohmann::json::array();
      for (const WorkspaceRoot& r : roots) {
        j.push_back({{"generation", r.generation},
                     {"parent_generation", r.parent_generation},
                     {"committed", IsoUtc(r.committed_unix_ms)},
                     {"committed_unix_ms", r.committed_unix_ms},
                     {"host", r.writer.host},
                     {"pid", r.writer.pid},
                     {"files", r.files},
                     {"bytes", r.bytes}});
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("%-6s %-20s %-32s %8s %10s\n", "GEN", "COMMITTED (UTC)", "WRITER", "FILES",
                "BYTES");
    for (const WorkspaceRoot& r : roots) {
      const std::string writer = r.writer.host + "/" + std::to_string(r.writer.pid);
      std::printf("%-6llu %-20s %-32s %8llu %10s\n", static_cast<unsigned long long>(r.generation),
                  IsoUtc(r.committed_unix_ms).c_str(), writer.c_str(),
                  static_cast<unsigned long long>(r.files), HumanBytes(r.bytes).c_str());
    }
  });
}

void RegisterDiff(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace, from, to;
    StoreFlags store;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "diff", "What changed between two generations: A (added), D (deleted), M (modified)");
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  cmd->add_option("GEN_A", args->from, "The older generation")->required();
  cmd->add_option("GEN_B", args->to, "The newer generation")->required();
  AddStoreFlags(cmd, &args->store);
  cmd->callback([args, &ctx] {
    uint64_t from = 0, to = 0;
    Status s = ParseGeneration(args->from, &from);
    if (s.ok()) s = ParseGeneration(args->to, &to);
    if (!s.ok()) {
      ctx.exit_code = ReportError("diff", s);
      return;
    }
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    WorkspaceRoot a, b;
    s = ResolveGeneration(*store, args->workspace, from, &a);
    if (s.ok()) s = ResolveGeneration(*store, args->workspace, to, &b);
    TreeDiff diff;
    if (s.ok()) s = DiffRoots(*store, args->workspace, a, b, &diff);
    if (!s.ok()) {
      ctx.exit_code = ReportError("diff", s);
      return;
    }
    for (const DiffLine& l : DiffLines(diff)) std::cout << l.kind << ' ' << l.path << '\n';
  });
}

void RegisterRestore(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace, generation;
    StoreFlags store;
    HistoryCommitOptions opts;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "restore",
      "Make a past generation's tree the current one, as a new generation (history is kept)");
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  cmd->add_option("GEN", args->generation, "The generation to restore (see `ccfs log`)")
      ->required();
  AddStoreFlags(cmd, &args->store);
  AddLeaseFlags(cmd, &args->opts, "restore");
  cmd->callback([args, &ctx] {
    uint64_t generation = 0;
    Status s = ParseGeneration(args->generation, &generation);
    if (!s.ok()) {
      ctx.exit_code = ReportError("restore", s);
      return;
    }
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    WorkspaceRoot root;
    bool committed = false;
    s = RestoreWorkspaceGeneration(*store, args->workspace, generation, args->opts, &root,
                                   &committed);
    if (!s.ok()) {
      ctx.exit_code = ReportError("restore", s);
      return;
    }
    if (!committed) {
      std::cout << "nothing to restore: generation " << generation << "'s tree is already the "
                << "current one (generation " << root.generation << ")\n";
      return;
    }
    std::cout << "restored " << args->workspace << "@" << generation << " as generation "
              << root.generation << " (" << root.files << " files, " << HumanBytes(root.bytes)
              << ")\n";
  });
}

namespace {

// gc's first step: one bounded compaction (store/layout/compact.h), so that
// what it leaves behind is collected by the same run once its grace period
// allows. A dry run prints the plan only.
Status CompactForGc(ObjectStore& store, const std::string& workspace, uint64_t budget,
                    bool dry_run) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/ccfs-compact-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("compact: mkdtemp", errno);
  CompactOptions opts;
  opts.byte_budget = budget;
  opts.scratch_dir = tmpl;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  opts.writer = RootWriter{host, static_cast<int64_t>(::getpid()), ""};
  auto print = [&](const CompactPlan& plan, const char* verb) {
    if (plan.empty()) {
      std::cout << "compact " << workspace << ": nothing to compact at generation "
                << plan.generation << "\n";
      return;
    }
    std::cout << "compact " << workspace << ": " << verb << " " << plan.transcripts.size()
              << " transcripts and " << plan.packs.size() << " packs of generation "
              << plan.generation << ", " << HumanBytes(plan.bytes_to_move) << " ("
              << plan.bytes_to_move << " bytes)";
    if (plan.deferred > 0) {
      std::cout << "; " << plan.deferred << " left for a later run ("
                << HumanBytes(plan.deferred_bytes) << ", over the budget)";
    }
    std::cout << "\n";
    for (const CompactTranscript& t : plan.transcripts) {
      std::cout << "  transcript " << t.path << ": " << t.chunks << " chunks -> 1, " << t.bytes
                << " bytes\n";
    }
    for (const CompactPack& p : plan.packs) {
      std::cout << "  pack " << p.name.substr(0, 12) << ": " << p.live_files << " live files, "
                << p.live_bytes << " of " << p.member_bytes << " bytes live, " << p.stored_bytes
                << " bytes stored\n";
    }
  };
  Status s;
  if (dry_run) {
    CurrentRoot current;
    CompactPlan plan;
    s = ReadRoot(store, workspace, &current);
    if (s.ok()) s = PlanCompaction(store, workspace, current, opts, &plan);
    if (s.ok()) print(plan, "would rewrite");
  } else {
    CompactReport r;
    s = Compact(store, workspace, opts, &r);
    if (s.ok()) {
      print(r.plan, "rewrote");
      if (r.generation != 0) {
        std::cout << "  committed as generation " << r.generation << " (" << r.attempts
                  << (r.attempts == 1 ? " attempt" : " attempts") << "): read "
                  << HumanBytes(r.bytes_read) << ", uploaded " << HumanBytes(r.bytes_uploaded)
                  << "\n";
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return s.Annotate("compacting");
}

}  // namespace

void RegisterGc(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace;
    StoreFlags store;
    uint64_t keep = GcOptions{}.keep_generations;
    double keep_days = static_cast<double>(GcOptions{}.keep_seconds) / 86400;
    double grace_hours = static_cast<double>(GcOptions{}.grace_seconds) / 3600;
    bool dry_run = false;
    bool no_compact = false;
    double budget_mib = static_cast<double>(CompactOptions{}.byte_budget) / (1 << 20);
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "gc",
      "Compact the workspace (long transcript chunk lists, mostly dead or many small packs: "
      "one new generation with the same tree), then delete history and objects that no kept "
      "generation needs (kept: the current one, the newest --keep, and those younger than "
      "--keep-days)");
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  AddStoreFlags(cmd, &args->store);
  cmd->add_option("--keep", args->keep, "Keep the newest N generations")->capture_default_str();
  cmd->add_option("--keep-days", args->keep_days, "Keep every generation younger than D days")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--dry-run", args->dry_run,
                "Print what would be compacted and count what would be deleted; change nothing");
  cmd->add_flag("--no-compact", args->no_compact, "Only collect; compact nothing");
  cmd->add_option("--compact-budget-mib", args->budget_mib,
                  "File bytes one compaction may rewrite (what does not fit waits)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // Below a day a commit still uploading its objects (or a reader on an old
  // root) could lose them; only tests lower it.
  cmd->add_option("--grace-hours", args->grace_hours,
                  "Spare unreferenced objects younger than this (tests)")
      ->check(CLI::NonNegativeNumber)
      ->group("");
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    CurrentRoot current;
    Status s = ReadCurrentRootExplained(*store, args->workspace, &current);
    if (s.ok() && !args->no_compact)
      s = CompactForGc(*store, args->workspace, static_cast<uint64_t>(args->budget_mib * (1 << 20)),
                       args->dry_run);
    GcOptions opts;
    opts.keep_generations = args->keep;
    opts.keep_seconds = std::llround(args->keep_days * 86400);
    opts.grace_seconds = std::llround(args->grace_hours * 3600);
    opts.dry_run = args->dry_run;
    GcReport r;
    if (s.ok()) s = CollectGarbage(*store, args->workspace, opts, &r);
    if (!s.ok()) {
      ctx.exit_code = ReportError("gc", s);
      return;
    }
    const char* verb = args->dry_run ? "would delete" : "deleted";
    std::cout << "gc " << args->workspace << (args->dry_run ? " (dry run)" : "") << ": " << verb
              << " " << r.objects_deleted << " objects and " << r.history_deleted
              << " history copies, " << HumanBytes(r.bytes_freed) << " (" << r.bytes_freed
              << " bytes)\n"
              << "  kept " << r.roots_kept << " generations and " << r.objects_kept
              << " objects they name; spared " << r.young_spared
              << " unreferenced objects younger than " << args->grace_hours << " h\n";
  });
}

void RegisterExport(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string ref, out;
    StoreFlags store;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write a generation's tree (transcripts included) as one ordinary tar.gz");
  cmd->add_option("WORKSPACE[@GEN]", args->ref, "Workspace, and a generation (default: current)")
      ->required();
  cmd->add_option("OUT", args->out, "The tar.gz to write (replaced if it exists)")->required();
  AddStoreFlags(cmd, &args->store);
  cmd->callback([args, &ctx] {
    GenerationRef ref;
    Status s = ParseGenerationRef(args->ref, &ref);
    if (!s.ok()) {
      ctx.exit_code = ReportError("export", s);
      return;
    }
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    WorkspaceRoot root;
    s = ResolveGeneration(*store, ref.workspace, ref.generation, &root);
    if (!s.ok()) {
      ctx.exit_code = ReportError("export", s);
      return;
    }
    // Written beside OUT and renamed, so OUT is never a partial archive.
    // mkstemp makes it 0600 (the tree holds credentials), which the rename
    // keeps.
    const size_t slash = args->out.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : args->out.substr(0, slash + 1);
    std::string tmp = (slash == std::string::npos ? "" : args->out.substr(0, slash + 1)) + "." +
                      args->out.substr(slash + 1) + ".ccfs-export-XXXXXX";
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
      ctx.exit_code = ReportError(
          "export",
          Status::FromErrno("writing " + args->out + " (its temp file " + tmp + ")", errno));
      return;
    }
    ::close(fd);
    ExportReport r;
    s = ExportTree(*store, ref.workspace, root, tmp, dir, &r);
    if (s.ok() && ::rename(tmp.c_str(), args->out.c_str()) != 0) {
      s = Status::FromErrno("renaming " + tmp + " to " + args->out, errno);
    }
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      ctx.exit_code = ReportError("export", s);
      return;
    }
    std::cout << "exported " << ref.workspace << "@" << root.generation << " to " << args->out
              << ": " << r.entries << " entries, " << HumanBytes(r.bytes) << "\n";
  });
}

}  // namespace

void RegisterHistory(CLI::App& app, CommandContext& ctx) {
  RegisterUpgrade(app, ctx);
  RegisterLog(app, ctx);
  RegisterDiff(app, ctx);
  RegisterRestore(app, ctx);
  RegisterGc(app, ctx);
  RegisterExport(app, ctx);
}

}  // namespace ccfs::cli
