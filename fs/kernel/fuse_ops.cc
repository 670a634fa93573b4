#include "fs/kernel/fuse_ops.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fs/kernel/fuse_common.h"

namespace ccfs {

namespace {

FuseContext* Ctx(fuse_req_t req) { return static_cast<FuseContext*>(fuse_req_userdata(req)); }
Filesystem* Fs(fuse_req_t req) { return Ctx(req)->fs; }

// Callback bodies never unwind into libfuse (fs/kernel/fuse_common.h).
template <typename Fn>
void Guard(fuse_req_t req, const char* op, Fn&& fn) {
  GuardFuseCall(req, op, &Ctx(req)->requests, std::forward<Fn>(fn));
}

template <typename Fn>
void GuardNoReply(fuse_req_t req, const char* op, Fn&& fn) {
  GuardFuseCallNoReply(req, op, std::forward<Fn>(fn));
}

void FillStat(const Filesystem* fs, const NodeInfo& n, struct stat* st) {
  FillStatFromNode(n, fs->options().uid, fs->options().gid, st);
}

void FillEntry(fuse_req_t req, const NodeInfo& n, fuse_entry_param* e) {
  const FsOptions& o = Fs(req)->options();
  FillEntryFromNode(n, o.uid, o.gid, Ctx(req)->entry_timeout, e);
}

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Caller{.uid = ctx->uid, .gid = ctx->gid};
}

void ReplyEntry(fuse_req_t req, int err, const NodeInfo& n) {
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_entry_param e;
  FillEntry(req, n, &e);
  fuse_reply_entry(req, &e);
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* ctx = static_cast<FuseContext*>(userdata);
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  if (ctx->writeback_cache && !ctx->fs->options().read_only) want(FUSE_CAP_WRITEBACK_CACHE);
  // No open/release round trips: content is found by inode on read/write.
  want(FUSE_CAP_NO_OPEN_SUPPORT);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_CACHE_SYMLINKS);
  want(FUSE_CAP_ASYNC_READ);
  // flock/fcntl locks stay in the kernel (local semantics are what we want).
  conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
  // With atomic O_TRUNC the kernel leaves truncation to OPEN, which we never
  // see (no-open support): an `echo x > file` over a longer file kept its old
  // tail. Without it, O_TRUNC arrives as SETATTR(size=0).
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  conn->time_gran = 1;
  spdlog::debug("fuse init: capable {:#x} want {:#x}", conn->capable, conn->want);
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup", [&] {
    NodeInfo n;
    int err = Fs(req)->Lookup(parent, name, &n);
    if (err == ENOENT) {
      // A negative entry the kernel may cache: Claude Code probes many paths.
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      e.entry_timeout = Ctx(req)->entry_timeout;
      fuse_reply_entry(req, &e);
      return;
    }
    ReplyEntry(req, err, n);
  });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  GuardNoReply(req, "forget", [&] { Fs(req)->Forget(ino, nlookup); });
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  GuardNoReply(req, "forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) Fs(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, "getattr", [&] {
    NodeInfo n;
    int err = Fs(req)->GetAttr(ino, &n);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    struct stat st;
    FillStat(Fs(req), n, &st);
    fuse_reply_attr(req, &st, Ctx(req)->entry_timeout);
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Guard(req, "setattr", [&] {
    SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) {
      r.set_mode = true;
      r.mode = attr->st_mode & 07777;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
      r.set_size = true;
      r.size = static_cast<uint64_t>(attr->st_size);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      r.set_mtime = r.mtime_now = true;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      r.set_mtime = true;
      r.mtime_ns = static_cast<int64_t>(attr->st_mtim.tv_sec) * 1000000000 + attr->st_mtim.tv_nsec;
    }
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
      r.set_atime = r.atime_now = true;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
      r.set_atime = true;
      r.atime_ns = static_cast<int64_t>(attr->st_atim.tv_sec) * 1000000000 + attr->st_atim.tv_nsec;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
      r.set_uid = true;
      r.uid = attr->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
      r.set_gid = true;
      r.gid = attr->st_gid;
    }
    NodeInfo n;
    int err = Fs(req)->SetAttr(ino, r, &n);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    struct stat st;
    FillStat(Fs(req), n, &st);
    fuse_reply_attr(req, &st, Ctx(req)->entry_timeout);
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, "readlink", [&] {
    std::string target;
    int err = Fs(req)->Readlink(ino, &target);
    if (err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_readlink(req, target.c_str());
    }
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  Guard(req, "mknod", [&] {
    NodeInfo n;
    int err = EPERM;  // device nodes: a synced config dir has no use for them
    if (S_ISREG(mode)) {
      err = Fs(req)->CreateFile(parent, name, mode & 07777, &n, CallerOf(req));
    } else if (S_ISFIFO(mode) || S_ISSOCK(mode)) {
      err = Fs(req)->MakeSpecial(parent, name, S_ISFIFO(mode) ? NodeType::kFifo : NodeType::kSocket,
                                 mode & 07777, &n, CallerOf(req));
    }
    ReplyEntry(req, err, n);
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, "mkdir", [&] {
    NodeInfo n;
    int err = Fs(req)->MakeDir(parent, name, mode & 07777, &n, CallerOf(req));
    ReplyEntry(req, err, n);
  });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, "symlink", [&] {
    NodeInfo n;
    int err = Fs(req)->MakeSymlink(parent, name, link, &n, CallerOf(req));
    ReplyEntry(req, err, n);
  });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "unlink", [&] { fuse_reply_err(req, Fs(req)->Unlink(parent, name)); });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "rmdir", [&] { fuse_reply_err(req, Fs(req)->Rmdir(parent, name)); });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Guard(req, "rename",
        [&] { fuse_reply_err(req, Fs(req)->Rename(parent, name, newparent, newname, flags)); });
}

void OpLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
  Guard(req, "link", [&] { fuse_reply_err(req, EPERM); });  // a tarball keeps no hard links
}

// With FUSE_CAP_NO_OPEN_SUPPORT, ENOSYS here means "opens need no message":
// the kernel stops sending OPEN and RELEASE and keeps the page cache across
// opens (FOPEN_KEEP_CACHE), so an open/append/close costs one WRITE round
// trip, not five. (libfuse answers success itself when there is no handler,
// which would drop the cache on every open.)
void OpOpen(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  Guard(req, "open", [&] { fuse_reply_err(req, ENOSYS); });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Guard(req, "read", [&] {
    std::shared_ptr<UniqueFd> fd;
    // Valid from `off` on: the page the kernel reads before an append into
    // it does not download the rest of a remote transcript.
    int err = Fs(req)->OpenContent(ino, &fd, static_cast<uint64_t>(off));
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fd->get();
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
  });
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info*) {
  Guard(req, "write", [&] {
    std::shared_ptr<UniqueFd> fd;
    Filesystem::WriteScope scope;  // the bytes count as in flight until booked
    int err = Fs(req)->BeginWrite(ino, static_cast<uint64_t>(off), fuse_buf_size(in), &fd, &scope);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = fd->get();
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) {
      fuse_reply_err(req, static_cast<int>(-n));
      return;
    }
    err = Fs(req)->EndWrite(ino, static_cast<uint64_t>(off) + static_cast<uint64_t>(n));
    if (err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_write(req, static_cast<size_t>(n));
    }
  });
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  Guard(req, "fsync", [&] { fuse_reply_err(req, Fs(req)->Fsync(ino, datasync != 0)); });
}

