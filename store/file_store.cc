#include "store/file_store.h"
namespace ccfs {
Result<std::unique_ptr<ObjectStore>> OpenFileStore(const std::string& root) {
  return Status::NotSupported("file store not built yet: " + root);
}
}  // namespace ccfs
