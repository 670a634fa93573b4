// `ccfs push`, `ccfs pull`, `ccfs ls` and `ccfs cat`: workspace transfers
// without a mount.
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "store/layout/root_store.h"
#include "store/workspace/generations.h"
#include "store/workspace/workspace.h"

namespace ccfs::cli {

namespace {

void PrintSkipped(const std::vector<SkippedEntry>& skipped) {
  for (const auto& s : skipped) std::cerr << "  skipped " << s.path << ": " << s.reason << "\n";
}

}  // namespace

void RegisterPush(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string dir, workspace;
    StoreFlags store;
    PushOptions opts;
    std::string layout = "v2";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "push",
      "Store a local config directory as a workspace: a new one in layout v2 (one pack, "
      "committed as a generation), an existing one in the layout it has");
  cmd->add_option("DIR", args->dir, "Directory to store (e.g. ~/.claude)")->required();
  cmd->add_option("WORKSPACE", args->workspace, "Workspace name")->required();
  AddStoreFlags(cmd, &args->store);
  auto* im = cmd->add_option("--if-match", args->opts.if_match,
                             "Replace the workspace only if it is still at this ETag");
  cmd->add_flag("--force", args->opts.force,
                "Replace the workspace whatever version it is at (the lease still applies)")
      ->excludes(im);
  cmd->add_flag("--ignore-lease", args->opts.ignore_lease,
                "Push although a writable mount, exec or push elsewhere holds the workspace's "
                "lease (its next flush then merges with this version)");
  cmd->add_option("--lease-ttl", args->opts.lease_ttl_seconds,
                  "Seconds the lease this push holds lasts unless renewed (tests; 0: take none)")
      ->group("");
  cmd->add_option("--layout", args->layout,
                  "Layout of a workspace this push creates: v2 (default) or v1 (a tarball and "
                  "one object per transcript, for an older ccfs); an existing workspace keeps its "
                  "own")
      ->check(CLI::IsMember({"v1", "v2"}));
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    args->opts.new_workspace_v2 = args->layout == "v2";
    // An ETag as `aws s3api` prints it, quotes included, is the same ETag.
    std::string& im = args->opts.if_match;
    if (im.size() >= 2 && im.front() == '"' && im.back() == '"') im = im.substr(1, im.size() - 2);
    PushResult r;
    Status s = PushWorkspace(*store, args->dir, args->workspace, args->opts, &r);
    PrintSkipped(r.skipped);
    if (!s.ok()) {
      ctx.exit_code = ReportError("push", s);
      return;
    }
    std::cout << "pushed " << args->dir << " to " << args->workspace << " in " << store->Describe()
              << "\n";
    if (r.v2_generation > 0) {
      std::cout << "  layout v2, generation " << r.v2_generation << ": " << r.tarball_entries
                << " entries in one pack of " << HumanBytes(r.tarball_bytes) << ", "
                << r.transcripts_uploaded << " transcripts as chunks ("
                << HumanBytes(r.transcript_bytes) << "), root ETag " << r.tarball_etag << "\n";
      if (!r.skipped.empty()) std::cout << "  skipped: " << r.skipped.size() << " (listed above)\n";
      return;
    }
    std::cout << "  tarball: " << r.tarball_entries << " entries, " << HumanBytes(r.tarball_bytes)
              << ", ETag " << r.tarball_etag << "\n"
              << "  transcripts: " << r.transcripts_uploaded << " uploaded ("
              << HumanBytes(r.transcript_bytes) << "), " << r.transcripts_unchanged
              << " unchanged, " << r.transcripts_deleted << " deleted\n";
    if (!r.skipped.empty()) std::cout << "  skipped: " << r.skipped.size() << " (listed above)\n";
  });
}

