#include "fs/tree/inode_table.h"

#include <linux/fs.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <spdlog/spdlog.h>
#include <sys/stat.h>  // S_ISGID

#include <algorithm>
#include <cerrno>

namespace ccfs {

Status InodeTable::Load(const std::vector<NodeRecord>& records) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_.clear();
  next_ino_ = 2;
  for (const NodeRecord& r : records) {
    Node n;
    static_cast<NodeRecord&>(n) = r;
    // A remote file has no content file, so no watermark either.
    if (n.type != NodeType::kFile || n.state == ContentState::kRemote) n.local_from = 0;
    // Nothing below a tail-only file's watermark can have changed (writing
    // there completes it first), so its changes start there at the lowest.
    if (n.state == ContentState::kDirty) n.low_change = n.local_from;
    next_ino_ = std::max(next_ino_, r.ino + 1);
    nodes_.emplace(r.ino, std::move(n));
  }
  Node* root = Find(kRootIno);
  if (root == nullptr || root->type != NodeType::kDir) {
    return Status::Corruption("inode table has no root directory");
  }
  for (auto& [ino, n] : nodes_) {
    if (ino == kRootIno) continue;
    Node* parent = Find(n.parent);
    if (parent == nullptr || parent->type != NodeType::kDir || n.name.empty()) {
      return Status::Corruption("inode " + std::to_string(ino) + " has no valid parent");
    }
    if (parent->children.count(n.name) != 0) {
      return Status::Corruption("duplicate name " + n.name + " in inode table");
    }
    AttachChild(parent, n.name, n);
  }
  root->nlookup = 1;  // the kernel's reference, never forgotten
  return Status::OK();
}

InodeTable::Node* InodeTable::Find(uint64_t ino) {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : &it->second;
}

void InodeTable::Export(const Node& n, NodeInfo* out) {
  *out = n;
  if (n.unlinked) {
    out->nlink = 0;
  } else if (n.type == NodeType::kDir) {
    // "." and the name in its parent, plus each subdirectory's "..".
    out->nlink = 2 + n.subdirs;
  } else {
    out->nlink = 1;
  }
}

InodeTable::Node* InodeTable::Child(Node* dir, const std::string& name) {
  auto it = dir->children.find(name);
  return it == dir->children.end() ? nullptr : Find(it->second);
}

void InodeTable::AttachChild(Node* dir, const std::string& name, const Node& child) {
  dir->children.insert_or_assign(name, child.ino);
  if (child.type == NodeType::kDir) ++dir->subdirs;
}

void InodeTable::DetachChild(Node* dir, const std::string& name) {
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return;
  const Node* child = Find(it->second);
  if (child != nullptr && child->type == NodeType::kDir && dir->subdirs > 0) --dir->subdirs;
  dir->children.erase(it);
}

void InodeTable::Persist(const Node& n) {
  if (n.unlinked) return;
  Status s = db_->PutNode(n);
  if (!s.ok()) spdlog::error("persisting inode {}: {}", n.ino, s.ToString());
}

int InodeTable::Commit(MetaChange change) {
  if (!had_change_) change.values.emplace_back(kLocalChangesKey, "1");
  Status s = db_->Apply(change);
  if (!s.ok()) {
    spdlog::error("recording a change of the tree: {}", s.ToString());
    return s.sys_errno() != 0 ? s.sys_errno() : EIO;
  }
  Changed();
  return 0;
}

void InodeTable::Changed() {
  ++changes_;
  had_change_ = true;
}

std::string InodeTable::PathLocked(const Node* n) {
  std::string path;
  while (n != nullptr && n->ino != kRootIno) {
    path = path.empty() ? n->name : n->name + "/" + path;
    n = Find(n->parent);
  }
  return path;
}

