// Does the store honour conditional writes? Everything ccfs does to keep two
// writers from overwriting each other (the tarball's If-Match, a new
// workspace's and a transcript's If-None-Match, the lease) rests on the
// store answering 412 to a write whose condition fails. Several
// S3-compatible servers silently ignore If-Match and If-None-Match: writing
// through one would lose data with no error. So before the first write to a
// store, ccfs checks on a scratch key (<W>/.ccfs-probe-<random>, removed
// afterwards) that
//   1. If-None-Match: * over an existing object answers 412,
//   2. If-Match with a wrong ETag answers 412,
//   3. If-Match with the right ETag succeeds,
// and refuses writable mounts, exec and pushes on a store that fails any of
// them. A store that passed is remembered (per store URL and endpoint, under
// the user's cache directory) and not probed again; one that failed is
// probed again next time, so fixing the server is enough.
#pragma once

#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

// Runs the three checks on a scratch key under `workspace`. OK, NotSupported
// (with what the store did and what to do) when it ignores a condition, or
// the error that kept the probe from finishing.
Status ProbeConditionalWrites(ObjectStore& store, const std::string& workspace);

// ProbeConditionalWrites, unless `store` passed before (remembered in
// `verdict_dir`; "" = UserCacheBase()/ccfs/store-checks).
Status EnsureConditionalWrites(ObjectStore& store, const std::string& workspace,
                               const std::string& verdict_dir = "");

}  // namespace ccfs
