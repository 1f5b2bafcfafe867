// Status and StatusOr: the error currency of every component.
//
// Codes mirror the Kubernetes API errors (k8s.io/apimachinery/pkg/api/errors) so that
// the HTTP edge can translate a Status into a metav1.Status at one place. No exception
// crosses a module boundary: functions that can fail return Status or StatusOr<T>.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace csdr {

enum class Code {
  kOk = 0,
  kBadRequest,            // 400 BadRequest
  kUnauthorized,          // 401
  kForbidden,             // 403
  kNotFound,              // 404
  kMethodNotAllowed,      // 405
  kNotAcceptable,         // 406
  kAlreadyExists,         // 409 AlreadyExists
  kConflict,              // 409 Conflict (optimistic concurrency, preconditions)
  kExpired,               // 410 Expired (compacted resourceVersion, stale continue token)
  kTooLarge,              // 413 RequestEntityTooLarge
  kUnsupportedMediaType,  // 415
  kInvalid,               // 422 Invalid (field errors)
  kTooManyRequests,       // 429
  kHeaderTooLarge,        // 431 Request Header Fields Too Large (no metav1 reason exists)
  kInternal,              // 500 InternalError
  kUnavailable,           // 503 ServiceUnavailable
  kTimeout,               // 504 Timeout
};

// One field-level validation failure, as k8s.io/apimachinery/pkg/util/validation/field.Error.
struct FieldError {
  // Cause type as it appears on the wire: "FieldValueRequired", "FieldValueInvalid",
  // "FieldValueNotSupported", "FieldValueForbidden", "FieldValueDuplicate",
  // "FieldValueTooLong", "FieldValueTooMany", "FieldValueTypeInvalid", "FieldValueNotFound".
  std::string type;
  std::string field;    // JSON path such as "spec.volumeBackup.method" or "metadata.labels[a]"
  std::string message;  // full cause message, e.g. "Unsupported value: \"x\": supported values:
                        // \"a\", \"b\""
};
using FieldErrors = std::vector<FieldError>;

// Helpers that build FieldErrors with upstream's message shapes.
FieldError RequiredField(std::string field, std::string detail = "");
FieldError ForbiddenField(std::string field, std::string detail);
FieldError InvalidField(std::string field, std::string value_repr, std::string detail);
FieldError NotSupportedField(std::string field, std::string value_repr,
                             const std::vector<std::string>& supported);
FieldError DuplicateField(std::string field, std::string value_repr);
FieldError TooLongField(std::string field, size_t max);
FieldError TypeInvalidField(std::string field, std::string value_repr, std::string detail);
// Quotes a string as Go's %q would for ASCII input ("a\"b").
std::string Quote(std::string_view s);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // Any code may carry causes (an apply conflict lists the conflicting fields).
  Status(Code code, std::string message, FieldErrors causes)
      : code_(code), message_(std::move(message)), causes_(std::move(causes)) {}
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message, FieldErrors causes) {
    Status s(Code::kInvalid, std::move(message));
    s.causes_ = std::move(causes);
    return s;
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const FieldErrors& causes() const { return causes_; }
  // Seconds a 429/503 caller should wait; 0 when unset.
  int retry_after_seconds() const { return retry_after_seconds_; }
  Status& set_retry_after_seconds(int s) {
    retry_after_seconds_ = s;
    return *this;
  }
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
  FieldErrors causes_;
  int retry_after_seconds_ = 0;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace csdr

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define CSDR_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::csdr::Status _csdr_status = (expr);        \
    if (!_csdr_status.ok()) return _csdr_status; \
  } while (0)
