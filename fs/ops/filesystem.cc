#include "fs/ops/filesystem.h"

#include <fcntl.h>
#include <linux/fs.h>  // RENAME_EXCHANGE
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "store/base/clock.h"

namespace ccfs {

int Filesystem::Lookup(uint64_t parent, const std::string& name, NodeInfo* out) {
  if (name.size() > 255) return ENAMETOOLONG;
  return table_->Lookup(parent, name, /*count_lookup=*/true, out);
}

void Filesystem::Forget(uint64_t ino, uint64_t count) {
  std::vector<uint64_t> dropped;
  table_->Forget(ino, count, &dropped);
  DropContent(dropped);
}

void Filesystem::DropContent(const std::vector<uint64_t>& dropped) {
  for (uint64_t ino : dropped) {
    Status s = content_->Remove(ino);
    if (!s.ok()) spdlog::warn("removing content of inode {}: {}", ino, s.ToString());
  }
}

int Filesystem::GetAttr(uint64_t ino, NodeInfo* out) { return table_->Get(ino, out); }

int Filesystem::SetAttr(uint64_t ino, const SetAttrRequest& req, NodeInfo* out) {
  if (options_.read_only) return EROFS;
  NodeInfo cur;
  if (int err = table_->Get(ino, &cur); err != 0) return err;
  InodeTable::AttrChange change;
  change.ctime_ns = NowNs();
  // Owners: the kernel has checked that the caller may (default_permissions).
  if (req.set_uid) {
    change.set_uid = true;
    change.uid = StoredUid(req.uid);
  }
  if (req.set_gid) {
    change.set_gid = true;
    change.gid = StoredGid(req.gid);
  }
  if (req.set_atime) {
    change.set_atime = true;
    change.atime_ns = req.atime_now ? change.ctime_ns : req.atime_ns;
  }
  if (req.set_mode) {
    change.set_mode = true;
    change.mode = req.mode;
  }
  if (req.set_mtime) {
    change.set_mtime = true;
    change.mtime_ns = req.mtime_now ? change.ctime_ns : req.mtime_ns;
  }
  ContentChangeScope truncating;  // until the new size is booked
  if (req.set_size) {
    if (cur.type == NodeType::kDir) return EISDIR;
    if (cur.type != NodeType::kFile) return EINVAL;
    // Past the largest file ext4 holds (4 KiB blocks) is EFBIG, as there,
    // and not ENOSPC from asking the cache for the space first.
    constexpr uint64_t kMaxFileSize = (uint64_t{1} << 44) - 4096;
    if (req.size > kMaxFileSize) return EFBIG;
    truncating = ContentChangeScope(table_, ino, req.size);
    // Truncating to 0 needs none of the old bytes; anything else keeps a prefix.
    int err = req.size == 0 ? hydrator_->DiscardRemote(ino) : hydrator_->EnsureLocal(ino);
    if (err != 0) return err;
    std::shared_ptr<UniqueFd> fd;
    if ((err = OpenContent(ino, &fd)) != 0) return err;
    ContentCache::DataTicket ticket;
    if (req.size > cur.size && (err = content_->AdmitData(req.size - cur.size, &ticket)) != 0) {
      return err;
    }
    if (::ftruncate(fd->get(), static_cast<off_t>(req.size)) != 0) return errno;
    change.set_size = true;
    change.size = req.size;
  }
  int err = table_->SetAttr(ino, change, out);
  if (err == 0 && req.set_size) ContentChanged(ino);
  return err;
}

int Filesystem::Readlink(uint64_t ino, std::string* target) {
  NodeInfo n;
  if (int err = table_->Get(ino, &n); err != 0) return err;
  if (n.type != NodeType::kSymlink) return EINVAL;
  *target = n.link_target;
  return 0;
}

uint32_t Filesystem::StoredUid(uint32_t uid) const {
  return uid == options_.uid ? kMountOwner : uid;
}

uint32_t Filesystem::StoredGid(uint32_t gid) const {
  return gid == options_.gid ? kMountOwner : gid;
}

int Filesystem::CreateNode(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
                           const std::string& target, NodeInfo* out, const Caller& caller) {
  if (options_.read_only) return EROFS;
  const uint32_t uid = StoredUid(caller.uid);
  const uint32_t gid = StoredGid(caller.gid);
  uint64_t ino = 0;
  if (type == NodeType::kFile) {
    // The content file first: a name recorded in meta.db always has its
    // bytes in the cache, even after a crash right after the create.
    ino = table_->ReserveIno();
    Status s = content_->CreateEmpty(ino);
    if (!s.ok()) {
      spdlog::error("creating {}: {}", name, s.ToString());
      return s.sys_errno() != 0 ? s.sys_errno() : EIO;
    }
  }
  int err = table_->Create(parent, name, type, mode, target, NowNs(), out, ino, uid, gid);
  if (err != 0 && ino != 0) {
    Status s = content_->Remove(ino);
    if (!s.ok()) spdlog::warn("removing content of inode {}: {}", ino, s.ToString());
  }
  return err;
}

int Filesystem::CreateFile(uint64_t parent, const std::string& name, uint32_t mode, NodeInfo* out,
                           const Caller& caller) {
  int err = CreateNode(parent, name, NodeType::kFile, mode, "", out, caller);
  if (err == 0) ContentChanged(out->ino);
  return err;
}

int Filesystem::MakeDir(uint64_t parent, const std::string& name, uint32_t mode, NodeInfo* out,
                        const Caller& caller) {
  return CreateNode(parent, name, NodeType::kDir, mode, "", out, caller);
}

int Filesystem::MakeSymlink(uint64_t parent, const std::string& name, const std::string& target,
                            NodeInfo* out, const Caller& caller) {
  if (options_.read_only) return EROFS;
  if (target.empty() || target.size() >= 4096) return target.empty() ? ENOENT : ENAMETOOLONG;
  return CreateNode(parent, name, NodeType::kSymlink, 0777, target, out, caller);
}

int Filesystem::MakeSpecial(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
                            NodeInfo* out, const Caller& caller) {
  if (type != NodeType::kFifo && type != NodeType::kSocket) return EINVAL;
  return CreateNode(parent, name, type, mode, "", out, caller);
}

int Filesystem::Unlink(uint64_t parent, const std::string& name) {
  if (options_.read_only) return EROFS;
  std::vector<uint64_t> dropped;
  int err = table_->Remove(parent, name, /*is_dir=*/false, NowNs(), &dropped);
  DropContent(dropped);
  if (err == 0) NamesChanged();
  return err;
}

int Filesystem::Rmdir(uint64_t parent, const std::string& name) {
  if (options_.read_only) return EROFS;
  std::vector<uint64_t> dropped;
  int err = table_->Remove(parent, name, /*is_dir=*/true, NowNs(), &dropped);
  DropContent(dropped);
  if (err == 0) NamesChanged();
  return err;
}

int Filesystem::Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                       const std::string& new_name, unsigned flags) {
  if (options_.read_only) return EROFS;
  std::vector<uint64_t> dropped;
  int err = table_->Rename(parent, name, new_parent, new_name, flags, NowNs(), &dropped);
  DropContent(dropped);
  if (err == 0) {
    NamesChanged();
    // Files now at new names (an atomic replace of a transcript; both sides
    // of RENAME_EXCHANGE).
    NodeInfo moved;
    if (listener_.content_changed &&
        table_->Lookup(new_parent, new_name, /*count_lookup=*/false, &moved) == 0 &&
        moved.type == NodeType::kFile) {
      ContentChanged(moved.ino);
    }
    if (listener_.content_changed && (flags & RENAME_EXCHANGE) != 0 &&
        table_->Lookup(parent, name, /*count_lookup=*/false, &moved) == 0 &&
        moved.type == NodeType::kFile) {
      ContentChanged(moved.ino);
    }
  }
  return err;
}

