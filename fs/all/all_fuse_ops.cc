#include "fs/all/all_fuse_ops.h"

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

// Names and attributes inside a workspace never change (a snapshot); the
// root's names change when workspaces are pushed or removed.
constexpr double kWorkspaceTimeout = 3600;
constexpr double kRootEntryTimeout = 10;

AllView* View(fuse_req_t req) { return static_cast<AllView*>(fuse_req_userdata(req)); }

template <typename Fn>
void Guard(fuse_req_t req, const char* op, Fn&& fn) {
  GuardFuseCall(req, op, &View(req)->fuse_requests(), std::forward<Fn>(fn));
}

double TimeoutFor(uint64_t parent) {
  return parent == kAllViewRootIno ? kRootEntryTimeout : kWorkspaceTimeout;
}

void FillStat(fuse_req_t req, const NodeInfo& n, struct stat* st) {
  FillStatFromNode(n, View(req)->uid(), View(req)->gid(), st);
}

void FillEntry(fuse_req_t req, const NodeInfo& n, double timeout, fuse_entry_param* e) {
  FillEntryFromNode(n, View(req)->uid(), View(req)->gid(), timeout, e);
}

void OpInit(void*, fuse_conn_info* conn) {
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  // No open/release round trips: content is found by inode on read.
  want(FUSE_CAP_NO_OPEN_SUPPORT);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_CACHE_SYMLINKS);
  want(FUSE_CAP_ASYNC_READ);
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
  conn->max_readahead = 1 << 20;
  conn->time_gran = 1;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup", [&] {
    NodeInfo n;
    int err = View(req)->Lookup(parent, name, &n);
    fuse_entry_param e;
    if (err == ENOENT) {
      // A negative entry: tools probe many paths. At the root only briefly,
      // so a workspace pushed meanwhile is found.
      std::memset(&e, 0, sizeof(e));
      e.entry_timeout = TimeoutFor(parent);
      fuse_reply_entry(req, &e);
      return;
    }
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    FillEntry(req, n, TimeoutFor(parent), &e);
    fuse_reply_entry(req, &e);
  });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  GuardFuseCallNoReply(req, "forget", [&] { View(req)->Forget(ino, nlookup); });
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  GuardFuseCallNoReply(req, "forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) View(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, "getattr", [&] {
    NodeInfo n;
    if (int err = View(req)->GetAttr(ino, &n); err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    struct stat st;
    FillStat(req, n, &st);
    fuse_reply_attr(req, &st, TimeoutFor(n.parent));
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, "readlink", [&] {
    std::string target;
    if (int err = View(req)->Readlink(ino, &target); err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_readlink(req, target.c_str());
    }
  });
}

// ENOSYS under FUSE_CAP_NO_OPEN_SUPPORT: no OPEN/RELEASE messages, page cache
// kept across opens (see fs/kernel/fuse_ops.cc). Opens for writing never get here:
// the mount is read-only.
void OpOpen(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  Guard(req, "open", [&] { fuse_reply_err(req, ENOSYS); });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Guard(req, "read", [&] {
    std::shared_ptr<UniqueFd> fd;
    if (int err = View(req)->OpenContent(ino, &fd); err != 0) {
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

struct DirHandle {
  std::vector<DirEntryInfo> entries;
  uint64_t parent = 0;
};

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    auto h = std::make_unique<DirHandle>();
    NodeInfo self;
    int err = View(req)->GetAttr(ino, &self);
    if (err == 0) err = View(req)->ListDir(ino, &h->entries);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    h->parent = ino == kAllViewRootIno ? ino : self.parent;
    fi->fh = reinterpret_cast<uint64_t>(h.release());
    // A workspace's listing never changes; the root's does.
    bool in_workspace = ino != kAllViewRootIno;
    fi->cache_readdir = in_workspace ? 1 : 0;
    fi->keep_cache = in_workspace ? 1 : 0;
    if (fuse_reply_open(req, fi) != 0) delete reinterpret_cast<DirHandle*>(fi->fh);
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
             bool plus) {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  AllView* view = View(req);
  std::string buf(size, '\0');
  size_t used = 0;
  // Offsets: 1 = ".", 2 = "..", 2 + i + 1 = entries[i].
  for (off_t pos = off; pos < static_cast<off_t>(h->entries.size()) + 2; ++pos) {
    std::string name;
    NodeInfo n;
    if (pos < 2) {
      name = pos == 0 ? "." : "..";
      if (view->GetAttr(pos == 0 ? ino : h->parent, &n) != 0) continue;
    } else {
      const DirEntryInfo& d = h->entries[static_cast<size_t>(pos - 2)];
      name = d.name;
      if (view->GetAttr(d.ino, &n) != 0) continue;  // gone (or failing) since opendir
    }
    size_t need;
    char* dst = buf.data() + used;
    size_t room = size - used;
    if (plus) {
      fuse_entry_param e;
      FillEntry(req, n, TimeoutFor(ino), &e);
      need = fuse_add_direntry_plus(req, dst, room, name.c_str(), &e, pos + 1);
    } else {
      struct stat st;
      FillStat(req, n, &st);
      need = fuse_add_direntry(req, dst, room, name.c_str(), &st, pos + 1);
    }
    if (need > room) break;
    used += need;
    if (plus && pos >= 2) view->AddLookup(n.ino);
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

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] {
    struct statvfs st;
    if (int err = View(req)->Statfs(&st); err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_statfs(req, &st);
    }
  });
}

// Everything that writes.
void ReplyReadOnly(fuse_req_t req, const char* op) {
  Guard(req, op, [&] { fuse_reply_err(req, EROFS); });
}
void OpSetattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) {
  ReplyReadOnly(req, "setattr");
}
void OpMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
  ReplyReadOnly(req, "mknod");
}
void OpMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { ReplyReadOnly(req, "mkdir"); }
void OpSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
  ReplyReadOnly(req, "symlink");
}
void OpUnlink(fuse_req_t req, fuse_ino_t, const char*) { ReplyReadOnly(req, "unlink"); }
void OpRmdir(fuse_req_t req, fuse_ino_t, const char*) { ReplyReadOnly(req, "rmdir"); }
void OpRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
  ReplyReadOnly(req, "rename");
}
void OpLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { ReplyReadOnly(req, "link"); }
void OpWriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec*, off_t, fuse_file_info*) {
  ReplyReadOnly(req, "write");
}
void OpCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
  ReplyReadOnly(req, "create");
}
void OpFallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) {
  ReplyReadOnly(req, "fallocate");
}
void OpCopyFileRange(fuse_req_t req, fuse_ino_t, off_t, fuse_file_info*, fuse_ino_t, off_t,
                     fuse_file_info*, size_t, int) {
  ReplyReadOnly(req, "copy_file_range");
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.statfs = OpStatfs;
  ops.setattr = OpSetattr;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.write_buf = OpWriteBuf;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  ops.copy_file_range = OpCopyFileRange;
  // Absent: release/flush (no opens), fsync/fsyncdir (ENOSYS: nothing to
  // sync), getxattr & co, lseek, locks (kernel-local).
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& AllViewFuseOperations() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

}  // namespace ccfs
