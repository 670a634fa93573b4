#include "store/layout/chunks.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "store/archive/gzip_codec.h"
#include "store/layout/index_segment.h"
#include "store/layout/root_store.h"

namespace ccfs {

namespace {

constexpr size_t kReadBuffer = 1 << 20;

}  // namespace

Status MakeChunk(int fd, uint64_t from, uint64_t to, NewChunk* out, bool raw) {
  if (to <= from) return Status::InvalidArgument("chunk: empty byte range");
  *out = NewChunk{};
  out->ref.raw = raw;
  GzipMemberDeflater deflater(6);
  const ByteSink collect = [out](const char* data, size_t len) {
    out->stored.append(data, len);
    return Status::OK();
  };
  if (!raw) CCFS_RETURN_IF_ERROR(deflater.Begin());
  std::string buf(kReadBuffer, '\0');
  for (uint64_t pos = from; pos < to;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - pos));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("chunk: read", errno);
    }
    if (n == 0) return Status::IOError("chunk: the file ended at " + std::to_string(pos));
    if (raw) {
      out->stored.append(buf.data(), static_cast<size_t>(n));
    } else {
      CCFS_RETURN_IF_ERROR(deflater.Write(buf.data(), static_cast<size_t>(n), collect));
    }
    pos += static_cast<uint64_t>(n);
  }
  if (!raw) CCFS_RETURN_IF_ERROR(deflater.Finish(collect));
  out->ref.size = to - from;
  out->ref.name = ObjectNameOf(out->stored);
  return Status::OK();
}

Status OpenChunk(const ChunkRef& ref, std::string_view stored, std::string* raw) {
  if (ref.raw) {
    if (stored.size() != ref.size) {
      return Status::Corruption("chunk " + ref.name + ": " + std::to_string(stored.size()) +
                                " bytes, the index says " + std::to_string(ref.size));
    }
    raw->assign(stored);
    return Status::OK();
  }
  Status s = InflateGzipMember(stored, ref.size, raw);
  if (!s.ok()) return s.Annotate("chunk " + ref.name);
  return Status::OK();
}

Status ReadChunks(ObjectStore& store, const std::string& workspace,
                  const std::vector<ChunkRef>& chunks, uint64_t offset, uint64_t length,
                  const ByteSink& sink) {
  const uint64_t end = offset + length < offset ? UINT64_MAX : offset + length;  // no wrap
  uint64_t start = 0;  // of the current chunk in the file
  std::string stored, raw;
  for (const ChunkRef& c : chunks) {
    const uint64_t stop = start + c.size;
    if (stop > offset && start < end) {
      const uint64_t from = std::max(offset, start) - start;
      const uint64_t to = std::min(end, stop) - start;
      stored.clear();
      if (c.raw) {  // stored as is: fetch just the range
        GetOptions range;
        range.range = ByteRange{from, to - from};
        CCFS_RETURN_IF_ERROR(store.Get(
            ChunkKey(workspace, c.name), range,
            [&](const char* data, size_t len) {
              stored.append(data, len);
              return Status::OK();
            },
            nullptr));
        if (stored.size() != to - from) {
          return Status::Corruption("chunk " + c.name + " is shorter than the index says");
        }
        CCFS_RETURN_IF_ERROR(sink(stored.data(), stored.size()));
        start = stop;
        if (start >= end) break;
        continue;
      }
      CCFS_RETURN_IF_ERROR(store.Get(
          ChunkKey(workspace, c.name), GetOptions{},
          [&](const char* data, size_t len) {
            stored.append(data, len);
            return Status::OK();
          },
          nullptr));
      CCFS_RETURN_IF_ERROR(OpenChunk(c, stored, &raw));
      CCFS_RETURN_IF_ERROR(sink(raw.data() + from, to - from));
    }
    start = stop;
    if (start >= end) break;
  }
  return Status::OK();
}

}  // namespace ccfs
