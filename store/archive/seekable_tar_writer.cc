#include "store/archive/seekable_tar_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "store/archive/seekable_tar_format.h"
#include "store/archive/tar_sanitize.h"

namespace ccfs {

namespace {

constexpr uint64_t kMinBlockRawSize = 512;
constexpr uint64_t kMaxTargetBlockRawSize = 16ull << 20;
constexpr size_t kOutputFlushSize = 1 << 20;
constexpr size_t kReadChunk = 256 * 1024;

uint64_t RoundUp512(uint64_t n) { return (n + 511) / 512 * 512; }

bool NeedsPaxRecord(const std::string& s) {
  return s.size() > 99 ||
         std::any_of(s.begin(), s.end(), [](char c) { return uint8_t(c) >= 0x80; });
}

// Upper estimate of a member's raw size: header, pax record if any, data.
uint64_t EstimateMemberSize(const TarEntry& e, uint64_t size) {
  uint64_t est = 512 + RoundUp512(size);
  if (NeedsPaxRecord(e.path) || NeedsPaxRecord(e.link_target) || size >= (8ull << 30) ||
      e.mtime < 0 || e.mtime >= (int64_t(1) << 33)) {
    est += 1024 + RoundUp512(2 * (e.path.size() + e.link_target.size()) + 200);
  }
  return est;
}

}  // namespace

Result<std::unique_ptr<SeekableTarWriter>> SeekableTarWriter::Create(const std::string& out_path,
                                                                     const Options& options) {
  if (options.target_block_raw_size < kMinBlockRawSize ||
      options.target_block_raw_size > kMaxTargetBlockRawSize) {
    return Status::InvalidArgument("seekable tar: target block size must be 512 B .. 16 MiB");
  }
  if (options.compression_level < 1 || options.compression_level > 9) {
    return Status::InvalidArgument("seekable tar: compression level must be 1..9");
  }
  ScopedFd fd(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno("seekable tar: create " + out_path, errno);
  std::unique_ptr<SeekableTarWriter> w(new SeekableTarWriter(out_path, options, std::move(fd)));
  Status s = w->Open();
  if (!s.ok()) return s;  // the destructor removes the file
  return w;
}

SeekableTarWriter::SeekableTarWriter(std::string out_path, const Options& options, ScopedFd fd)
    : out_path_(std::move(out_path)),
      options_(options),
      fd_(std::move(fd)),
      deflater_(options.compression_level) {}

SeekableTarWriter::~SeekableTarWriter() {
  archive_.reset();
  if (!finished_) {
    fd_.reset();
    ::unlink(out_path_.c_str());
  }
}

Status SeekableTarWriter::Open() {
  ScopedUtf8Locale utf8;
  archive_.reset(archive_write_new());
  if (!archive_) return Status::IOError("seekable tar: archive_write_new failed");
  archive* a = archive_.get();
  // Unbuffered (0 bytes per block): every write reaches WriteCallback at
  // once, so raw_pos_ is the exact stream offset, and end-of-archive is the
  // two 512-byte zero blocks without padding to a 10 KiB record.
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
      archive_write_open(a, this, nullptr, &SeekableTarWriter::WriteCallback, nullptr) !=
          ARCHIVE_OK) {
    return Fail(Status::IOError(ArchiveError(a, "seekable tar: open")));
  }
  return Status::OK();
}

Status SeekableTarWriter::Fail(Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

la_ssize_t SeekableTarWriter::WriteCallback(archive* a, void* self, const void* buf, size_t len) {
  auto* w = static_cast<SeekableTarWriter*>(self);
  Status s = w->WriteRaw(static_cast<const char*>(buf), len);
  if (!s.ok()) {
    archive_set_error(a, EIO, "%s", s.message().c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

Status SeekableTarWriter::EmitCompressed(const char* data, size_t len) {
  out_buf_.append(data, len);
  comp_pos_ += len;
  if (out_buf_.size() >= kOutputFlushSize) return FlushOutput();
  return Status::OK();
}

Status SeekableTarWriter::FlushOutput() {
  Status s =
      WriteAll(fd_.get(), out_buf_.data(), out_buf_.size(), "seekable tar: write " + out_path_);
  out_buf_.clear();
  return s.ok() ? s : Fail(s);
}

Status SeekableTarWriter::WriteRaw(const char* data, size_t len) {
  if (!status_.ok()) return status_;
  const ByteSink sink = [this](const char* d, size_t n) { return EmitCompressed(d, n); };
  const uint64_t target = options_.target_block_raw_size;
  while (len > 0) {
    if (!block_open_) {
      CCFS_RETURN_IF_ERROR(Fail(deflater_.Begin()));
      block_open_ = true;
      block_ = TarBlock{comp_pos_, 0, raw_pos_, 0};
    }
    size_t n = len;
    if (splitting_member_) n = size_t(std::min<uint64_t>(n, target - block_.raw_size));
    Status s = deflater_.Write(data, n, sink);
    if (!s.ok()) return Fail(s);
    raw_pos_ += n;
    block_.raw_size += n;
    data += n;
    len -= n;
    if (splitting_member_ && block_.raw_size >= target) CCFS_RETURN_IF_ERROR(CutBlock());
  }
  return Status::OK();
}

Status SeekableTarWriter::CutBlock() {
  if (!block_open_) return Status::OK();
  const ByteSink sink = [this](const char* d, size_t n) { return EmitCompressed(d, n); };
  Status s = deflater_.Finish(sink);
  if (!s.ok()) return Fail(s);
  block_.comp_size = comp_pos_ - block_.comp_offset;
  blocks_.push_back(block_);
  block_open_ = false;
  return Status::OK();
}

Status SeekableTarWriter::CheckEntry(const TarEntry& e, EntryType type) {
  if (finished_) return Status::InvalidArgument("seekable tar: already finished");
  if (!IsCanonicalMemberPath(e.path)) {
    return Status::InvalidArgument("seekable tar: not a normalised relative path: '" + e.path +
                                   "'");
  }
  if (type == EntryType::kSymlink) {
    std::string why;
    if (!SymlinkTargetStaysInside(e.path, e.link_target, &why)) {
      return Status::InvalidArgument("seekable tar: symlink '" + e.path + "': " + why);
    }
  }
  if (paths_.count(e.path) != 0) {
    return Status::InvalidArgument("seekable tar: duplicate path '" + e.path + "'");
  }
  return Status::OK();
}

Status SeekableTarWriter::AddEntry(const TarEntry& e, EntryType type, uint64_t size,
                                   const DataReader& data) {
  if (!status_.ok()) return status_;
  CCFS_RETURN_IF_ERROR(CheckEntry(e, type));
  ScopedUtf8Locale utf8;
  archive* a = archive_.get();

  const uint64_t target = options_.target_block_raw_size;
  const uint64_t est = EstimateMemberSize(e, size);
  if (block_open_ && block_.raw_size > 0 && block_.raw_size + est > target) {
    CCFS_RETURN_IF_ERROR(CutBlock());
  }
  splitting_member_ = est > target;

  ArchiveEntryPtr ae(archive_entry_new());
  if (!ae) return Fail(Status::IOError("seekable tar: archive_entry_new failed"));
  archive_entry_set_pathname(ae.get(), e.path.c_str());
  archive_entry_set_filetype(ae.get(), type == EntryType::kFile  ? AE_IFREG
                                       : type == EntryType::kDir ? AE_IFDIR
                                                                 : AE_IFLNK);
  archive_entry_set_perm(ae.get(), SanitizeMode(e.mode));
  archive_entry_set_size(ae.get(), int64_t(size));
  archive_entry_set_mtime(ae.get(), e.mtime, 0);
  archive_entry_set_uid(ae.get(), 0);
  archive_entry_set_gid(ae.get(), 0);
  if (type == EntryType::kSymlink) archive_entry_set_symlink(ae.get(), e.link_target.c_str());

  TarEntry rec;
  rec.path = e.path;
  rec.type = type;
  rec.mode = SanitizeMode(e.mode);
  rec.size = size;
  rec.mtime = e.mtime;
  if (type == EntryType::kSymlink) rec.link_target = e.link_target;
  rec.header_offset = raw_pos_;
  int r = archive_write_header(a, ae.get());
  if (!status_.ok()) return status_;
  if (r < ARCHIVE_WARN) {
    return Fail(Status::IOError(ArchiveError(a, "seekable tar: header for '" + e.path + "'")));
  }
  rec.data_offset = raw_pos_;

  if (size > 0) {
    std::string buf(size_t(std::min<uint64_t>(size, kReadChunk)), '\0');
    uint64_t done = 0;
    while (done < size) {
      size_t want = size_t(std::min<uint64_t>(buf.size(), size - done));
      size_t got = 0;
      Status s = data(buf.data(), want, &got);
      if (!s.ok()) return Fail(s);
      if (got == 0) {
        return Fail(Status::IOError("seekable tar: '" + e.path + "' shrank while being packed (" +
                                    std::to_string(done) + " of " + std::to_string(size) +
                                    " bytes)"));
      }
      la_ssize_t w = archive_write_data(a, buf.data(), got);
      if (!status_.ok()) return status_;
      if (w < 0 || size_t(w) != got) {
        return Fail(Status::IOError(ArchiveError(a, "seekable tar: data of '" + e.path + "'")));
      }
      done += got;
    }
  }
  if (archive_write_finish_entry(a) != ARCHIVE_OK) {
    if (!status_.ok()) return status_;
    return Fail(Status::IOError(ArchiveError(a, "seekable tar: finish '" + e.path + "'")));
  }
  if (splitting_member_) {
    // A big member owns its blocks: close its last one so the next member
    // starts on a block boundary.
    CCFS_RETURN_IF_ERROR(CutBlock());
    splitting_member_ = false;
  }
  paths_.insert(rec.path);
  entries_.push_back(std::move(rec));
  return Status::OK();
}

Status SeekableTarWriter::AddDirectory(const TarEntry& e) {
  return AddEntry(e, EntryType::kDir, 0, nullptr);
}

Status SeekableTarWriter::AddSymlink(const TarEntry& e) {
  return AddEntry(e, EntryType::kSymlink, 0, nullptr);
}

Status SeekableTarWriter::AddFileFromBytes(const TarEntry& e, std::string_view data) {
  size_t pos = 0;
  return AddEntry(e, EntryType::kFile, data.size(), [&](char* buf, size_t cap, size_t* got) {
    *got = std::min(cap, data.size() - pos);
    std::memcpy(buf, data.data() + pos, *got);
    pos += *got;
    return Status::OK();
  });
}

Status SeekableTarWriter::AddFileFromFd(const TarEntry& e, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("seekable tar: stat '" + e.path + "'", errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("seekable tar: '" + e.path + "' is not a regular file");
  }
  const std::string context = "seekable tar: read '" + e.path + "'";
  return AddEntry(
      e, EntryType::kFile, uint64_t(st.st_size),
      [&](char* buf, size_t cap, size_t* got) { return ReadFull(fd, buf, cap, got, context); });
}

Status SeekableTarWriter::AddFile(const TarEntry& e, const std::string& local_path) {
  ScopedFd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return Status::FromErrno("seekable tar: open " + local_path, errno);
  return AddFileFromFd(e, fd.get());
}

Status SeekableTarWriter::EntriesInBlockRun(const TarIndex& src, size_t first, size_t last,
                                            std::vector<TarEntry>* entries) {
  entries->clear();
  if (first > last || last >= src.blocks.size()) {
    return Status::InvalidArgument("seekable tar: no such block run");
  }
  const uint64_t begin = src.blocks[first].raw_offset;
  const uint64_t end = src.blocks[last].raw_offset + src.blocks[last].raw_size;
  // Entries are in offset order: find the first at or after `begin`, then
  // require them to tile [begin, end) exactly.
  auto it = std::lower_bound(src.entries.begin(), src.entries.end(), begin,
                             [](const TarEntry& e, uint64_t off) { return e.header_offset < off; });
  uint64_t pos = begin;
  for (; it != src.entries.end() && it->header_offset < end; ++it) {
    if (it->header_offset != pos) break;
    pos = it->data_offset + RoundUp512(it->size);
    entries->push_back(*it);
  }
  if (pos != end) {
    entries->clear();
    return Status::InvalidArgument("seekable tar: blocks " + std::to_string(first) + ".." +
                                   std::to_string(last) +
                                   " do not start and end on member boundaries of indexed entries");
  }
  return Status::OK();
}

Status SeekableTarWriter::AppendBlocks(const TarIndex& src, size_t first, size_t last,
                                       std::string_view compressed, bool verify) {
  if (!status_.ok()) return status_;
  if (finished_) return Status::InvalidArgument("seekable tar: already finished");
  std::vector<TarEntry> run;
  CCFS_RETURN_IF_ERROR(EntriesInBlockRun(src, first, last, &run));
  const uint64_t comp_begin = src.blocks[first].comp_offset;
  const uint64_t comp_len = src.blocks[last].comp_offset + src.blocks[last].comp_size - comp_begin;
  if (compressed.size() != comp_len) {
    return Status::InvalidArgument("seekable tar: " + std::to_string(compressed.size()) +
                                   " compressed bytes given for a run of " +
                                   std::to_string(comp_len));
  }
  std::unordered_set<std::string> run_paths;
  for (const auto& e : run) {
    CCFS_RETURN_IF_ERROR(CheckEntry(e, e.type));
    if (!run_paths.insert(e.path).second) {
      return Status::InvalidArgument("seekable tar: duplicate path '" + e.path + "'");
    }
  }
  if (verify) {
    std::string scratch;
    for (size_t i = first; i <= last; ++i) {
      const TarBlock& b = src.blocks[i];
      Status s = InflateGzipMember(compressed.substr(b.comp_offset - comp_begin, b.comp_size),
                                   b.raw_size, &scratch);
      if (!s.ok()) return s.Annotate("seekable tar: reused block " + std::to_string(i));
    }
  }

  CCFS_RETURN_IF_ERROR(CutBlock());  // the copied run starts a block of its own
  const uint64_t raw_shift = raw_pos_ - src.blocks[first].raw_offset;
  for (size_t i = first; i <= last; ++i) {
    const TarBlock& b = src.blocks[i];
    TarBlock copy{comp_pos_, b.comp_size, b.raw_offset + raw_shift, b.raw_size};
    CCFS_RETURN_IF_ERROR(
        EmitCompressed(compressed.data() + (b.comp_offset - comp_begin), b.comp_size));
    blocks_.push_back(copy);
    raw_pos_ += b.raw_size;
  }
  for (auto& e : run) {
    e.header_offset += raw_shift;
    e.data_offset += raw_shift;
    paths_.insert(e.path);
    entries_.push_back(std::move(e));
  }
  return Status::OK();
}

Status SeekableTarWriter::Finish(TarIndex* index) {
  if (!status_.ok()) return status_;
  if (finished_) return Status::InvalidArgument("seekable tar: already finished");
  {
    ScopedUtf8Locale utf8;
    splitting_member_ = false;
    if (archive_write_close(archive_.get()) != ARCHIVE_OK) {
      if (!status_.ok()) return status_;
      return Fail(Status::IOError(ArchiveError(archive_.get(), "seekable tar: close")));
    }
  }
  CCFS_RETURN_IF_ERROR(CutBlock());

  TarIndex idx;
  idx.entries = std::move(entries_);
  idx.blocks = std::move(blocks_);
  idx.raw_size = raw_pos_;
  idx.data_comp_size = comp_pos_;
  const std::string text = idx.Serialize();
  if (text.empty()) return Fail(Status::IOError("seekable tar: index serialization failed"));
  const std::string index_member = EncodeIndexMember(text);
  SeekableTrailer trailer{comp_pos_, index_member.size(), Crc32(text)};
  const std::string trailer_member = EncodeSeekableTrailer(trailer);
  CCFS_RETURN_IF_ERROR(EmitCompressed(index_member.data(), index_member.size()));
  CCFS_RETURN_IF_ERROR(EmitCompressed(trailer_member.data(), trailer_member.size()));
  CCFS_RETURN_IF_ERROR(FlushOutput());
  if (::fsync(fd_.get()) != 0)
    return Fail(Status::FromErrno("seekable tar: fsync " + out_path_, errno));
  CCFS_RETURN_IF_ERROR(Fail(fd_.Close("seekable tar: close " + out_path_)));
  finished_ = true;
  if (index != nullptr) *index = std::move(idx);
  return Status::OK();
}

}  // namespace ccfs
