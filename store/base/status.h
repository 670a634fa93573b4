// Status: errors as values (after LevelDB). Every fallible ccfs call returns a
// Status or a Result<T>; nothing is thrown across module boundaries, and no
// exception may escape a FUSE callback.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace ccfs {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,            // object/file does not exist
    kPreconditionFailed,  // If-Match / If-None-Match refused (412, 409 ConditionalRequestConflict)
    kInvalidArgument,     // bad input from the caller (URL, path, flag)
    kCorruption,          // data is malformed: corrupt archive, bad index, truncated stream
    kIOError,             // local I/O failed
    kUnavailable,         // transport error or server error that persisted after retries
    kPermissionDenied,    // credentials refused (401/403)
    kNotSupported,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status PreconditionFailed(std::string msg) {
    return Status(Code::kPreconditionFailed, std::move(msg));
  }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  // IOError from errno: "<context>: <strerror(err)>".
  static Status FromErrno(const std::string& context, int err);
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsPreconditionFailed() const { return code_ == Code::kPreconditionFailed; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsPermissionDenied() const { return code_ == Code::kPermissionDenied; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }

  // HTTP status that caused this error, 0 when none.
  int http_status() const { return http_status_; }
  Status& WithHttpStatus(int s) {
    http_status_ = s;
    return *this;
  }
  // The errno behind a local failure (ENOSPC when a disk is full), 0 when
  // none; FUSE replies use it instead of a blanket EIO.
  int sys_errno() const { return errno_; }
  Status& WithErrno(int e) {
    errno_ = e;
    return *this;
  }

  // "NotFound: s3://b/w/x: HTTP 404" style text for logs and CLI messages.
  std::string ToString() const;
  // Prefix the message with context ("push: " + msg); keeps code and status.
  Status Annotate(const std::string& context) const;

 private:
  Status(Code c, std::string m) : code_(c), msg_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string msg_;
  int http_status_ = 0;
  int errno_ = 0;
};

// The errno a local failure carries (ENOSPC for a full disk), else `fallback`:
// what a FUSE reply sends for it.
inline int ErrnoOr(const Status& s, int fallback) {
  return s.sys_errno() != 0 ? s.sys_errno() : fallback;
}

// Result<T>: a value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {}    // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

// Drops a Status on purpose. Status and Result are [[nodiscard]]; a call
// whose failure cannot matter says so here, and `why` tells the reader (and
// grep) the reason. Nothing reads it at run time.
inline void IgnoreError(const Status& /*status*/, const char* /*why*/) {}
template <typename T>
inline void IgnoreError(const Result<T>& /*result*/, const char* /*why*/) {}

}  // namespace ccfs

// Propagate a non-OK Status (or the Status of a failed Result) to the caller.
#define CCFS_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::ccfs::Status ccfs_status_ = (expr);        \
    if (!ccfs_status_.ok()) return ccfs_status_; \
  } while (0)

#define CCFS_CONCAT_INNER_(a, b) a##b
#define CCFS_CONCAT_(a, b) CCFS_CONCAT_INNER_(a, b)
// `CCFS_ASSIGN_OR_RETURN(T x, ExprReturningResult())` declares x from the
// value, or returns the Result's Status.
#define CCFS_ASSIGN_OR_RETURN(decl, expr)                 \
  auto CCFS_CONCAT_(ccfs_result_, __LINE__) = (expr);     \
  if (!CCFS_CONCAT_(ccfs_result_, __LINE__).ok())         \
    return CCFS_CONCAT_(ccfs_result_, __LINE__).status(); \
  decl = std::move(CCFS_CONCAT_(ccfs_result_, __LINE__)).value()
