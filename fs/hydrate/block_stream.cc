#include "fs/hydrate/block_stream.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ccfs {

Status StreamBlocks(ObjectStore& store, const std::string& key, const TarballVersion& version,
                    size_t first, size_t last, uint64_t max_request, const BlockVisitor& visit,
                    const std::atomic<bool>* cancel, BlockCache* cache) {
  const TarIndex& index = version.index;
  const auto& blocks = index.blocks;
  if (first > last || last >= blocks.size()) {
    return Status::InvalidArgument("block range out of the index");
  }
  auto cancelled = [&] { return cancel != nullptr && cancel->load(); };
  const RangeFetcher fetch = [&](uint64_t offset, uint64_t length, std::string* out) {
    GetOptions opts;
    opts.range = ByteRange{offset, length};
    opts.if_match = version.etag;  // never mix bytes of two tarball versions
    out->reserve(length);
    return store.Get(
        key, opts,
        [&](const char* data, size_t len) {
          if (cancelled()) return Status::Unavailable("cancelled");
          out->append(data, len);
          return Status::OK();
        },
        nullptr);
  };
  const BlockVisitor visit_until_cancelled = [&](const TarBlock& block, const std::string& raw,
                                                 std::string_view compressed) {
    if (cancelled()) return Status::Unavailable("cancelled");
    return visit(block, raw, compressed);
  };
  std::string comp, raw;
  size_t i = first;
  while (i <= last) {
    if (cancelled()) return Status::Unavailable("cancelled");
    if (cache != nullptr && cache->Read(version, i, &comp).ok()) {
      // Checks the block's CRC and length before any byte is used.
      Status s = InflateBlock(index, i, comp, &raw);
      if (s.ok()) {
        CCFS_RETURN_IF_ERROR(visit(blocks[i], raw, comp));
        ++i;
        continue;
      }
      spdlog::warn("cached tarball block {} is damaged ({}); fetching it again", i, s.ToString());
    }
    // One GET for a run of blocks not in the cache.
    size_t j = i;
    const uint64_t begin = blocks[i].comp_offset;
    while (j + 1 <= last && !(cache != nullptr && cache->Has(version.etag, j + 1)) &&
           blocks[j + 1].comp_offset + blocks[j + 1].comp_size - begin <= max_request) {
      ++j;
    }
    CCFS_RETURN_IF_ERROR(ReadBlocks(index, i, j, fetch, visit_until_cancelled, &comp));
    if (cache != nullptr) cache->Write(version, i, j - i + 1, comp);
    i = j + 1;
  }
  return Status::OK();
}

bool BlocksOfMember(const TarballVersion& version, const TarEntry& entry, size_t* first,
                    size_t* last) {
  const auto& blocks = version.index.blocks;
  if (entry.size == 0 || blocks.empty()) return false;
  uint64_t lo = entry.data_offset, hi = entry.data_offset + entry.size;  // [lo, hi)
  // First block ending after lo, first block ending at or after hi.
  auto it = std::partition_point(blocks.begin(), blocks.end(), [&](const TarBlock& b) {
    return b.raw_offset + b.raw_size <= lo;
  });
  if (it == blocks.end()) return false;
  auto jt = std::partition_point(blocks.begin(), blocks.end(),
                                 [&](const TarBlock& b) { return b.raw_offset + b.raw_size < hi; });
  if (jt == blocks.end()) return false;
  *first = static_cast<size_t>(it - blocks.begin());
  *last = static_cast<size_t>(jt - blocks.begin());
  return true;
}

Status MemberWriter::Consume(const TarBlock& block, const std::string& raw) {
  uint64_t lo = std::max(block.raw_offset, entry_.data_offset);
  uint64_t hi = std::min(block.raw_offset + raw.size(), entry_.data_offset + entry_.size);
  if (lo >= hi) return Status::OK();
  const char* p = raw.data() + (lo - block.raw_offset);
  uint64_t len = hi - lo;
  off_t pos = static_cast<off_t>(lo - entry_.data_offset);
  while (len > 0) {
    ssize_t n = ::pwrite(fd_.get(), p, len, pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write hydrated " + entry_.path, errno);
    }
    p += n;
    pos += n;
    len -= static_cast<uint64_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status MemberWriter::Close(const std::string& what) {
  int fd = fd_.release();
  if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno("close " + what, errno);
  return Status::OK();
}

}  // namespace ccfs
