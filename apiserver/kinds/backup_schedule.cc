// BackupSchedule: a cron or interval schedule that creates Backups from a template, with
// retention. domain.md section 7.6. Unlike Backup it may change at any time.
#include "apiserver/kinds/strategy.h"
#include "apiserver/kinds/validation.h"
#include "common/cron.h"
#include "common/duration.h"

namespace csdr::apiserver {
namespace {

const std::vector<std::string> kSchedulePhases = {"New", "Enabled", "Paused", "FailedValidation"};

constexpr const char* kScheduleHelp =
    "must be a 5-field cron expression such as \"1 4 * * *\" (optionally prefixed \"CRON_TZ=<zone> "
    "\") "
    "or an interval such as \"6h30m\"";

// NEXT RUN before a schedule controller has said (status.nextRunTime), or without one: when
// spec.schedule next fires after the moment of the request. A cron schedule in its CRON_TZ
// zone; an interval counted from the last run, else from the schedule's creation (as the
// controller counts it). Empty when the schedule does not parse.
TableCell NextFireCell(const json::Value& o) {
  const json::Value* spec = GetPath(o, "spec.schedule");
  if (spec == nullptr || !spec->is_string()) return json::Value();
  const std::string& text = spec->as_string();
  if (StatusOr<int64_t> ns = ParseGoDuration(text); ns.ok()) {
    if (*ns < 1'000'000'000) return json::Value();
    const json::Value* from = GetPath(o, "status.lastBackup.time");
    if (from == nullptr) from = GetPath(o, "metadata.creationTimestamp");
    if (from == nullptr || !from->is_string()) return json::Value();
    auto anchor = ParseRFC3339(from->as_string());
    if (!anchor) return json::Value();
    return TableCell::NextFire(*anchor, std::chrono::nanoseconds(*ns));
  }
  std::string error;
  std::optional<CronSchedule> cron = ParseCron(text, &error);
  if (!cron) return json::Value();
  return TableCell::NextFire(std::move(*cron));
}

class BackupScheduleKind final : public StrategyBase {
 public:
  BackupScheduleKind()
      : StrategyBase(
            KindInfo{.kind = "BackupSchedule",
                     .list_kind = "BackupScheduleList",
                     .resource = "backupschedules",
                     .singular = "backupschedule",
                     .short_names = {"cbs"},
                     .categories = {"csdr"},
                     .namespaced = true,
                     .has_status = true},
            {
                {"Schedule", "string", "", "The cron expression or interval (spec.schedule).", 0},
                {"Vault", "string", "", "The BackupVault of the backups (spec.template.vaultName).",
                 0},
                {"Paused", "boolean", "", "Whether runs are suspended (spec.paused).", 0},
                {"Last Backup", "string", "",
                 "The Backup created by the last run (status.lastBackup.name).", 0},
                {"Last Status", "string", "", "The phase of that Backup (status.lastBackup.phase).",
                 0},
                {"Next Run", "string", "",
                 "Time left until the next run (status.nextRunTime, else when spec.schedule "
                 "next fires).",
                 0},
            },
            {"status.phase", "spec.template.vaultName"}) {}

  void Default(json::Value* object) const override {
    json::Value& spec = (*object)["spec"];
    if (spec.is_null()) spec = json::Value::MakeObject();
    if (!spec.is_object()) return;
    json::Value& tmpl = SetDefault(&spec, "template", json::Value::MakeObject());
    DefaultBackupSpec(&tmpl);
  }

 protected:
  void ValidateSpec(const json::Value& spec, FieldErrors* errors) const override {
    if (std::string schedule = RequireString(spec, "schedule", "spec", errors); !schedule.empty()) {
      // An interval is one Go duration token; anything else must be cron.
      if (StatusOr<int64_t> interval = ParseGoDuration(schedule); interval.ok()) {
        if (*interval <= 0) {
          errors->push_back(
              InvalidField("spec.schedule", Quote(schedule), "an interval must be greater than 0"));
        }
      } else if (Status cron = ValidateCron(schedule); !cron.ok()) {
        errors->push_back(InvalidField("spec.schedule", Quote(schedule),
                                       std::string(kScheduleHelp) + ": " + cron.message()));
      }
    }
    if (const json::Value* tmpl = Get(spec, "template"); tmpl == nullptr) {
      errors->push_back(RequiredField("spec.template"));
    } else {
      ValidateBackupSpec(*tmpl, "spec.template", errors);
    }
    if (const json::Value* r = Get(spec, "retention")) {
      CheckMin(*r, "keepLast", "spec.retention", 1, errors);
      CheckMin(*r, "keepLastSuccessful", "spec.retention", 1, errors);
    }
  }

  void ValidateSpecUpdate(const json::Value&, const json::Value&, FieldErrors*) const override {}

  void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const override {
    CheckEnum(Get(status, "phase"), "status.phase", kSchedulePhases, false, errors);
    for (const char* ref : {"lastBackup", "lastSuccessfulBackup"}) {
      const json::Value* r = Get(status, ref);
      if (r == nullptr) continue;
      const std::string path = ChildPath("status", ref);
      CheckSubdomain(*r, "name", path, true, errors);
      CheckTime(*r, "time", path, errors);
      CheckEnum(Get(*r, "phase"), ChildPath(path, "phase"), BackupPhases(), false, errors);
    }
    CheckTime(status, "nextRunTime", "status", errors);
    CheckMin(status, "observedGeneration", "status", 0, errors);
    for (FieldError& e : ValidateConditions(Get(status, "conditions"), "status.conditions")) {
      errors->push_back(std::move(e));
    }
  }

  std::vector<TableCell> MiddleCells(const json::Value& o) const override {
    const json::Value* paused = GetPath(o, "spec.paused");
    const bool is_paused = paused != nullptr && paused->as_bool();
    TableCell next = GetPath(o, "status.nextRunTime") != nullptr
                         ? CountdownCell(o, "status.nextRunTime", "due")
                     : is_paused ? TableCell(json::Value())
                                 : NextFireCell(o);
    return {Cell(o, "spec.schedule"),
            Cell(o, "spec.template.vaultName"),
            paused != nullptr ? *paused : json::Value(false),
            Cell(o, "status.lastBackup.name"),
            Cell(o, "status.lastBackup.phase"),
            std::move(next)};
  }
};

}  // namespace

const KindStrategy& BackupScheduleStrategy() {
  static const BackupScheduleKind kind;
  return kind;
}

}  // namespace csdr::apiserver
