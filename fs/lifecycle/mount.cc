#include "fs/lifecycle/mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "fs/feeds/mount_sessions.h"
#include "fs/feeds/mount_sync.h"
#include "fs/feeds/transcript_watch.h"
#include "fs/hydrate/remote_tree.h"
#include "fs/hydrate/remote_tree_v2.h"
#include "fs/lifecycle/mount_lease.h"
#include "fs/lifecycle/recovery.h"
#include "store/base/clock.h"
#include "store/layout/file_reader.h"
#include "store/layout/history.h"
#include "store/layout/root_store.h"
#include "store/objects/condition_probe.h"
#include "store/workspace/adopt_v1.h"
#include "store/workspace/generations.h"
#include "store/workspace/late_v1.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

// A merge's outcome: [{"path", "from": "remote"|"local"}], [{"path", "copy"}].
nlohmann::json MergedJson(const FlushReport& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& m : r.merged) {
    a.push_back({{"path", m.path}, {"from", m.from_remote ? "remote" : "local"}});
  }
  return a;
}

nlohmann::json ConflictsJson(const FlushReport& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : r.conflicts) a.push_back({{"path", c.path}, {"copy", c.copy}});
  return a;
}

nlohmann::json ReportJson(const FlushReport& r) {
  return {{"nothing_to_flush", r.nothing_to_flush},
          {"base_etag", r.base_etag},
          {"new_etag", r.new_etag},
          {"remote_etag", r.remote_etag},
          {"tarball_written", r.tarball_written},
          {"tarball_bytes", r.tarball_bytes},
          {"tarball_entries", r.tarball_entries},
          {"blocks_copied", r.blocks_copied},
          {"bytes_copied", r.bytes_copied},
          {"entries_rewritten", r.entries_rewritten},
          {"transcripts_uploaded", r.transcripts_uploaded},
          {"transcripts_deleted", r.transcripts_deleted},
          {"bytes_uploaded", r.bytes_uploaded},
          {"skipped", r.skipped},
          {"clean_after", r.clean_after},
          {"seconds", r.seconds},
          {"merge_rounds", r.merge_rounds},
          {"generation", r.generation},
          {"merged", MergedJson(r)},
          {"conflicts", ConflictsJson(r)}};
}

}  // namespace

nlohmann::json FlushResultJson(const Status& s, const FlushReport& report) {
  int code = s.ok() ? 0 : (s.IsPreconditionFailed() ? 3 : 1);
  nlohmann::json j = {{"ok", s.ok()}, {"exit_code", code}, {"report", ReportJson(report)}};
  if (!s.ok()) j["error"] = s.ToString();
  return j;
}

std::string CacheName(const MountOptions& options) {
  if (options.generation == 0) return options.workspace;
  return options.workspace + "@" + std::to_string(options.generation);
}

Mount::Mount(std::unique_ptr<ObjectStore> store, const MountOptions& options)
    : options_(options),
      store_(std::move(store)),
      cache_(options.cache_root.empty() ? DefaultCacheRoot(options.store_url, CacheName(options))
                                        : options.cache_root),
      content_(&cache_),
      blocks_(cache_.root() + "/blocks") {}

Mount::~Mount() {
  if (recovery_) recovery_->Wait();  // its flush uses everything below
  // Let the next mount of this cache in first, then close the connections
  // of `ccfs umount` waiting for this process to go.
  cache_lock_.reset();
  exit_waiters_.clear();
  if (hydrator_) hydrator_->StopBackground();
  if (control_) control_->Stop();
  fuse_.Close();  // before fuse_ctx_ and the filesystem it serves go
}

Result<std::unique_ptr<Mount>> Mount::Prepare(std::unique_ptr<ObjectStore> store,
                                              const MountOptions& options) {
  std::unique_ptr<Mount> m(new Mount(std::move(store), options));
  CCFS_RETURN_IF_ERROR(m->LoadState());
  return m;
}