bool InodeTable::IsAncestor(uint64_t maybe_ancestor, uint64_t ino) {
  for (Node* n = Find(ino); n != nullptr && n->ino != kRootIno; n = Find(n->parent)) {
    if (n->ino == maybe_ancestor) return true;
  }
  return maybe_ancestor == kRootIno;
}

int InodeTable::Lookup(uint64_t parent, const std::string& name, bool count_lookup, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* dir = Find(parent);
  if (dir == nullptr) return ENOENT;
  if (dir->type != NodeType::kDir) return ENOTDIR;
  Node* n = Child(dir, name);
  if (n == nullptr) return ENOENT;
  if (count_lookup) ++n->nlookup;
  Export(*n, out);
  return 0;
}

void InodeTable::MaybeDrop(Node* n, std::vector<uint64_t>* dropped) {
  if (n->ino == kRootIno || !n->unlinked || n->nlookup > 0) return;
  dropped->push_back(n->ino);
  nodes_.erase(n->ino);
}

void InodeTable::Forget(uint64_t ino, uint64_t count, std::vector<uint64_t>* dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || ino == kRootIno) return;
  n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
  MaybeDrop(n, dropped);
}

void InodeTable::AddLookup(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Node* n = Find(ino)) ++n->nlookup;
}

int InodeTable::Get(uint64_t ino, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return ENOENT;
  Export(*n, out);
  return 0;
}

int InodeTable::Path(uint64_t ino, std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->unlinked) return ENOENT;
  *out = PathLocked(n);
  return 0;
}

uint64_t InodeTable::ReserveIno() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_ino_++;
}

int InodeTable::Create(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
                       const std::string& link_target, int64_t now_ns, NodeInfo* out, uint64_t ino,
                       uint32_t uid, uint32_t gid) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* dir = Find(parent);
  if (dir == nullptr || dir->unlinked) return ENOENT;
  if (dir->type != NodeType::kDir) return ENOTDIR;
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return EINVAL;
  }
  if (name.size() > 255) return ENAMETOOLONG;
  if (dir->children.count(name) != 0) return EEXIST;
  Node n;
  n.ino = ino != 0 ? ino : next_ino_++;
  n.parent = parent;
  n.name = name;
  n.type = type;
  n.mode = mode & 07777;
  n.mtime_ns = n.ctime_ns = now_ns;
  n.link_target = link_target;
  n.size = type == NodeType::kSymlink ? link_target.size() : 0;
  n.state = type == NodeType::kFile ? ContentState::kDirty : ContentState::kCached;
  n.uid = uid;
  n.gid = gid;
  // In a set-group-ID directory a new node takes the directory's group, and
  // a new directory keeps the bit (as ext4 and every BSD-group filesystem).
  if (dir->mode & S_ISGID) {
    n.gid = dir->gid;
    if (type == NodeType::kDir) n.mode |= S_ISGID;
  }
  n.atime_ns = now_ns;
  n.nlookup = 1;
  NodeRecord dir_after = *dir;
  dir_after.mtime_ns = dir_after.ctime_ns = now_ns;
  if (int err = Commit({.puts = {n, dir_after}}); err != 0) return err;
  AttachChild(dir, name, n);
  dir->mtime_ns = dir->ctime_ns = now_ns;
  auto [it, inserted] = nodes_.emplace(n.ino, std::move(n));
  (void)inserted;
  Export(it->second, out);
  return 0;
}

void InodeTable::Unname(Node* victim, std::vector<uint64_t>* dropped) {
  if (Node* dir = Find(victim->parent)) DetachChild(dir, victim->name);
  victim->unlinked = true;
  MaybeDrop(victim, dropped);
}

