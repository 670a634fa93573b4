#include "store/base/status.h"

#include <cstring>

namespace ccfs {

namespace {
const char* CodeName(Status::Code c) {
  switch (c) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kPreconditionFailed:
      return "PreconditionFailed";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kUnavailable:
      return "Unavailable";
    case Status::Code::kPermissionDenied:
      return "PermissionDenied";
    case Status::Code::kNotSupported:
      return "NotSupported";
  }
  return "Unknown";
}
}  // namespace

Status Status::FromErrno(const std::string& context, int err) {
  return IOError(context + ": " + std::strerror(err)).WithErrno(err);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  s += ": ";
  s += msg_;
  return s;
}

Status Status::Annotate(const std::string& context) const {
  if (ok()) return *this;
  Status s(code_, context + ": " + msg_);
  s.http_status_ = http_status_;
  s.errno_ = errno_;
  return s;
}

}  // namespace ccfs
