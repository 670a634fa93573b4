// S3Store: any S3-compatible service over libcurl, SigV4-signed.
#pragma once

#include <memory>
#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

// `bucket_and_prefix` is "bucket" or "bucket/some/prefix" (from s3://...).
Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket_and_prefix,
                                                 const StoreOptions& opts);

}  // namespace ccfs
