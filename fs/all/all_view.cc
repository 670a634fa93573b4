#include "fs/all/all_view.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "fs/lifecycle/mount.h"
#include "fs/ops/filesystem.h"
#include "fs/tree/cache_dir.h"
#include "store/base/clock.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

struct AllView::Slot {
  explicit Slot(std::string n) : name(std::move(n)) {}
  const std::string name;
  // What the last listing said (read without the view's lock).
  std::atomic<bool> listed{true};
  std::atomic<int64_t> mtime_ns{0};
  // Preparation, once: `fs` is published (release) after `mount` is set, and
  // neither changes again until Close().
  std::mutex prepare_mu;
  std::unique_ptr<Mount> mount;
  std::atomic<Filesystem*> fs{nullptr};
  std::string error;  // under prepare_mu: why the last preparation failed
  int64_t failed_at_ns = 0;
};

AllView::AllView(StoreFactory stores, AllViewOptions options)
    : stores_(std::move(stores)),
      options_(std::move(options)),
      uid_(::geteuid()),
      gid_(::getegid()),
      started_ns_(NowNs()) {}

AllView::~AllView() = default;

Result<std::unique_ptr<AllView>> AllView::Open(StoreFactory stores, AllViewOptions options) {
  std::unique_ptr<AllView> v(new AllView(std::move(stores), std::move(options)));
  const std::string& root = v->options_.cache_root;
  CCFS_RETURN_IF_ERROR(MakeDirs(root + "/workspaces", 0700));
  // The workspace caches below are each locked by their Mount too; this lock
  // turns a second view of the same store into a clear error at mount time
  // instead of EIO on first access.
  std::string lock_path = root + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("open " + lock_path, errno);
  v->lock_ = UniqueFd(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::InvalidArgument("another view of every workspace uses the cache " + root +
                                   "; unmount it first, or pass another --cache");
  }
  CCFS_ASSIGN_OR_RETURN(v->list_store_, v->stores_());
  CCFS_RETURN_IF_ERROR(v->Relist());
  return v;
}

Status AllView::Relist() {
  std::vector<WorkspaceInfo> infos;
  Status s = ListWorkspaces(*list_store_, &infos);
  listed_at_ns_ = NowNs();
  std::unique_lock lock(mu_);
  if (!s.ok()) {
    last_list_error_ = s.ToString();
    return s;
  }
  last_list_error_.clear();
  std::set<std::string> present;
  for (const WorkspaceInfo& w : infos) {
    // Names become directory names here and in the cache: only valid ones.
    if (!ValidateWorkspaceName(w.name).ok()) continue;
    auto it = by_name_.find(w.name);
    Slot* slot;
    if (it != by_name_.end()) {
      slot = slots_[it->second].get();
    } else {
      if (slots_.size() >= kAllViewMaxSlots) continue;
      slots_.push_back(std::make_unique<Slot>(w.name));
      by_name_[w.name] = slots_.size() - 1;
      slot = slots_.back().get();
    }
    present.insert(w.name);
    slot->listed = true;
    slot->mtime_ns = w.mtime_unix > 0 ? w.mtime_unix * 1000000000 : started_ns_;
  }
  for (const auto& [name, index] : by_name_) {
    if (!present.count(name)) slots_[index]->listed = false;
  }
  return Status::OK();
}

void AllView::MaybeRelist() {
  auto stale = [this] {
    return NowNs() - listed_at_ns_.load() >= options_.relist_interval_ms * 1000000;
  };
  if (!stale()) return;
  std::lock_guard<std::mutex> lock(relist_mu_);
  if (!stale()) return;  // another thread just listed
  Status s = Relist();
  if (!s.ok()) spdlog::warn("listing the workspaces of {}: {}", options_.store_url, s.ToString());
}

AllView::Slot* AllView::SlotAt(size_t slot) {
  std::shared_lock lock(mu_);
  return slot < slots_.size() ? slots_[slot].get() : nullptr;
}

bool AllView::FindListed(const std::string& name, size_t* slot) {
  std::shared_lock lock(mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end() || !slots_[it->second]->listed) return false;
  *slot = it->second;
  return true;
}