Status Mount::LoadState() {
  started_ns_ = NowNs();
  CurrentRoot past;  // options_.generation's root
  if (options_.generation != 0) {
    if (!options_.read_only) {
      return Status::InvalidArgument("generation " + std::to_string(options_.generation) +
                                     " of workspace '" + options_.workspace +
                                     "' is history, which is never changed: mount it read-only");
    }
    // Before the cache is touched: a refused mount leaves it as it was.
    CCFS_RETURN_IF_ERROR(ReadPastRoot(&past));
  }
  if (options_.discard_local) CCFS_RETURN_IF_ERROR(RemoveTree(cache_.root()));
  CCFS_RETURN_IF_ERROR(cache_.Prepare());
  // One mount per cache at a time.
  std::string lock_path = cache_.root() + "/lock";
  int lfd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) return Status::FromErrno("open " + lock_path, errno);
  cache_lock_ = UniqueFd(lfd);
  if (::flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    return Status::InvalidArgument("workspace '" + options_.workspace +
                                   "' is already mounted from this cache (" + cache_.root() +
                                   "); unmount it first");
  }
  // Leftovers of a crashed mount: partial downloads and flush snapshots.
  CCFS_RETURN_IF_ERROR(RemoveTree(cache_.TmpDir()));
  CCFS_RETURN_IF_ERROR(cache_.Prepare());
  // Nothing below keeps two writers apart on a store that ignores
  // conditional writes: refuse to write to one (store/objects/condition_probe.h).
  if (!options_.read_only) {
    CCFS_RETURN_IF_ERROR(EnsureConditionalWrites(*store_, options_.workspace));
  }
  // The lease before the tree: a previous writer's final flush is in.
  if (!options_.read_only && options_.lease_ttl_seconds > 0) {
    CCFS_ASSIGN_OR_RETURN(lease_, MountLease::Acquire(store_.get(), options_.workspace,
                                                      cache_.root(), options_.lease_ttl_seconds));
  }

  auto db = MetaDb::Open(cache_.DbPath());
  CCFS_RETURN_IF_ERROR(db.status());
  db_ = std::move(db).value();
  table_ = std::make_unique<InodeTable>(db_.get());
  std::string recorded;
  if (db_->GetValue("workspace", &recorded).ok() && recorded != CacheName(options_)) {
    return Status::InvalidArgument("cache " + cache_.root() + " belongs to workspace '" + recorded +
                                   "'");
  }

  std::string base_etag, base_size, local_changes;
  bool have_base = db_->GetValue("base_etag", &base_etag).ok();
  IgnoreError(db_->GetValue("base_size", &base_size), "absent without a base; then unused");
  bool dirty = db_->GetValue(kLocalChangesKey, &local_changes).ok() && local_changes == "1";
  std::vector<NodeRecord> nodes;
  CCFS_RETURN_IF_ERROR(db_->LoadNodes(&nodes));

  // A past generation's cache is never written through (read-only), so it
  // holds nothing to resume.
  const bool resume = !nodes.empty() && have_base && dirty && options_.generation == 0;
  ObjectInfo head;  // v1 tarball; none looked for in a past generation
  CurrentRoot v2root;
  bool v2 = false;
  if (options_.generation != 0) {
    v2root = std::move(past);
    v2 = true;
  } else {
    CCFS_RETURN_IF_ERROR(HeadTarball(*store_, options_.workspace, &head));
    CCFS_RETURN_IF_ERROR(FindV2Root(head, resume, &v2root, &v2));
  }
  // A v1 tarball written after the move to v2 (by an older ccfs, or a mount
  // that began before the move): a writable mount takes its changes in as a
  // generation; a read-only one says so.
  std::string late_v1;
  if (v2 && !head.etag.empty() && head.etag != v2root.root.adopted_v1_etag) {
    CCFS_RETURN_IF_ERROR(TakeInLateV1(&v2root, &late_v1));
  }
  // An older ccfs, which knows only v1, held the lease since: what it
  // appended to transcripts went to v1 transcript objects, which no v2 root
  // names. Only then is the LIST that finds them paid.
  if (v2 && lease_ != nullptr && !lease_->older_writer().empty()) {
    CCFS_RETURN_IF_ERROR(TakeInLateTranscripts(&v2root, &late_v1));
  }
  const std::string v2tag = V2VersionTag(v2root.etag);

  if (resume && IsV2VersionTag(base_etag)) {
    // Unflushed changes on a layout-v2 base: that base from the cache.
    std::shared_ptr<const V2Tree> tree;
    Status s = LoadCachedV2Tree(cache_, base_etag, &tree);
    if (!s.ok()) {
      spdlog::warn("tree of base {} not cached ({}); files never hydrated stay unreadable",
                   base_etag, s.ToString());
      auto empty = std::make_shared<V2Tree>();
      empty->root.etag = base_etag.substr(V2VersionTag("").size());
      tree = std::move(empty);
    }
    std::vector<BaseTranscript> files;
    base_.set_tarball(MakeV2Version(std::move(tree), &files));
    prepare_note_ = "resumed unflushed local changes (base " + base_etag + ")";
    if (!v2 || v2tag != base_etag) {
      prepare_note_ += "; the store has moved on: the next flush merges with it";
    }
  } else if (resume && v2) {
    // Unflushed changes made on v1 before the workspace moved to v2.
    CCFS_RETURN_IF_ERROR(ResumeV1OntoV2(base_etag, &nodes));
    prepare_note_ =
        "resumed unflushed local changes made before the move to layout v2; the next "
        "flush merges them with generation " +
        std::to_string(v2root.root.generation);
  } else if (v2) {
    std::shared_ptr<const V2Tree> tree;
    if (!nodes.empty() && have_base && base_etag == v2tag &&
        LoadCachedV2Tree(cache_, v2tag, &tree).ok()) {
      std::vector<BaseTranscript> files;
      base_.set_tarball(MakeV2Version(std::move(tree), &files));
      prepare_note_ = "reused the cache (store unchanged since the last mount)";
    } else {
      CCFS_RETURN_IF_ERROR(FreshTreeV2(v2root));
      CCFS_RETURN_IF_ERROR(db_->LoadNodes(&nodes));
      prepare_note_ = v2root.etag.empty() ? "new layout-v2 workspace (created on first flush)"
                                          : "fresh tree from the store (layout v2, generation " +
                                                std::to_string(v2root.root.generation) + ")";
      if (options_.generation != 0) prepare_note_ += " from history, read-only";
    }
    dirty = false;
  } else if (resume) {
    // Unflushed changes of an earlier mount: keep them, on their old base.
    std::shared_ptr<const TarballVersion> version;
    uint64_t size = base_size.empty() ? 0 : std::stoull(base_size);
    Status s = LoadCachedVersion(cache_, base_etag, size, &version);
    if (!s.ok()) {
      spdlog::warn("index of base {} not cached ({}); files never hydrated stay unreadable",
                   base_etag, s.ToString());
      version = TarballVersion::Make(base_etag, size, false, {});
    }
    base_.set_tarball(version);
    prepare_note_ = "resumed unflushed local changes (base " + base_etag + ")";
    if (head.etag != base_etag) {
      prepare_note_ += "; the store has moved on to " + (head.etag.empty() ? "<none>" : head.etag) +
                       ": the next flush will report a conflict";
    }
  } else {
    std::vector<BaseTranscript> listed, recorded_transcripts;
    CCFS_RETURN_IF_ERROR(ListTranscripts(*store_, options_.workspace, &listed));
    CCFS_RETURN_IF_ERROR(db_->LoadBaseTranscripts(&recorded_transcripts));
    bool same_transcripts = listed.size() == recorded_transcripts.size();
    for (size_t i = 0; same_transcripts && i < listed.size(); ++i) {
      same_transcripts = listed[i].path == recorded_transcripts[i].path &&
                         listed[i].etag == recorded_transcripts[i].etag;
    }
    std::shared_ptr<const TarballVersion> version;
    if (!nodes.empty() && have_base && base_etag == head.etag && same_transcripts &&
        LoadCachedVersion(cache_, head.etag, head.size, &version).ok()) {
      base_.set_tarball(version);
      prepare_note_ = "reused the cache (store unchanged since the last mount)";
    } else {
      CCFS_RETURN_IF_ERROR(FreshTree(head));
      CCFS_RETURN_IF_ERROR(db_->LoadNodes(&nodes));
      prepare_note_ = head.etag.empty() ? "new workspace (created on first flush)"
                                        : "fresh tree from the store";
    }
    dirty = false;
  }
  std::vector<BaseTranscript> transcripts;
  CCFS_RETURN_IF_ERROR(db_->LoadBaseTranscripts(&transcripts));
  std::map<std::string, BaseTranscript> by_path;
  for (auto& t : transcripts) by_path[t.path] = t;
  base_.set_transcripts(std::move(by_path));

  FixUpContent(&nodes);
  CollectGarbage(nodes);
  CCFS_RETURN_IF_ERROR(table_->Load(nodes));
  table_->set_has_changes(dirty);
  // Written only when they change: a remount on a full cache writes nothing.
  // The name is a named local: the pairs below only refer to it.
  const std::string cache_name = CacheName(options_);
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"workspace", cache_name},
        {"store", options_.store_url}}) {
    std::string now;
    if (!db_->GetValue(key, &now).ok() || now != value)
      CCFS_RETURN_IF_ERROR(db_->SetValue(key, value));
  }

  hydrator_ = std::make_unique<Hydrator>(store_.get(), options_.workspace, table_.get(), &content_,
                                         &base_, &blocks_);
  FsOptions fo;
  fo.read_only = options_.read_only;
  fo.uid = ::geteuid();
  fo.gid = ::getegid();
  fs_ = std::make_unique<Filesystem>(db_.get(), table_.get(), &content_, hydrator_.get(), fo);
  flusher_ = std::make_unique<Flusher>(store_.get(), options_.workspace, &cache_, db_.get(),
                                       table_.get(), &content_, hydrator_.get(), &base_, &blocks_);
  // A merge at flush changes names and files under the kernel's long-lived caches.
  flusher_->set_invalidator([this](const std::vector<KernelInvalidation>& changed) {
    fuse_.WithLiveSession([&](fuse_session* se) {
      for (const KernelInvalidation& k : changed) {
        if (k.parent != 0) {
          fuse_lowlevel_notify_inval_entry(se, k.parent, k.name.c_str(), k.name.size());
        }
        if (k.ino != 0) fuse_lowlevel_notify_inval_inode(se, k.ino, 0, 0);
      }
    });
  });
  prepare_note_ += late_v1;
  spdlog::info("mount {}: {}", options_.workspace, prepare_note_);
  watch_ = std::make_unique<TranscriptWatch>(table_.get(), &content_, fs_.get());
  if (!options_.sync_url.empty()) {
    MountSyncOptions so{
        options_.sync_url, options_.sync_token, cache_.root() + "/sync.db",
        std::chrono::milliseconds(static_cast<int64_t>(options_.sync_drain_timeout_s * 1000))};
    CCFS_ASSIGN_OR_RETURN(sync_, MountSync::Create(so, table_.get(), watch_.get()));
  }
  return Status::OK();
}

