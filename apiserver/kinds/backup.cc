// Backup: one application backup into a vault. domain.md section 7.4. A Backup is a
// one-shot task: its spec never changes after creation (CSDR-BK-003).
#include "apiserver/kinds/strategy.h"
#include "apiserver/kinds/validation.h"
#include "common/duration.h"

namespace csdr::apiserver {
namespace {

const std::vector<std::string> kBackupTypes = {"AppBackup", "AppAndPvBackup", "PvBackup"};
const std::vector<std::string> kMethods = {"Auto", "Snapshot", "CloudBackup"};
const std::vector<std::string> kDataTypes = {"none", "snapshot", "hbr", "all"};
const std::vector<std::string> kVolumeMethods = {"snapshot", "hbr"};

bool BacksUpVolumes(std::string_view type) {
  return type == "AppAndPvBackup" || type == "PvBackup";
}

void ValidateSelectors(const json::Value& spec, std::string_view path, FieldErrors* errors) {
  for (FieldError& e :
       ValidateLabelSelector(Get(spec, "labelSelector"), ChildPath(path, "labelSelector"))) {
    errors->push_back(std::move(e));
  }
  if (const json::Value* ors = Get(spec, "orLabelSelectors"); ors != nullptr && ors->is_array()) {
    for (size_t i = 0; i < ors->array().size(); ++i) {
      for (FieldError& e : ValidateLabelSelector(
               &ors->array()[i], IndexPath(ChildPath(path, "orLabelSelectors"), i))) {
        errors->push_back(std::move(e));
      }
    }
  }
}

class BackupKind final : public StrategyBase {
 public:
  BackupKind()
      : StrategyBase(
            KindInfo{.kind = "Backup",
                     .list_kind = "BackupList",
                     .resource = "backups",
                     .singular = "backup",
                     .short_names = {"cbk"},
                     .categories = {"csdr"},
                     .namespaced = true,
                     .has_status = true},
            {
                {"Vault", "string", "",
                 "The BackupVault the backup is written to (spec.vaultName).", 0},
                {"Type", "string", "", "AppBackup, AppAndPvBackup or PvBackup (spec.backupType).",
                 0},
                {"Phase", "string", "", "The lifecycle phase (status.phase).", 0},
                {"Errors", "integer", "", "Errors met while backing up (status.errors).", 1},
                {"Warnings", "integer", "", "Warnings met while backing up (status.warnings).", 1},
                {"Started", "date", "", "When the backup started (status.startTimestamp).", 1},
                {"Expires", "string", "",
                 "Time left until the backup expires and is deleted (status.expiration): "
                 "\"expired\" once "
                 "past, \"<unknown>\" before it is known.",
                 0},
            },
            {"status.phase", "spec.vaultName", "status.scheduleName"}) {}

  void Default(json::Value* object) const override {
    json::Value& spec = (*object)["spec"];
    if (spec.is_null()) spec = json::Value::MakeObject();
    DefaultBackupSpec(&spec);
    DefaultExpiration(object);
  }

 protected:
  void ValidateSpec(const json::Value& spec, FieldErrors* errors) const override {
    ValidateBackupSpec(spec, "spec", errors);
  }

  void ValidateSpecUpdate(const json::Value& spec, const json::Value& old_spec,
                          FieldErrors* errors) const override {
    CheckAllImmutable(spec, old_spec, "spec", errors);
  }

  void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const override {
    CheckEnum(Get(status, "phase"), "status.phase", BackupPhases(), false, errors);
    CheckEnum(Get(status, "dataType"), "status.dataType", kDataTypes, false, errors);
    CheckSubdomain(status, "scheduleName", "status", false, errors);
    for (const char* t : {"startTimestamp", "completionTimestamp", "expiration"})
      CheckTime(status, t, "status", errors);
    if (const json::Value* p = Get(status, "progress")) {
      CheckMin(*p, "totalItems", "status.progress", 0, errors);
      CheckMin(*p, "itemsBackedUp", "status.progress", 0, errors);
    }
    if (const json::Value* vols = Get(status, "volumes"); vols != nullptr && vols->is_array()) {
      for (size_t i = 0; i < vols->array().size(); ++i) {
        CheckEnum(Get(vols->array()[i], "method"), IndexPath("status.volumes", i) + ".method",
                  kVolumeMethods, false, errors);
      }
    }
    CheckMin(status, "errors", "status", 0, errors);
    CheckMin(status, "warnings", "status", 0, errors);
    CheckMin(status, "observedGeneration", "status", 0, errors);
    for (FieldError& e : ValidateConditions(Get(status, "conditions"), "status.conditions")) {
      errors->push_back(std::move(e));
    }
  }

