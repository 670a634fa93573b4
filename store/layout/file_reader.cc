#include "store/layout/file_reader.h"

#include <algorithm>

#include "store/archive/seekable_tar_reader.h"
#include "store/layout/chunks.h"
#include "store/layout/root_store.h"

namespace ccfs {

Status TreeFileReader::PackIndex(const std::string& pack, const TarIndex** out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pack_indexes_.find(pack);
    if (it != pack_indexes_.end()) {
      *out = &it->second;
      return Status::OK();
    }
  }
  {
    const std::string key = PackKey(workspace_, pack);
    ObjectInfo info;
    CCFS_RETURN_IF_ERROR(store_.Head(key, &info));
    RangeFetcher fetch = [&](uint64_t offset, uint64_t length, std::string* got) {
      GetOptions opts;
      opts.range = ByteRange{offset, length};
      return store_.Get(
          key, opts,
          [got](const char* data, size_t len) {
            got->append(data, len);
            return Status::OK();
          },
          nullptr);
    };
    TarIndex index;
    Status s = ReadSeekableIndex(info.size, fetch, &index);
    if (!s.ok()) return s.Annotate("pack " + pack);
    std::lock_guard<std::mutex> lock(mu_);
    *out = &pack_indexes_.emplace(pack, std::move(index)).first->second;
  }
  return Status::OK();
}

Status TreeFileReader::Read(const IndexEntry& e, uint64_t offset, uint64_t length,
                            const ByteSink& sink) {
  if (e.type != EntryType::kFile) return Status::InvalidArgument(e.path + " is not a regular file");
  if (offset >= e.size || length == 0) return Status::OK();
  length = std::min(length, e.size - offset);
  if (!e.chunks.empty()) return ReadChunks(store_, workspace_, e.chunks, offset, length, sink);
  const TarIndex* index = nullptr;
  CCFS_RETURN_IF_ERROR(PackIndex(e.pack, &index));
  const TarEntry* member = index->Find(e.path);
  if (member == nullptr || member->data_offset != e.pack_data_offset || member->size != e.size) {
    return Status::Corruption("pack " + e.pack + " has no member " + e.path + " of " +
                              std::to_string(e.size) + " bytes where the index says");
  }
  const std::string key = PackKey(workspace_, e.pack);
  RangeFetcher fetch = [&](uint64_t off, uint64_t len, std::string* got) {
    GetOptions opts;
    opts.range = ByteRange{off, len};
    return store_.Get(
        key, opts,
        [got](const char* data, size_t n) {
          got->append(data, n);
          return Status::OK();
        },
        nullptr);
  };
  return ReadMemberRange(*index, *member, offset, length, fetch, sink);
}

}  // namespace ccfs