Status Mount::FindV2Root(const ObjectInfo& head, bool local_changes, CurrentRoot* root, bool* v2) {
  *v2 = false;
  Status r = ReadRoot(*store_, options_.workspace, root);
  if (r.ok()) {
    *v2 = true;
    return Status::OK();
  }
  if (!r.IsNotFound()) return r.Annotate("reading the workspace's layout-v2 root");
  *root = CurrentRoot{};
  if (!options_.layout_v2) return Status::OK();
  if (head.etag.empty()) {
    *v2 = true;  // a new workspace: its first flush creates it as v2
    return Status::OK();
  }
  // Unflushed v1 changes go up as v1 first (adoption waits for a later
  // mount), and a read-only mount writes nothing.
  if (local_changes || options_.read_only) return Status::OK();
  AdoptReport adopted;
  Status s = AdoptV1(*store_, options_.workspace,
                     RootWriter{ConflictHostName(), static_cast<int64_t>(::getpid()), ""}, &adopted,
                     cache_.TmpDir());
  if (s.ok()) {
    spdlog::info(
        "adopted v1 workspace {} into layout v2: {} files, {} transcripts, {} B copied in the "
        "store, {} B downloaded, {} B uploaded",
        options_.workspace, adopted.files, adopted.transcripts, adopted.bytes_copied,
        adopted.bytes_downloaded, adopted.bytes_uploaded);
    for (const std::string& why : adopted.skipped) spdlog::warn("adoption left out {}", why);
  } else if (!s.IsPreconditionFailed()) {  // 412: another machine adopted it first
    return s.Annotate("adopting workspace '" + options_.workspace + "' into layout v2");
  }
  CCFS_RETURN_IF_ERROR(ReadRoot(*store_, options_.workspace, root));
  *v2 = true;
  return Status::OK();
}

