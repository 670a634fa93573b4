// S3 multipart upload of a file: initiate, upload the parts (each signed
// with its own SHA-256), complete with the caller's precondition, and abort
// the upload on any failure so no orphaned parts are left billed.
#pragma once

#include <cstdint>
#include <string>

#include "store/objects/object_store.h"
#include "store/objects/s3_client.h"

namespace ccfs {

// Uploads `size` bytes of the open file `fd` to the full object key `key` in
// parts of `part_size` (raised to S3's 5 MiB minimum, and as needed to stay
// within 10,000 parts).
//
// Unconditional only: `opts` with If-Match or If-None-Match is refused with
// InvalidArgument. Whether a store enforces conditions on
// CompleteMultipartUpload is never assumed (AWS does; RGW 16.2 ignores them,
// so a stale If-Match there completes and replaces a newer version). Writes
// that must be conditional are single PUTs (S3Store::PutFile).
Status MultipartPutFile(S3Client& client, const std::string& key, int fd, uint64_t size,
                        uint64_t part_size, const PutOptions& opts, ObjectInfo* info);

}  // namespace ccfs
