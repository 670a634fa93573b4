// `ccfs export`: a layout-v2 tree as one ordinary tar.gz (`tar xzf` extracts
// it), transcripts included, in path order.
#pragma once

#include <cstdint>
#include <string>

#include "store/base/status.h"
#include "store/layout/root.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct ExportReport {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // of the files' contents
};

// Writes the tree of `root` to `out_path` (created; removed on failure).
// `scratch_dir` holds one file at a time while it is copied in.
Status ExportTree(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                  const std::string& out_path, const std::string& scratch_dir,
                  ExportReport* report);

}  // namespace ccfs