int InodeTable::Remove(uint64_t parent, const std::string& name, bool is_dir, int64_t now_ns,
                       std::vector<uint64_t>* dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* dir = Find(parent);
  if (dir == nullptr) return ENOENT;
  if (dir->type != NodeType::kDir) return ENOTDIR;
  Node* n = Child(dir, name);
  if (n == nullptr) return ENOENT;
  if (is_dir) {
    if (n->type != NodeType::kDir) return ENOTDIR;
    if (!n->children.empty()) return ENOTEMPTY;
  } else if (n->type == NodeType::kDir) {
    return EISDIR;
  }
  NodeRecord dir_after = *dir;
  dir_after.mtime_ns = dir_after.ctime_ns = now_ns;
  if (int err = Commit({.puts = {dir_after}, .deletes = {n->ino}}); err != 0) return err;
  dir->mtime_ns = dir->ctime_ns = now_ns;
  Unname(n, dropped);
  return 0;
}

int InodeTable::Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                       const std::string& new_name, unsigned flags, int64_t now_ns,
                       std::vector<uint64_t>* dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return EINVAL;
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return EINVAL;
  Node* from_dir = Find(parent);
  Node* to_dir = Find(new_parent);
  if (from_dir == nullptr || to_dir == nullptr || to_dir->unlinked) return ENOENT;
  if (from_dir->type != NodeType::kDir || to_dir->type != NodeType::kDir) return ENOTDIR;
  if (new_name.empty() || new_name == "." || new_name == ".." ||
      new_name.find('/') != std::string::npos) {
    return EINVAL;
  }
  if (new_name.size() > 255) return ENAMETOOLONG;
  Node* src = Child(from_dir, name);
  if (src == nullptr) return ENOENT;
  Node* dst = Child(to_dir, new_name);
  // A directory cannot move beneath itself.
  if (src->type == NodeType::kDir && IsAncestor(src->ino, new_parent)) return EINVAL;

  if (flags & RENAME_EXCHANGE) {
    if (dst == nullptr) return ENOENT;
    if (dst->type == NodeType::kDir && IsAncestor(dst->ino, parent)) return EINVAL;
    if (src == dst) return 0;
    MetaChange change;
    NodeRecord src_after = *src, dst_after = *dst;
    std::swap(src_after.parent, dst_after.parent);
    std::swap(src_after.name, dst_after.name);
    src_after.ctime_ns = dst_after.ctime_ns = now_ns;
    src_after.implicit = dst_after.implicit = false;
    change.puts = {src_after, dst_after};
    AddDirsTouched(from_dir, to_dir, now_ns, &change);
    if (int err = Commit(std::move(change)); err != 0) return err;
    // Detach both names first: AttachChild counts what it adds, and each
    // directory may gain or lose a subdirectory in the swap.
    DetachChild(from_dir, name);
    DetachChild(to_dir, new_name);
    AttachChild(from_dir, name, *dst);
    AttachChild(to_dir, new_name, *src);
    std::swap(src->parent, dst->parent);
    std::swap(src->name, dst->name);
    src->ctime_ns = dst->ctime_ns = now_ns;
    src->implicit = dst->implicit = false;
    from_dir->mtime_ns = from_dir->ctime_ns = to_dir->mtime_ns = to_dir->ctime_ns = now_ns;
    return 0;
  }

  if (dst != nullptr) {
    if (dst == src) return 0;  // same inode: POSIX says do nothing
    if (flags & RENAME_NOREPLACE) return EEXIST;
    if (src->type == NodeType::kDir) {
      if (dst->type != NodeType::kDir) return ENOTDIR;
      if (!dst->children.empty()) return ENOTEMPTY;
    } else if (dst->type == NodeType::kDir) {
      return EISDIR;
    }
  }
  MetaChange change;
  if (dst != nullptr) change.deletes.push_back(dst->ino);
  NodeRecord src_after = *src;
  src_after.parent = new_parent;
  src_after.name = new_name;
  src_after.ctime_ns = now_ns;
  src_after.implicit = false;
  change.puts.push_back(src_after);
  AddDirsTouched(from_dir, to_dir, now_ns, &change);
  if (int err = Commit(std::move(change)); err != 0) return err;
  if (dst != nullptr) Unname(dst, dropped);
  DetachChild(from_dir, name);
  AttachChild(to_dir, new_name, *src);
  src->parent = new_parent;
  src->name = new_name;
  src->ctime_ns = now_ns;
  src->implicit = false;
  from_dir->mtime_ns = from_dir->ctime_ns = to_dir->mtime_ns = to_dir->ctime_ns = now_ns;
  return 0;
}

