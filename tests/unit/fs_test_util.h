// Helpers for the fs/ unit tests: temp dirs, files, and path walks over a
// Filesystem (no kernel mount involved).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "fs/ops/filesystem.h"

namespace ccfs::fstest {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ccfs-fs-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
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
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ::chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Bytes that do not compress (so a few of them span several tarball blocks).
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Resolves a '/'-separated path from the root; 0 and *err set on failure.
inline uint64_t Resolve(Filesystem& fs, const std::string& path, int* err = nullptr) {
  uint64_t ino = kRootIno;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    NodeInfo n;
    int e = fs.Lookup(ino, part, &n);
    if (e != 0) {
      if (err != nullptr) *err = e;
      return 0;
    }
    ino = n.ino;
  }
  if (err != nullptr) *err = 0;
  return ino;
}

// The whole content of a file through the Filesystem ("<errno N>" on failure).
inline std::string ReadAll(Filesystem& fs, const std::string& path) {
  int err = 0;
  uint64_t ino = Resolve(fs, path, &err);
  if (ino == 0) return "<errno " + std::to_string(err) + ">";
  NodeInfo n;
  fs.GetAttr(ino, &n);
  std::string out;
  err = fs.Read(ino, 0, n.size + 1, &out);
  if (err != 0) return "<errno " + std::to_string(err) + ">";
  return out;
}

// Writes `data` at the end of the file at `path` (0, or the errno).
inline int AppendTo(Filesystem& fs, const std::string& path, const std::string& data) {
  uint64_t ino = Resolve(fs, path);
  if (ino == 0) return ENOENT;
  NodeInfo n;
  fs.GetAttr(ino, &n);
  return fs.Write(ino, n.size, data.data(), data.size());
}

// Creates (or truncates) a file at path (parents must exist) with content.
inline int PutFile(Filesystem& fs, const std::string& path, const std::string& content) {
  size_t slash = path.rfind('/');
  uint64_t parent = slash == std::string::npos ? kRootIno : Resolve(fs, path.substr(0, slash));
  if (parent == 0) return ENOENT;
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  NodeInfo n;
  int err = fs.Lookup(parent, name, &n);
  if (err == ENOENT) {
    err = fs.CreateFile(parent, name, 0644, &n);
  } else if (err == 0) {
    SetAttrRequest r;
    r.set_size = true;
    r.size = 0;
    err = fs.SetAttr(n.ino, r, &n);
  }
  if (err != 0) return err;
  return fs.Write(n.ino, 0, content.data(), content.size());
}

}  // namespace ccfs::fstest
