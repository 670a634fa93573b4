// ContentHash: SHA-256 (for x-amz-content-sha256) and MD5 (what S3 uses as
// the ETag of a single-part upload) of a body, in one pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/base/status.h"

namespace ccfs {

struct ContentHashes {
  std::string sha256_hex;
  std::string md5_hex;
};

ContentHashes HashBytes(const std::string& data);

// Hashes `length` bytes of the open file `fd` from `offset` (pread; the file
// position is untouched). Fails if the file is shorter than that.
Status HashFileRange(int fd, uint64_t offset, uint64_t length, ContentHashes* out);

// The ETag S3 gives a multipart object: hex MD5 of the concatenated binary
// MD5s of its parts, then "-<part count>".
std::string MultipartEtag(const std::vector<std::string>& part_md5_hex);

}  // namespace ccfs
