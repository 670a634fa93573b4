// Repacking the tarball at flush: the tarball side of the tree (everything
// but transcripts and implicit directories) into a new seekable tarball.
// Every file's bytes come from the content cache (the caller hydrates remote
// members first) and are recompressed.
// TODO(raw-copy): runs of unchanged members whose base blocks start and end
// on member boundaries could be copied as compressed bytes; that needs a
// raw-block append in SeekableTarWriter (see the report in fs/README.md).
#pragma once

#include <string>
#include <vector>

#include "fs/base_version.h"
#include "fs/content_cache.h"
#include "fs/inode_table.h"
#include "store/tar_index.h"

namespace ccfs {

// True for snapshot entries stored in the tarball (not transcript objects,
// not directories that only transcripts imply).
bool OnTarballSide(const SnapshotEntry& e);

// True when `side` (the tarball-side entries, in tree order) is exactly what
// `base` already holds: same paths, types, modes, sizes, file mtimes, link
// targets, and no file content changed since it came from `base`.
bool SameAsBase(const std::vector<const SnapshotEntry*>& side, const TarballVersion& base);

// Writes `side` as a seekable tarball to `out_path`. Symlinks a tarball may
// not hold (absolute or escaping) are left out and named in *skipped.
Status RepackTarball(const std::vector<const SnapshotEntry*>& side, ContentCache& content,
                     const std::string& out_path, TarIndex* index,
                     std::vector<std::string>* skipped);

}  // namespace ccfs