Status Mount::TakeInLateV1(CurrentRoot* root, std::string* note) {
  if (options_.read_only) {
    *note =
        "; WARNING: the v1 tarball was rewritten after this workspace moved to layout v2 "
        "(by an older ccfs): those changes are not in this tree until a writable mount "
        "takes them in";
    spdlog::warn("mount {}{}", options_.workspace, *note);
    return Status::OK();
  }
  LateV1Report late;
  Status s =
      MergeLateV1Tarball(*store_, options_.workspace,
                         RootWriter{ConflictHostName(), static_cast<int64_t>(::getpid()), ""},
                         cache_.TmpDir(), root, &late);
  if (!s.ok()) {
    // The v2 tree is whole without them: mount it, say so, try again next time.
    *note =
        "; WARNING: a v1 tarball was written after this workspace moved to layout v2, and "
        "taking its changes in failed (" +
        s.ToString() + "); they are not in this tree, the tarball is left as it is";
    spdlog::warn("mount {}{}", options_.workspace, *note);
    return Status::OK();
  }
  if (!late.merged) return Status::OK();
  *note = "; took in a v1 tarball written after the move to layout v2 as generation " +
          std::to_string(late.generation) + " (" + std::to_string(late.taken.size()) +
          " paths taken, " + std::to_string(late.conflicts.size()) + " conflict copies)";
  spdlog::warn("mount {}{}", options_.workspace, *note);
  for (const auto& [path, copy] : late.conflicts) {
    spdlog::warn("late v1 change to {} kept as {} (this tree changed it too)", path, copy);
  }
  for (const std::string& why : late.skipped) spdlog::warn("late v1 change left out: {}", why);
  return Status::OK();
}

Status Mount::TakeInLateTranscripts(CurrentRoot* root, std::string* note) {
  LateTranscriptsReport late;
  Status s =
      MergeLateV1Transcripts(*store_, options_.workspace,
                             RootWriter{ConflictHostName(), static_cast<int64_t>(::getpid()), ""},
                             cache_.TmpDir(), root, &late);
  if (!s.ok()) {
    // The v2 tree is whole without them: mount it, say so, and have our
    // lease say they are still to be taken in, so the next writable mount
    // looks again (the v1 objects stay in the store: gc never touches them).
    lease_->KeepOlderWriterPending();
    *note += "; WARNING: this workspace was last held writable by an older ccfs (" +
             lease_->older_writer() + "), and taking in what it wrote to v1 transcript " +
             "objects failed (" + s.ToString() + "): those lines are not in this tree; " +
             "the next writable mount tries again";
    spdlog::warn("mount {}{}", options_.workspace, *note);
    return Status::OK();
  }
  if (late.generation == 0) return Status::OK();
  *note += "; took in " + std::to_string(late.taken.size()) +
           " transcripts an older ccfs wrote to v1 objects as generation " +
           std::to_string(late.generation) + " (" + std::to_string(late.conflicts.size()) +
           " conflict copies)";
  spdlog::warn("mount {}{}", options_.workspace, *note);
  for (const auto& [path, copy] : late.conflicts) {
    spdlog::warn("v1 transcript {} kept as {} (this tree changed it too)", path, copy);
  }
  for (const std::string& why : late.skipped) spdlog::warn("v1 transcript left out: {}", why);
  return Status::OK();
}

Status Mount::ReadPastRoot(CurrentRoot* root) {
  WorkspaceRoot past;
  CCFS_RETURN_IF_ERROR(ResolveGeneration(*store_, options_.workspace, options_.generation, &past));
  // History copies are read without their ETag. A generation and its nonce
  // name one commit for good, so they stand in for it in the base's version
  // tag (the key of the cached root and tree; nothing is ever committed on
  // this base).
  root->etag = "history-" + std::to_string(past.generation) + "-" + past.nonce;
  root->root = std::move(past);
  return Status::OK();
}

