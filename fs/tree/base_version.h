// BaseVersion: the remote version a mount started from (or last flushed):
// the tarball's ETag and index, and the transcript objects with their ETags.
// Hydration reads only from this version (every ranged GET carries
// If-Match: <tarball ETag>); a successful flush swaps in the new one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fs/tree/meta_db.h"
#include "store/archive/tar_index.h"
#include "store/layout/index_segment.h"
#include "store/layout/root_store.h"

namespace ccfs {

// A layout-v2 base (docs/layout-v2-plan.md): the root it was read from and
// every entry of its tree. The mount shows it through the same shapes as a
// v1 base (a TarballVersion whose index lists the non-transcript entries,
// plus BaseTranscripts), so planning, merging and the tree are shared; only
// reading bytes and committing differ.
struct V2Tree {
  CurrentRoot root;                           // generation 0 / etag "": no root yet
  std::map<std::string, IndexEntry> entries;  // by path
};

struct TarballVersion {
  std::string etag;  // "" when the workspace has no tarball yet
  uint64_t size = 0;
  // False for a tarball written by another tool: no block index, so its
  // members cannot be range-read; the mount extracts it whole instead.
  bool seekable = false;
  // False when reading the index dropped entries (escaping symlinks): then
  // the tar stream holds members the index does not list, and its blocks
  // must not be copied into a new tarball as they are.
  bool complete = true;
  TarIndex index;
  std::unordered_map<std::string, size_t> by_path;  // index.entries position
  // Set for a layout-v2 base: `etag` is then V2VersionTag(root etag), the
  // index has no blocks, and file bytes are read through the entries.
  std::shared_ptr<const V2Tree> v2;

  const TarEntry* Find(const std::string& path) const {
    auto it = by_path.find(path);
    return it == by_path.end() ? nullptr : &index.entries[it->second];
  }
  static std::shared_ptr<const TarballVersion> Make(std::string etag, uint64_t size, bool seekable,
                                                    TarIndex index, bool complete = true);
};

class BaseVersion {
 public:
  std::shared_ptr<const TarballVersion> tarball() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tarball_;
  }
  void set_tarball(std::shared_ptr<const TarballVersion> t) {
    std::lock_guard<std::mutex> lock(mu_);
    tarball_ = std::move(t);
  }
  std::map<std::string, BaseTranscript> transcripts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return transcripts_;
  }
  void set_transcripts(std::map<std::string, BaseTranscript> t) {
    std::lock_guard<std::mutex> lock(mu_);
    transcripts_ = std::move(t);
  }
  void PutTranscript(const BaseTranscript& t) {
    std::lock_guard<std::mutex> lock(mu_);
    transcripts_[t.path] = t;
  }
  void EraseTranscript(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    transcripts_.erase(path);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TarballVersion> tarball_ = TarballVersion::Make("", 0, false, {});
  std::map<std::string, BaseTranscript> transcripts_;
};

}  // namespace ccfs
