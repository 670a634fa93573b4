// Extracting a tar.gz into a directory without ever writing outside it.
//
// - dest_dir must be empty or absent (then it is created, with parents).
// - Every path goes through the sanitising policy (store/archive/tar_sanitize.h);
//   what it rejects is skipped and reported, never an error by itself.
// - Files are created with openat() relative to directory descriptors,
//   O_CREAT|O_EXCL|O_NOFOLLOW; missing parents are made as real directories
//   and no symlink is ever followed on the way (each component is opened with
//   O_NOFOLLOW). Symlinks are created last, after all files and directories
//   (the deferred-symlink technique), and only those that stay inside the
//   tree also when resolved through the archive's other symlinks.
// - A later entry for the same path replaces an earlier one (as tar does);
//   an entry that would need a directory replaced, or a parent that is not a
//   directory, is skipped and reported.
// - Modes (sanitised) and mtimes are set on every file, directory and
//   symlink; directories get theirs at the end, deepest first.
// - Data is streamed in chunks: memory does not grow with file sizes.
// - Limits guard against decompression bombs: a member above
//   max_entry_size, or an archive above max_total_size / max_entries, is
//   refused (Corruption); a file that would leave less than min_free_bytes
//   on the destination filesystem is refused (IOError).
// A damaged archive ends in an error (Corruption) with whatever was already
// written left in dest_dir for the caller to remove; it is never reported as
// success.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/archive/tar_index.h"
#include "store/archive/tar_sanitize.h"
#include "store/archive/tar_scanner.h"
#include "store/base/status.h"

namespace ccfs {

struct ExtractOptions {
  uint64_t max_entry_size = 16ull << 30;  // bytes in one file
  uint64_t max_total_size = 64ull << 30;  // bytes in all files together
  uint64_t max_entries = 2'000'000;       // members read (accepted or skipped)
  uint64_t min_free_bytes = 64ull << 20;  // free space to leave on the destination
};

// *skipped (if not null) receives every entry left out, with the reason.
// *entries_out (if not null) receives the entries actually created, in
// archive order (one per path), and the tar stream's raw_size; no blocks.
Status ExtractTarGz(const std::string& tarball_path, const std::string& dest_dir,
                    std::vector<SkippedEntry>* skipped, TarIndex* entries_out);
Status ExtractTarGz(const std::string& tarball_path, const std::string& dest_dir,
                    const ExtractOptions& options, std::vector<SkippedEntry>* skipped,
                    TarIndex* entries_out);

// The same from an already opened scanner (e.g. over a streamed GET).
Status ExtractFromScanner(TarScanner* scanner, const std::string& dest_dir,
                          const ExtractOptions& options, std::vector<SkippedEntry>* skipped,
                          TarIndex* entries_out);

}  // namespace ccfs