Status Mount::ResumeV1OntoV2(const std::string& v1_etag, std::vector<NodeRecord>* nodes) {
  auto refuse = [&](const std::string& why) {
    return Status::PreconditionFailed("the cache " + cache_.root() +
                                      " holds changes not yet flushed, made on workspace '" +
                                      options_.workspace + "' before it moved to layout v2, and " +
                                      why + ". Copy what you need from " + cache_.ContentDir() +
                                      " and mount again with --discard-local");
  };
  // The generation that adopted the very tarball these changes started from
  // holds the same tree in v2: the changes are re-based onto it, and the next
  // flush merges them with the current root like any other writer's.
  std::vector<WorkspaceRoot> history;
  CCFS_RETURN_IF_ERROR(ListHistory(*store_, options_.workspace, &history));
  const WorkspaceRoot* adoption = nullptr;
  for (const WorkspaceRoot& r : history) {
    if (r.adopted_v1_etag == v1_etag && r.parent_generation == 0) adoption = &r;
  }
  if (adoption == nullptr) return refuse("no generation adopted the tarball they started from");
  // A root that is not the current one: its commit base never matches
  // (If-Match fails), so the first flush merges.
  CurrentRoot base{*adoption, "adopted-v1:" + v1_etag};
  std::shared_ptr<const V2Tree> tree;
  CCFS_RETURN_IF_ERROR(LoadV2Tree(*store_, options_.workspace, cache_, base, &tree));
  CCFS_RETURN_IF_ERROR(SaveCachedV2Root(cache_, base));
  std::vector<BaseTranscript> files;
  std::shared_ptr<const TarballVersion> version = MakeV2Version(tree, &files);
  std::map<std::string, std::string> tags;  // path -> V2FileTag
  for (const BaseTranscript& f : files) tags[f.path] = f.etag;
  for (NodeRecord& n : *nodes) {
    auto entry = tree->entries.find(n.origin_path);
    bool known = false;
    if (n.origin_kind == OriginKind::kTarball && n.origin_etag == v1_etag &&
        entry != tree->entries.end()) {
      known = true;
    } else if (n.origin_kind == OriginKind::kTranscript && entry != tree->entries.end()) {
      // Adopted transcripts are one raw chunk named after the object's ETag.
      const IndexEntry& e = entry->second;
      known =
          e.chunks.size() == 1 && e.chunks[0].raw &&
          e.chunks[0].name ==
              AdoptedObjectName(TranscriptKey(options_.workspace, n.origin_path), n.origin_etag);
    } else if (n.origin_kind == OriginKind::kNone) {
      continue;
    }
    if (!known) {
      if (n.type == NodeType::kFile && n.state == ContentState::kRemote) {
        return refuse(n.origin_path +
                      " was never downloaded here and its version is not the one "
                      "the move adopted");
      }
      n.origin_kind = OriginKind::kNone;  // local bytes: a change of ours
      n.origin_etag.clear();
    } else if (n.type == NodeType::kFile) {
      n.origin_kind = OriginKind::kTranscript;
      n.origin_etag = tags[n.origin_path];
    } else {
      n.origin_etag = version->etag;
    }
    CCFS_RETURN_IF_ERROR(db_->PutNode(n));
  }
  std::vector<BaseTranscript> old;
  CCFS_RETURN_IF_ERROR(db_->LoadBaseTranscripts(&old));
  for (const BaseTranscript& t : old) CCFS_RETURN_IF_ERROR(db_->DeleteBaseTranscript(t.path));
  for (const BaseTranscript& f : files) CCFS_RETURN_IF_ERROR(db_->PutBaseTranscript(f));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_etag", version->etag));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_size", "0"));
  base_.set_tarball(version);
  return Status::OK();
}

Status Mount::FreshTreeV2(const CurrentRoot& root) {
  std::shared_ptr<const V2Tree> tree;
  if (root.etag.empty()) {
    tree = std::make_shared<const V2Tree>();
  } else {
    CCFS_RETURN_IF_ERROR(LoadV2Tree(*store_, options_.workspace, cache_, root, &tree));
    CCFS_RETURN_IF_ERROR(SaveCachedV2Root(cache_, root));
  }
  std::vector<BaseTranscript> files;
  std::shared_ptr<const TarballVersion> version = MakeV2Version(std::move(tree), &files);
  std::vector<NodeRecord> nodes = BuildTree(*version, files, NowNs());
  // Old content belongs to old inode numbers.
  CCFS_RETURN_IF_ERROR(RemoveTree(cache_.ContentDir()));
  CCFS_RETURN_IF_ERROR(cache_.Prepare());
  CCFS_RETURN_IF_ERROR(db_->ReplaceAll(nodes, files));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_etag", version->etag));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_size", "0"));
  CCFS_RETURN_IF_ERROR(db_->SetValue(kLocalChangesKey, "0"));
  base_.set_tarball(version);
  return Status::OK();
}

