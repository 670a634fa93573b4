// Packs: the files one commit wrote, as one seekable tar.gz (the v1 codec,
// store/archive/seekable_tar_writer.h), so `tar xzf` extracts any pack alone
// and a mount reads a member by its byte range. A pack is named by the
// SHA-256 of its bytes and never changes; the index entries of its files
// point into it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/layout/index_segment.h"
#include "store/objects/object_store.h"

namespace ccfs {

// A file for the pack: its metadata and an open descriptor of a settled copy
// of its bytes (read from offset 0 to the size fstat reports).
struct PackFile {
  IndexEntry entry;
  int fd = -1;
};

struct BuiltPack {
  std::string name;  // SHA-256 of the pack's bytes
  std::string path;  // the pack file, to upload
  uint64_t bytes = 0;
  // The input entries with size, pack and pack_data_offset filled in, in
  // the order given.
  std::vector<IndexEntry> entries;
};

// The index entry of member `t` of pack `pack` (a file's bytes stay where
// they are in the pack; an empty file has no location).
IndexEntry EntryFromPackMember(const TarEntry& t, const std::string& pack);

// Writes `files` (regular files with bytes; paths canonical and distinct)
// into a new pack at `out_path`.
Status BuildPack(const std::string& out_path, const std::vector<PackFile>& files, BuiltPack* out);

// Uploads the pack at `path` as `name` of `workspace`, If-None-Match: a pack
// is content-named, so one already there holds the same bytes.
Status PutPack(ObjectStore& store, const std::string& workspace, const std::string& name,
               const std::string& path);

// Names a pack file built elsewhere (the SHA-256 of its bytes) and uploads
// it; `*bytes` receives its size.
Status HashAndPutPack(ObjectStore& store, const std::string& workspace, const std::string& path,
                      std::string* name, uint64_t* bytes);

}  // namespace ccfs
