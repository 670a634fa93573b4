#include "store/objects/object_store.h"

#include <cstdlib>

#include "store/objects/file_store.h"
#include "store/objects/s3_store.h"

namespace ccfs {

Status GetToString(ObjectStore& store, const std::string& key, const GetOptions& opts,
                   std::string* out, ObjectInfo* info) {
  out->clear();
  return store.Get(
      key, opts,
      [out](const char* data, size_t len) {
        out->append(data, len);
        return Status::OK();
      },
      info);
}

Status ValidateKey(const std::string& key) {
  if (key.empty()) return Status::InvalidArgument("empty object key");
  if (key.front() == '/') return Status::InvalidArgument("object key starts with '/': " + key);
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string seg = key.substr(start, end - start);
    // A trailing '/' is allowed only as a prefix, never in a key.
    if (seg.empty() || seg == "." || seg == "..") {
      return Status::InvalidArgument("malformed object key: " + key);
    }
    start = end + 1;
  }
  return Status::OK();
}

std::string DefaultStoreUrl() {
  if (const char* s = std::getenv("CCFS_STORE"); s != nullptr && *s != '\0') return s;
  const char* home = std::getenv("HOME");
  std::string h = (home != nullptr && *home != '\0') ? home : "/root";
  return "file://" + h + "/.local/share/ccfs/store";
}

Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url, const StoreOptions& opts) {
  if (url.rfind("file://", 0) == 0) return OpenFileStore(url.substr(7));
  if (url.rfind("s3://", 0) == 0) {
    StoreOptions with_env = opts;
    if (const char* v = std::getenv("CCFS_S3_STALL_TIMEOUT"); v != nullptr && *v != '\0') {
      char* end = nullptr;
      long s = std::strtol(v, &end, 10);
      if (*end != '\0' || s <= 0 || s > 86400) {
        return Status::InvalidArgument(std::string("CCFS_S3_STALL_TIMEOUT must be seconds (1 to "
                                                   "86400), not '") +
                                       v + "'");
      }
      with_env.stall_timeout_s = static_cast<int>(s);
    }
    return OpenS3Store(url.substr(5), with_env);
  }
  return Status::InvalidArgument("unsupported store URL '" + url +
                                 "' (want s3://bucket[/prefix] or file:///dir)");
}

}  // namespace ccfs