Status Mount::FreshTree(const ObjectInfo& head) {
  std::shared_ptr<const TarballVersion> version;
  ForeignContent foreign;
  CCFS_RETURN_IF_ERROR(
      LoadTarballVersion(*store_, options_.workspace, head, cache_, &version, &foreign));
  std::vector<BaseTranscript> transcripts;
  CCFS_RETURN_IF_ERROR(ListTranscripts(*store_, options_.workspace, &transcripts));
  std::vector<NodeRecord> nodes = BuildTree(*version, transcripts, NowNs());
  // Old content belongs to old inode numbers.
  CCFS_RETURN_IF_ERROR(RemoveTree(cache_.ContentDir()));
  CCFS_RETURN_IF_ERROR(cache_.Prepare());
  if (!foreign.content_files.empty()) {
    // A foreign tarball was unpacked whole: its files are already here.
    for (NodeRecord& n : nodes) {
      if (n.type != NodeType::kFile || n.origin_kind != OriginKind::kTarball) continue;
      auto it = version->by_path.find(n.origin_path);
      if (it == version->by_path.end()) continue;
      const std::string& file = foreign.content_files[it->second];
      if (!file.empty() && ::rename(file.c_str(), cache_.ContentPath(n.ino).c_str()) == 0) {
        n.state = ContentState::kCached;
      }
    }
  }
  CCFS_RETURN_IF_ERROR(db_->ReplaceAll(nodes, transcripts));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_etag", head.etag));
  CCFS_RETURN_IF_ERROR(db_->SetValue("base_size", std::to_string(head.size)));
  CCFS_RETURN_IF_ERROR(db_->SetValue(kLocalChangesKey, "0"));
  base_.set_tarball(version);
  return Status::OK();
}

void Mount::FixUpContent(std::vector<NodeRecord>* nodes) {
  // After a crash the content files are the truth for sizes (writes only
  // persist the size at fsync/flush). A file whose content file vanished is
  // never recreated empty (an empty file would then replace the real one in
  // the store): one the store has goes back to the store's version, one
  // created here is left out of the tree, and both are logged.
  const std::map<std::string, BaseTranscript> base_transcripts = base_.transcripts();
  std::vector<NodeRecord> kept;
  kept.reserve(nodes->size());
  for (NodeRecord& n : *nodes) {
    if (n.type != NodeType::kFile || n.state == ContentState::kRemote) {
      kept.push_back(std::move(n));
      continue;
    }
    struct stat st;
    std::string path = cache_.ContentPath(n.ino);
    bool changed = false;
    if (::stat(path.c_str(), &st) != 0) {
      if (n.origin_kind == OriginKind::kNone) {
        spdlog::error(
            "content of {} (inode {}), created here, is missing from the cache after a crash; it "
            "is left out of the tree and of the next flush",
            n.name, n.ino);
        Status s = db_->DeleteNode(n.ino);
        if (!s.ok()) spdlog::error("dropping inode {}: {}", n.ino, s.ToString());
        continue;
      }
      if (n.state == ContentState::kDirty) {
        spdlog::error(
            "content of {} (inode {}) is missing from the cache after a crash; its local changes "
            "are lost and the store's version ({}) stays",
            n.name, n.ino, n.origin_path);
      }
      n.state = ContentState::kRemote;
      n.local_from = 0;  // nothing local any more, no watermark either
      // The size the store's version has (the dirty one was ours).
      if (n.origin_kind == OriginKind::kTarball) {
        if (const TarEntry* e = base_.tarball()->Find(n.origin_path)) n.size = e->size;
      } else if (auto t = base_transcripts.find(n.origin_path); t != base_transcripts.end()) {
        n.size = t->second.size;
      }
      changed = true;
    } else if (n.state == ContentState::kCached && n.local_from == 0 &&
               n.origin_kind != OriginKind::kNone && static_cast<uint64_t>(st.st_size) < n.size) {
      // A file whose bytes were the store's, now shorter: what a power loss
      // leaves of a content file written but not yet synced (a hydrated
      // one). No unrecorded change makes a cached file shorter: a truncate
      // is recorded before it is answered, and a write that reached the
      // content file but not meta.db only lengthens it or keeps its size.
      // Taking it as a change would upload the stump over the store's
      // copy: it is fetched again instead.
      spdlog::warn(
          "content of {} (inode {}) is {} bytes, shorter than the {} it had from the store "
          "(a power loss before it was synced?); it will be fetched again",
          n.name, n.ino, st.st_size, n.size);
      n.state = ContentState::kRemote;
      changed = true;
    } else if (static_cast<uint64_t>(st.st_size) != n.size) {
      n.size = static_cast<uint64_t>(st.st_size);
      if (n.state == ContentState::kCached) n.state = ContentState::kDirty;
      changed = true;
    }
    if (changed) {
      Status s = db_->PutNode(n);
      if (!s.ok()) spdlog::error("fixing inode {}: {}", n.ino, s.ToString());
    }
    kept.push_back(std::move(n));
  }
  *nodes = std::move(kept);
}