int AllView::Opened(size_t slot, Filesystem** fs) {
  Slot* s = SlotAt(slot);
  if (s == nullptr) return ENOENT;
  if ((*fs = s->fs.load(std::memory_order_acquire)) != nullptr) return 0;
  std::lock_guard<std::mutex> lock(s->prepare_mu);  // first users of a workspace wait here
  if ((*fs = s->fs.load(std::memory_order_acquire)) != nullptr) return 0;
  if (!s->error.empty() && NowNs() - s->failed_at_ns < options_.prepare_retry_ms * 1000000) {
    return EIO;
  }
  auto fail = [&](const Status& st) {
    s->error = st.ToString();
    s->failed_at_ns = NowNs();
    spdlog::error("opening workspace {}: {}", s->name, s->error);
    return EIO;
  };
  auto store = stores_();
  if (!store.ok()) return fail(store.status());
  MountOptions mo;
  mo.store_url = options_.store_url;
  mo.workspace = s->name;
  mo.mountpoint = options_.mountpoint + "/" + s->name;
  mo.cache_root = options_.cache_root + "/workspaces/" + s->name;
  mo.read_only = true;
  mo.hydrate = HydrateMode::kLazy;  // read-only: no lease either
  auto mount = Mount::Prepare(std::move(store).value(), mo);
  if (!mount.ok()) return fail(mount.status());
  s->mount = std::move(mount).value();
  s->error.clear();
  spdlog::info("opened workspace {}", s->name);
  *fs = s->mount->filesystem();
  s->fs.store(*fs, std::memory_order_release);
  return 0;
}

NodeInfo AllView::RootInfo() const {
  NodeInfo n;
  n.ino = kAllViewRootIno;
  n.type = NodeType::kDir;
  n.mode = 0555;
  n.mtime_ns = n.ctime_ns = started_ns_;
  return n;
}

NodeInfo AllView::WorkspaceRootInfo(size_t slot, const Slot& s) const {
  NodeInfo n;
  n.ino = AllViewIno(slot, kRootIno);
  n.parent = kAllViewRootIno;
  n.name = s.name;
  n.type = NodeType::kDir;
  n.mode = 0555;
  n.mtime_ns = n.ctime_ns = s.mtime_ns.load();  // when the workspace was last pushed
  return n;
}

NodeInfo AllView::Globalize(size_t slot, const Slot& s, NodeInfo n) const {
  if (n.ino == kRootIno) return WorkspaceRootInfo(slot, s);
  n.ino = AllViewIno(slot, n.ino);
  n.parent = n.parent == 0 ? kAllViewRootIno : AllViewIno(slot, n.parent);
  return n;
}

int AllView::Lookup(uint64_t parent, const std::string& name, NodeInfo* out) {
  if (name.size() > 255) return ENAMETOOLONG;
  size_t slot;
  if (parent == kAllViewRootIno) {
    if (!FindListed(name, &slot)) {
      MaybeRelist();  // pushed since the last listing?
      if (!FindListed(name, &slot)) return ENOENT;
    }
    Slot* s = SlotAt(slot);
    *out = WorkspaceRootInfo(slot, *s);
    return 0;
  }
  uint64_t local;
  if (!SplitAllViewIno(parent, &slot, &local)) return ENOENT;
  Filesystem* fs;
  if (int err = Opened(slot, &fs); err != 0) return err;
  NodeInfo n;
  if (int err = fs->Lookup(local, name, &n); err != 0) return err;
  if (n.ino > kAllViewLocalMask) {
    fs->Forget(n.ino, 1);
    spdlog::error("workspace inode {} does not fit the view's numbering", n.ino);
    return EOVERFLOW;
  }
  *out = Globalize(slot, *SlotAt(slot), n);
  return 0;
}

void AllView::Forget(uint64_t ino, uint64_t count) {
  size_t slot;
  uint64_t local;
  // The roots are virtual: the view keeps no count for them.
  if (!SplitAllViewIno(ino, &slot, &local) || local == kRootIno) return;
  Slot* s = SlotAt(slot);
  Filesystem* fs = s == nullptr ? nullptr : s->fs.load(std::memory_order_acquire);
  if (fs != nullptr) fs->Forget(local, count);
}

