#include "store/objects/s3_multipart.h"

#include <vector>

#include "store/base/content_hash.h"
#include "store/objects/s3_xml.h"

namespace ccfs {
namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr uint64_t kMaxParts = 10000;

class MultipartUpload {
 public:
  MultipartUpload(S3Client& client, const std::string& key) : client_(client), key_(key) {}
  ~MultipartUpload() { Abort(); }

  Status Initiate(const std::string& content_type) {
    S3Response resp;
    CCFS_RETURN_IF_ERROR(client_.Execute({.method = "POST",
                                          .key = key_,
                                          .query = {{"uploads", ""}},
                                          .headers = {{"Content-Type", content_type}}},
                                         &resp));
    upload_id_ = XmlText(resp.body, "UploadId");
    if (upload_id_.empty()) {
      return Status::Corruption("s3 POST " + client_.ObjectUrl(key_) +
                                "?uploads: response has no UploadId");
    }
    return Status::OK();
  }

  Status UploadPart(int number, int fd, uint64_t offset, uint64_t length) {
    ContentHashes hashes;
    CCFS_RETURN_IF_ERROR(HashFileRange(fd, offset, length, &hashes));
    S3Response resp;
    CCFS_RETURN_IF_ERROR(client_.Execute(
        {.method = "PUT",
         .key = key_,
         .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}},
         .body_fd = fd,
         .body_offset = offset,
         .body_length = length,
         .payload_sha256 = hashes.sha256_hex},
        &resp));
    std::string etag = resp.Header("etag");
    if (etag.empty()) {
      return Status::Corruption("s3 PUT " + client_.ObjectUrl(key_) + " part " +
                                std::to_string(number) + ": response has no ETag");
    }
    // Where the part ETag is its MD5 (no KMS encryption), the final ETag can
    // be predicted, which lets a retried Complete be recognised as done.
    predictable_ = predictable_ && UnquoteEtag(etag) == hashes.md5_hex;
    part_md5s_.push_back(hashes.md5_hex);
    parts_.push_back({number, etag});
    return Status::OK();
  }

  Status Complete(ObjectInfo* info) {
    const std::string xml = CompleteMultipartUploadXml(parts_);
    S3Response resp;
    Status s = client_.Execute({.method = "POST",
                                .key = key_,
                                .query = {{"uploadId", upload_id_}},
                                .headers = {{"Content-Type", "application/xml"}},
                                .body = &xml},
                               &resp);
    // S3 can answer 200 and still report an error in the body.
    S3Error error;
    if (s.ok() && ParseS3Error(resp.body, &error)) {
      std::string msg = "s3 POST " + client_.ObjectUrl(key_) +
                        " (complete multipart): " + error.code + " " + error.message;
      s = Status::Unavailable(msg).WithHttpStatus(resp.status);
    }
    std::string etag = UnquoteEtag(XmlText(resp.body, "ETag"));
    if (!s.ok() && resp.attempts > 1 && predictable_ && resp.status == 404) {
      // An earlier attempt may have completed the upload and lost its
      // response: then the object now carries exactly our ETag.
      S3Response head;
      const std::string expected = MultipartEtag(part_md5s_);
      if (client_.Execute({.method = "HEAD", .key = key_}, &head).ok() &&
          UnquoteEtag(head.Header("etag")) == expected) {
        s = Status::OK();
        etag = expected;
        upload_id_.clear();  // completed: nothing to abort
      }
    }
    if (!s.ok()) return s;
    upload_id_.clear();
    if (etag.empty()) etag = UnquoteEtag(resp.Header("etag"));
    if (etag.empty()) {
      // RGW 16.2 answers Complete with an empty <ETag/>.
      if (predictable_) {
        etag = MultipartEtag(part_md5s_);
      } else {
        S3Response head;
        if (client_.Execute({.method = "HEAD", .key = key_}, &head).ok()) {
          etag = UnquoteEtag(head.Header("etag"));
        }
      }
    }
    if (info != nullptr) info->etag = etag;
    return Status::OK();
  }

 private:
  // Best effort: a failed abort leaves parts the bucket's lifecycle rules
  // must clean, but it never hides the error that led here.
  void Abort() {
    if (upload_id_.empty()) return;
    S3Response resp;
    (void)client_.Execute({.method = "DELETE", .key = key_, .query = {{"uploadId", upload_id_}}},
                          &resp);
    upload_id_.clear();
  }

  S3Client& client_;
  std::string key_;
  std::string upload_id_;
  std::vector<CompletedPart> parts_;
  std::vector<std::string> part_md5s_;
  bool predictable_ = true;
};

}  // namespace

Status MultipartPutFile(S3Client& client, const std::string& key, int fd, uint64_t size,
                        uint64_t part_size, const PutOptions& opts, ObjectInfo* info) {
  part_size = std::max(part_size, kMinPartSize);
  while ((size + part_size - 1) / part_size > kMaxParts) part_size *= 2;

  if (!opts.if_match.empty() || opts.if_none_match_any) {
    return Status::InvalidArgument("s3 PUT " + client.ObjectUrl(key) +
                                   ": a multipart upload cannot carry a condition that every "
                                   "store enforces; conditional writes are single PUTs");
  }
  MultipartUpload upload(client, key);
  CCFS_RETURN_IF_ERROR(upload.Initiate(opts.content_type));
  int number = 1;
  for (uint64_t offset = 0; offset < size || number == 1; offset += part_size, ++number) {
    CCFS_RETURN_IF_ERROR(upload.UploadPart(number, fd, offset, std::min(part_size, size - offset)));
    if (size == 0) break;
  }
  ObjectInfo done;
  CCFS_RETURN_IF_ERROR(upload.Complete(&done));
  if (info != nullptr) {
    info->etag = done.etag;
    info->size = size;
    info->mtime_unix = 0;
  }
  return Status::OK();
}

}  // namespace ccfs
