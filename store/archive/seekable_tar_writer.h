// SeekableTarWriter: writes a seekable tar.gz (see store/archive/tar_index.h and
// store/archive/seekable_tar_format.h for the layout).
//
// The tar stream is pax/ustar from libarchive ("pax restricted": plain ustar
// unless a name, size or time needs a pax record), written unbuffered so the
// raw offset of every header and data byte is known exactly. The stream is
// cut into blocks, each compressed as its own gzip member:
// - a member that fits the space left in the current block goes into it;
// - otherwise, if the block already holds something, a new block starts first,
//   so small members never straddle two blocks;
// - a member larger than the target block size starts a fresh block, is split
//   every `target_block_raw_size` raw bytes, and its last block is closed when
//   the member ends.
// Blocks therefore start on member boundaries wherever they can, which lets a
// later tarball copy runs of unchanged blocks byte for byte.
//
// Entries must already be sanitised paths (IsCanonicalMemberPath); modes are
// sanitised on the way in; symlinks must be relative and stay inside the tree
// (lexically); a path may appear only once. Owner/group are written as 0/0 so
// the same tree always yields the same bytes.
//
// Not thread-safe. If Finish() does not succeed, the destructor deletes the
// partial output file. The first error is sticky: later calls return it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "store/archive/gzip_codec.h"
#include "store/archive/tar_index.h"
#include "store/archive/tar_util.h"
#include "store/base/status.h"

namespace ccfs {

class SeekableTarWriter {
 public:
  struct Options {
    uint64_t target_block_raw_size = 1 << 20;  // 512 B .. 16 MiB
    int compression_level = 6;                 // zlib 1..9
  };

  static Result<std::unique_ptr<SeekableTarWriter>> Create(const std::string& out_path,
                                                           const Options& options);
  ~SeekableTarWriter();
  SeekableTarWriter(const SeekableTarWriter&) = delete;
  SeekableTarWriter& operator=(const SeekableTarWriter&) = delete;

  // e.path, e.mode, e.mtime are used.
  Status AddDirectory(const TarEntry& e);
  // e.path, e.mode, e.mtime, e.link_target are used.
  Status AddSymlink(const TarEntry& e);
  // Streams the regular file at local_path. Its size at open time is used
  // (e.size is ignored); a file that shrinks while being read is an IOError.
  Status AddFile(const TarEntry& e, const std::string& local_path);
  // Same, from an open descriptor (read from its current position to the
  // size fstat reports at the call).
  Status AddFileFromFd(const TarEntry& e, int fd);
  Status AddFileFromBytes(const TarEntry& e, std::string_view data);

  // Block reuse: appends blocks [first, last] of another seekable tarball
  // `src` byte for byte (no recompression). `compressed` holds exactly their
  // compressed bytes (src.blocks[first].comp_offset up to the end of `last`).
  // The run must be member-aligned (see EntriesInBlockRun); its entries join
  // the index with shifted offsets and are checked like added ones. With
  // `verify`, each block is inflated and its CRC checked first, so a damaged
  // block is never carried into a new tarball (Corruption).
  Status AppendBlocks(const TarIndex& src, size_t first, size_t last, std::string_view compressed,
                      bool verify = true);

  // The entries held by src.blocks[first..last] if the run starts and ends on
  // member boundaries and every byte of it belongs to an entry of src's index
  // (so no end-of-archive marker and no member dropped from the index);
  // InvalidArgument otherwise. Offsets are as in src.
  static Status EntriesInBlockRun(const TarIndex& src, size_t first, size_t last,
                                  std::vector<TarEntry>* entries);

  // Writes end-of-archive, the index and trailer members, fsyncs and closes.
  // *index (if not null) receives the index stored in the object.
  Status Finish(TarIndex* index);

 private:
  SeekableTarWriter(std::string out_path, const Options& options, ScopedFd fd);
  Status Open();
  // Byte source for one member's data: fills buf, sets *got (0 only at the end).
  using DataReader = std::function<Status(char* buf, size_t cap, size_t* got)>;
  Status AddEntry(const TarEntry& e, EntryType type, uint64_t size, const DataReader& data);
  Status CheckEntry(const TarEntry& e, EntryType type);
  Status WriteRaw(const char* data, size_t len);  // from libarchive
  Status CutBlock();
  Status EmitCompressed(const char* data, size_t len);
  Status FlushOutput();
  Status Fail(Status s);

  static la_ssize_t WriteCallback(archive* a, void* self, const void* buf, size_t len);

  const std::string out_path_;
  const Options options_;
  ScopedFd fd_;
  ArchiveWritePtr archive_;
  GzipMemberDeflater deflater_;

  std::string out_buf_;    // compressed bytes not yet written to fd_
  uint64_t raw_pos_ = 0;   // raw tar bytes produced so far
  uint64_t comp_pos_ = 0;  // compressed bytes produced so far
  bool block_open_ = false;
  TarBlock block_;                 // the block being compressed
  bool splitting_member_ = false;  // the current member may be cut mid-way

  std::vector<TarEntry> entries_;
  std::vector<TarBlock> blocks_;
  std::unordered_set<std::string> paths_;
  Status status_;  // sticky first error
  bool finished_ = false;
};

}  // namespace ccfs
