#include "fs/hydrate/block_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "fs/tree/cache_dir.h"

namespace ccfs {

namespace {

std::string SafeName(const std::string& etag) {
  std::string s;
  for (char c : etag) s += (isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return s;
}

}  // namespace

Status BlockCache::Use(const TarballVersion& v) {
  std::lock_guard<std::mutex> lock(mu_);
  if (v.etag == etag_ && data_.valid()) return Status::OK();
  data_.reset();
  map_.reset();
  present_.clear();
  etag_.clear();
  CCFS_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  std::string keep = SafeName(v.etag);
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (name.rfind(keep + ".", 0) != 0 || v.etag.empty()) ::unlink((dir_ + "/" + name).c_str());
    }
    ::closedir(d);
  }
  if (v.etag.empty() || !v.seekable || v.index.blocks.empty()) return Status::OK();
  std::string base = dir_ + "/" + keep;
  int df = ::open((base + ".gz").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (df < 0) return Status::FromErrno("open " + base + ".gz", errno);
  data_.reset(df);
  int mf = ::open((base + ".map").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (mf < 0) return Status::FromErrno("open " + base + ".map", errno);
  map_.reset(mf);
  size_t n = v.index.blocks.size();
  std::string bits(n, '\0');
  ssize_t got = ::pread(mf, bits.data(), n, 0);
  present_.assign(n, false);
  for (ssize_t i = 0; i < got; ++i)
    present_[static_cast<size_t>(i)] = bits[static_cast<size_t>(i)] == 1;
  etag_ = v.etag;
  return Status::OK();
}

Status BlockCache::Adopt(const TarballVersion& v, const std::string& path) {
  CCFS_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  std::string base = dir_ + "/" + SafeName(v.etag);
  {
    std::lock_guard<std::mutex> lock(mu_);
    data_.reset();
    map_.reset();
    present_.clear();
    etag_.clear();
    if (::rename(path.c_str(), (base + ".gz").c_str()) != 0) {
      return Status::FromErrno("rename " + path, errno);
    }
    int mf = ::open((base + ".map").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (mf < 0) return Status::FromErrno("open " + base + ".map", errno);
    UniqueFd guard(mf);
    std::string ones(v.index.blocks.size(), '\1');
    if (::pwrite(mf, ones.data(), ones.size(), 0) != static_cast<ssize_t>(ones.size())) {
      return Status::FromErrno("write " + base + ".map", errno);
    }
  }
  return Use(v);
}

bool BlockCache::Has(const std::string& etag, size_t block) {
  std::lock_guard<std::mutex> lock(mu_);
  return etag == etag_ && block < present_.size() && present_[block];
}

Status BlockCache::Read(const TarballVersion& v, size_t block, std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (v.etag != etag_ || block >= present_.size() || !present_[block]) {
    return Status::NotFound("block not cached");
  }
  const TarBlock& b = v.index.blocks[block];
  out->resize(b.comp_size);
  ssize_t n = ::pread(data_.get(), out->data(), b.comp_size, static_cast<off_t>(b.comp_offset));
  if (n != static_cast<ssize_t>(b.comp_size)) return Status::NotFound("cached block short");
  return Status::OK();
}

void BlockCache::Write(const TarballVersion& v, size_t first, size_t n, std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (v.etag != etag_ || first + n > present_.size() || n == 0) return;
  struct statvfs st {};
  if (::fstatvfs(data_.get(), &st) != 0 ||
      uint64_t{st.f_bavail} * st.f_frsize < data.size() + min_free_bytes_.load()) {
    return;  // a full cache filesystem: fetched again when needed
  }
  off_t off = static_cast<off_t>(v.index.blocks[first].comp_offset);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::pwrite(data_.get(), data.data() + done, data.size() - done,
                         off + static_cast<off_t>(done));
    if (w <= 0) {
      spdlog::warn("block cache write: {}", std::strerror(errno));
      return;  // a cache: losing it costs a refetch, nothing else
    }
    done += static_cast<size_t>(w);
  }
  // Mark present only after the bytes are written.
  std::string ones(n, '\1');
  if (::pwrite(map_.get(), ones.data(), n, static_cast<off_t>(first)) == static_cast<ssize_t>(n)) {
    for (size_t i = first; i < first + n; ++i) present_[i] = true;
  }
}

}  // namespace ccfs