struct DirHandle {
  std::vector<DirEntryInfo> entries;
  uint64_t parent = 0;
};

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    NodeInfo self;
    int err = Fs(req)->GetAttr(ino, &self);
    if (err == 0 && self.type != NodeType::kDir) err = ENOTDIR;
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    fi->fh = reinterpret_cast<uint64_t>(new DirHandle());
    // The kernel may cache this handle's listing (seekdir, re-reads) but
    // not keep it across opens: kept listings went stale when names changed
    // while the kernel was filling its cache (tests/integration/
    // mount_readdir_fresh_test.sh: 225 of 2,000 listings after create +
    // rename lacked the new name or still showed the old one). A listing is
    // cheap here: the tree is in memory.
    fi->cache_readdir = 1;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0) delete reinterpret_cast<DirHandle*>(fi->fh);
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
             bool plus) {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  if (off == 0) {
    // A listing taken at opendir could predate a create that the kernel has
    // already counted when it starts caching at this READDIR; it would then
    // cache the old listing as current (found as names missing for minutes).
    NodeInfo self;
    int err = Fs(req)->ListDir(ino, &h->entries);
    if (err == 0) err = Fs(req)->GetAttr(ino, &self);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    h->parent = ino == kRootIno ? ino : self.parent;
  }
  std::string buf(size, '\0');
  size_t used = 0;
  // Offsets: 1 = ".", 2 = "..", 2 + i + 1 = entries[i].
  for (off_t pos = off; pos < static_cast<off_t>(h->entries.size()) + 2; ++pos) {
    std::string name;
    NodeInfo n;
    if (pos < 2) {
      name = pos == 0 ? "." : "..";
      if (Fs(req)->GetAttr(pos == 0 ? ino : h->parent, &n) != 0) continue;
    } else {
      const DirEntryInfo& d = h->entries[static_cast<size_t>(pos - 2)];
      name = d.name;
      if (Fs(req)->GetAttr(d.ino, &n) != 0) continue;  // gone since the listing
    }
    size_t need;
    char* dst = buf.data() + used;
    size_t room = size - used;
    if (plus) {
      fuse_entry_param e;
      FillEntry(req, n, &e);
      need = fuse_add_direntry_plus(req, dst, room, name.c_str(), &e, pos + 1);
    } else {
      struct stat st;
      FillStat(Fs(req), n, &st);
      need = fuse_add_direntry(req, dst, room, name.c_str(), &st, pos + 1);
    }
    if (need > room) break;
    used += need;
    if (plus && pos >= 2) Fs(req)->AddLookup(n.ino);
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdir", [&] { ReadDir(req, ino, size, off, fi, false); });
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdirplus", [&] { ReadDir(req, ino, size, off, fi, true); });
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Guard(req, "releasedir", [&] {
    delete reinterpret_cast<DirHandle*>(fi->fh);
    fuse_reply_err(req, 0);
  });
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  Guard(req, "fsyncdir", [&] { fuse_reply_err(req, Fs(req)->Fsync(ino, datasync != 0)); });
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] {
    struct statvfs st;
    int err = Fs(req)->Statfs(&st);
    if (err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_statfs(req, &st);
    }
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Guard(req, "create", [&] {
    NodeInfo n;
    int err = Fs(req)->CreateFile(parent, name, mode & 07777, &n, CallerOf(req));
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    fuse_entry_param e;
    FillEntry(req, n, &e);
    fi->fh = 0;
    fi->keep_cache = 1;
    fuse_reply_create(req, &e, fi);
  });
}

void OpCopyFileRange(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info*,
                     fuse_ino_t ino_out, off_t off_out, fuse_file_info*, size_t len, int flags) {
  Guard(req, "copy_file_range", [&] {
    if (flags != 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    size_t copied = 0;
    int err = Fs(req)->CopyFileRange(ino_in, static_cast<uint64_t>(off_in), ino_out,
                                     static_cast<uint64_t>(off_out), len, &copied);
    if (err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_write(req, copied);
    }
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info*) {
  Guard(req, "fallocate", [&] {
    fuse_reply_err(
        req, Fs(req)->Fallocate(ino, mode, static_cast<uint64_t>(off), static_cast<uint64_t>(len)));
  });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write_buf = OpWriteBuf;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.create = OpCreate;
  ops.copy_file_range = OpCopyFileRange;
  ops.fallocate = OpFallocate;
  // Deliberately absent: release (never sent without opens), flush
  // (ENOSYS once, then the kernel stops asking), getxattr & co (same: no
  // security.capability lookup before every write), lseek, flock/getlk/setlk.
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& FuseOperations() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

}  // namespace ccfs
