#include "fs/kernel/fuse_common.h"

#include <cstring>

namespace ccfs {

struct timespec NsToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

void FillStatFromNode(const NodeInfo& n, uid_t uid, gid_t gid, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = n.ino;
  switch (n.type) {
    case NodeType::kFile:
      st->st_mode = S_IFREG | n.mode;
      break;
    case NodeType::kDir:
      st->st_mode = S_IFDIR | n.mode;
      break;
    case NodeType::kSymlink:
      st->st_mode = S_IFLNK | 0777;
      break;
    case NodeType::kFifo:
      st->st_mode = S_IFIFO | n.mode;
      break;
    case NodeType::kSocket:
      st->st_mode = S_IFSOCK | n.mode;
      break;
  }
  st->st_nlink = n.nlink;
  st->st_uid = n.uid == kMountOwner ? uid : n.uid;
  st->st_gid = n.gid == kMountOwner ? gid : n.gid;
  st->st_size = static_cast<off_t>(n.size);
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((n.size + 511) / 512);
  st->st_mtim = NsToTimespec(n.mtime_ns);
  st->st_atim = n.atime_ns != 0 ? NsToTimespec(n.atime_ns) : st->st_mtim;
  st->st_ctim = NsToTimespec(n.ctime_ns);
}

void FillEntryFromNode(const NodeInfo& n, uid_t uid, gid_t gid, double timeout,
                       fuse_entry_param* e) {
  std::memset(e, 0, sizeof(*e));
  e->ino = n.ino;
  e->generation = 1;
  e->attr_timeout = timeout;
  e->entry_timeout = timeout;
  FillStatFromNode(n, uid, gid, &e->attr);
}

}  // namespace ccfs