void RegisterPull(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace, dir;
    StoreFlags store;
    PullOptions opts;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("pull", "Recreate a workspace in a new or empty directory");
  cmd->add_option("WORKSPACE", args->workspace,
                  "Workspace name; WORKSPACE@GEN for a past generation of a layout-v2 one "
                  "(see `ccfs log`)")
      ->required();
  cmd->add_option("DIR", args->dir, "Destination: must not exist or be empty")->required();
  AddStoreFlags(cmd, &args->store);
  // Bomb guards: a tarball that would expand past these is refused before
  // the offending file is written (defaults: ExtractOptions).
  ExtractOptions& limits = args->opts.limits;
  cmd->add_option("--max-file-size", limits.max_entry_size,
                  "Refuse a tarball holding a file larger than this (bytes, or 512M, 4G, ...)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--max-total-size", limits.max_total_size,
                  "Refuse a tarball whose files add up to more than this (bytes, or 512M, 4G, ...)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--max-entries", limits.max_entries, "Refuse a tarball with more entries")
      ->capture_default_str();
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    GenerationRef ref;
    Status s = ParseGenerationRef(args->workspace, &ref);
    if (!s.ok()) {
      ctx.exit_code = ReportError("pull", s);
      return;
    }
    args->opts.generation = ref.generation;
    PullResult r;
    s = PullWorkspace(*store, ref.workspace, args->dir, args->opts, &r);
    PrintSkipped(r.skipped);
    if (!s.ok()) {
      ctx.exit_code = ReportError("pull", s);
      return;
    }
    std::cout << "pulled " << ref.workspace;
    if (ref.generation != 0) {
      std::cout << "@" << r.generation << " (a past generation)";
    } else if (r.generation != 0) {
      std::cout << " (generation " << r.generation << ", root ETag " << r.tarball_etag << ")";
    } else {
      std::cout << " (ETag " << r.tarball_etag << ")";
    }
    // v2 has no tarball: its other entries are files, directories, symlinks.
    std::cout << " into " << args->dir << ": " << r.tarball_entries
              << (r.generation != 0 ? " other entries, " : " tarball entries, ") << r.transcripts
              << " transcripts, " << HumanBytes(r.bytes_downloaded) << " downloaded\n";
    if (!r.skipped.empty()) {
      std::cout << "  skipped " << r.skipped.size() << " unsafe or unsupported entries (listed "
                << "above)\n";
    }
  });
}

