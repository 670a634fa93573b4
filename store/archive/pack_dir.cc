#include "store/archive/pack_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "store/archive/tar_util.h"
#include "store/base/path_util.h"

namespace ccfs {

namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

const char* UnsupportedKind(mode_t mode) {
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "unsupported file type";
}

class TreeWalker {
 public:
  TreeWalker(const std::function<bool(const std::string&)>& exclude, std::vector<TarEntry>* entries,
             std::vector<SkippedEntry>* skipped)
      : exclude_(exclude), entries_(entries), skipped_(skipped) {}

  // Appends the entries below the directory open as `dir_fd` (which it takes).
  Status Walk(ScopedFd dir_fd, const std::string& prefix);

 private:
  Status Visit(int dir_fd, const std::string& name, const std::string& rel);

  const std::function<bool(const std::string&)>& exclude_;
  std::vector<TarEntry>* entries_;
  std::vector<SkippedEntry>* skipped_;
};

Status TreeWalker::Walk(ScopedFd dir_fd, const std::string& prefix) {
  const std::string shown = prefix.empty() ? "." : prefix;
  // fdopendir takes ownership of its descriptor: give it a duplicate.
  int dup_fd = ::fcntl(dir_fd.get(), F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return Status::FromErrno("pack: dup " + shown, errno);
  std::unique_ptr<DIR, DirCloser> d(::fdopendir(dup_fd));
  if (!d) {
    ::close(dup_fd);
    return Status::FromErrno("pack: opendir " + shown, errno);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(d.get())) {
    std::string name = de->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  if (errno != 0) return Status::FromErrno("pack: readdir " + shown, errno);
  d.reset();
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    CCFS_RETURN_IF_ERROR(Visit(dir_fd.get(), name, prefix.empty() ? name : prefix + "/" + name));
  }
  return Status::OK();
}

Status TreeWalker::Visit(int dir_fd, const std::string& name, const std::string& rel) {
  if (exclude_ && exclude_(rel)) return Status::OK();
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::OK();  // removed during the walk
    return Status::FromErrno("pack: stat " + rel, errno);
  }
  if (!IsCanonicalMemberPath(rel)) {
    skipped_->push_back({rel, "path is too long for an archive member"});
    return Status::OK();
  }
  TarEntry e;
  e.path = rel;
  e.mode = SanitizeMode(st.st_mode & 07777);
  e.mtime = st.st_mtim.tv_sec;
  if (S_ISREG(st.st_mode)) {
    e.type = EntryType::kFile;
    e.size = uint64_t(st.st_size);
    entries_->push_back(std::move(e));
  } else if (S_ISDIR(st.st_mode)) {
    e.type = EntryType::kDir;
    entries_->push_back(std::move(e));
    ScopedFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return Status::FromErrno("pack: open directory " + rel, errno);
    return Walk(std::move(sub), rel);
  } else if (S_ISLNK(st.st_mode)) {
    std::string target(size_t(std::max<off_t>(st.st_size, 0)) + 1, '\0');
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Status::FromErrno("pack: readlink " + rel, errno);
    if (size_t(n) >= target.size())
      return Status::IOError("pack: symlink " + rel + " changed while read");
    target.resize(size_t(n));
    std::string why;
    if (!SymlinkTargetStaysInside(rel, target, &why)) {
      skipped_->push_back({rel, why + " (-> " + target + ")"});
      return Status::OK();
    }
    e.type = EntryType::kSymlink;
    e.link_target = std::move(target);
    entries_->push_back(std::move(e));
  } else {
    skipped_->push_back({rel, UnsupportedKind(st.st_mode)});
  }
  return Status::OK();
}

}  // namespace

Status PackDirectory(const std::string& dir,
                     const std::function<bool(const std::string& rel)>& exclude,
                     const std::string& out_path, const SeekableTarWriter::Options& options,
                     TarIndex* index, std::vector<SkippedEntry>* skipped) {
  std::vector<SkippedEntry> local_skipped;
  std::vector<SkippedEntry>* skip_out = skipped != nullptr ? skipped : &local_skipped;
  skip_out->clear();

  ScopedFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Status::FromErrno("pack: open " + dir, errno);
  ScopedFd walk_fd(::fcntl(root.get(), F_DUPFD_CLOEXEC, 0));
  if (!walk_fd.valid()) return Status::FromErrno("pack: dup " + dir, errno);

  std::vector<TarEntry> entries;
  TreeWalker walker(exclude, &entries, skip_out);
  CCFS_RETURN_IF_ERROR(walker.Walk(std::move(walk_fd), ""));
  DropEscapingSymlinks(&entries, skip_out);

  auto writer = SeekableTarWriter::Create(out_path, options);
  if (!writer.ok()) return writer.status();
  std::optional<std::string> open_dir;  // the directory dir_fd is open on
  ScopedFd dir_fd;
  for (const auto& e : entries) {
    switch (e.type) {
      case EntryType::kDir:
        CCFS_RETURN_IF_ERROR((*writer)->AddDirectory(e));
        break;
      case EntryType::kSymlink:
        CCFS_RETURN_IF_ERROR((*writer)->AddSymlink(e));
        break;
      case EntryType::kFile: {
        const std::string parent = ParentOf(e.path);
        if (parent != open_dir) {
          int err = OpenDirBeneath(root.get(), parent, /*create=*/false, &dir_fd, nullptr);
          if (err != 0) {
            if (err != ENOENT && err != ENOTDIR && err != ELOOP) {
              return Status::FromErrno("pack: open directory of " + e.path, err);
            }
            skip_out->push_back({e.path, "disappeared while packing"});
            open_dir.reset();
            continue;
          }
          open_dir = parent;
        }
        ScopedFd fd(::openat(dir_fd.get(), BaseOf(e.path).c_str(),
                             O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (!fd.valid()) {
          if (errno != ENOENT && errno != ELOOP)
            return Status::FromErrno("pack: open " + e.path, errno);
          skip_out->push_back({e.path, "disappeared while packing"});
          continue;
        }
        CCFS_RETURN_IF_ERROR((*writer)->AddFileFromFd(e, fd.get()));
        break;
      }
    }
  }
  TarIndex written;
  CCFS_RETURN_IF_ERROR((*writer)->Finish(&written));
  if (index != nullptr) *index = std::move(written);
  return Status::OK();
}

}  // namespace ccfs
