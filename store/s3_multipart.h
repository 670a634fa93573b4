// S3 multipart upload of a file: initiate, upload the parts (each signed
// with its own SHA-256), complete with the caller's precondition, and abort
// the upload on any failure so no orphaned parts are left billed.
#pragma once

#include <cstdint>
#include <string>

#include "store/object_store.h"
#include "store/s3_client.h"

namespace ccfs {

// Uploads `size` bytes of the open file `fd` to the full object key `key` in
// parts of `part_size` (raised to S3's 5 MiB minimum, and as needed to stay
// within 10,000 parts).
//
// Preconditions (If-Match / If-None-Match: *) are checked with a HEAD before
// any part is sent, and sent again on CompleteMultipartUpload. AWS enforces
// them there atomically; RGW 16.2 ignores them on Complete, so on RGW only
// the early check holds and a concurrent writer in between can be
// overwritten. Callers needing a strict conditional write on RGW must use a
// single PUT (keep the file under StoreOptions::multipart_threshold).
Status MultipartPutFile(S3Client& client, const std::string& key, int fd, uint64_t size,
                        uint64_t part_size, const PutOptions& opts, ObjectInfo* info);

}  // namespace ccfs
