// Filesystem: the POSIX semantics of the mount, free of libfuse types so that
// unit tests drive it directly (fs/kernel/fuse_ops.cc adapts it to the kernel).
// Metadata lives in InodeTable; bytes in ContentCache files, fetched by the
// Hydrator the first time a remote file is read, written or truncated
// (whole-file copy-on-write). Every method returns 0 or an errno value.
#pragma once

#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fs/hydrate/hydrator.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/meta_db.h"

namespace ccfs {

struct FsOptions {
  bool read_only = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// What a setattr asks for (absent fields are left alone).
struct SetAttrRequest {
  bool set_mode = false;
  uint32_t mode = 0;
  bool set_size = false;
  uint64_t size = 0;
  bool set_mtime = false;
  bool mtime_now = false;
  int64_t mtime_ns = 0;
  bool set_atime = false;
  bool atime_now = false;
  int64_t atime_ns = 0;
  bool set_uid = false;
  uid_t uid = 0;
  bool set_gid = false;
  gid_t gid = 0;
};

// Who makes a node: the FUSE request's uid and gid. The default is the
// mounting user. (Whether the caller may is the kernel's to check: the mount
// uses default_permissions.)
struct Caller {
  uint32_t uid = kMountOwner;
  uint32_t gid = kMountOwner;
};

// Observers of changes made through the mount (the transcript sync sidecar).
// Called on FUSE threads right after the change succeeded, so they must be
// cheap: no I/O, no long locks. Either may be empty.
struct FsChangeListener {
  // A file's bytes or size changed, or a file appeared at a (new) name.
  std::function<void(uint64_t ino)> content_changed;
  // Names moved or went away (rename, unlink, rmdir): paths cached by inode
  // may be stale. Called before content_changed of a renamed file.
  std::function<void()> names_changed;
};

class Filesystem {
 public:
  Filesystem(MetaDb* db, InodeTable* table, ContentCache* content, Hydrator* hydrator,
             FsOptions options)
      : db_(db), table_(table), content_(content), hydrator_(hydrator), options_(options) {}

  const FsOptions& options() const { return options_; }
  // Set before the mount serves requests (not synchronised with them).
  void SetChangeListener(FsChangeListener listener) { listener_ = std::move(listener); }

  // Counts a kernel reference on success (as FUSE lookup does).
  int Lookup(uint64_t parent, const std::string& name, NodeInfo* out);
  void Forget(uint64_t ino, uint64_t count);
  int GetAttr(uint64_t ino, NodeInfo* out);
  int SetAttr(uint64_t ino, const SetAttrRequest& req, NodeInfo* out);
  int Readlink(uint64_t ino, std::string* target);

  // Each counts a kernel reference on success.
  int CreateFile(uint64_t parent, const std::string& name, uint32_t mode, NodeInfo* out,
                 const Caller& caller = {});
  int MakeDir(uint64_t parent, const std::string& name, uint32_t mode, NodeInfo* out,
              const Caller& caller = {});
  int MakeSymlink(uint64_t parent, const std::string& name, const std::string& target,
                  NodeInfo* out, const Caller& caller = {});
  // A FIFO or a socket (`type`): usable while mounted (the kernel carries
  // its data), never stored.
  int MakeSpecial(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
                  NodeInfo* out, const Caller& caller = {});
  int Unlink(uint64_t parent, const std::string& name);
  int Rmdir(uint64_t parent, const std::string& name);
  int Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
             const std::string& new_name, unsigned flags);
  int ListDir(uint64_t ino, std::vector<DirEntryInfo>* out);
  void AddLookup(uint64_t ino) { table_->AddLookup(ino); }

  // Reads go straight to the content file: the descriptor to read from,
  // valid for bytes at or past `from` (a remote transcript read only near
  // its end may be fetched from there on: Hydrator::EnsureFrom). The default
  // 0 makes the file whole.
  int OpenContent(uint64_t ino, std::shared_ptr<UniqueFd>* fd, uint64_t from = 0);
  // Makes `ino`'s content whole (fetched, or a tail-only file completed),
  // for readers of content files outside FUSE (fs/feeds). May download.
  int CompleteContent(uint64_t ino) { return hydrator_->EnsureLocal(ino); }
  // What a write holds until its bytes are in the content file and booked:
  // the admitted bytes (in flight for the cache's space accounting) and the
  // content change (in flight for readers that need a consistent copy).
  struct WriteScope {
    ContentCache::DataTicket ticket;
    ContentChangeScope change;
  };
  // Writes: BeginWrite hydrates (an append to a remote transcript of a v2
  // base only the last page: Hydrator::EnsureFrom), admits `bytes` more data (ENOSPC at the
  // cache's metadata reserve: ContentCache::AdmitData) and hands out the
  // descriptor; the caller writes [off, end) into it, then EndWrite records
  // the change, all while holding *scope (a write at `off`).
  int BeginWrite(uint64_t ino, uint64_t off, uint64_t bytes, std::shared_ptr<UniqueFd>* fd,
                 WriteScope* scope);
  int EndWrite(uint64_t ino, uint64_t end);
  // Convenience for tests and small writes.
  int Write(uint64_t ino, uint64_t off, const char* data, size_t len);
  int Read(uint64_t ino, uint64_t off, size_t len, std::string* out);

  int Fsync(uint64_t ino, bool datasync);
  int CopyFileRange(uint64_t ino_in, uint64_t off_in, uint64_t ino_out, uint64_t off_out,
                    size_t len, size_t* copied);
  int Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len);
  int Statfs(struct statvfs* out);

 private:
  // An owner as stored: the mounting user's own ids become kMountOwner.
  uint32_t StoredUid(uint32_t uid) const;
  uint32_t StoredGid(uint32_t gid) const;
  // A new node of any type; a file's (empty) content file exists before its
  // name is recorded.
  int CreateNode(uint64_t parent, const std::string& name, NodeType type, uint32_t mode,
                 const std::string& target, NodeInfo* out, const Caller& caller);
  void DropContent(const std::vector<uint64_t>& dropped);
  int WritableFile(uint64_t ino);
  void ContentChanged(uint64_t ino) {
    if (listener_.content_changed) listener_.content_changed(ino);
  }
  void NamesChanged() {
    if (listener_.names_changed) listener_.names_changed();
  }

  MetaDb* db_;
  InodeTable* table_;
  ContentCache* content_;
  Hydrator* hydrator_;
  FsOptions options_;
  FsChangeListener listener_;
};

}  // namespace ccfs
