// A consistent copy of one file's bytes while writes may race it. The flush
// packs and uploads files that stay writable through the mount: read from
// the live content file, a rewrite landing half way would leave the store a
// version that never existed (a torn member: part old bytes, part new). A
// settled copy is taken with no rewrite in flight and the same rewrite_gen
// before and after (InodeTable::GetSettled), retried while the file is
// busy. Appends racing the copy are fine: it is then a prefix of the file
// as it grew, which any reader may see. `node` is the file as the copy
// began (the copy may hold appends made since).
#pragma once

#include <cstdint>
#include <string>

#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "store/base/status.h"

namespace ccfs {

struct SettledCopy {
  NodeInfo node;      // the file as of the copy (size, mtime, data_gen)
  bool gone = false;  // the file lost its name or its content: nothing copied
  // Small files are held in memory; larger ones in `temp_path` (removed with
  // the SettledCopy).
  std::string bytes;
  std::string temp_path;

  SettledCopy() = default;
  SettledCopy(SettledCopy&&) = delete;
  SettledCopy& operator=(SettledCopy&&) = delete;
  ~SettledCopy();
};

struct SettledCopyOptions {
  uint64_t max_in_memory = 4ull << 20;  // 0: always a temp file
  // How long a file may stay busy (a rewrite in flight or one landing
  // during every copy) before the copy gives up with EAGAIN.
  int busy_limit_ms = 10000;
  // Whether a tail-only file (NodeRecord::local_from) may be copied as it
  // is: the copy then holds zeros below out->node.local_from, and the caller
  // must use only the bytes at or past it. Otherwise such a file is an
  // error (the caller should have completed it): never silently zeros.
  bool allow_tail_only = false;
};

// Copies file `ino` (its content must be local) into *out. OK with
// out->gone for a file removed meanwhile; an error with EAGAIN when it was
// never still long enough.
Status CopySettled(InodeTable& table, ContentCache& content, uint64_t ino, SettledCopy* out,
                   const SettledCopyOptions& options = {});

}  // namespace ccfs