void InodeTable::AddDirsTouched(const Node* from_dir, const Node* to_dir, int64_t now_ns,
                                MetaChange* change) {
  NodeRecord from_after = *from_dir;
  from_after.mtime_ns = from_after.ctime_ns = now_ns;
  change->puts.push_back(from_after);
  if (to_dir != from_dir) {
    NodeRecord to_after = *to_dir;
    to_after.mtime_ns = to_after.ctime_ns = now_ns;
    change->puts.push_back(to_after);
  }
}

int InodeTable::List(uint64_t ino, std::vector<DirEntryInfo>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* dir = Find(ino);
  if (dir == nullptr) return ENOENT;
  if (dir->type != NodeType::kDir) return ENOTDIR;
  out->clear();
  out->reserve(dir->children.size());
  for (const auto& [name, child] : dir->children) {
    Node* c = Find(child);
    if (c != nullptr) out->push_back(DirEntryInfo{name, child, c->type});
  }
  return 0;
}

int InodeTable::SetAttr(uint64_t ino, const AttrChange& change, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return ENOENT;
  NodeInfo after = *n;  // the post-state, built before anything changes
  if (change.set_size) {
    if (n->type == NodeType::kDir) return EISDIR;
    if (n->type != NodeType::kFile) return EINVAL;
    if (n->state == ContentState::kRemote) return EIO;  // caller must hydrate first
    // A tail-only file keeps a prefix in its origin: the caller completes it
    // first (Hydrator::EnsureLocal, DiscardRemote).
    if (n->local_from != 0) return EIO;
    if (n->size != change.size || n->state != ContentState::kDirty) {
      after.size = change.size;
      after.state = ContentState::kDirty;
      ++after.data_gen;
    }
    after.mtime_ns = change.ctime_ns;
  }
  if (change.set_mode) after.mode = change.mode & 07777;
  if (change.set_mtime) after.mtime_ns = change.mtime_ns;
  if (change.set_atime) after.atime_ns = change.atime_ns;
  if (change.set_uid) after.uid = change.uid;
  if (change.set_gid) after.gid = change.gid;
  if (change.set_mode || change.set_size) after.implicit = false;
  after.ctime_ns = change.ctime_ns;
  // What the store keeps: type, mode, size, mtime, bytes.
  bool stored = change.set_size || change.set_mode || change.set_mtime;
  if (n->unlinked) {
    if (stored) Changed();
  } else if (stored) {
    if (int err = Commit({.puts = {after}}); err != 0) return err;
  } else if (Status s = db_->Apply({.puts = {after}}); !s.ok()) {
    spdlog::error("recording an owner or access time: {}", s.ToString());
    return s.sys_errno() != 0 ? s.sys_errno() : EIO;
  }
  static_cast<NodeInfo&>(*n) = after;
  n->size_unsaved = false;
  Export(*n, out);
  return 0;
}

void InodeTable::NoteRead(uint64_t ino, int64_t now_ns) {
  constexpr int64_t kDayNs = int64_t{86400} * 1000000000;
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return;
  int64_t shown = n->atime_ns != 0 ? n->atime_ns : n->mtime_ns;
  if (shown <= n->mtime_ns || shown <= n->ctime_ns || now_ns - shown >= kDayNs) {
    n->atime_ns = now_ns;
  }
}

