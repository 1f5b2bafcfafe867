// Restore: a restore of a Backup, with namespace mapping and storage class conversion.
// domain.md section 7.5. Like Backup, a one-shot task whose spec never changes (CSDR-RS-014).
#include "apiserver/kinds/strategy.h"
#include "apiserver/kinds/validation.h"

namespace csdr::apiserver {
namespace {

const std::vector<std::string> kRestorePhases = {
    "New", "InProgress", "Completed", "PartiallyFailed", "Failed", "FailedValidation"};
const std::vector<std::string> kExistingResourcePolicies = {"none", "update"};
const std::vector<std::string> kAccessModes = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                                               "ReadWriteOncePod"};

class RestoreKind final : public StrategyBase {
 public:
  RestoreKind()
      : StrategyBase(
            KindInfo{.kind = "Restore",
                     .list_kind = "RestoreList",
                     .resource = "restores",
                     .singular = "restore",
                     .short_names = {"crs"},
                     .categories = {"csdr"},
                     .namespaced = true,
                     .has_status = true},
            {
                {"Backup", "string", "", "The Backup being restored (spec.backupName).", 0},
                {"Phase", "string", "", "The lifecycle phase (status.phase).", 0},
                {"Cross-Region", "boolean", "",
                 "Whether the backup was taken in another region (status.crossRegion).", 0},
                {"Errors", "integer", "", "Errors met while restoring (status.errors).", 1},
                {"Warnings", "integer", "", "Warnings met while restoring (status.warnings).", 1},
                {"Started", "date", "", "When the restore started (status.startTimestamp).", 1},
            },
            {"status.phase", "spec.backupName"}) {}

  void Default(json::Value* object) const override {
    json::Value& spec = (*object)["spec"];
    if (spec.is_null()) spec = json::Value::MakeObject();
    if (!spec.is_object()) return;
    SetDefault(&spec, "existingResourcePolicy", "none");
    // restoreVolumes defaults to "the backup has volume data", which needs the Backup:
    // the controller (or admission) decides it, not this strategy.
  }

 protected:
  void ValidateSpec(const json::Value& spec, FieldErrors* errors) const override {
    CheckSubdomain(spec, "backupName", "spec", /*required=*/true, errors);
    for (const char* list : {"includedNamespaces", "excludedNamespaces"}) {
      CheckNamespaceList(spec, list, "spec", errors);
    }
    for (const char* list : {"includedResources", "excludedResources"})
      CheckStringList(spec, list, "spec", errors);
    for (FieldError& e : ValidateLabelSelector(Get(spec, "labelSelector"), "spec.labelSelector")) {
      errors->push_back(std::move(e));
    }
    if (const json::Value* ors = Get(spec, "orLabelSelectors"); ors != nullptr && ors->is_array()) {
      for (size_t i = 0; i < ors->array().size(); ++i) {
        for (FieldError& e :
             ValidateLabelSelector(&ors->array()[i], IndexPath("spec.orLabelSelectors", i))) {
          errors->push_back(std::move(e));
        }
      }
    }
    if (const json::Value* mapping = Get(spec, "namespaceMapping");
        mapping != nullptr && mapping->is_object()) {
      // Both sides are namespace names. Which source namespaces exist is the backup's
      // business (CSDR-RS-010).
      for (const auto& [from, to] : mapping->object()) {
        const std::string path = KeyPath("spec.namespaceMapping", from);
        for (const std::string& m : validation::IsDNS1123Label(from)) {
          errors->push_back(InvalidField(path, Quote(from), m));
        }
        if (!to.is_string()) continue;
        for (const std::string& m : validation::IsDNS1123Label(to.as_string())) {
          errors->push_back(InvalidField(path, Quote(to.as_string()), m));
        }
      }
    }
    if (const json::Value* mapping = Get(spec, "imageRegistryMapping");
        mapping != nullptr && mapping->is_object()) {
      for (const auto& [from, to] : mapping->object()) {
        if (from.empty())
          errors->push_back(
              InvalidField("spec.imageRegistryMapping", Quote(from), "must be non-empty"));
        if (to.is_string() && to.as_string().empty()) {
          errors->push_back(RequiredField(KeyPath("spec.imageRegistryMapping", from)));
        }
      }
    }
    if (const json::Value* convs = Get(spec, "storageClassConversions");
        convs != nullptr && convs->is_array()) {
      for (size_t i = 0; i < convs->array().size(); ++i) {
        const json::Value& c = convs->array()[i];
        const std::string path = IndexPath("spec.storageClassConversions", i);
        CheckLabel(c, "namespace", path, true, errors);
        CheckSubdomain(c, "pvc", path, false, errors);
        CheckSubdomain(c, "targetStorageClass", path, true, errors);
        if (const json::Value* modes = Get(c, "convertToAccessModes");
            modes != nullptr && modes->is_array()) {
          for (size_t j = 0; j < modes->array().size(); ++j) {
            CheckEnum(&modes->array()[j], IndexPath(ChildPath(path, "convertToAccessModes"), j),
                      kAccessModes, true, errors);
          }
        }
      }
    }
    CheckEnum(Get(spec, "existingResourcePolicy"), "spec.existingResourcePolicy",
              kExistingResourcePolicies, false, errors);
    CheckObjectReference(spec, "resourceModifierRef", "spec", false, errors);
  }

  void ValidateSpecUpdate(const json::Value& spec, const json::Value& old_spec,
                          FieldErrors* errors) const override {
    CheckAllImmutable(spec, old_spec, "spec", errors);
  }

  void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const override {
    CheckEnum(Get(status, "phase"), "status.phase", kRestorePhases, false, errors);
    CheckRegionID(status, "sourceRegionID", "status", false, errors);
    CheckRegionID(status, "targetRegionID", "status", false, errors);
    for (const char* t : {"startTimestamp", "completionTimestamp"})
      CheckTime(status, t, "status", errors);
    if (const json::Value* p = Get(status, "progress")) {
      CheckMin(*p, "totalItems", "status.progress", 0, errors);
      CheckMin(*p, "itemsRestored", "status.progress", 0, errors);
    }
    CheckMin(status, "errors", "status", 0, errors);
    CheckMin(status, "warnings", "status", 0, errors);
    CheckMin(status, "observedGeneration", "status", 0, errors);
    for (FieldError& e : ValidateConditions(Get(status, "conditions"), "status.conditions")) {
      errors->push_back(std::move(e));
    }
  }

  std::vector<TableCell> MiddleCells(const json::Value& o) const override {
    const json::Value* cross = GetPath(o, "status.crossRegion");
    return {Cell(o, "spec.backupName"),
            Cell(o, "status.phase"),
            cross != nullptr ? *cross : json::Value(false),
            CountCell(o, "status.errors"),
            CountCell(o, "status.warnings"),
            AgeCell(o, "status.startTimestamp")};
  }
};

}  // namespace

const KindStrategy& RestoreStrategy() {
  static const RestoreKind kind;
  return kind;
}

}  // namespace csdr::apiserver
