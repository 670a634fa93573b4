// Adopting a v1 workspace into layout v2 without downloading it: the v1
// tarball becomes the first pack and each transcript object a raw chunk,
// both by server-side copy; the index is built from the tarball's own
// seekable index (two ranged GETs) and a LIST of the transcripts.
//
// Adopted objects are named by their origin, not their content (the bytes
// never pass through this machine to be hashed): SHA-256 of
// "ccfs-adopted-v1:<key>:<etag>". They are immutable like any other.
#pragma once

#include <cstdint>
#include <string>

#include "store/base/status.h"
#include "store/layout/root.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct AdoptReport {
  WorkspaceRoot root;
  uint64_t files = 0;
  uint64_t transcripts = 0;
  uint64_t bytes_copied = 0;  // inside the store
};

// The name adoption gives the copy of v1 object `key` at `etag` (a pack for
// the tarball, a raw chunk for a transcript).
std::string AdoptedObjectName(const std::string& key, const std::string& etag);

// Commits generation 1 of `workspace` from its v1 objects. The tarball must
// be ccfs's seekable one (NotSupported for a foreign tar.gz: it has no
// index to read by range). PreconditionFailed when a v2 root exists.
Status AdoptV1(ObjectStore& store, const std::string& workspace, const RootWriter& writer,
               AdoptReport* report);

}  // namespace ccfs
