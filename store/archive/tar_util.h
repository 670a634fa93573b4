// Small RAII helpers shared by the tar.gz codec (store/seekable_tar_*,
// store/tar_scanner, store/safe_extract, store/pack_dir): owned file
// descriptors, libarchive handles, a UTF-8 character-set scope for libarchive,
// and full-length read/write loops.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/base/unique_fd.h"

namespace ccfs {

// The codec predates UniqueFd; one owner type serves both.
using ScopedFd = UniqueFd;

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadDeleter>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteDeleter>;
using ArchiveEntryPtr = std::unique_ptr<archive_entry, ArchiveEntryDeleter>;

// libarchive converts member names between the archive's charset (UTF-8 in
// pax headers) and the thread's LC_CTYPE. A program that never called
// setlocale() runs in the "C" locale, where any non-ASCII name fails to
// convert (pax then falls back to hdrcharset=BINARY, which GNU tar warns
// about). This scope switches only the calling thread to a UTF-8 LC_CTYPE for
// the duration of the libarchive calls; names then pass through as UTF-8
// bytes. Without a UTF-8 locale on the system it does nothing.
class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale();
  ~ScopedUtf8Locale();
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t previous_ = nullptr;
};

// Opens directory `rel` ('/'-separated, "" = root_fd itself) below root_fd
// without following any symlink on the way. With `create`, missing
// components are made as real directories (mode 0700; the caller fixes modes
// later) and their paths relative to root_fd appended to *created (if not
// null). Returns 0, or the errno of the failing step (ENOTDIR or ELOOP when a
// component is not a directory or is a symlink).
int OpenDirBeneath(int root_fd, const std::string& rel, bool create, ScopedFd* out,
                   std::vector<std::string>* created);

// "<context>: <archive_error_string>" (or a generic text when libarchive has none).
std::string ArchiveError(archive* a, const std::string& context);

}  // namespace ccfs
