#include "store/layout/file_reader.h"

#include <algorithm>

#include "store/archive/seekable_tar_reader.h"
#include "store/layout/chunks.h"
#include "store/layout/root_store.h"

namespace ccfs {

RangeFetcher ObjectRangeFetcher(ObjectStore& store, std::string key, std::string if_match) {
  return [&store, key = std::move(key), if_match = std::move(if_match)](
             uint64_t offset, uint64_t length, std::string* got) {
    GetOptions opts;
    opts.range = ByteRange{offset, length};
    opts.if_match = if_match;
    std::string bytes;
    Status s = GetToString(store, key, opts, &bytes, nullptr);
    got->append(bytes);
    return s;
  };
}

Status ReadPackIndex(ObjectStore& store, const std::string& workspace, const std::string& pack,
                     TarIndex* index, uint64_t* size) {
  const std::string key = PackKey(workspace, pack);
  ObjectInfo info;
  CCFS_RETURN_IF_ERROR(store.Head(key, &info).Annotate("pack " + pack));
  if (size != nullptr) *size = info.size;
  return ReadSeekableIndex(info.size, ObjectRangeFetcher(store, key), index)
      .Annotate("pack " + pack);
}

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
    TarIndex index;
    CCFS_RETURN_IF_ERROR(ReadPackIndex(store_, workspace_, pack, &index));
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
  const RangeFetcher fetch = ObjectRangeFetcher(store_, PackKey(workspace_, e.pack));
  return ReadMemberRange(*index, *member, offset, length, fetch, sink);
}

}  // namespace ccfs