void Mount::CollectGarbage(const std::vector<NodeRecord>& nodes) {
  std::set<uint64_t> keep;
  for (const NodeRecord& n : nodes) {
    if (n.type == NodeType::kFile && n.state != ContentState::kRemote) keep.insert(n.ino);
  }
  DIR* d = ::opendir(cache_.ContentDir().c_str());
  if (d == nullptr) return;
  std::vector<std::string> drop;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    char* end = nullptr;
    uint64_t ino = std::strtoull(name.c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || !keep.count(ino)) drop.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : drop) ::unlink((cache_.ContentDir() + "/" + name).c_str());
}

Status Mount::StartSessionIndex() {
  if (sessions_) return Status::OK();
  MountSessionsOptions so;
  so.db_path = cache_.root() + "/sessions.db";
  so.workspace = options_.workspace;
  so.read_remote = [this](const std::string& origin, const std::string& etag,
                          const ByteSink& sink) -> Status {
    auto base = base_.tarball();
    if (base->v2 == nullptr) {
      GetOptions opts;
      opts.if_match = etag;  // the version the tree shows, or nothing
      return store_->Get(TranscriptKey(options_.workspace, origin), opts, sink, nullptr);
    }
    // Layout v2: the bytes the base's entry names, if the tree still shows them.
    auto it = base->v2->entries.find(origin);
    if (it == base->v2->entries.end() || V2FileTag(it->second) != etag) {
      return Status::PreconditionFailed(origin + " changed since this tree was read");
    }
    TreeFileReader reader(*store_, options_.workspace);
    return reader.Read(it->second, 0, it->second.size, sink);
  };
  CCFS_ASSIGN_OR_RETURN(sessions_, MountSessions::Start(so, store_.get(), watch_.get()));
  return Status::OK();
}

Status Mount::Start() {
  // Without it `ccfs sessions` walks the tree instead: not worth failing the mount.
  if (Status s = StartSessionIndex(); !s.ok()) spdlog::warn("no session index: {}", s.ToString());
  fuse_ctx_.fs = fs_.get();
  fuse_ctx_.writeback_cache = options_.writeback_cache;
  std::string opts = "fsname=ccfs:" + CacheName(options_) + ",subtype=ccfs,default_permissions";
  if (options_.read_only) opts += ",ro";
  if (options_.allow_other) opts += ",allow_other";
  CCFS_RETURN_IF_ERROR(fuse_.Mount(FuseOperations(), &fuse_ctx_, opts, options_.mountpoint));
  auto socket = ControlSocketPath(options_.mountpoint);
  CCFS_RETURN_IF_ERROR(socket.status());
  auto server = ControlServer::Start(
      *socket, [this](const nlohmann::json& req, std::shared_ptr<ControlConnection> conn) {
        HandleControl(req, std::move(conn));
      });
  if (!server.ok()) {
    fuse_.Close();
    return server.status();
  }
  control_ = std::move(server).value();
  fuse_.StartLoop(options_.max_threads);
  if (options_.hydrate == HydrateMode::kBackground) hydrator_->StartBackground();
  if (!options_.read_only && table_->has_changes()) {
    auto recovery = std::make_unique<RecoveryFlush>(
        "unflushed changes of an earlier mount (" + std::to_string(table_->Count().dirty) +
            " changed files, base " + base_.tarball()->etag + ")",
        [this](FlushReport* r) { return Flush(FlushOptions{}, r); });
    std::lock_guard<std::mutex> lock(mu_);  // status reads it
    recovery_ = std::move(recovery);
  }
  return Status::OK();
}

void Mount::WaitUntilUnmounted() { fuse_.WaitUntilUnmounted(); }

Status Mount::RequestUnmount(bool lazy_if_busy) { return fuse_.RequestUnmount(lazy_if_busy); }

void Mount::SyncKernelCache() {
  // Dirty pages of the writeback cache reach us only when the kernel writes
  // them back; syncfs makes it do so now. Never called from a FUSE thread.
  int fd = ::open(options_.mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  if (::syncfs(fd) != 0) spdlog::warn("syncfs {}: {}", options_.mountpoint, std::strerror(errno));
  ::close(fd);
}

Status Mount::Flush(const FlushOptions& options, FlushReport* report) {
  if (options_.read_only) {
    *report = FlushReport{};
    report->nothing_to_flush = true;
    return Status::OK();
  }
  if (fuse_.serving()) SyncKernelCache();
  // Nothing to write needs no lease (an unchanged mount whose lease was lost unmounts cleanly).
  Status s = lease_ && table_->has_changes() ? lease_->CheckBeforeFlush() : Status::OK();
  if (s.ok()) s = flusher_->Flush(options, report);
  watch_->OnNamesChanged();  // a merge may have moved names
  if (!s.ok()) spdlog::error("flush of {} failed: {}", options_.workspace, s.ToString());
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_flush_ = FlushResultJson(s, *report);
    last_flush_["at_unix"] = NowNs() / 1000000000;
  }
  if (!fuse_.ended() && options_.hydrate == HydrateMode::kBackground) hydrator_->StartBackground();
  return s;
}

