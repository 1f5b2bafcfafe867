// The admission seam: called by the registry on every create, update and delete of a
// csdr.io object after object-local validation and before storage (dry runs included).
// The policy engine (webhook/) implements it; the default admits everything.
#pragma once

#include <string>
#include <vector>

#include "apiserver/auth/auth.h"
#include "apiserver/kinds/kind.h"
#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

enum class AdmissionOperation { kCreate, kUpdate, kDelete };

struct AdmissionAttributes {
  AdmissionOperation operation = AdmissionOperation::kCreate;
  const KindStrategy* kind = nullptr;
  std::string namespace_;
  std::string name;
  std::string subresource;                  // "" or "status"
  const json::Value* object = nullptr;      // the object to be stored (null on delete)
  const json::Value* old_object = nullptr;  // the stored object (null on create)
  const UserInfo* user = nullptr;
  bool dry_run = false;
};

class AdmissionController {
 public:
  virtual ~AdmissionController() = default;
  // OK admits. A denial is kForbidden (or kInvalid with causes) and its message is sent to
  // the client. Warnings are appended to *warnings either way.
  virtual Status Admit(const AdmissionAttributes& attributes,
                       std::vector<std::string>* warnings) = 0;
  // Called after an object was really deleted (not on dry runs, not when only marked for
  // deletion), for bookkeeping such as the vault tombstones of CSDR-BV-004.
  virtual void Deleted(const KindStrategy& /*kind*/, const std::string& /*ns*/,
                       const std::string& /*name*/) {}
};

class AdmitAll : public AdmissionController {
 public:
  Status Admit(const AdmissionAttributes&, std::vector<std::string>*) override {
    return Status::Ok();
  }
};

}  // namespace csdr::apiserver
