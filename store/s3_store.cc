#include "store/s3_store.h"
namespace ccfs {
Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& b, const StoreOptions&) {
  return Status::NotSupported("s3 store not built yet: " + b);
}
}  // namespace ccfs
