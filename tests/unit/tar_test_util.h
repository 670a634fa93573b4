// Helpers for the tar codec tests (tests/unit/tar_*_test.cc): temp dirs,
// tree snapshots, running external tools, building hostile archives.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "store/archive/seekable_tar_reader.h"
#include "store/archive/tar_util.h"
#include "store/base/status.h"

namespace ccfs::tartest {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ccfs-tar-test-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    // Make everything writable first so read-only dirs do not block removal.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(content.data(), std::streamsize(content.size()));
  }
  ::chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Deterministic bytes that deflate only moderately (so blocks are real work).
inline std::string PseudoRandomText(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = "abcdefghijklmnopqrstuvwxyz0123456789 \n{}\":,"[(x >> 24) % 44];
  }
  return s;
}

struct Node {
  char type = '?';  // 'f', 'd', 'l'
  mode_t mode = 0;
  std::string content;  // file bytes or symlink target
  int64_t mtime = 0;
  bool operator==(const Node& o) const {
    return type == o.type && mode == o.mode && content == o.content;
  }
};

// Everything below root, by relative path. Sockets/FIFOs/devices show as '?'.
inline std::map<std::string, Node> Snapshot(const std::string& root) {
  std::map<std::string, Node> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    // lexically_relative: relative() would resolve symlinks.
    std::string rel = it->path().lexically_relative(root).generic_string();
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    Node n;
    n.mode = st.st_mode & 07777;
    n.mtime = st.st_mtim.tv_sec;
    if (S_ISREG(st.st_mode)) {
      n.type = 'f';
      n.content = ReadFile(it->path());
    } else if (S_ISDIR(st.st_mode)) {
      n.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      n.type = 'l';
      n.mode = 0;  // symlink modes mean nothing on Linux
      n.content = std::filesystem::read_symlink(it->path(), ec).string();
    }
    out[rel] = n;
  }
  return out;
}

inline std::string Describe(const std::map<std::string, Node>& tree) {
  std::ostringstream ss;
  for (const auto& [path, n] : tree) {
    ss << n.type << " " << std::oct << n.mode << std::dec << " " << path;
    if (n.type == 'f') ss << " (" << n.content.size() << " bytes)";
    if (n.type == 'l') ss << " -> " << n.content;
    ss << "\n";
  }
  return ss.str();
}

// Runs `cmd` through /bin/sh with a 60 s limit; returns the exit status and
// puts stdout+stderr into *output.
inline int RunShell(const std::string& cmd, std::string* output) {
  // The command goes through a script file so that `timeout` bounds all of
  // it (pipes and `cd` included) without another layer of quoting.
  char script[] = "/tmp/ccfs-tar-test-cmd-XXXXXX";
  int fd = ::mkstemp(script);
  if (fd < 0) return -1;
  std::string body = cmd + "\n";
  bool written = ::write(fd, body.data(), body.size()) == ssize_t(body.size());
  ::close(fd);
  if (!written) return -1;
  std::string full = std::string("timeout 60 sh ") + script + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) {
    ::unlink(script);
    return -1;
  }
  output->clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int st = ::pclose(p);
  ::unlink(script);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A RangeFetcher over a local file that counts what it served.
struct FileFetcher {
  std::string path;
  uint64_t calls = 0;
  uint64_t bytes = 0;
  Status operator()(uint64_t offset, uint64_t length, std::string* out) {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno("open " + path, errno);
    out->resize(length);
    ssize_t n = ::pread(fd.get(), out->data(), length, off_t(offset));
    if (n < 0) return Status::FromErrno("pread", errno);
    out->resize(size_t(n));
    ++calls;
    bytes += uint64_t(n);
    return Status::OK();
  }
};

inline std::string Gzip(const std::string& raw) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, raw.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Builds a raw tar stream with libarchive's writer, which writes whatever it
// is told: absolute names, "..", hard links, devices, setuid modes.
class RawTarBuilder {
 public:
  RawTarBuilder() {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_per_block(a_, 0);
    archive_write_open(a_, this, nullptr, &RawTarBuilder::Cb, nullptr);
  }
  ~RawTarBuilder() {
    if (a_ != nullptr) archive_write_free(a_);
  }
  RawTarBuilder& File(const std::string& path, const std::string& data, mode_t perm = 0644) {
    return Add(path, AE_IFREG, perm, data, "", "");
  }
  RawTarBuilder& Dir(const std::string& path, mode_t perm = 0755) {
    return Add(path, AE_IFDIR, perm, "", "", "");
  }
  RawTarBuilder& Symlink(const std::string& path, const std::string& target) {
    return Add(path, AE_IFLNK, 0777, "", target, "");
  }
  RawTarBuilder& HardLink(const std::string& path, const std::string& target) {
    return Add(path, AE_IFREG, 0644, "", "", target);
  }
  RawTarBuilder& Special(const std::string& path, mode_t type) {
    return Add(path, type, 0644, "", "", "");
  }
  // Appends raw bytes (hand-made headers) to the stream.
  RawTarBuilder& Raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  // The tar stream, with or without the end-of-archive blocks.
  std::string Finish(bool end_marker = true) {
    if (!end_marker) return out_;
    return out_ + std::string(1024, '\0');
  }

 private:
  RawTarBuilder& Add(const std::string& path, mode_t type, mode_t perm, const std::string& data,
                     const std::string& symlink, const std::string& hardlink) {
    ScopedUtf8Locale utf8;
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, int64_t(data.size()));
    archive_entry_set_mtime(e, 1600000000, 0);
    if (!symlink.empty()) archive_entry_set_symlink(e, symlink.c_str());
    if (!hardlink.empty()) archive_entry_set_hardlink(e, hardlink.c_str());
    if (type == AE_IFCHR || type == AE_IFBLK) archive_entry_set_rdev(e, makedev(1, 3));
    archive_write_header(a_, e);
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_write_finish_entry(a_);
    archive_entry_free(e);
    return *this;
  }
  static la_ssize_t Cb(archive*, void* self, const void* b, size_t n) {
    static_cast<RawTarBuilder*>(self)->out_.append(static_cast<const char*>(b), n);
    return la_ssize_t(n);
  }
  archive* a_ = nullptr;
  std::string out_;
};

// A hand-made ustar header: `size_field` is written verbatim into the 12-byte
// size field (octal text, or base-256 bytes), and the checksum is computed
// (unless `break_checksum`).
inline std::string UstarHeader(const std::string& name, char typeflag,
                               const std::string& size_field, bool break_checksum = false) {
  std::string h(512, '\0');
  std::copy(name.begin(), name.end(), h.begin());
  std::string mode = "0000644";
  std::copy(mode.begin(), mode.end(), h.begin() + 100);
  std::string zero = "0000000";
  std::copy(zero.begin(), zero.end(), h.begin() + 108);
  std::copy(zero.begin(), zero.end(), h.begin() + 116);
  std::copy(size_field.begin(), size_field.end(), h.begin() + 124);
  std::string mtime = "13000000000";
  std::copy(mtime.begin(), mtime.end(), h.begin() + 136);
  h[156] = typeflag;
  std::string magic = "ustar";
  std::copy(magic.begin(), magic.end(), h.begin() + 257);
  h[263] = '0';
  h[264] = '0';
  std::fill(h.begin() + 148, h.begin() + 156, ' ');
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  if (break_checksum) sum += 1;
  char chk[8];
  std::snprintf(chk, sizeof(chk), "%06o", sum);
  std::copy(chk, chk + 6, h.begin() + 148);
  h[154] = '\0';
  h[155] = ' ';
  return h;
}

}  // namespace ccfs::tartest