int InodeTable::NoteWrite(uint64_t ino, uint64_t end, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return ENOENT;
  if (n->type != NodeType::kFile) return EISDIR;
  if (n->state == ContentState::kRemote) return EIO;
  if (n->state != ContentState::kDirty && !n->unlinked) {
    // The transition must survive a crash (sizes follow the content file):
    // recorded first, or the write fails.
    NodeRecord after = *n;
    after.state = ContentState::kDirty;
    after.size = std::max(after.size, end);
    after.mtime_ns = after.ctime_ns = now_ns;
    if (int err = Commit({.puts = {after}}); err != 0) return err;
  }
  if (end > n->size) n->size = end;
  n->mtime_ns = n->ctime_ns = now_ns;
  ++n->data_gen;
  if (n->state != ContentState::kDirty) {
    n->state = ContentState::kDirty;
    if (n->unlinked) Changed();
  } else {
    ++changes_;
    if (!n->size_unsaved) {
      n->size_unsaved = true;
      written_.push_back(ino);
    }
  }
  return 0;
}

bool InodeTable::NoteHydrated(uint64_t ino, OriginKind kind, const std::string& origin_path) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->state != ContentState::kRemote || n->origin_kind != kind ||
      n->origin_path != origin_path) {
    return false;
  }
  n->state = ContentState::kCached;
  n->local_from = 0;  // fetched whole
  Persist(*n);
  return true;
}

int InodeTable::NoteTailFetched(uint64_t ino, OriginKind kind, const std::string& origin_path,
                                const std::string& origin_etag, uint64_t local_from) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->type != NodeType::kFile || n->state != ContentState::kRemote ||
      n->origin_kind != kind || n->origin_path != origin_path || n->origin_etag != origin_etag ||
      local_from > n->size) {
    return EAGAIN;
  }
  NodeRecord after = *n;
  after.state = ContentState::kCached;
  after.local_from = local_from;
  // Recorded, not best effort: a crash must not leave meta.db saying
  // "cached" without the watermark. (A crash before this leaves it remote,
  // and the content file is replaced at the next fetch.)
  if (!n->unlinked) {
    Status s = db_->PutNode(after);
    if (!s.ok()) {
      spdlog::error("recording the tail of inode {}: {}", ino, s.ToString());
      return s.sys_errno() != 0 ? s.sys_errno() : EIO;
    }
  }
  n->state = ContentState::kCached;
  n->local_from = local_from;
  return 0;
}

int InodeTable::NoteCompleted(uint64_t ino, uint64_t local_from) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return ENOENT;
  if (n->local_from != local_from || n->state == ContentState::kRemote) return EAGAIN;
  NodeRecord after = *n;
  after.local_from = 0;
  if (!n->unlinked) {
    Status s = db_->PutNode(after);
    if (!s.ok()) {
      spdlog::error("recording inode {} as whole: {}", ino, s.ToString());
      return s.sys_errno() != 0 ? s.sys_errno() : EIO;
    }
  }
  n->local_from = 0;
  n->size_unsaved = false;  // the record just written has the current size
  return 0;
}

int InodeTable::DropRemoteContent(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return ENOENT;
  if (n->state != ContentState::kRemote) return 0;
  NodeRecord after = *n;
  after.state = ContentState::kDirty;
  after.size = 0;
  if (!n->unlinked) {
    if (int err = Commit({.puts = {after}}); err != 0) return err;
  }
  n->state = ContentState::kDirty;
  n->size = 0;
  n->low_change = 0;
  ++n->data_gen;
  if (n->unlinked) Changed();
  return 0;
}

void InodeTable::NoteContentLost(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->state != ContentState::kCached || n->origin_kind == OriginKind::kNone) {
    return;
  }
  n->state = ContentState::kRemote;
  n->local_from = 0;
  Persist(*n);
}

bool InodeTable::BeginContentChange(uint64_t ino, uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return false;
  n->low_change = std::min(n->low_change, offset);
  if (offset >= n->size) return false;
  ++n->rewrites_in_flight;
  return true;
}

void InodeTable::EndContentChange(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->rewrites_in_flight == 0) return;
  --n->rewrites_in_flight;
  ++n->rewrite_gen;
}