int Filesystem::ListDir(uint64_t ino, std::vector<DirEntryInfo>* out) {
  return table_->List(ino, out);
}

int Filesystem::OpenContent(uint64_t ino, std::shared_ptr<UniqueFd>* fd, uint64_t from) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (int err = hydrator_->EnsureFrom(ino, from); err != 0) return err;
    auto r = content_->Open(ino);
    if (r.ok()) {
      *fd = std::move(r).value();
      return 0;
    }
    if (!r.status().IsNotFound()) {
      spdlog::error("open content of inode {}: {}", ino, r.status().ToString());
      return ErrnoOr(r.status(), EIO);
    }
    // A cached file whose bytes were removed from the cache: fetch again.
    table_->NoteContentLost(ino);
  }
  return EIO;
}

int Filesystem::WritableFile(uint64_t ino) {
  if (options_.read_only) return EROFS;
  NodeInfo n;
  if (int err = table_->Get(ino, &n); err != 0) return err;
  if (n.type == NodeType::kDir) return EISDIR;
  if (n.type != NodeType::kFile) return EINVAL;
  return 0;
}

int Filesystem::BeginWrite(uint64_t ino, uint64_t off, uint64_t bytes,
                           std::shared_ptr<UniqueFd>* fd, WriteScope* scope) {
  if (int err = WritableFile(ino); err != 0) return err;
  // Only [off, end) is touched: bytes below it need not be local.
  if (int err = OpenContent(ino, fd, off); err != 0) return err;
  if (int err = content_->AdmitData(bytes, &scope->ticket); err != 0) return err;
  scope->change = ContentChangeScope(table_, ino, off);
  return 0;
}