void AllView::AddLookup(uint64_t ino) {
  size_t slot;
  uint64_t local;
  if (!SplitAllViewIno(ino, &slot, &local) || local == kRootIno) return;
  Slot* s = SlotAt(slot);
  Filesystem* fs = s == nullptr ? nullptr : s->fs.load(std::memory_order_acquire);
  if (fs != nullptr) fs->AddLookup(local);
}

int AllView::GetAttr(uint64_t ino, NodeInfo* out) {
  if (ino == kAllViewRootIno) {
    *out = RootInfo();
    return 0;
  }
  size_t slot;
  uint64_t local;
  if (!SplitAllViewIno(ino, &slot, &local)) return ENOENT;
  Slot* s = SlotAt(slot);
  if (s == nullptr) return ENOENT;
  if (local == kRootIno) {
    *out = WorkspaceRootInfo(slot, *s);  // without opening the workspace
    return 0;
  }
  Filesystem* fs;
  if (int err = Opened(slot, &fs); err != 0) return err;
  NodeInfo n;
  if (int err = fs->GetAttr(local, &n); err != 0) return err;
  *out = Globalize(slot, *s, n);
  return 0;
}

int AllView::Readlink(uint64_t ino, std::string* target) {
  size_t slot;
  uint64_t local;
  if (!SplitAllViewIno(ino, &slot, &local) || local == kRootIno) return EINVAL;
  Filesystem* fs;
  if (int err = Opened(slot, &fs); err != 0) return err;
  return fs->Readlink(local, target);
}

int AllView::ListDir(uint64_t ino, std::vector<DirEntryInfo>* out) {
  out->clear();
  if (ino == kAllViewRootIno) {
    MaybeRelist();
    std::shared_lock lock(mu_);
    for (const auto& [name, slot] : by_name_) {  // sorted by name
      if (!slots_[slot]->listed) continue;
      out->push_back(DirEntryInfo{name, AllViewIno(slot, kRootIno), NodeType::kDir});
    }
    return 0;
  }
  size_t slot;
  uint64_t local;
  if (!SplitAllViewIno(ino, &slot, &local)) return ENOENT;
  Filesystem* fs;
  if (int err = Opened(slot, &fs); err != 0) return err;
  if (int err = fs->ListDir(local, out); err != 0) return err;
  for (DirEntryInfo& e : *out) e.ino = AllViewIno(slot, e.ino);
  return 0;
}

int AllView::OpenContent(uint64_t ino, std::shared_ptr<UniqueFd>* fd) {
  size_t slot;
  uint64_t local;
  if (!SplitAllViewIno(ino, &slot, &local) || local == kRootIno) return EISDIR;
  Filesystem* fs;
  if (int err = Opened(slot, &fs); err != 0) return err;
  return fs->OpenContent(local, fd);
}

int AllView::Statfs(struct statvfs* out) {
  if (::statvfs(options_.cache_root.c_str(), out) != 0) return errno;
  out->f_flag |= ST_RDONLY;
  out->f_namemax = 255;
  out->f_files = 1u << 24;
  out->f_ffree = out->f_files;
  out->f_favail = out->f_files;
  return 0;
}

std::vector<std::string> AllView::WorkspaceNames() {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, slot] : by_name_) {
    if (slots_[slot]->listed) names.push_back(name);
  }
  return names;
}

size_t AllView::OpenedCount() {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& s : slots_) n += s->fs.load() != nullptr ? 1 : 0;
  return n;
}

