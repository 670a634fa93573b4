// PackDirectory: a local tree -> a seekable tarball.
//
// Walks `dir` depth-first, each directory's children in byte order of their
// names (so the same tree always gives the same archive), a directory's
// entry before its contents. Kept: regular files, directories, and symlinks
// that are relative and stay inside the tree (also through other symlinks).
// Skipped and reported: sockets, FIFOs, devices, absolute or escaping
// symlinks, names too long for a tar member. Hard-linked files are stored as
// independent regular files. Modes are sanitised. The root itself is not an
// entry. Nothing is followed: symlinks are stored as symlinks, and files are
// opened component by component with O_NOFOLLOW.
//
// `exclude` (may be empty) sees each path relative to `dir` ('/'-separated);
// returning true leaves that entry — and for a directory its whole subtree —
// out without reporting it (e.g. transcripts that live as their own objects).
// A file that disappears between the walk and the write is reported as
// skipped; any other I/O error fails the pack.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "store/archive/seekable_tar_writer.h"
#include "store/archive/tar_index.h"
#include "store/archive/tar_sanitize.h"
#include "store/base/status.h"

namespace ccfs {

Status PackDirectory(const std::string& dir,
                     const std::function<bool(const std::string& rel)>& exclude,
                     const std::string& out_path, const SeekableTarWriter::Options& options,
                     TarIndex* index, std::vector<SkippedEntry>* skipped);

}  // namespace ccfs
