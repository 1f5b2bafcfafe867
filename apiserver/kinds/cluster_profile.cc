// ClusterProfile (cluster-scoped singleton "cluster"): the environment facts every policy
// rule reads. domain.md section 7.2. The singleton name, semver gates and region allow-list
// are policy rules (CSDR-CP-*); this strategy checks shape only.
#include <algorithm>

#include "apiserver/kinds/strategy.h"
#include "apiserver/kinds/validation.h"

namespace csdr::apiserver {
namespace {

const std::vector<std::string> kClusterTypes = {"ACKManaged",       "ACKDedicated",
                                                "ACKServerlessPro", "ACKServerlessBasic",
                                                "ACKEdge",          "Registered"};
const std::vector<std::string> kCredentialModes = {"ManagedRole", "AccessKeySecret"};

// "vMAJOR.MINOR.PATCH" with optional pre-release and build suffixes (semver 2.0 syntax).
bool IsSemver(std::string_view v) {
  if (v.size() < 6 || v[0] != 'v') return false;
  v.remove_prefix(1);
  for (int part = 0; part < 3; ++part) {
    size_t n = 0;
    while (n < v.size() && v[n] >= '0' && v[n] <= '9') ++n;
    if (n == 0 || (n > 1 && v[0] == '0')) return false;  // no leading zeros
    v.remove_prefix(n);
    if (part < 2) {
      if (v.empty() || v[0] != '.') return false;
      v.remove_prefix(1);
    }
  }
  if (v.empty()) return true;
  if (v[0] != '-' && v[0] != '+') return false;
  v.remove_prefix(1);
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '+';
  });
}

class ClusterProfileKind final : public StrategyBase {
 public:
  ClusterProfileKind()
      : StrategyBase(
            KindInfo{.kind = "ClusterProfile",
                     .list_kind = "ClusterProfileList",
                     .resource = "clusterprofiles",
                     .singular = "clusterprofile",
                     .short_names = {"cprof"},
                     .categories = {"csdr"},
                     .namespaced = false,
                     .has_status = true},
            {
                {"Type", "string", "", "The kind of ACK cluster (spec.clusterType).", 0},
                {"Region", "string", "",
                 "The effective region ID (status.regionID, else spec.regionID).", 0},
                {"Component", "string", "",
                 "The effective migrate-controller version (status.componentVersion, else "
                 "spec.componentVersion).",
                 0},
                {"K8s", "string", "", "The Kubernetes version (status.kubernetesVersion).", 0},
                {"Credentials", "string", "",
                 "How the backup center authenticates (spec.credentialMode).", 1},
                {"Supported", "boolean", "",
                 "Whether the backup center is supported here (status.capabilities.backupCenter).",
                 0},
                {"Volume Backup", "boolean", "",
                 "Whether volumes can be backed up (status.capabilities.volumeBackup).", 1},
                {"Cloud Backup", "boolean", "",
                 "Whether Cloud Backup can be used (status.capabilities.cloudBackup).", 1},
                {"Cross-Region", "boolean", "",
                 "Whether disks can be restored across regions "
                 "(status.capabilities.crossRegionDiskRestore).",
                 1},
            },
            {"spec.clusterType"}) {}

  void Default(json::Value* object) const override {
    json::Value& spec = (*object)["spec"];
    if (spec.is_null()) spec = json::Value::MakeObject();
    if (!spec.is_object()) return;
    const std::string type = GetStr(spec, "clusterType");
    if (!type.empty()) {
      // Dedicated and registered clusters have no managed RAM role for the add-on; they
      // use an AccessKey pair in a Secret (ACK FAQ).
      const bool access_key = type == "ACKDedicated" || type == "Registered";
      SetDefault(&spec, "credentialMode", access_key ? "AccessKeySecret" : "ManagedRole");
    }
    if (GetStr(spec, "credentialMode") == "AccessKeySecret") {
      json::Value& ref = SetDefault(&spec, "accessKeySecretRef", json::Value::MakeObject());
      if (ref.is_object()) {
        SetDefault(&ref, "namespace", "csdr");
        SetDefault(&ref, "name", "alibaba-addon-secret");
      }
    }
  }

 protected:
  void ValidateSpec(const json::Value& spec, FieldErrors* errors) const override {
    // clusterType may be empty until the installer discovers it (CSDR-DEP-003 then
    // refuses other creates); once set it is immutable.
    CheckEnum(Get(spec, "clusterType"), "spec.clusterType", kClusterTypes, false, errors);
    CheckRegionID(spec, "regionID", "spec", false, errors);
    if (std::string v = GetStr(spec, "componentVersion"); !v.empty() && !IsSemver(v)) {
      errors->push_back(InvalidField("spec.componentVersion", Quote(v),
                                     "must be a semantic version such as v1.8.4"));
    }
    CheckEnum(Get(spec, "credentialMode"), "spec.credentialMode", kCredentialModes, false, errors);
    CheckObjectReference(spec, "accessKeySecretRef", "spec", true, errors);
  }

  void ValidateSpecUpdate(const json::Value& spec, const json::Value& old_spec,
                          FieldErrors* errors) const override {
    // Set once (CSDR-CP-002): every denial of a rule carries its ID, this one too, although
    // it is judged here, before admission, so that it holds with the rules off as well.
    const std::string old_type = GetStr(old_spec, "clusterType");
    if (old_type.empty()) return;
    const json::Value* now = Get(spec, "clusterType");
    const json::Value* was = Get(old_spec, "clusterType");
    if (now == nullptr || was == nullptr || !(*now == *was)) {
      errors->push_back(InvalidField("spec.clusterType", now == nullptr ? "null" : json::Repr(*now),
                                     "[CSDR-CP-002] spec.clusterType is immutable"));
    }
  }

  void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const override {
    CheckRegionID(status, "regionID", "status", false, errors);
    CheckStringList(status, "zones", "status", errors);
    CheckMin(status, "observedGeneration", "status", 0, errors);
    for (FieldError& e : ValidateConditions(Get(status, "conditions"), "status.conditions")) {
      errors->push_back(std::move(e));
    }
  }

  std::vector<TableCell> MiddleCells(const json::Value& o) const override {
    // Observed beats declared, as the rules read them.
    json::Value region = Cell(o, "status.regionID");
    if (region.is_null()) region = Cell(o, "spec.regionID");
    json::Value component = Cell(o, "status.componentVersion");
    if (component.is_null()) component = Cell(o, "spec.componentVersion");
    return {Cell(o, "spec.clusterType"),
            std::move(region),
            std::move(component),
            Cell(o, "status.kubernetesVersion"),
            Cell(o, "spec.credentialMode"),
            Cell(o, "status.capabilities.backupCenter"),
            Cell(o, "status.capabilities.volumeBackup"),
            Cell(o, "status.capabilities.cloudBackup"),
            Cell(o, "status.capabilities.crossRegionDiskRestore")};
  }
};

}  // namespace

const KindStrategy& ClusterProfileStrategy() {
  static const ClusterProfileKind kind;
  return kind;
}

}  // namespace csdr::apiserver
