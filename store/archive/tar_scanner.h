// TarScanner: reads any tar.gz — a ccfs seekable tarball or one made by GNU
// tar, bsdtar, Python or Go — sequentially, from a local file or a pull
// source (e.g. successive ranged GETs), applying the sanitising policy of
// store/archive/tar_sanitize.h to every entry.
//
// Decompression is ours (zlib, store/archive/gzip_codec.h), not libarchive's, so that
// every gzip member's CRC is verified — including members after the tar
// end-of-archive marker — and a damaged or truncated archive always ends in
// Corruption rather than a silent partial read. libarchive parses the tar
// layer (ustar, pax, GNU long names, sparse files).
//
// Usage:
//   auto sc = TarScanner::OpenFile(path);
//   for (bool done = false;;) {
//     TarEntry e; CCFS_RETURN_IF_ERROR((*sc)->Next(&e, &done)); if (done) break;
//     if (e.type == EntryType::kFile) CCFS_RETURN_IF_ERROR((*sc)->ReadData(sink));
//   }
// Entries the policy rejects are not returned; they accumulate in skipped().
// Symlinks are checked one by one here (relative, lexically inside); chains
// through other symlinks need the whole tree: see DropEscapingSymlinks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/archive/gzip_codec.h"
#include "store/archive/tar_index.h"
#include "store/archive/tar_sanitize.h"
#include "store/archive/tar_util.h"
#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct TarScanOptions {
  // A member declaring more bytes than this is Corruption (header nonsense or
  // a bomb); callers that write data apply their own, smaller caps.
  uint64_t max_entry_size = 1ull << 40;
};

class TarScanner {
 public:
  static Result<std::unique_ptr<TarScanner>> OpenFile(const std::string& path,
                                                      const TarScanOptions& options = {});
  static Result<std::unique_ptr<TarScanner>> OpenSource(CompressedSource source,
                                                        const TarScanOptions& options = {});
  ~TarScanner();
  TarScanner(const TarScanner&) = delete;
  TarScanner& operator=(const TarScanner&) = delete;

  // The next accepted entry (offsets are in the decompressed tar stream), or
  // *done = true once the archive ended cleanly and every CRC was verified.
  Status Next(TarEntry* entry, bool* done);

  // Streams the current regular file's content — exactly entry.size bytes,
  // holes of sparse members as zeros — into sink, in chunks. Optional: data
  // not read is skipped (and still verified) by the next Next().
  Status ReadData(const ByteSink& sink);

  const std::vector<SkippedEntry>& skipped() const { return skipped_; }
  // Length of the decompressed stream; final once Next() reported done.
  uint64_t raw_size() const { return raw_size_; }

 private:
  TarScanner(CompressedSource source, const TarScanOptions& options);
  Status Open();
  Status Fail(Status s);
  Status ArchiveFailure(const std::string& context);
  Status FinishStream();
  // Applies the policy to the header just read. Returns OK with *accepted
  // false for skipped/dropped entries, or Corruption for header nonsense.
  Status Classify(archive_entry* ae, TarEntry* out, bool* accepted);

  static la_ssize_t ReadCallback(archive* a, void* self, const void** buf);

  const TarScanOptions options_;
  GzipStreamDecoder decoder_;
  ArchiveReadPtr archive_;
  std::string buf_;
  TarEntry current_;
  bool current_has_data_ = false;
  std::vector<SkippedEntry> skipped_;
  uint64_t raw_size_ = 0;
  bool done_ = false;
  Status status_;  // sticky
};

// Indexes a whole tar.gz (entries only; no blocks, since a plain tar.gz cannot
// be read by range). A later entry for the same path replaces the earlier
// one, as extraction would; symlinks escaping through other symlinks are
// dropped. Skipped entries go to *skipped (if not null).
Status IndexTarGz(CompressedSource source, TarIndex* index, std::vector<SkippedEntry>* skipped);
Status IndexTarGzFile(const std::string& path, TarIndex* index, std::vector<SkippedEntry>* skipped);

}  // namespace ccfs
