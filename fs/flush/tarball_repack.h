// The tarball side of the tree at flush: which entries belong in the tarball
// (everything but transcripts and implicit directories), whether they differ
// from the base, and packing one entry (fs/flush/tarball_compose.h does the rest).
#pragma once

#include <string>
#include <vector>

#include "fs/tree/base_version.h"
#include "fs/tree/content_cache.h"
#include "fs/tree/inode_table.h"
#include "store/archive/seekable_tar_writer.h"
#include "store/archive/tar_index.h"

namespace ccfs {

// True for snapshot entries stored in the tarball (not transcript objects,
// not directories that only transcripts imply).
bool OnTarballSide(const SnapshotEntry& e);

// True when `side` (the tarball-side entries, in tree order) is exactly what
// `base` already holds: same paths, types, modes, sizes, file mtimes, link
// targets, and no file content changed since it came from `base`.
bool SameAsBase(const std::vector<const SnapshotEntry*>& side, const TarballVersion& base);

// Adds one tarball-side entry to `writer`. File bytes come from the
// content cache as a settled copy (fs/tree/settled_copy.h), so a write racing
// the flush never tears a member. Symlinks a tarball may not hold, and
// files removed since the snapshot, are skipped and named in *skipped.
Status AddToTarball(SeekableTarWriter& writer, const SnapshotEntry& entry, InodeTable& table,
                    ContentCache& content, std::vector<std::string>* skipped);

}  // namespace ccfs
