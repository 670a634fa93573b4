#include "store/archive/tar_scanner.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_map>

namespace ccfs {

namespace {

constexpr size_t kChunk = 256 * 1024;

const char* UnsupportedTypeName(mode_t type) {
  switch (type) {
    case AE_IFCHR:
      return "character device";
    case AE_IFBLK:
      return "block device";
    case AE_IFIFO:
      return "FIFO";
    case AE_IFSOCK:
      return "socket";
    default:
      return "unsupported entry type";
  }
}

}  // namespace

Result<std::unique_ptr<TarScanner>> TarScanner::OpenFile(const std::string& path,
                                                         const TarScanOptions& options) {
  auto fd = std::make_shared<ScopedFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return Status::FromErrno("tar scan: open " + path, errno);
  CompressedSource source = [fd, path](std::string* chunk) {
    chunk->resize(kChunk);
    size_t got = 0;
    Status s = ReadFull(fd->get(), chunk->data(), chunk->size(), &got, "tar scan: read " + path);
    chunk->resize(s.ok() ? got : 0);
    return s;
  };
  return OpenSource(std::move(source), options);
}

Result<std::unique_ptr<TarScanner>> TarScanner::OpenSource(CompressedSource source,
                                                           const TarScanOptions& options) {
  std::unique_ptr<TarScanner> sc(new TarScanner(std::move(source), options));
  Status s = sc->Open();
  if (!s.ok()) return s;
  return sc;
}

TarScanner::TarScanner(CompressedSource source, const TarScanOptions& options)
    : options_(options), decoder_(std::move(source)), buf_(kChunk, '\0') {}

TarScanner::~TarScanner() {
  ScopedUtf8Locale utf8;
  archive_.reset();
}

Status TarScanner::Fail(Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

// Prefer the decoder's own error (bad CRC, truncated gzip) over libarchive's
// generic one, since libarchive only sees our read callback fail.
Status TarScanner::ArchiveFailure(const std::string& context) {
  if (!status_.ok()) return status_;
  return Fail(Status::Corruption(ArchiveError(archive_.get(), context)));
}

la_ssize_t TarScanner::ReadCallback(archive* a, void* self, const void** buf) {
  auto* sc = static_cast<TarScanner*>(self);
  size_t got = 0;
  Status s = sc->decoder_.Read(sc->buf_.data(), sc->buf_.size(), &got);
  if (!s.ok()) {
    IgnoreError(sc->Fail(s),
                "recorded in status_, which the scanner returns after libarchive fails");
    archive_set_error(a, EIO, "%s", s.message().c_str());
    return -1;
  }
  *buf = sc->buf_.data();
  return static_cast<la_ssize_t>(got);
}

Status TarScanner::Open() {
  ScopedUtf8Locale utf8;
  archive_.reset(archive_read_new());
  if (!archive_) return Status::IOError("tar scan: archive_read_new failed");
  archive* a = archive_.get();
  if (archive_read_support_format_tar(a) != ARCHIVE_OK) {
    return Status::IOError(ArchiveError(a, "tar scan: tar support"));
  }
  if (archive_read_open(a, this, nullptr, &TarScanner::ReadCallback, nullptr) != ARCHIVE_OK) {
    return ArchiveFailure("tar scan: not a tar archive");
  }
  return Status::OK();
}

Status TarScanner::Classify(archive_entry* ae, TarEntry* out, bool* accepted) {
  *accepted = false;
  const char* raw = archive_entry_pathname(ae);
  if (raw == nullptr) raw = archive_entry_pathname_utf8(ae);
  if (raw == nullptr) {
    skipped_.push_back({"(unnamed)", "member name cannot be decoded"});
    return Status::OK();
  }
  const std::string raw_path = raw;
  auto skip = [&](std::string reason) {
    skipped_.push_back({raw_path, std::move(reason)});
    return Status::OK();
  };

  if (const char* target = archive_entry_hardlink(ae); target != nullptr) {
    return skip(std::string("hard link (to ") + target + ")");
  }
  const int64_t declared = archive_entry_size(ae);
  if (declared < 0) return Fail(Status::Corruption("tar: '" + raw_path + "' has a negative size"));
  const mode_t type = archive_entry_filetype(ae);
  if (type == AE_IFREG && uint64_t(declared) > options_.max_entry_size) {
    return Fail(Status::Corruption("tar: '" + raw_path + "' declares " + std::to_string(declared) +
                                   " bytes, above the limit of " +
                                   std::to_string(options_.max_entry_size)));
  }

  TarEntry e;
  switch (type) {
    case AE_IFREG:
      e.type = EntryType::kFile;
      e.size = uint64_t(declared);
      break;
    case AE_IFDIR:
      e.type = EntryType::kDir;
      break;
    case AE_IFLNK:
      e.type = EntryType::kSymlink;
      break;
    default:
      return skip(UnsupportedTypeName(type));
  }

  std::string why;
  if (!NormalizeMemberPath(raw_path, &e.path, &why)) return skip(why);
  if (e.path.empty()) {
    // The archive root ("./"): nothing to create.
    if (e.type == EntryType::kDir) return Status::OK();
    return skip("entry names the archive root but is not a directory");
  }
  if (e.type == EntryType::kSymlink) {
    const char* target = archive_entry_symlink(ae);
    if (target == nullptr) target = archive_entry_symlink_utf8(ae);
    if (target == nullptr) return skip("symlink target cannot be decoded");
    e.link_target = target;
    if (!SymlinkTargetStaysInside(e.path, e.link_target, &why)) {
      return skip(why + " (-> " + e.link_target + ")");
    }
  }
  e.mode = SanitizeMode(archive_entry_perm(ae));
  e.mtime = archive_entry_mtime_is_set(ae) ? int64_t(archive_entry_mtime(ae)) : 0;
  e.header_offset = uint64_t(std::max<int64_t>(0, archive_read_header_position(archive_.get())));
  e.data_offset = uint64_t(std::max<int64_t>(0, archive_filter_bytes(archive_.get(), 0)));
  *out = std::move(e);
  *accepted = true;
  return Status::OK();
}

Status TarScanner::Next(TarEntry* entry, bool* done) {
  *done = false;
  if (!status_.ok()) return status_;
  if (done_) {
    *done = true;
    return Status::OK();
  }
  ScopedUtf8Locale utf8;
  archive* a = archive_.get();
  current_has_data_ = false;
  while (true) {
    archive_entry* ae = nullptr;
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) {
      CCFS_RETURN_IF_ERROR(FinishStream());
      *done = true;
      return Status::OK();
    }
    // ARCHIVE_WARN still yields a usable entry (e.g. an odd pax attribute);
    // ARCHIVE_RETRY means a damaged header (bad checksum) that libarchive
    // would skip over: for us that is a damaged archive.
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveFailure("tar");
    bool accepted = false;
    CCFS_RETURN_IF_ERROR(Classify(ae, &current_, &accepted));
    if (!accepted) continue;
    current_has_data_ = current_.type == EntryType::kFile;
    *entry = current_;
    return Status::OK();
  }
}

Status TarScanner::FinishStream() {
  archive* a = archive_.get();
  // libarchive ends quietly when the stream simply stops at a header
  // boundary; a real tar ends with zero blocks, so their absence means the
  // archive was cut short.
  int64_t marker_at = archive_read_header_position(a);
  int64_t consumed = archive_filter_bytes(a, 0);
  if (marker_at < 0 || consumed - marker_at < 512) {
    return Fail(Status::Corruption(
        "tar: stream ends without an end-of-archive marker (truncated archive)"));
  }
  // Verify the rest of the gzip stream (CRCs of the last members, metadata
  // members of seekable tarballs) even though tar needs none of it.
  size_t got = 0;
  do {
    Status s = decoder_.Read(buf_.data(), buf_.size(), &got);
    if (!s.ok()) return Fail(s);
  } while (got > 0);
  raw_size_ = decoder_.raw_offset();
  done_ = true;
  return Status::OK();
}

Status TarScanner::ReadData(const ByteSink& sink) {
  if (!status_.ok()) return status_;
  if (!current_has_data_) {
    return Status::InvalidArgument("tar scan: no regular-file entry whose data is unread");
  }
  current_has_data_ = false;
  ScopedUtf8Locale utf8;
  archive* a = archive_.get();
  const uint64_t size = current_.size;
  uint64_t written = 0;
  const std::string zeros(kChunk, '\0');
  auto emit_zeros = [&](uint64_t upto) -> Status {
    while (written < upto) {
      size_t n = size_t(std::min<uint64_t>(zeros.size(), upto - written));
      CCFS_RETURN_IF_ERROR(sink(zeros.data(), n));
      written += n;
    }
    return Status::OK();
  };
  while (true) {
    const void* block = nullptr;
    size_t len = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(a, &block, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return ArchiveFailure("tar: data of '" + current_.path + "'");
    }
    if (offset < 0 || uint64_t(offset) < written || uint64_t(offset) > size ||
        len > size - uint64_t(offset)) {
      return Fail(Status::Corruption("tar: data of '" + current_.path +
                                     "' lies outside its declared size"));
    }
    CCFS_RETURN_IF_ERROR(emit_zeros(uint64_t(offset)));  // a sparse hole
    if (len > 0) CCFS_RETURN_IF_ERROR(sink(static_cast<const char*>(block), len));
    written += len;
  }
  return emit_zeros(size);  // a trailing sparse hole
}

Status IndexTarGz(CompressedSource source, TarIndex* index, std::vector<SkippedEntry>* skipped) {
  auto sc = TarScanner::OpenSource(std::move(source));
  if (!sc.ok()) return sc.status();
  TarIndex out;
  // Later duplicates win; the earlier copy becomes a tombstone so that the
  // entries stay in archive (= offset) order.
  std::unordered_map<std::string, size_t> slot;
  std::vector<bool> superseded;
  for (bool done = false;;) {
    TarEntry e;
    CCFS_RETURN_IF_ERROR((*sc)->Next(&e, &done));
    if (done) break;
    auto [it, fresh] = slot.try_emplace(e.path, out.entries.size());
    if (!fresh) {
      superseded[it->second] = true;
      it->second = out.entries.size();
    }
    out.entries.push_back(std::move(e));
    superseded.push_back(false);
  }
  size_t kept = 0;
  for (size_t i = 0; i < out.entries.size(); ++i) {
    if (superseded[i]) continue;
    if (kept != i) out.entries[kept] = std::move(out.entries[i]);
    ++kept;
  }
  out.entries.resize(kept);
  std::vector<SkippedEntry> dropped = (*sc)->skipped();
  DropEscapingSymlinks(&out.entries, &dropped);
  out.raw_size = (*sc)->raw_size();
  *index = std::move(out);
  if (skipped != nullptr) *skipped = std::move(dropped);
  return Status::OK();
}

Status IndexTarGzFile(const std::string& path, TarIndex* index,
                      std::vector<SkippedEntry>* skipped) {
  auto fd = std::make_shared<ScopedFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return Status::FromErrno("tar index: open " + path, errno);
  return IndexTarGz(
      [fd, path](std::string* chunk) {
        chunk->resize(kChunk);
        size_t got = 0;
        Status s =
            ReadFull(fd->get(), chunk->data(), chunk->size(), &got, "tar index: read " + path);
        chunk->resize(s.ok() ? got : 0);
        return s;
      },
      index, skipped);
}

}  // namespace ccfs
