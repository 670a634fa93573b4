// `ccfs push` in layout v2 (docs/layout-v2-plan.md): the directory as one
// pack (the seekable tar.gz push already builds), each .jsonl file as one
// chunk (so that later appends travel alone), committed as the next
// generation, If-Match on the root it replaces (If-None-Match: * to create).
#pragma once

#include <string>

#include "store/base/status.h"
#include "store/layout/root_store.h"
#include "store/objects/object_store.h"
#include "store/workspace/workspace.h"

namespace ccfs {

// `current` is the workspace's root now (an empty ETag: the workspace does
// not exist, and the push creates it as generation 1). Replacing it needs opts.force or
// opts.if_match naming it (its ETag, or the "v2:"-prefixed tag a mount
// shows), as for v1. The caller holds the lease.
Status PushV2(ObjectStore& store, const std::string& dir, const std::string& workspace,
              const CurrentRoot& current, const PushOptions& opts, PushResult* result);

}  // namespace ccfs
