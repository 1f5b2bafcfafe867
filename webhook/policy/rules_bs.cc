// CSDR-BS-001..005: backup schedules.
#include "common/cron.h"
#include "common/duration.h"
#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

constexpr const char* kBs001 =
    "[CSDR-BS-001] schedule must be a 5-field cron expression (e.g. \"1 4 * * *\") or an interval "
    "such as \"6h30m\"";
constexpr const char* kBs002Format = "template: <the failing Backup rule's message>";
constexpr const char* kBs003Format =
    "[CSDR-BS-003] namespace %q does not exist; scheduled runs will fail with \"get target "
    "namespace failed\"";
constexpr const char* kBs004 =
    "[CSDR-BS-004] frequent schedules accumulate backups until ttl expires; consider "
    "retention.keepLast";
constexpr const char* kBs005 = "[CSDR-BS-005] retention counts must be >= 1";

const json::Value& Empty() {
  static const json::Value kEmpty = json::Value::MakeObject();
  return kEmpty;
}

const json::Value& SpecOf(const json::Value& object) {
  const json::Value* spec = Member(object, "spec");
  return spec != nullptr && spec->is_object() ? *spec : Empty();
}

const json::Value& TemplateOf(const json::Value& object) {
  const json::Value* t = Member(SpecOf(object), "template");
  return t != nullptr && t->is_object() ? *t : Empty();
}

// How often the schedule fires, as far as the rules care.
enum class Frequency { kInvalid, kAtMostHourly, kMoreThanHourly };

Frequency FrequencyOf(std::string_view schedule) {
  std::string error;
  if (std::optional<CronSchedule> cron = ParseCron(schedule, &error)) {
    // Several minutes of one hour: it fires more than once an hour.
    return cron->minutes.count() > 1 ? Frequency::kMoreThanHourly : Frequency::kAtMostHourly;
  }
  if (StatusOr<int64_t> every = ParseGoDuration(schedule); every.ok() && *every > 0) {
    return *every < kNanosPerHour ? Frequency::kMoreThanHourly : Frequency::kAtMostHourly;
  }
  return Frequency::kInvalid;
}

void CheckBs001(const RuleContext& ctx, Findings* out) {
  const std::string schedule = Str(SpecOf(ctx.object()), "schedule");
  const bool changed = ctx.operation() == Operation::kCreate ||
                       schedule != Str(SpecOf(ctx.old_object()), "schedule");
  if (changed && FrequencyOf(schedule) == Frequency::kInvalid)
    out->DenyField("spec.schedule", kBs001);
}

void CheckBs002(const RuleContext& ctx, Findings* out) {
  const json::Value& tmpl = TemplateOf(ctx.object());
  // On UPDATE the template is judged only when it changes: pausing a schedule whose vault
  // has become Unavailable must stay possible.
  if (ctx.operation() == Operation::kUpdate && tmpl == TemplateOf(ctx.old_object())) return;
  const BackupSpecTarget target{tmpl, ctx.Namespace(), "spec.template", true};
  for (const Rule& rule : Rules()) {
    if (rule.backup_spec_check == nullptr) continue;
    Findings found;
    rule.backup_spec_check(ctx, target, &found);
    for (Finding& f : found.items()) {
      f.message = "template: " + f.message;
      out->Add(std::move(f));
    }
  }
}

void CheckBs003(const RuleContext& ctx, Findings* out) {
  for (const std::string& ns : StrList(TemplateOf(ctx.object()), "includedNamespaces")) {
    if (ns == "*") continue;
    // An unknown answer gives no warning: a warning that cannot be checked is noise, and the
    // scheduled run reports the missing namespace itself.
    if (ctx.facts().Namespace(ns).absent()) {
      out->Warn("[CSDR-BS-003] namespace " + Q(ns) +
                " does not exist; scheduled runs will fail with \"get target namespace failed\"");
    }
  }
}

const json::Value* Retention(const json::Value& object) {
  return Member(SpecOf(object), "retention");
}

void CheckBs004(const RuleContext& ctx, Findings* out) {
  if (FrequencyOf(Str(SpecOf(ctx.object()), "schedule")) != Frequency::kMoreThanHourly) return;
  const json::Value* retention = Retention(ctx.object());
  if (retention == nullptr || Member(*retention, "keepLast") == nullptr) out->Warn(kBs004);
}

void CheckBs005(const RuleContext& ctx, Findings* out) {
  const json::Value* retention = Retention(ctx.object());
  if (retention == nullptr) return;
  for (const char* key : {"keepLast", "keepLastSuccessful"}) {
    const json::Value* v = Member(*retention, key);
    if (v != nullptr && v->is_number() && v->as_double() < 1) {
      out->DenyField(Path("spec.retention", key), kBs005);
      return;
    }
  }
}

Rule ScheduleRule(const char* id, Severity sev, const char* applies, const char* message,
                  const char* basis, CheckFn fn) {
  return Rule{id, sev, kBackupScheduleKind, kOnCreate | kOnUpdate, applies, message, basis, fn};
}

}  // namespace

std::vector<Rule> BsRules() {
  return {
      ScheduleRule("CSDR-BS-001", Severity::kDeny,
                   "BackupSchedule / CREATE, UPDATE (schedule set or changed)", kBs001,
                   "domain.md 2.2 (ACK FAQ): 'Schedule syntax is a 5-field crontab (minute 0-59) "
                   "or an interval such "
                   "as 6h30m'",
                   CheckBs001),
      ScheduleRule("CSDR-BS-002", Severity::kDeny,
                   "BackupSchedule / CREATE, UPDATE (template set or changed)", kBs002Format,
                   "every seed sentence of the Backup rules: a schedule's backups are Backups; "
                   "Velero validates a "
                   "schedule's template only when it runs (#6225)",
                   CheckBs002),
      ScheduleRule("CSDR-BS-003", Severity::kWarn, "BackupSchedule / CREATE, UPDATE", kBs003Format,
                   "domain.md 8 (ACK FAQ): 'get target namespace failed'", CheckBs003),
      ScheduleRule("CSDR-BS-004", Severity::kWarn, "BackupSchedule / CREATE, UPDATE", kBs004,
                   "domain.md 3.3 (Velero #3947): count-based retention", CheckBs004),
      ScheduleRule("CSDR-BS-005", Severity::kDeny, "BackupSchedule / CREATE, UPDATE", kBs005,
                   "domain.md 7.6 [I]: keepLast and keepLastSuccessful count backups", CheckBs005),
  };
}

}  // namespace csdr::webhook