Status Mount::Finish(FlushReport* report) {
  hydrator_->StopBackground();
  if (sync_) sync_->BeginDrain();  // alongside the final flush, bounded by its deadline
  Status s = Flush(FlushOptions{}, report);
  // FinishDrain logs its outcome; what is left goes out after the next mount.
  if (sync_) IgnoreError(sync_->FinishDrain(), "logged; the rest syncs after the next mount");
  if (recovery_) recovery_->Wait();
  if (lease_) {
    Status released = lease_->Release();  // after the final flush
    if (!released.ok()) spdlog::warn("{}", released.ToString());
  }
  nlohmann::json event = FlushResultJson(s, *report);
  event["event"] = "exit";
  {
    // Kept open until the process goes (see ~Mount).
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : exit_waiters_) w->Send(event);
  }
  if (sessions_) sessions_->Stop();  // before the control workers that may wait on it
  if (control_) control_->Stop();
  content_.CloseAll();
  Status persisted = table_->PersistWrittenFiles();
  if (persisted.ok()) persisted = db_->Checkpoint();
  if (!persisted.ok()) spdlog::error("persisting metadata: {}", persisted.ToString());
  return s;
}

void Mount::HandleControl(const nlohmann::json& request, std::shared_ptr<ControlConnection> conn) {
  std::string op = request.value("op", "");
  if (op == "status") {
    nlohmann::json j = StatusJson();
    j["ok"] = true;
    conn->Send(j);
  } else if (op == "flush") {
    FlushOptions fo;
    fo.force = request.value("force", false);
    FlushReport report;
    Status s = Flush(fo, &report);
    conn->Send(FlushResultJson(s, report));
  } else if (op == "sessions") {
    HandleSessionsRequest(request, conn.get());
  } else if (op == "wait-exit") {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_waiters_.push_back(conn);
    }
    conn->Send({{"ok", true}, {"waiting", true}});
  } else {
    conn->Send({{"ok", false}, {"error", "unknown op '" + op + "'"}});
  }
}

void Mount::HandleSessionsRequest(const nlohmann::json& request, ControlConnection* conn) {
  if (!sessions_) {
    conn->Send({{"ok", false}, {"error", "this mount keeps no session index"}});
    return;
  }
  int64_t timeout_ms = 10000;
  if (auto it = request.find("timeout_ms"); it != request.end() && it->is_number_integer()) {
    timeout_ms = std::clamp<int64_t>(it->get<int64_t>(), 0, 60000);
  }
  if (fuse_.serving()) SyncKernelCache();  // appends still in the page cache reach the index too
  Status s = sessions_->CatchUp(std::chrono::milliseconds(timeout_ms));
  nlohmann::json reply = {{"ok", s.ok()}, {"index", sessions_->db_path()}};
  if (!s.ok()) reply["error"] = s.ToString();
  conn->Send(reply);
}

nlohmann::json Mount::StatusJson() {
  InodeTable::Counts c = table_->Count();
  const HydrationStats& h = hydrator_->stats();
  StoreStats& st = store_->stats();
  auto tarball = base_.tarball();
  uint64_t total_files = c.files;
  nlohmann::json j = {
      {"workspace", options_.workspace},
      {"store", store_->Describe()},
      {"mountpoint", options_.mountpoint},
      {"cache", cache_.root()},
      {"pid", ::getpid()},
      {"read_only", options_.read_only},
      {"hydrate", options_.hydrate == HydrateMode::kBackground ? "background" : "lazy"},
      {"base_etag", tarball->etag},
      {"seekable", tarball->seekable},
      {"prepared", prepare_note_},
      {"local_changes", table_->has_changes()},
      {"files", c.files},
      {"dirs", c.dirs},
      {"symlinks", c.symlinks},
      {"dirty_files", c.dirty},
      {"cached_files", c.cached},
      {"remote_files", c.remote},
      {"remote_bytes", c.remote_bytes},
      {"local_bytes", c.local_bytes},
      {"hydrated_percent",
       total_files == 0 ? 100.0 : 100.0 * double(total_files - c.remote) / double(total_files)},
      {"hydration",
       {{"on_demand_files", h.on_demand_files.load()},
        {"streamed_files", h.streamed_files.load()},
        {"prefetched_files", h.prefetched_files.load()},
        {"tail_files", h.tail_files.load()},
        {"completed_files", h.completed_files.load()},
        {"failures", h.failures.load()},
        {"stream_running", h.stream_running.load()},
        {"stream_done", h.stream_done.load()},
        {"last_error", hydrator_->last_error()}}},
      {"store_stats",
       {{"requests", st.requests.load()},
        {"bytes_received", st.bytes_received.load()},
        {"bytes_sent", st.bytes_sent.load()},
        {"retries", st.retries.load()}}},
      {"fuse_requests", fuse_ctx_.requests.load()},
      {"uptime_seconds", (NowNs() - started_ns_) / 1000000000},
  };
  if (options_.generation != 0) j["generation"] = options_.generation;
  if (sync_) j["sync"] = sync_->StatusJson();
  if (sessions_) j["sessions"] = sessions_->StatusJson();
  if (lease_) j["lease"] = lease_->StatusJson();
  std::lock_guard<std::mutex> lock(mu_);
  if (!last_flush_.is_null()) j["last_flush"] = last_flush_;
  if (recovery_) j["recovery"] = recovery_->StatusJson();
  return j;
}

}  // namespace ccfs
