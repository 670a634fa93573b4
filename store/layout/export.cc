#include "store/layout/export.h"

#include <fcntl.h>
#include <unistd.h>

#include "store/archive/seekable_tar_writer.h"
#include "store/base/unique_fd.h"
#include "store/layout/file_reader.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

// Copies file `e` into a fresh scratch file and returns it open at 0.
Status Fetch(TreeFileReader& reader, const IndexEntry& e, const std::string& path, UniqueFd* out) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno("export: create " + path, errno);
  CCFS_RETURN_IF_ERROR(reader.Read(e, 0, e.size, [&](const char* data, size_t len) {
    while (len > 0) {
      ssize_t n = ::write(fd.get(), data, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("export: write " + path, errno);
      }
      data += n;
      len -= static_cast<size_t>(n);
    }
    return Status::OK();
  }));
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return Status::FromErrno("export: seek", errno);
  *out = std::move(fd);
  return Status::OK();
}

}  // namespace

Status ExportTree(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                  const std::string& out_path, const std::string& scratch_dir,
                  ExportReport* report) {
  *report = ExportReport{};
  auto writer = SeekableTarWriter::Create(out_path, SeekableTarWriter::Options{});
  if (!writer.ok()) return writer.status();
  TreeFileReader reader(store, workspace);
  const std::string scratch = scratch_dir + "/export-" + std::to_string(::getpid()) + ".part";
  Status s;
  for (const SegmentRef& ref : root.segments) {
    IndexSegment seg;
    s = LoadSegment(store, workspace, ref, &seg);
    if (!s.ok()) break;
    for (const IndexEntry& e : seg.entries) {
      TarEntry t;
      t.path = e.path;
      t.mode = e.mode;
      t.mtime = e.mtime_ns / 1000000000;
      t.link_target = e.link_target;
      switch (e.type) {
        case EntryType::kDir:
          s = (*writer)->AddDirectory(t);
          break;
        case EntryType::kSymlink:
          s = (*writer)->AddSymlink(t);
          break;
        case EntryType::kFile: {
          if (e.size == 0) {
            s = (*writer)->AddFileFromBytes(t, "");
            break;
          }
          UniqueFd fd;
          s = Fetch(reader, e, scratch, &fd);
          if (s.ok()) s = (*writer)->AddFileFromFd(t, fd.get());
          report->bytes += e.size;
          break;
        }
      }
      if (!s.ok()) break;
      ++report->entries;
    }
    if (!s.ok()) break;
  }
  ::unlink(scratch.c_str());
  CCFS_RETURN_IF_ERROR(s.Annotate("export"));
  TarIndex index;
  return (*writer)->Finish(&index);
}

}  // namespace ccfs
