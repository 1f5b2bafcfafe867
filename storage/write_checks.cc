#include "storage/write_checks.h"

#include <exception>

namespace csdr::storage::internal {

Status ValidateWrite(WriteOp op, const std::string& key, int64_t expected_revision,
                     const Encoder& encode) {
  if (key.empty()) return Status(Code::kBadRequest, "storage key must not be empty");
  if (expected_revision < 0) {
    return Status(Code::kBadRequest,
                  "negative expected revision " + std::to_string(expected_revision));
  }
  // Delete may omit its encoder (the tombstone is then the last stored value).
  if (op != WriteOp::kDelete && !encode) {
    return Status(Code::kInternal, "no encoder given for a write of " + key);
  }
  return Status::Ok();
}

Status CheckPrecondition(WriteOp op, const std::string& key, int64_t expected_revision,
                         int64_t current_mod_revision) {
  if (op == WriteOp::kCreate) {
    if (current_mod_revision != 0) return Status(Code::kAlreadyExists, key + " already exists");
    return Status::Ok();
  }
  if (current_mod_revision == 0) return Status(Code::kNotFound, key + " not found");
  if (expected_revision != 0 && expected_revision != current_mod_revision) {
    return Status(Code::kConflict, key + " has been modified: expected revision " +
                                       std::to_string(expected_revision) + ", current " +
                                       std::to_string(current_mod_revision));
  }
  return Status::Ok();
}

StatusOr<std::string> RunEncoder(const Encoder& encode, int64_t revision) {
  try {
    return encode(revision);
  } catch (const std::exception& e) {
    return Status(Code::kInternal, std::string("encoding the object failed: ") + e.what());
  } catch (...) {
    return Status(Code::kInternal, "encoding the object failed");
  }
}

Status ClosedStatus() { return Status(Code::kUnavailable, "storage is closed"); }

}  // namespace csdr::storage::internal