nlohmann::json AllView::StatusJson() {
  std::vector<Slot*> slots;
  std::string list_error;
  {
    std::shared_lock lock(mu_);
    for (const auto& s : slots_) slots.push_back(s.get());
    list_error = last_list_error_;
  }
  // Totals shaped like one mount's status, so `ccfs status` prints them as it
  // prints a mount; per workspace under "workspaces".
  uint64_t files = 0, dirs = 0, symlinks = 0, cached = 0, remote = 0, remote_bytes = 0,
           local_bytes = 0, on_demand = 0, prefetched = 0, failures = 0;
  StoreStats& ls = list_store_->stats();
  uint64_t requests = ls.requests, received = ls.bytes_received, sent = ls.bytes_sent,
           retries = ls.retries;
  size_t listed = 0, opened = 0;
  std::string last_error;
  nlohmann::json per = nlohmann::json::array();
  for (Slot* s : slots) {
    nlohmann::json w = {{"name", s->name}, {"listed", s->listed.load()}};
    if (s->listed) ++listed;
    // Held while the workspace is being opened or closed: report, do not wait.
    std::unique_lock<std::mutex> lock(s->prepare_mu, std::try_to_lock);
    if (!lock.owns_lock() || s->mount == nullptr) {
      w["opened"] = false;
      if (!lock.owns_lock()) {
        w["opening"] = true;
      } else if (!s->error.empty()) {
        w["error"] = s->error;
        if (last_error.empty()) last_error = s->name + ": " + s->error;
      }
      per.push_back(std::move(w));
      continue;
    }
    ++opened;
    nlohmann::json j = s->mount->StatusJson();
    auto u = [&j](const char* k) { return j.value(k, uint64_t{0}); };
    files += u("files");
    dirs += u("dirs");
    symlinks += u("symlinks");
    cached += u("cached_files");
    remote += u("remote_files");
    remote_bytes += u("remote_bytes");
    local_bytes += u("local_bytes");
    const auto& h = j["hydration"];
    on_demand += h.value("on_demand_files", uint64_t{0});
    prefetched += h.value("prefetched_files", uint64_t{0});
    failures += h.value("failures", uint64_t{0});
    std::string err = h.value("last_error", std::string());
    if (!err.empty() && last_error.empty()) last_error = s->name + ": " + err;
    const auto& st = j["store_stats"];
    requests += st.value("requests", uint64_t{0});
    received += st.value("bytes_received", uint64_t{0});
    sent += st.value("bytes_sent", uint64_t{0});
    retries += st.value("retries", uint64_t{0});
    w["opened"] = true;
    for (const char* k : {"base_etag", "prepared", "files", "cached_files", "remote_files",
                          "hydration", "store_stats", "cache"}) {
      w[k] = j[k];
    }
    per.push_back(std::move(w));
  }
  nlohmann::json j = {
      {"all", true},
      {"workspace", "*"},
      {"store", list_store_->Describe()},
      {"mountpoint", options_.mountpoint},
      {"cache", options_.cache_root},
      {"pid", ::getpid()},
      {"read_only", true},
      {"hydrate", "lazy"},
      {"base_etag", "one per workspace (ccfs status --json)"},
      {"prepared", std::to_string(opened) + " of " + std::to_string(listed) + " workspaces opened"},
      {"local_changes", false},
      {"workspace_count", listed},
      {"opened_workspaces", opened},
      {"files", files},
      {"dirs", dirs},
      {"symlinks", symlinks},
      {"dirty_files", 0},
      {"cached_files", cached},
      {"remote_files", remote},
      {"remote_bytes", remote_bytes},
      {"local_bytes", local_bytes},
      {"hydrated_percent", files == 0 ? 100.0 : 100.0 * double(files - remote) / double(files)},
      {"hydration",
       {{"on_demand_files", on_demand},
        {"prefetched_files", prefetched},
        {"failures", failures},
        {"last_error", last_error}}},
      {"store_stats",
       {{"requests", requests},
        {"bytes_received", received},
        {"bytes_sent", sent},
        {"retries", retries}}},
      {"fuse_requests", fuse_requests_.load()},
      {"uptime_seconds", (NowNs() - started_ns_) / 1000000000},
      {"workspaces", std::move(per)},
  };
  if (!list_error.empty()) j["list_error"] = list_error;
  return j;
}

void AllView::Close() {
  std::vector<Slot*> slots;
  {
    std::shared_lock lock(mu_);
    for (const auto& s : slots_) slots.push_back(s.get());
  }
  for (Slot* s : slots) {
    std::lock_guard<std::mutex> lock(s->prepare_mu);
    if (s->mount == nullptr) continue;
    s->fs.store(nullptr, std::memory_order_release);
    FlushReport report;  // read-only: nothing to flush; persists the cache state
    Status st = s->mount->Finish(&report);
    if (!st.ok()) spdlog::warn("closing workspace {}: {}", s->name, st.ToString());
    s->mount.reset();  // lets the next mount of this cache in
  }
}

}  // namespace ccfs
