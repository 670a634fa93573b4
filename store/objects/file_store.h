// FileStore: a local directory acting as a bucket, the embedded default, so
// ccfs runs with no server. Same semantics as S3: ETags, atomic conditional
// PUT (a per-store lock + rename), sorted LIST with prefix and delimiter.
#pragma once

#include <memory>
#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

// `root` is an absolute directory path; it is created on first write.
Result<std::unique_ptr<ObjectStore>> OpenFileStore(const std::string& root);

}  // namespace ccfs