int InodeTable::GetSettled(uint64_t ino, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->unlinked) return ENOENT;
  if (n->rewrites_in_flight != 0) return EAGAIN;
  Export(*n, out);
  return 0;
}

void InodeTable::Snapshot(std::vector<SnapshotEntry>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  // Depth-first, children in byte order: the order a packer walking a sorted
  // tree produces, so unchanged runs of the base tarball line up.
  std::vector<std::pair<uint64_t, std::string>> stack;
  Node* root = Find(kRootIno);
  for (auto it = root->children.rbegin(); it != root->children.rend(); ++it) {
    stack.emplace_back(it->second, it->first);
  }
  while (!stack.empty()) {
    auto [ino, path] = std::move(stack.back());
    stack.pop_back();
    Node* n = Find(ino);
    if (n == nullptr || !IsStoredType(n->type)) continue;
    out->push_back(SnapshotEntry{path, *n});
    for (auto it = n->children.rbegin(); it != n->children.rend(); ++it) {
      stack.emplace_back(it->second, path + "/" + it->first);
    }
  }
}

void InodeTable::NoteFlushed(uint64_t ino, uint64_t seen_gen, OriginKind kind,
                             const std::string& origin_path, const std::string& origin_etag) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr) return;
  n->origin_kind = kind;
  n->origin_path = origin_path;
  n->origin_etag = origin_etag;
  if (n->state == ContentState::kDirty && n->data_gen == seen_gen) {
    n->state = ContentState::kCached;
    n->low_change = UINT64_MAX;
  }
  Persist(*n);
}

uint64_t InodeTable::change_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return changes_;
}

bool InodeTable::MarkCleanIf(uint64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  if (changes_ != count) return false;
  // Under the lock: a change that races this one either came first (then
  // changes_ differs) or comes after and records "1" again.
  Status s = db_->SetValue(kLocalChangesKey, "0");
  if (!s.ok()) {
    spdlog::error("recording a clean state: {}", s.ToString());
    return false;
  }
  had_change_ = false;
  return true;
}

bool InodeTable::has_changes() {
  std::lock_guard<std::mutex> lock(mu_);
  return had_change_;
}

void InodeTable::set_has_changes(bool v) {
  std::lock_guard<std::mutex> lock(mu_);
  had_change_ = v;
}

Status InodeTable::PersistWrittenFiles() {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t ino : written_) {
    Node* n = Find(ino);
    if (n == nullptr || !n->size_unsaved) continue;
    n->size_unsaved = false;
    if (n->unlinked) continue;
    CCFS_RETURN_IF_ERROR(db_->PutNode(*n));
  }
  written_.clear();
  return Status::OK();
}

int InodeTable::Resolve(const std::string& path, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(kRootIno);
  size_t pos = 0;
  while (n != nullptr && pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (n->type != NodeType::kDir) return ENOTDIR;
    n = Child(n, path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  if (n == nullptr) return ENOENT;
  Export(*n, out);
  return 0;
}

int InodeTable::AdoptRemote(uint64_t ino, uint64_t seen_gen, const NodeRecord& theirs,
                            bool keep_content) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->unlinked) return ENOENT;
  if (n->type != theirs.type) return EINVAL;
  if (n->data_gen != seen_gen) return EAGAIN;
  NodeInfo after = *n;
  after.mode = theirs.mode;
  after.mtime_ns = theirs.mtime_ns;
  after.ctime_ns = theirs.ctime_ns;
  after.link_target = theirs.link_target;
  after.origin_kind = theirs.origin_kind;
  after.origin_path = theirs.origin_path;
  after.origin_etag = theirs.origin_etag;
  after.implicit = false;
  if (n->type == NodeType::kFile &&
      (!keep_content || n->state == ContentState::kRemote || n->size != theirs.size)) {
    after.state = ContentState::kRemote;
    after.local_from = 0;
    ++after.data_gen;
  } else if (n->type == NodeType::kFile) {
    // Kept content: theirs has our bytes, so a tail-only file's prefix is
    // theirs too and its watermark stays (relative to its new origin).
    after.state = ContentState::kCached;
  }
  after.size = theirs.size;
  after.low_change = UINT64_MAX;  // remote, or already theirs
  if (int err = Commit({.puts = {after}}); err != 0) return err;
  static_cast<NodeInfo&>(*n) = after;
  n->size_unsaved = false;
  return 0;
}

