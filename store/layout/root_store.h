// Reading and committing layout-v2 roots, and writing the immutable objects
// they name (docs/layout-v2-plan.md).
//
// Keys, under the workspace's prefix W (v1 objects are W/<tarball>,
// W/lease and W/projects/..., so nothing here can collide with them):
//   W/v2/root                         the current root (the only replaced object)
//   W/v2/roots/<generation>-<nonce>   each committed root, kept for history
//   W/v2/index/<sha256>               index segments
//   W/v2/packs/<sha256>.tar.gz        packs (seekable tar.gz)
//   W/v2/chunks/<sha256>              transcript chunks
#pragma once

#include <string>

#include "store/base/status.h"
#include "store/layout/root.h"
#include "store/objects/object_store.h"

namespace ccfs {

std::string RootKey(const std::string& workspace);
// Generations are zero-padded to 20 digits so a LIST returns history in order.
std::string HistoryRootKey(const std::string& workspace, uint64_t generation,
                           const std::string& nonce);
std::string HistoryPrefix(const std::string& workspace);
std::string SegmentKey(const std::string& workspace, const std::string& name);
std::string PackKey(const std::string& workspace, const std::string& name);
std::string ChunkKey(const std::string& workspace, const std::string& name);

// A fresh commit nonce: 32 random lower-case hex digits.
std::string NewRootNonce();

// The current root and the ETag to commit against. NotFound when the
// workspace has no v2 root yet.
struct CurrentRoot {
  WorkspaceRoot root;
  std::string etag;
};
Status ReadRoot(ObjectStore& store, const std::string& workspace, CurrentRoot* out);

// Writes an immutable object (segment, pack or chunk) named by its content.
// If-None-Match: * so a rewrite never replaces anything; a 412 means the same
// bytes are there already, which is success.
Status PutImmutable(ObjectStore& store, const std::string& key, const std::string& body);

// Replaces the root with `next` (generation = parent's + 1) if the root is
// still `parent_etag` ("" when creating the first root: If-None-Match: *).
// - OK: `next` is the current root; its history copy is written too (a
//   failure there is logged and filled in by a later commit).
// - PreconditionFailed: another commit came first; read the root again,
//   merge, retry.
// - When the PUT's outcome is unknown (a timeout, a lost response), the root
//   is read back: our nonce there means the commit landed (OK), anything
//   else means it did not (PreconditionFailed when another root is there,
//   the transport error when the root cannot be read).
Status CommitRoot(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& next,
                  const std::string& parent_etag, std::string* new_etag);

}  // namespace ccfs
