#include "sync/common/transcript_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/base/unique_fd.h"

namespace ccfs {
namespace {

// Small enough that the common case (one appended line) stays cheap.
constexpr size_t kReadBlock = 128 * 1024;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool ValidSegment(std::string_view s) { return !s.empty() && s != "." && s != ".."; }

Result<UniqueFd> OpenForRead(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("transcript " + path + " does not exist");
    return Status::FromErrno("open " + path, err);
  }
  return fd;
}

// pread that retries EINTR; returns bytes read (0 at EOF).
Result<size_t> PRead(int fd, char* buf, size_t len, uint64_t offset, const std::string& path) {
  while (true) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Status::FromErrno("read " + path, errno);
  }
}

}  // namespace

std::optional<TranscriptRef> ParseTranscriptPath(std::string_view rel) {
  if (rel.rfind("projects/", 0) != 0 || !EndsWith(rel, ".jsonl")) return std::nullopt;
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    parts.push_back(rel.substr(pos, slash - pos));
    pos = slash + 1;
  }
  for (std::string_view p : parts) {
    if (!ValidSegment(p)) return std::nullopt;
  }
  TranscriptRef ref;
  ref.rel_path = std::string(rel);
  std::string_view base = parts.back();
  std::string_view stem = base.substr(0, base.size() - 6);
  if (stem.empty()) return std::nullopt;
  if (parts.size() == 3) {  // projects/<enc-cwd>/<session>.jsonl
    ref.external_id = std::string(stem);
    ref.file_name = std::string(base);
    ref.file_type = "transcript";
    ref.transcript_path = ref.rel_path;
    return ref;
  }
  if (parts.size() == 5 && parts[3] == "subagents") {  // .../<session>/subagents/<agent>.jsonl
    ref.external_id = std::string(parts[2]);
    ref.file_name = std::string(base);
    ref.file_type = "agent";
    ref.transcript_path =
        "projects/" + std::string(parts[1]) + "/" + std::string(parts[2]) + ".jsonl";
    return ref;
  }
  return std::nullopt;
}

Status ReadCompleteLines(const std::string& path, uint64_t offset, size_t soft_limit_bytes,
                         size_t max_lines, LineBatch* out) {
  out->lines.clear();
  out->end_offsets.clear();
  CCFS_ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(path));
  std::string pending;  // bytes of a line not yet terminated
  std::string block(kReadBlock, '\0');
  uint64_t pos = offset;
  size_t collected = 0;
  while (out->lines.size() < max_lines && (out->lines.empty() || collected < soft_limit_bytes)) {
    CCFS_ASSIGN_OR_RETURN(size_t n, PRead(fd.get(), block.data(), block.size(), pos, path));
    if (n == 0) break;  // EOF: whatever is pending is a partial line
    size_t start = 0;
    while (start < n) {
      const char* nl = static_cast<const char*>(std::memchr(block.data() + start, '\n', n - start));
      if (nl == nullptr) {
        pending.append(block.data() + start, n - start);
        break;
      }
      size_t len = static_cast<size_t>(nl - (block.data() + start));
      pending.append(block.data() + start, len);
      start += len + 1;
      collected += pending.size() + 1;
      out->lines.push_back(std::move(pending));
      pending.clear();
      out->end_offsets.push_back(pos + start);
      if (out->lines.size() >= max_lines || collected >= soft_limit_bytes) return Status::OK();
    }
    pos += n;
  }
  return Status::OK();
}

Status ScanCompleteLines(const std::string& path, uint64_t offset, int64_t max_lines,
                         int64_t* lines, uint64_t* end_offset) {
  *lines = 0;
  *end_offset = offset;
  if (max_lines == 0) return Status::OK();
  CCFS_ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(path));
  std::string block(kReadBlock, '\0');
  uint64_t pos = offset;
  while (true) {
    CCFS_ASSIGN_OR_RETURN(size_t n, PRead(fd.get(), block.data(), block.size(), pos, path));
    if (n == 0) return Status::OK();
    const char* p = block.data();
    const char* end = block.data() + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) break;
      p = nl + 1;
      ++*lines;
      *end_offset = pos + static_cast<uint64_t>(p - block.data());
      if (max_lines > 0 && *lines >= max_lines) return Status::OK();
    }
    pos += n;
  }
}

}  // namespace ccfs