  std::vector<TableCell> MiddleCells(const json::Value& o) const override {
    return {Cell(o, "spec.vaultName"),
            Cell(o, "spec.backupType"),
            Cell(o, "status.phase"),
            CountCell(o, "status.errors"),
            CountCell(o, "status.warnings"),
            AgeCell(o, "status.startTimestamp"),
            CountdownCell(o, "status.expiration", "expired")};
  }
};

}  // namespace

void DefaultExpiration(json::Value* object) {
  if (GetPath(*object, "status.expiration") != nullptr) return;
  const json::Value* created = GetPath(*object, "metadata.creationTimestamp");
  const json::Value* ttl = GetPath(*object, "spec.ttl");
  if (created == nullptr || !created->is_string() || ttl == nullptr || !ttl->is_string()) return;
  auto start = ParseRFC3339(created->as_string());
  StatusOr<int64_t> ns = ParseGoDuration(ttl->as_string());
  if (!start || !ns.ok() || *ns <= 0) return;  // a ttl of 0 never expires
  // Beyond a century is kept a century (and time points stay far inside their range).
  constexpr int64_t kCentury = int64_t{100} * 365 * 24 * 3600 * 1'000'000'000;
  const std::chrono::nanoseconds ttl_ns{std::min(*ns, kCentury)};
  json::Value& status = (*object)["status"];
  if (status.is_null()) status = json::Value::MakeObject();
  if (!status.is_object()) return;
  status.Set("expiration",
             FormatRFC3339(*start + std::chrono::duration_cast<std::chrono::seconds>(ttl_ns)));
}

void DefaultBackupSpec(json::Value* spec) {
  if (!spec->is_object()) return;
  const json::Value& backup_type = SetDefault(spec, "backupType", "AppBackup");
  const std::string type = backup_type.is_string() ? backup_type.as_string() : std::string();
  if (BacksUpVolumes(type)) {
    json::Value& volume = SetDefault(spec, "volumeBackup", json::Value::MakeObject());
    if (volume.is_object()) SetDefault(&volume, "method", "Auto");
  }
  // Velero's default retention: 30 days.
  SetDefault(spec, "ttl", "720h");
}

void ValidateBackupSpec(const json::Value& spec, std::string_view path, FieldErrors* errors) {
  CheckSubdomain(spec, "vaultName", path, /*required=*/true, errors);
  CheckEnum(Get(spec, "backupType"), ChildPath(path, "backupType"), kBackupTypes, false, errors);
  for (const char* list : {"includedNamespaces", "excludedNamespaces"})
    CheckNamespaceList(spec, list, path, errors);
  for (const char* list : {"includedResources", "excludedResources"})
    CheckStringList(spec, list, path, errors);
  ValidateSelectors(spec, path, errors);
  if (const json::Value* volume = Get(spec, "volumeBackup");
      volume != nullptr && volume->is_object()) {
    const std::string vpath = ChildPath(path, "volumeBackup");
    const std::string type = GetStr(spec, "backupType");
    if (!BacksUpVolumes(type.empty() ? "AppBackup" : type)) {
      errors->push_back(
          ForbiddenField(vpath, "may only be set when backupType is AppAndPvBackup or PvBackup"));
    }
    CheckEnum(Get(*volume, "method"), ChildPath(vpath, "method"), kMethods, false, errors);
    if (const json::Value* pvcs = Get(*volume, "excludedPVCs");
        pvcs != nullptr && pvcs->is_array()) {
      for (size_t i = 0; i < pvcs->array().size(); ++i) {
        const std::string ipath = IndexPath(ChildPath(vpath, "excludedPVCs"), i);
        CheckLabel(pvcs->array()[i], "namespace", ipath, true, errors);
        CheckSubdomain(pvcs->array()[i], "name", ipath, true, errors);
      }
    }
  }
  CheckDuration(spec, "ttl", path, /*positive=*/true, errors);
}

const KindStrategy& BackupStrategy() {
  static const BackupKind kind;
  return kind;
}

}  // namespace csdr::apiserver
