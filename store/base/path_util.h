// Path-string helpers for '/'-separated relative paths and object keys.
#pragma once

#include <string>

namespace ccfs {

// "a/b/c" -> "a/b"; "c" -> "" (no parent).
inline std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// "a/b/c" -> "c"; "c" -> "c".
inline std::string BaseOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace ccfs