void RegisterLs(CLI::App& app, CommandContext& ctx) {
  struct Args {
    StoreFlags store;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("ls", "List the workspaces in a store");
  AddStoreFlags(cmd, &args->store);
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    std::vector<WorkspaceInfo> list;
    Status s = ListWorkspaces(*store, &list);
    if (!s.ok()) {
      ctx.exit_code = ReportError("ls", s);
      return;
    }
    // Layout v2: the current root's generation (0: none). Read here rather
    // than in ListWorkspaces, whose other callers (the all-workspaces view)
    // list often and do not read v2 yet. A root that cannot be decoded is
    // reported, not fatal, so that it does not hide the other workspaces.
    std::vector<uint64_t> generations(list.size(), 0);
    std::vector<CurrentRoot> roots(list.size());
    std::vector<std::string> problems(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      CurrentRoot& root = roots[i];
      Status r = ReadRoot(*store, list[i].name, &root);
      if (r.ok()) {
        generations[i] = root.root.generation;
      } else if (r.IsCorruption() || r.IsNotSupported()) {
        problems[i] = r.ToString();
        std::cerr << "ccfs ls: " << list[i].name << ": " << problems[i] << "\n";
      } else if (!r.IsNotFound()) {
        ctx.exit_code = ReportError("ls", r);
        return;
      }
    }
    if (args->json) {
      nlohmann::json j = nlohmann::json::array();
      for (size_t i = 0; i < list.size(); ++i) {
        const WorkspaceInfo& w = list[i];
        // "etag" is what `push --if-match` takes: the root's for a v2 workspace.
        j.push_back({{"workspace", w.name},
                     {"etag", generations[i] > 0 ? roots[i].etag : w.tarball_etag},
                     {"tarball_bytes", w.tarball_bytes},
                     {"modified",
                      generations[i] > 0 ? roots[i].root.committed_unix_ms / 1000 : w.mtime_unix},
                     {"transcripts", w.transcripts},
                     {"transcript_bytes", w.transcript_bytes},
                     {"v2_generation", generations[i]}});
        if (generations[i] > 0) {
          // The current tree's totals and the root's ETag (what --if-match takes).
          j.back()["v2_root_etag"] = roots[i].etag;
          j.back()["v2_files"] = roots[i].root.files;
          j.back()["v2_bytes"] = roots[i].root.bytes;
        }
        if (!problems[i].empty()) j.back()["v2_problem"] = problems[i];
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    // A v2 workspace's row: the root's ETag and commit time, its tree's
    // totals under LAYOUT (the v1 columns count what adoption left behind).
    std::printf("%-24s %-34s %10s %11s %10s  %-19s  %s\n", "WORKSPACE", "ETAG", "TARBALL",
                "TRANSCRIPTS", "T.BYTES", "MODIFIED (UTC)", "LAYOUT");
    for (size_t i = 0; i < list.size(); ++i) {
      const WorkspaceInfo& w = list[i];
      const bool v2 = generations[i] > 0;
      const int64_t mtime = v2 ? roots[i].root.committed_unix_ms / 1000 : w.mtime_unix;
      char when[32] = "-";
      if (mtime > 0) {
        std::time_t t = mtime;
        std::tm tm;
        gmtime_r(&t, &tm);
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
      }
      std::string layout = "v1";
      if (v2) {
        layout = "v2 gen " + std::to_string(generations[i]) + ", " +
                 std::to_string(roots[i].root.files) + " files, " + HumanBytes(roots[i].root.bytes);
      } else if (!problems[i].empty()) {
        layout = "v2 (unreadable root)";
      }
      std::printf("%-24s %-34s %10s %11zu %10s  %-19s  %s\n", w.name.c_str(),
                  v2              ? roots[i].etag.c_str()
                  : w.has_tarball ? w.tarball_etag.c_str()
                                  : "(no tarball)",
                  w.has_tarball ? HumanBytes(w.tarball_bytes).c_str() : "-", w.transcripts,
                  HumanBytes(w.transcript_bytes).c_str(), when, layout.c_str());
    }
  });
}

void RegisterCat(CLI::App& app, CommandContext& ctx) {
  struct Args {
    std::string workspace, path;
    StoreFlags store;
    bool stats = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "cat", "Print one file of a workspace, fetching only the tarball blocks that hold it");
  cmd->add_option("WORKSPACE", args->workspace,
                  "Workspace name; WORKSPACE@GEN for a past generation of a layout-v2 one")
      ->required();
  cmd->add_option("PATH", args->path, "Path inside the workspace, e.g. settings.json")->required();
  AddStoreFlags(cmd, &args->store);
  cmd->add_flag("--stats", args->stats, "Print bytes fetched and requests made to stderr");
  cmd->callback([args, &ctx] {
    auto store = OpenStoreOrReport(args->store);
    if (!store) {
      ctx.exit_code = kExitError;
      return;
    }
    GenerationRef ref;
    Status s = ParseGenerationRef(args->workspace, &ref);
    if (!s.ok()) {
      ctx.exit_code = ReportError("cat", s);
      return;
    }
    s = ReadWorkspaceFileAt(*store, ref.workspace, ref.generation, args->path,
                            [](const char* data, size_t len) -> Status {
                              if (std::fwrite(data, 1, len, stdout) != len) {
                                return Status::IOError("writing to stdout failed");
                              }
                              return Status::OK();
                            });
    std::fflush(stdout);
    if (args->stats) {
      std::cerr << "ccfs cat: fetched " << store->stats().bytes_received.load() << " bytes in "
                << store->stats().requests.load() << " requests\n";
    }
    if (!s.ok()) ctx.exit_code = ReportError("cat", s);
  });
}

}  // namespace ccfs::cli
