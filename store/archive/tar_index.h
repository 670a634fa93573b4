// TarIndex: where every member of a seekable tarball lives, so any one file
// can be read from its byte range alone.
//
// A seekable tarball (see store/archive/seekable_tar_writer.h) is a multi-member gzip
// file: the tar stream cut into blocks, each block its own gzip member (own
// CRC, independently decompressible), then one empty gzip member whose FCOMMENT
// carries the serialized index, then a fixed-size trailer member whose FEXTRA
// points at the index member. `tar xzf`, bsdtar, Python and Go read it as an
// ordinary .tar.gz; ccfs reads the trailer, then the index, then only the
// blocks it needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

enum class EntryType : uint8_t { kFile = 0, kDir = 1, kSymlink = 2 };

struct TarEntry {
  std::string path;  // relative, '/'-separated, no trailing '/', sanitised
  EntryType type = EntryType::kFile;
  uint32_t mode = 0644;        // permission bits only (sanitised: no suid/sgid/sticky, no g+w/o+w)
  uint64_t size = 0;           // file size; 0 for dirs and symlinks
  int64_t mtime = 0;           // seconds since epoch
  std::string link_target;     // symlinks only
  uint64_t header_offset = 0;  // offset of the first tar header block of this member (raw stream)
  uint64_t data_offset = 0;    // offset of the file's first data byte (raw stream)
};

// One gzip member of the object: compressed bytes [comp_offset, +comp_size)
// inflate to raw tar bytes [raw_offset, +raw_size).
struct TarBlock {
  uint64_t comp_offset = 0;
  uint64_t comp_size = 0;
  uint64_t raw_offset = 0;
  uint64_t raw_size = 0;
};

struct TarIndex {
  std::vector<TarEntry> entries;  // archive order
  std::vector<TarBlock> blocks;   // ascending, contiguous in both spaces
  uint64_t raw_size = 0;          // total tar stream length (incl. end-of-archive)
  uint64_t data_comp_size = 0;    // compressed bytes of the data blocks (index member starts here)

  // Compact text form (no NUL bytes; fits a gzip FCOMMENT).
  std::string Serialize() const;
  static Result<TarIndex> Parse(const std::string& text);

  // Indices [first, last] of the blocks covering raw bytes [offset, offset+len).
  // len == 0 yields an empty range (first > last).
  void BlocksCovering(uint64_t offset, uint64_t len, size_t* first, size_t* last) const;

  // Entry by path, or nullptr.
  const TarEntry* Find(const std::string& path) const;
};

}  // namespace ccfs
