// BackupVault: an OSS bucket (+ prefix) where backups are kept. domain.md section 7.3.
// Where the vault is (provider, bucket, prefix, region, credentials, access mode) never
// changes: backups already in it would be orphaned (ACK FAQ, CSDR-BV-003). Only the network
// and the sync/validation periods may change.
#include "apiserver/kinds/strategy.h"
#include "apiserver/kinds/validation.h"

namespace csdr::apiserver {
namespace {

const std::vector<std::string> kProviders = {"alibabacloud"};
const std::vector<std::string> kNetworks = {"internal", "public"};
const std::vector<std::string> kAccessModes = {"ReadWrite", "ReadOnly"};
const std::vector<std::string> kVaultPhases = {"InProgress", "Available", "Unavailable"};
// OSS object keys are at most 1023 bytes; the prefix is part of every key.
constexpr size_t kMaxPrefixLength = 1023;

class BackupVaultKind final : public StrategyBase {
 public:
  BackupVaultKind()
      : StrategyBase(
            KindInfo{.kind = "BackupVault",
                     .list_kind = "BackupVaultList",
                     .resource = "backupvaults",
                     .singular = "backupvault",
                     .short_names = {"bv"},
                     .categories = {"csdr"},
                     .namespaced = true,
                     .has_status = true},
            {
                {"Bucket", "string", "", "The OSS bucket (spec.bucket).", 0},
                {"Region", "string", "", "The region of the bucket (spec.region).", 0},
                {"Network", "string", "",
                 "The OSS endpoint used: internal or public (spec.network).", 1},
                {"Mode", "string", "",
                 "ReadWrite, or ReadOnly for restore-only clusters (spec.accessMode).", 1},
                {"Phase", "string", "", "InProgress, Available or Unavailable (status.phase).", 0},
                {"Last Validated", "date", "",
                 "When the bucket was last checked (status.lastValidationTime).", 0},
            },
            {"status.phase", "spec.bucket", "spec.region"}) {}

  void Default(json::Value* object) const override {
    json::Value& spec = (*object)["spec"];
    if (spec.is_null()) spec = json::Value::MakeObject();
    if (!spec.is_object()) return;
    SetDefault(&spec, "provider", "alibabacloud");
    SetDefault(&spec, "accessMode", "ReadWrite");
    // ACK re-validates a vault about every five minutes.
    SetDefault(&spec, "validationFrequency", "5m");
    // network's default depends on the cluster's region (internal iff in-region): that
    // needs the ClusterProfile, so it is the admission layer's, not a strategy default.
  }

 protected:
  void ValidateSpec(const json::Value& spec, FieldErrors* errors) const override {
    CheckEnum(Get(spec, "provider"), "spec.provider", kProviders, false, errors);
    if (std::string bucket = RequireString(spec, "bucket", "spec", errors); !bucket.empty()) {
      if (std::string detail = BucketNameError(bucket); !detail.empty()) {
        errors->push_back(InvalidField("spec.bucket", Quote(bucket), detail));
      }
    }
    if (std::string prefix = GetStr(spec, "prefix"); !prefix.empty()) {
      if (prefix.front() == '/') {
        errors->push_back(InvalidField("spec.prefix", Quote(prefix),
                                       "must be a relative path: must not start with '/'"));
      }
      // ".." as a path segment would step outside the vault's directory.
      const std::string padded = "/" + prefix + "/";
      if (padded.find("/../") != std::string::npos || padded.find("/./") != std::string::npos) {
        errors->push_back(InvalidField("spec.prefix", Quote(prefix),
                                       "must not contain '.' or '..' path segments"));
      }
      if (prefix.size() > kMaxPrefixLength)
        errors->push_back(TooLongField("spec.prefix", kMaxPrefixLength));
    }
    CheckRegionID(spec, "region", "spec", true, errors);
    CheckEnum(Get(spec, "network"), "spec.network", kNetworks, false, errors);
    CheckEnum(Get(spec, "accessMode"), "spec.accessMode", kAccessModes, false, errors);
    CheckObjectReference(spec, "credentialRef", "spec", true, errors);
    CheckDuration(spec, "backupSyncPeriod", "spec", false, errors);
    CheckDuration(spec, "validationFrequency", "spec", false, errors);
  }

  void ValidateSpecUpdate(const json::Value& spec, const json::Value& old_spec,
                          FieldErrors* errors) const override {
    CheckImmutable(spec, old_spec,
                   {"provider", "bucket", "prefix", "region", "credentialRef", "accessMode"},
                   "spec", errors);
  }

  void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const override {
    CheckEnum(Get(status, "phase"), "status.phase", kVaultPhases, false, errors);
    CheckTime(status, "lastValidationTime", "status", errors);
    CheckTime(status, "lastSyncedTime", "status", errors);
    CheckMin(status, "backupCount", "status", 0, errors);
    CheckMin(status, "observedGeneration", "status", 0, errors);
    for (FieldError& e : ValidateConditions(Get(status, "conditions"), "status.conditions")) {
      errors->push_back(std::move(e));
    }
  }

  std::vector<TableCell> MiddleCells(const json::Value& o) const override {
    return {Cell(o, "spec.bucket"),  Cell(o, "spec.region"),
            Cell(o, "spec.network"), Cell(o, "spec.accessMode"),
            Cell(o, "status.phase"), AgeCell(o, "status.lastValidationTime")};
  }
};

}  // namespace

const KindStrategy& BackupVaultStrategy() {
  static const BackupVaultKind kind;
  return kind;
}

}  // namespace csdr::apiserver