int Filesystem::EndWrite(uint64_t ino, uint64_t end) {
  int err = table_->NoteWrite(ino, end, NowNs());
  if (err == 0) ContentChanged(ino);
  return err;
}

int Filesystem::Write(uint64_t ino, uint64_t off, const char* data, size_t len) {
  std::shared_ptr<UniqueFd> fd;
  WriteScope scope;
  if (int err = BeginWrite(ino, off, len, &fd, &scope); err != 0) return err;
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd->get(), data + done, len - done, static_cast<off_t>(off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return EndWrite(ino, off + len);
}

int Filesystem::Read(uint64_t ino, uint64_t off, size_t len, std::string* out) {
  std::shared_ptr<UniqueFd> fd;
  if (int err = OpenContent(ino, &fd, off); err != 0) return err;
  out->resize(len);
  ssize_t n = ::pread(fd->get(), out->data(), len, static_cast<off_t>(off));
  if (n < 0) return errno;
  out->resize(static_cast<size_t>(n));
  table_->NoteRead(ino, NowNs());
  return 0;
}

int Filesystem::Fsync(uint64_t ino, bool datasync) {
  NodeInfo n;
  if (int err = table_->Get(ino, &n); err != 0) return err;
  if (n.type == NodeType::kFile && n.state != ContentState::kRemote) {
    auto r = content_->Open(ino);
    if (r.ok() && (datasync ? ::fdatasync(r.value()->get()) : ::fsync(r.value()->get())) != 0) {
      return errno;
    }
  }
  // The metadata that says where these bytes belong must be durable too,
  // and so must the content file's own name in the cache.
  Status s = table_->PersistWrittenFiles();
  if (s.ok()) s = content_->SyncDir();
  if (s.ok()) s = db_->Checkpoint();
  if (!s.ok()) {
    spdlog::error("fsync metadata: {}", s.ToString());
    return s.sys_errno() != 0 ? s.sys_errno() : EIO;
  }
  return 0;
}

int Filesystem::CopyFileRange(uint64_t ino_in, uint64_t off_in, uint64_t ino_out, uint64_t off_out,
                              size_t len, size_t* copied) {
  *copied = 0;
  std::shared_ptr<UniqueFd> in, out;
  if (int err = OpenContent(ino_in, &in); err != 0) return err;
  WriteScope scope;
  if (int err = BeginWrite(ino_out, off_out, len, &out, &scope); err != 0) return err;
  loff_t src = static_cast<loff_t>(off_in), dst = static_cast<loff_t>(off_out);
  while (*copied < len) {
    ssize_t n = ::copy_file_range(in->get(), &src, out->get(), &dst, len - *copied, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (*copied > 0) break;
      return errno;
    }
    if (n == 0) break;  // end of the source
    *copied += static_cast<size_t>(n);
  }
  if (*copied == 0) return 0;
  return EndWrite(ino_out, off_out + *copied);
}

int Filesystem::Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) {
  if (mode != 0) return EOPNOTSUPP;
  std::shared_ptr<UniqueFd> fd;
  WriteScope scope;
  if (int err = BeginWrite(ino, off, len, &fd, &scope); err != 0) return err;
  int err = ::posix_fallocate(fd->get(), static_cast<off_t>(off), static_cast<off_t>(len));
  if (err != 0) return err;
  NodeInfo n;
  if (table_->Get(ino, &n) == 0 && off + len > n.size) return EndWrite(ino, off + len);
  return 0;
}

int Filesystem::Statfs(struct statvfs* out) {
  if (::statvfs(content_->Path(0).c_str(), out) != 0) {
    // Path(0) never exists; statvfs of its directory is what we want.
    std::string dir = content_->Path(0);
    dir.resize(dir.rfind('/'));
    if (::statvfs(dir.c_str(), out) != 0) return errno;
  }
  out->f_namemax = 255;
  out->f_files = 1u << 24;
  out->f_ffree = out->f_files;
  out->f_favail = out->f_files;
  return 0;
}

}  // namespace ccfs
