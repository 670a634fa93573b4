#include "store/archive/safe_extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "store/archive/tar_util.h"
#include "store/base/path_util.h"

namespace ccfs {

namespace {

struct timespec ToTimespec(int64_t secs) {
  struct timespec ts {};
  ts.tv_sec = time_t(secs);
  return ts;
}

// InvalidArgument unless `dir` is absent or an empty directory.
Status CheckDestination(const std::string& dir, bool* exists) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      *exists = false;
      return Status::OK();
    }
    return Status::FromErrno("extract: stat " + dir, errno);
  }
  *exists = true;
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("extract: " + dir + " is not a directory");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno("extract: open " + dir, errno);
  bool empty = true;
  while (struct dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (!empty) return Status::InvalidArgument("extract: destination " + dir + " is not empty");
  return Status::OK();
}

Status MakeDirs(const std::string& dir) {
  std::string path;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    path = dir.substr(0, j);
    i = j + 1;
    if (path.empty()) continue;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno("extract: mkdir " + path, errno);
    }
  }
  return Status::OK();
}

// Writes sanitised entries below one root directory descriptor.
class TreeExtractor {
 public:
  TreeExtractor(ScopedFd root, const ExtractOptions& options)
      : root_(std::move(root)), options_(options) {}

  Status Add(const TarEntry& e, TarScanner* scanner);
  Status Finish();
  std::vector<SkippedEntry>& skipped() { return skipped_; }
  std::vector<TarEntry> TakeEntries();

 private:
  // Directory fd for `dir` (creating it), cached for runs of siblings.
  // Returns OK with *fd = -1 and a skip recorded when the path is blocked.
  Status ParentFd(const TarEntry& e, int* fd);
  Status AddDir(const TarEntry& e);
  Status AddFile(const TarEntry& e, TarScanner* scanner);
  Status CreateSymlink(const TarEntry& e);
  Status FixDirectory(const std::string& path, uint32_t mode, const int64_t* mtime);
  void Record(const TarEntry& e);
  void Kill(const std::string& path);
  void Skip(const TarEntry& e, std::string reason) {
    skipped_.push_back({e.path, std::move(reason)});
  }

  ScopedFd root_;
  const ExtractOptions options_;
  std::optional<std::string> cached_dir_;  // the directory cached_fd_ is open on
  ScopedFd cached_fd_;
  uint64_t total_bytes_ = 0;

  struct DirAttrs {
    uint32_t mode;
    int64_t mtime;
  };
  std::map<std::string, DirAttrs> explicit_dirs_;
  std::vector<std::string> implied_dirs_;
  std::vector<TarEntry> pending_links_;  // deferred symlinks, archive order
  std::vector<bool> pending_dead_;       // superseded by a later entry
  std::unordered_map<std::string, size_t> pending_slot_;

  std::vector<TarEntry> entries_;
  std::vector<bool> dead_;
  std::unordered_map<std::string, size_t> slot_;
  std::vector<SkippedEntry> skipped_;
};

void TreeExtractor::Record(const TarEntry& e) {
  Kill(e.path);
  slot_[e.path] = entries_.size();
  entries_.push_back(e);
  dead_.push_back(false);
}

void TreeExtractor::Kill(const std::string& path) {
  auto it = slot_.find(path);
  if (it == slot_.end()) return;
  dead_[it->second] = true;
  slot_.erase(it);
}

std::vector<TarEntry> TreeExtractor::TakeEntries() {
  std::vector<TarEntry> out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!dead_[i]) out.push_back(std::move(entries_[i]));
  }
  return out;
}

Status TreeExtractor::ParentFd(const TarEntry& e, int* fd) {
  *fd = -1;
  const std::string dir = ParentOf(e.path);
  if (dir != cached_dir_) {
    ScopedFd opened;
    int err = OpenDirBeneath(root_.get(), dir, /*create=*/true, &opened, &implied_dirs_);
    if (err == ENOTDIR || err == ELOOP || err == EEXIST) {
      Skip(e, "a parent of this path is not a directory");
      return Status::OK();
    }
    if (err != 0) return Status::FromErrno("extract: open parent of '" + e.path + "'", err);
    cached_fd_ = std::move(opened);
    cached_dir_ = dir;
  }
  *fd = cached_fd_.get();
  return Status::OK();
}

Status TreeExtractor::Add(const TarEntry& e, TarScanner* scanner) {
  // A new entry for a path supersedes a pending (not yet created) symlink.
  if (auto it = pending_slot_.find(e.path); it != pending_slot_.end()) {
    pending_dead_[it->second] = true;
    pending_slot_.erase(it);
    Kill(e.path);
  }
  switch (e.type) {
    case EntryType::kDir:
      return AddDir(e);
    case EntryType::kFile:
      return AddFile(e, scanner);
    case EntryType::kSymlink:
      pending_slot_[e.path] = pending_links_.size();
      pending_links_.push_back(e);
      pending_dead_.push_back(false);
      Record(e);
      return Status::OK();
  }
  return Status::OK();
}