int InodeTable::InsertRemote(const std::string& path, const NodeRecord& theirs, NodeInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  // Walk (and plan the missing parents) first; nothing changes until the
  // whole insertion is recorded.
  Node* dir = Find(kRootIno);
  std::vector<Node> new_dirs;
  uint64_t parent = kRootIno;
  size_t pos = 0;
  for (size_t slash; (slash = path.find('/', pos)) != std::string::npos; pos = slash + 1) {
    std::string name = path.substr(pos, slash - pos);
    Node* next = new_dirs.empty() ? Child(dir, name) : nullptr;
    if (next == nullptr) {
      Node d;
      d.ino = next_ino_++;
      d.parent = parent;
      d.name = name;
      d.type = NodeType::kDir;
      d.mode = 0755;
      d.mtime_ns = d.ctime_ns = theirs.mtime_ns;
      d.implicit = true;
      parent = d.ino;
      new_dirs.push_back(std::move(d));
    } else if (next->type != NodeType::kDir) {
      return ENOTDIR;
    } else {
      dir = next;
      parent = next->ino;
    }
  }
  std::string name = path.substr(pos);
  if (name.empty() || (new_dirs.empty() && dir->children.count(name) != 0)) return EEXIST;
  Node n;
  static_cast<NodeRecord&>(n) = theirs;
  n.ino = next_ino_++;
  n.parent = parent;
  n.name = name;
  MetaChange change;
  for (const Node& d : new_dirs) change.puts.push_back(d);
  change.puts.push_back(n);
  if (int err = Commit(std::move(change)); err != 0) return err;
  for (Node& d : new_dirs) {
    AttachChild(Find(d.parent), d.name, d);
    nodes_.emplace(d.ino, std::move(d));
  }
  AttachChild(Find(n.parent), name, n);
  Node& added = nodes_.emplace(n.ino, std::move(n)).first->second;
  Export(added, out);
  return 0;
}

void InodeTable::Retarget(uint64_t ino, const std::string& old_etag, const std::string& new_etag) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* n = Find(ino);
  if (n == nullptr || n->origin_kind != OriginKind::kTarball || n->origin_etag != old_etag) return;
  n->origin_etag = new_etag;
  Persist(*n);
}

InodeTable::Counts InodeTable::Count() {
  std::lock_guard<std::mutex> lock(mu_);
  Counts c;
  for (const auto& [ino, n] : nodes_) {
    if (n.unlinked) continue;
    switch (n.type) {
      case NodeType::kDir:
        ++c.dirs;
        break;
      case NodeType::kSymlink:
        ++c.symlinks;
        break;
      case NodeType::kFifo:
      case NodeType::kSocket:
        break;  // not counted: status reports what the store keeps
      case NodeType::kFile:
        ++c.files;
        if (n.state == ContentState::kRemote) {
          ++c.remote;
          c.remote_bytes += n.size;
        } else {
          (n.state == ContentState::kDirty ? c.dirty : c.cached) += 1;
          c.local_bytes += n.size;
        }
        break;
    }
  }
  return c;
}

void InodeTable::ForEachRemote(const std::function<void(const NodeInfo&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [ino, n] : nodes_) {
    if (!n.unlinked && n.type == NodeType::kFile && n.state == ContentState::kRemote) fn(n);
  }
}

}  // namespace ccfs
