#include "store/archive/seekable_tar_reader.h"

#include <algorithm>

#include "store/archive/gzip_codec.h"

namespace ccfs {

namespace {

// The index member of a sane object is far smaller; refuse to fetch more.
constexpr uint64_t kMaxIndexMemberSize = 256ull << 20;

Status FetchExactly(const RangeFetcher& fetch, uint64_t offset, uint64_t length, std::string* out,
                    const char* what) {
  out->clear();
  CCFS_RETURN_IF_ERROR(fetch(offset, length, out));
  if (out->size() != length) {
    return Status::Corruption(std::string(what) + ": expected " + std::to_string(length) +
                              " bytes at offset " + std::to_string(offset) + ", got " +
                              std::to_string(out->size()) +
                              " (object shorter than its index says?)");
  }
  return Status::OK();
}

}  // namespace

Status ReadSeekableIndex(uint64_t object_size, const RangeFetcher& fetch, TarIndex* index,
                         std::vector<SkippedEntry>* dropped) {
  if (object_size < kSeekableTrailerSize) {
    return Status::NotFound("object too small to carry a ccfs index trailer");
  }
  std::string bytes;
  CCFS_RETURN_IF_ERROR(FetchExactly(fetch, object_size - kSeekableTrailerSize, kSeekableTrailerSize,
                                    &bytes, "seekable trailer"));
  SeekableTrailer trailer;
  CCFS_RETURN_IF_ERROR(DecodeSeekableTrailer(bytes, &trailer));
  if (trailer.index_length == 0 || trailer.index_length > kMaxIndexMemberSize ||
      trailer.index_offset > object_size - kSeekableTrailerSize ||
      trailer.index_offset + trailer.index_length != object_size - kSeekableTrailerSize) {
    return Status::Corruption("seekable trailer: index location does not fit the object size " +
                              std::to_string(object_size));
  }
  CCFS_RETURN_IF_ERROR(
      FetchExactly(fetch, trailer.index_offset, trailer.index_length, &bytes, "seekable index"));
  std::string text;
  CCFS_RETURN_IF_ERROR(DecodeIndexMember(bytes, trailer.index_crc, &text));
  Result<TarIndex> parsed = TarIndex::Parse(text);
  if (!parsed.ok()) return parsed.status();
  if (parsed->data_comp_size != trailer.index_offset || parsed->blocks.empty()) {
    return Status::Corruption("seekable index: data blocks do not end where the index begins");
  }
  DropEscapingSymlinks(&parsed->entries, dropped);
  *index = std::move(parsed).value();
  return Status::OK();
}

Status InflateBlock(const TarIndex& index, size_t i, std::string_view compressed,
                    std::string* raw) {
  if (i >= index.blocks.size())
    return Status::InvalidArgument("seekable tar: no block " + std::to_string(i));
  const TarBlock& b = index.blocks[i];
  Status s = InflateGzipMember(compressed, b.raw_size, raw);
  if (!s.ok()) {
    return s.Annotate("seekable tar: block " + std::to_string(i) + " (compressed offset " +
                      std::to_string(b.comp_offset) + ")");
  }
  return Status::OK();
}

Status ReadBlocks(const TarIndex& index, size_t first, size_t last, const RangeFetcher& fetch,
                  const BlockVisitor& visit, std::string* run) {
  if (first > last || last >= index.blocks.size()) {
    return Status::InvalidArgument("seekable tar: block range out of the index");
  }
  const uint64_t comp_begin = index.blocks[first].comp_offset;
  const TarBlock& bn = index.blocks[last];
  const uint64_t comp_len = bn.comp_offset + bn.comp_size - comp_begin;
  std::string own;
  std::string* comp = run != nullptr ? run : &own;
  CCFS_RETURN_IF_ERROR(FetchExactly(fetch, comp_begin, comp_len, comp, "seekable tar blocks"));
  std::string raw;
  for (size_t i = first; i <= last; ++i) {
    const TarBlock& b = index.blocks[i];
    std::string_view member(comp->data() + (b.comp_offset - comp_begin), b.comp_size);
    CCFS_RETURN_IF_ERROR(InflateBlock(index, i, member, &raw));
    CCFS_RETURN_IF_ERROR(visit(b, raw, member));
  }
  return Status::OK();
}

Status ReadRawRange(const TarIndex& index, uint64_t raw_offset, uint64_t length,
                    const RangeFetcher& fetch, const ByteSink& sink) {
  if (length == 0) return Status::OK();
  if (raw_offset > index.raw_size || length > index.raw_size - raw_offset) {
    return Status::InvalidArgument("seekable tar: range beyond the tar stream");
  }
  size_t first = 0, last = 0;
  index.BlocksCovering(raw_offset, length, &first, &last);
  if (first > last || last >= index.blocks.size()) {
    return Status::Corruption("seekable index: no blocks cover the requested range");
  }
  const uint64_t end = raw_offset + length;
  return ReadBlocks(index, first, last, fetch,
                    [&](const TarBlock& b, const std::string& raw, std::string_view) {
                      uint64_t from = std::max(raw_offset, b.raw_offset) - b.raw_offset;
                      uint64_t to = std::min(end, b.raw_offset + b.raw_size) - b.raw_offset;
                      return sink(raw.data() + from, to - from);
                    });
}

Status ReadMemberRange(const TarIndex& index, const TarEntry& entry, uint64_t offset,
                       uint64_t length, const RangeFetcher& fetch, const ByteSink& sink) {
  if (entry.type != EntryType::kFile) {
    return Status::InvalidArgument("seekable tar: '" + entry.path + "' is not a regular file");
  }
  if (offset >= entry.size) return Status::OK();
  length = std::min(length, entry.size - offset);
  return ReadRawRange(index, entry.data_offset + offset, length, fetch, sink);
}

}  // namespace ccfs