Status TreeExtractor::AddDir(const TarEntry& e) {
  int pfd = -1;
  CCFS_RETURN_IF_ERROR(ParentFd(e, &pfd));
  if (pfd < 0) return Status::OK();
  const std::string base = BaseOf(e.path);
  if (::mkdirat(pfd, base.c_str(), 0700) != 0) {
    if (errno != EEXIST) return Status::FromErrno("extract: mkdir '" + e.path + "'", errno);
    struct stat st;
    if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno("extract: stat '" + e.path + "'", errno);
    }
    if (!S_ISDIR(st.st_mode)) {
      // An earlier file at this path: the later entry wins, as with tar.
      if (::unlinkat(pfd, base.c_str(), 0) != 0 || ::mkdirat(pfd, base.c_str(), 0700) != 0) {
        return Status::FromErrno("extract: replace '" + e.path + "' with a directory", errno);
      }
    }
  }
  explicit_dirs_[e.path] = DirAttrs{e.mode, e.mtime};
  Record(e);
  return Status::OK();
}

Status TreeExtractor::AddFile(const TarEntry& e, TarScanner* scanner) {
  if (e.size > options_.max_entry_size) {
    return Status::Corruption("extract: '" + e.path + "' declares " + std::to_string(e.size) +
                              " bytes, above the per-file limit of " +
                              std::to_string(options_.max_entry_size));
  }
  if (e.size > options_.max_total_size - std::min(total_bytes_, options_.max_total_size)) {
    return Status::Corruption("extract: archive expands beyond the limit of " +
                              std::to_string(options_.max_total_size) + " bytes");
  }
  total_bytes_ += e.size;
  struct statvfs vfs;
  if (::fstatvfs(root_.get(), &vfs) == 0) {
    uint64_t avail = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
    if (e.size + options_.min_free_bytes > avail) {
      return Status::IOError("extract: not enough space for '" + e.path + "' (" +
                             std::to_string(e.size) + " bytes, " + std::to_string(avail) +
                             " available)");
    }
  }

  int pfd = -1;
  CCFS_RETURN_IF_ERROR(ParentFd(e, &pfd));
  if (pfd < 0) return Status::OK();
  const std::string base = BaseOf(e.path);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  ScopedFd fd(::openat(pfd, base.c_str(), kFlags, 0600));
  if (!fd.valid() && errno == EEXIST) {
    struct stat st;
    if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      Skip(e, "a directory already exists at this path");
      return Status::OK();
    }
    if (::unlinkat(pfd, base.c_str(), 0) != 0) {
      return Status::FromErrno("extract: replace '" + e.path + "'", errno);
    }
    fd.reset(::openat(pfd, base.c_str(), kFlags, 0600));
  }
  if (!fd.valid()) return Status::FromErrno("extract: create '" + e.path + "'", errno);

  const std::string context = "extract: write '" + e.path + "'";
  CCFS_RETURN_IF_ERROR(scanner->ReadData(
      [&](const char* data, size_t len) { return WriteAll(fd.get(), data, len, context); }));
  if (::fchmod(fd.get(), e.mode) != 0)
    return Status::FromErrno("extract: chmod '" + e.path + "'", errno);
  const struct timespec times[2] = {ToTimespec(e.mtime), ToTimespec(e.mtime)};
  if (::futimens(fd.get(), times) != 0) {
    return Status::FromErrno("extract: set mtime of '" + e.path + "'", errno);
  }
  CCFS_RETURN_IF_ERROR(fd.Close(context));
  Record(e);
  return Status::OK();
}

Status TreeExtractor::CreateSymlink(const TarEntry& e) {
  int pfd = -1;
  CCFS_RETURN_IF_ERROR(ParentFd(e, &pfd));
  if (pfd < 0) {
    Kill(e.path);
    return Status::OK();
  }
  const std::string base = BaseOf(e.path);
  if (::symlinkat(e.link_target.c_str(), pfd, base.c_str()) != 0) {
    if (errno != EEXIST) return Status::FromErrno("extract: symlink '" + e.path + "'", errno);
    struct stat st;
    if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      Skip(e, "a directory already exists at this path");
      Kill(e.path);
      return Status::OK();
    }
    // An earlier file at this path: the later symlink wins.
    if (::unlinkat(pfd, base.c_str(), 0) != 0 ||
        ::symlinkat(e.link_target.c_str(), pfd, base.c_str()) != 0) {
      return Status::FromErrno("extract: replace '" + e.path + "' with a symlink", errno);
    }
  }
  const struct timespec times[2] = {ToTimespec(e.mtime), ToTimespec(e.mtime)};
  if (::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno("extract: set mtime of symlink '" + e.path + "'", errno);
  }
  return Status::OK();
}

