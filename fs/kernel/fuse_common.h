// Small pieces shared by the libfuse adapters of fs/: fuse_ops.cc (one
// workspace) and all_fuse_ops.cc (the read-only view of every workspace).
// Internal to fs/; nothing outside includes it.
#pragma once

#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <utility>

#include "fs/tree/inode_table.h"

namespace ccfs {

struct timespec NsToTimespec(int64_t ns);

// struct stat for a node as the kernel sees it (an owner of kMountOwner shows
// as `uid`/`gid`, the mounting user).
void FillStatFromNode(const NodeInfo& n, uid_t uid, gid_t gid, struct stat* st);

// A lookup/readdirplus entry the kernel may trust for `timeout` seconds.
void FillEntryFromNode(const NodeInfo& n, uid_t uid, gid_t gid, double timeout,
                       fuse_entry_param* e);

// Runs a callback body that replies itself; anything thrown becomes EIO (and
// a log line), never an unwinding into libfuse. Counts the request.
template <typename Fn>
void GuardFuseCall(fuse_req_t req, const char* op, std::atomic<uint64_t>* requests, Fn&& fn) {
  ++*requests;
  spdlog::trace("fuse {}", op);
  try {
    std::forward<Fn>(fn)();
  } catch (const std::exception& e) {
    spdlog::error("fuse {}: exception: {}", op, e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    spdlog::error("fuse {}: unknown exception", op);
    fuse_reply_err(req, EIO);
  }
}

// The same for calls that take no reply (forget): replies none afterwards.
template <typename Fn>
void GuardFuseCallNoReply(fuse_req_t req, const char* op, Fn&& fn) {
  try {
    std::forward<Fn>(fn)();
  } catch (...) {
    spdlog::error("fuse {}: exception", op);
  }
  fuse_reply_none(req);
}

}  // namespace ccfs