Status TreeExtractor::FixDirectory(const std::string& path, uint32_t mode, const int64_t* mtime) {
  ScopedFd fd;
  int err = OpenDirBeneath(root_.get(), path, /*create=*/false, &fd, nullptr);
  if (err == ENOENT || err == ENOTDIR || err == ELOOP) return Status::OK();  // replaced since
  if (err != 0) return Status::FromErrno("extract: open directory '" + path + "'", err);
  if (::fchmod(fd.get(), mode) != 0)
    return Status::FromErrno("extract: chmod '" + path + "'", errno);
  if (mtime != nullptr) {
    const struct timespec times[2] = {ToTimespec(*mtime), ToTimespec(*mtime)};
    if (::futimens(fd.get(), times) != 0) {
      return Status::FromErrno("extract: set mtime of '" + path + "'", errno);
    }
  }
  return Status::OK();
}

Status TreeExtractor::Finish() {
  // 1. Symlinks, now that no more files will be written: only those that stay
  //    inside the tree even when followed through each other.
  std::vector<TarEntry> links;
  for (size_t i = 0; i < pending_links_.size(); ++i) {
    if (!pending_dead_[i]) links.push_back(std::move(pending_links_[i]));
  }
  std::vector<SkippedEntry> dropped;
  DropEscapingSymlinks(&links, &dropped);
  for (const auto& d : dropped) Kill(d.path);
  skipped_.insert(skipped_.end(), dropped.begin(), dropped.end());
  for (const auto& l : links) CCFS_RETURN_IF_ERROR(CreateSymlink(l));

  // 2. Directory modes and mtimes, last because creating anything inside a
  //    directory bumps its mtime; children before parents (reverse path
  //    order puts "a/b" before "a") so that a parent made read-only cannot
  //    block the walk to its children.
  cached_fd_.reset();
  cached_dir_.reset();
  std::map<std::string, DirAttrs> all = explicit_dirs_;
  for (const auto& d : implied_dirs_) all.emplace(d, DirAttrs{0755, 0});
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    bool is_explicit = explicit_dirs_.count(it->first) != 0;
    CCFS_RETURN_IF_ERROR(
        FixDirectory(it->first, it->second.mode, is_explicit ? &it->second.mtime : nullptr));
  }
  return Status::OK();
}

}  // namespace

Status ExtractFromScanner(TarScanner* scanner, const std::string& dest_dir,
                          const ExtractOptions& options, std::vector<SkippedEntry>* skipped,
                          TarIndex* entries_out) {
  bool exists = false;
  CCFS_RETURN_IF_ERROR(CheckDestination(dest_dir, &exists));
  if (!exists) CCFS_RETURN_IF_ERROR(MakeDirs(dest_dir));
  ScopedFd root(::open(dest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Status::FromErrno("extract: open " + dest_dir, errno);

  TreeExtractor tree(std::move(root), options);
  uint64_t count = 0;
  for (bool done = false;;) {
    TarEntry e;
    CCFS_RETURN_IF_ERROR(scanner->Next(&e, &done));
    if (done) break;
    if (++count + scanner->skipped().size() > options.max_entries) {
      return Status::Corruption("extract: archive has more than " +
                                std::to_string(options.max_entries) + " entries");
    }
    CCFS_RETURN_IF_ERROR(tree.Add(e, scanner));
  }
  CCFS_RETURN_IF_ERROR(tree.Finish());
  if (skipped != nullptr) {
    *skipped = scanner->skipped();
    skipped->insert(skipped->end(), tree.skipped().begin(), tree.skipped().end());
  }
  if (entries_out != nullptr) {
    *entries_out = TarIndex();
    entries_out->entries = tree.TakeEntries();
    entries_out->raw_size = scanner->raw_size();
  }
  return Status::OK();
}

Status ExtractTarGz(const std::string& tarball_path, const std::string& dest_dir,
                    const ExtractOptions& options, std::vector<SkippedEntry>* skipped,
                    TarIndex* entries_out) {
  bool exists = false;
  CCFS_RETURN_IF_ERROR(CheckDestination(dest_dir, &exists));
  TarScanOptions scan_options;
  scan_options.max_entry_size = options.max_entry_size;
  auto scanner = TarScanner::OpenFile(tarball_path, scan_options);
  if (!scanner.ok()) return scanner.status();
  return ExtractFromScanner(scanner->get(), dest_dir, options, skipped, entries_out);
}

Status ExtractTarGz(const std::string& tarball_path, const std::string& dest_dir,
                    std::vector<SkippedEntry>* skipped, TarIndex* entries_out) {
  return ExtractTarGz(tarball_path, dest_dir, ExtractOptions{}, skipped, entries_out);
}

}  // namespace ccfs
