#include "controllers/schedule.h"

#include <glog/logging.h>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"
#include "common/cron.h"
#include "common/duration.h"
#include "controllers/retention.h"

namespace csdr::controllers {
namespace {

using std::chrono::system_clock;
using TimePoint = system_clock::time_point;

constexpr std::chrono::seconds kRetrySoon{5};
const char kScheduleLabel[] = "csdr.io/schedule";

const apiserver::KindStrategy& Kind(std::string_view resource) {
  return *apiserver::FindKindByResource(resource);
}

TimePoint Seconds(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

// When a schedule fires: a cron expression or an interval.
class Timing {
 public:
  static std::optional<Timing> Parse(const std::string& spec, std::string* error) {
    Timing t;
    if (StatusOr<int64_t> ns = ParseGoDuration(spec); ns.ok()) {
      if (*ns < 1'000'000'000) {
        *error = "an interval must be at least 1s";
        return std::nullopt;
      }
      t.interval_ = std::chrono::nanoseconds(*ns);
      return t;
    }
    t.cron_ = ParseCron(spec, error);
    if (!t.cron_) return std::nullopt;
    // An unknown zone shows at the first use: fail here, as a schedule that cannot run.
    if (!NextAfter(*t.cron_, system_clock::now(), error)) return std::nullopt;
    return t;
  }

  // The first due time strictly after `t`.
  std::optional<TimePoint> Next(TimePoint t, std::string* error) const {
    if (interval_) return Seconds(t + *interval_);
    return NextAfter(*cron_, t, error);
  }

  // The latest due time in (earliest, now], counting from `earliest`.
  std::optional<TimePoint> MostRecent(TimePoint earliest, TimePoint now, std::string* error) const {
    if (interval_) {
      if (now < earliest + *interval_) return std::nullopt;
      const auto k = (now - earliest) / *interval_;
      return Seconds(earliest + k * *interval_);
    }
    auto missed = MostRecentAt(*cron_, earliest, now, error);
    if (!missed) return std::nullopt;
    return missed->most_recent;
  }

 private:
  std::optional<std::chrono::nanoseconds> interval_;
  std::optional<CronSchedule> cron_;
};

std::optional<TimePoint> TimeAt(const json::Value& obj,
                                std::initializer_list<std::string_view> path) {
  const json::Value* v = obj.FindPath(path);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return apiserver::ParseRFC3339(v->as_string());
}

json::Value BackupRef(const std::string& name, TimePoint time, const std::string& phase) {
  json::Value ref = json::Value::MakeObject();
  ref.Set("name", name);
  ref.Set("time", apiserver::FormatRFC3339(time));
  if (!phase.empty()) ref.Set("phase", phase);
  return ref;
}

// Sets condition `type` in status.conditions, keeping its lastTransitionTime while its status
// does not change.
void SetCondition(json::Value* status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, int64_t generation,
                  TimePoint now) {
  json::Value& conditions = (*status)["conditions"];
  controllers::SetCondition(&conditions, &conditions, type, value, reason, message, generation,
                            apiserver::FormatRFC3339(now));
}

// The Backup of one run: the template as its spec, the schedule's label and ownership.
json::Value RunBackup(const json::Value& schedule, const std::string& name) {
  json::Value backup = json::Value::MakeObject();
  backup.Set("apiVersion", "csdr.io/v1alpha1");
  backup.Set("kind", "Backup");
  json::Value meta = json::Value::MakeObject();
  meta.Set("name", name);
  meta.Set("namespace", schedule.GetString({"metadata", "namespace"}));
  json::Value labels = json::Value::MakeObject();
  labels.Set(kScheduleLabel, schedule.GetString({"metadata", "name"}));
  meta.Set("labels", std::move(labels));
  json::Value owner = json::Value::MakeObject();
  owner.Set("apiVersion", "csdr.io/v1alpha1");
  owner.Set("kind", "BackupSchedule");
  owner.Set("name", schedule.GetString({"metadata", "name"}));
  owner.Set("uid", schedule.GetString({"metadata", "uid"}));
  owner.Set("controller", true);
  owner.Set("blockOwnerDeletion", true);
  json::Value owners = json::Value::MakeArray();
  owners.PushBack(std::move(owner));
  meta.Set("ownerReferences", std::move(owners));
  backup.Set("metadata", std::move(meta));
  const json::Value* tmpl = schedule.FindPath({"spec", "template"});
  backup.Set("spec", tmpl != nullptr ? *tmpl : json::Value::MakeObject());
  return backup;
}

bool Denied(Code code) {
  return code == Code::kForbidden || code == Code::kInvalid || code == Code::kBadRequest;
}

}  // namespace

ScheduleController::ScheduleController(ControllerContext ctx,
                                       std::chrono::seconds starting_deadline)
    : ctx_(std::move(ctx)), starting_deadline_(starting_deadline) {}

std::optional<TimePoint> ScheduleController::Sync(TimePoint now) {
  std::optional<TimePoint> next;
  for (const Informer::Object& object : ctx_.schedules->List()) {
    const json::Value& schedule = *object;
    if (schedule.FindPath({"metadata", "deletionTimestamp"}) != nullptr) continue;
    std::optional<TimePoint> due = SyncOne(schedule, now);
    if (due && (!next || *due < *next)) next = due;
  }
  return next;
}

std::optional<TimePoint> ScheduleController::SyncOne(const json::Value& schedule, TimePoint now) {
  const std::string ns = schedule.GetString({"metadata", "namespace"});
  const std::string name = schedule.GetString({"metadata", "name"});
  const json::Value* gen = schedule.FindPath({"metadata", "generation"});
  const int64_t generation = gen != nullptr && gen->is_int() ? gen->as_int() : 0;
  const json::Value* old_status = schedule.Find("status");
  json::Value status =
      old_status != nullptr && old_status->is_object() ? *old_status : json::Value::MakeObject();
  status.Set("observedGeneration", generation);

  // This schedule's Backups, for lastBackup's phase, lastSuccessfulBackup and retention.
  std::vector<json::Value> backups;
  for (const Informer::Object& b : ctx_.backups->List(ns)) {
    if (b->GetString({"metadata", "labels", kScheduleLabel}) == name) backups.push_back(*b);
  }
  const std::string previous_phase = status.GetString({"phase"});

  std::string error;
  std::optional<Timing> timing = Timing::Parse(schedule.GetString({"spec", "schedule"}), &error);
  if (!timing) {
    if (previous_phase != "FailedValidation") {
      ctx_.Event(schedule, "Warning", "InvalidSchedule", "spec.schedule: " + error);
    }
    status.Set("phase", "FailedValidation");
    json::Value errors = json::Value::MakeArray();
    errors.PushBack("spec.schedule: " + error);
    status.Set("validationErrors", std::move(errors));
    status.Erase("nextRunTime");
    SetCondition(&status, "Ready", "False", "InvalidSchedule", "spec.schedule: " + error,
                 generation, now);
    WriteStatus(schedule, std::move(status));
    Prune(schedule, backups);
    return std::nullopt;
  }
  status.Erase("validationErrors");

  const json::Value* paused = schedule.FindPath({"spec", "paused"});
  if (paused != nullptr && paused->is_bool() && paused->as_bool()) {
    status.Set("phase", "Paused");
    status.Erase("nextRunTime");
    SetCondition(&status, "Ready", "False", "Paused", "spec.paused is true", generation, now);
    WriteStatus(schedule, std::move(status));
    Prune(schedule, backups);
    return std::nullopt;
  }

  // When the next run is due: counted from the last run, or from when the schedule last
  // became Enabled (created, unpaused, fixed), whichever is later; so that an unpaused
  // schedule does not make up for what it skipped while paused. The runs this controller
  // made itself count too: the informer may not have brought their status yet.
  const std::string uid = schedule.GetString({"metadata", "uid"});
  std::string last_name = schedule.GetString({"status", "lastBackup", "name"});
  std::optional<TimePoint> last = TimeAt(schedule, {"status", "lastBackup", "time"});
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(uid);
    if (it != runs_.end() && (!last || it->second.first > *last)) {
      last = it->second.first;
      last_name = it->second.second;
    }
  }
  std::optional<TimePoint> enabled_since;
  if (previous_phase == "Enabled") {
    if (const json::Value* conditions = schedule.FindPath({"status", "conditions"});
        conditions != nullptr && conditions->is_array()) {
      for (const json::Value& c : conditions->array()) {
        if (c.GetString({"type"}) == "Ready" && c.GetString({"status"}) == "True") {
          enabled_since = TimeAt(c, {"lastTransitionTime"});
        }
      }
    }
  }
  if (!enabled_since && previous_phase.empty()) {
    // Never seen by a controller: it has been enabled since it was created.
    enabled_since = TimeAt(schedule, {"metadata", "creationTimestamp"});
  }
  if (!enabled_since) enabled_since = Seconds(now);  // unpaused or fixed: Enabled from now
  const json::Value* skip = schedule.FindPath({"spec", "skipImmediately"});
  const bool skip_immediately = skip != nullptr && skip->is_bool() && skip->as_bool();
  std::optional<TimePoint> due;
  TimePoint reference = last ? std::max(*last, *enabled_since) : *enabled_since;
  if (last_name.empty() && !skip_immediately) {
    // A retried immediate run keeps its first due time, and so its name.
    std::lock_guard<std::mutex> lock(mu_);
    auto pending = pending_.find(uid);
    due = pending != pending_.end() ? pending->second : Seconds(now);
  }
  if (!due) {
    std::optional<TimePoint> missed = timing->MostRecent(reference, now, &error);
    if (missed) {
      if (now - *missed <= starting_deadline_) {
        due = *missed;
      } else {
        // Said once per missed due time (passes come again until the next one is due).
        bool first_time = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto& seen = missed_[uid];
          first_time = seen != *missed;
          seen = *missed;
        }
        if (first_time) {
          const std::string when = apiserver::FormatRFC3339(*missed);
          LOG(INFO) << "schedule " << ns << "/" << name << ": the run due at " << when
                    << " is past its deadline (" << starting_deadline_.count()
                    << "s); waiting for the next";
          CountRun("schedule", "missed");
          ctx_.Event(schedule, "Warning", "MissSchedule",
                     "Missed scheduled time to start a backup: " + when + " (more than " +
                         std::to_string(starting_deadline_.count()) + "s ago)");
        }
      }
    }
  }

  std::optional<TimePoint> retry;
  if (due) {
    const std::string backup_name = RunName(name, *due);
    apiserver::Scope scope;
    scope.kind = &Kind("backups");
    scope.namespace_ = ns;
    scope.user = &ControllerUser();
    apiserver::WriteOptions options;
    options.field_manager = "csdr-schedule-controller";
    auto created = ctx_.registry->Create(scope, RunBackup(schedule, backup_name), options);
    if (created.ok() || created.status().code() == Code::kAlreadyExists) {
      CountRun("schedule", created.ok() ? "created" : "exists");
      if (created.ok()) {
        LOG(INFO) << "schedule " << ns << "/" << name << ": created backup " << backup_name;
        ctx_.Event(schedule, "Normal", "SuccessfulCreate", "Created backup " + backup_name);
        backups.push_back(created->object);
      }
      status.Set("lastBackup", BackupRef(backup_name, *due, ""));
      Remember(uid, *due, backup_name);
      SetCondition(&status, "FailedValidation", "False", "BackupCreated",
                   "backup " + backup_name + " created", generation, now);
    } else if (Denied(created.status().code())) {
      CountRun("schedule", "denied");
      LOG(WARNING) << "schedule " << ns << "/" << name << ": backup " << backup_name
                   << " denied: " << created.status().message();
      ctx_.Event(schedule, "Warning", "FailedCreate",
                 "Error creating backup " + backup_name + ": " + created.status().message());
      status.Set("lastBackup", BackupRef(backup_name, *due, "FailedValidation"));
      Remember(uid, *due, backup_name);
      SetCondition(&status, "FailedValidation", "True", "BackupDenied", created.status().message(),
                   generation, now);
    } else {
      // The store or the rules' sources are unavailable: try again soon, same name.
      CountRun("schedule", "error");
      LOG(WARNING) << "schedule " << ns << "/" << name << ": backup " << backup_name
                   << " not created, retrying: " << created.status().message();
      retry = now + kRetrySoon;
      bool first_try = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        first_try = pending_.count(uid) == 0;
        pending_[uid] = *due;
      }
      if (first_try) {
        ctx_.Event(
            schedule, "Warning", "FailedCreate",
            "Error creating backup " + backup_name + " (retrying): " + created.status().message());
      }
    }
  }

  // lastBackup's phase follows its Backup; lastSuccessfulBackup is the newest Completed one.
  if (json::Value* ref = status.Find("lastBackup"); ref != nullptr && ref->is_object()) {
    const std::string ref_name = ref->GetString({"name"});
    for (const json::Value& b : backups) {
      if (b.GetString({"metadata", "name"}) != ref_name) continue;
      const std::string phase = b.GetString({"status", "phase"});
      if (phase.empty()) {
        ref->Erase("phase");
      } else {
        ref->Set("phase", phase);
      }
    }
  }
  const json::Value* newest_completed = nullptr;
  std::optional<TimePoint> newest_time;
  for (const json::Value& b : backups) {
    if (b.GetString({"status", "phase"}) != "Completed") continue;
    std::optional<TimePoint> t = TimeAt(b, {"metadata", "creationTimestamp"});
    if (!newest_completed || (t && (!newest_time || *t > *newest_time))) {
      newest_completed = &b;
      newest_time = t;
    }
  }
  if (newest_completed != nullptr) {
    status.Set("lastSuccessfulBackup", BackupRef(newest_completed->GetString({"metadata", "name"}),
                                                 newest_time.value_or(now), "Completed"));
  }

  // The next due time after this run (or after now).
  const TimePoint after = due && !retry ? std::max(*due, Seconds(now)) : Seconds(now);
  std::optional<TimePoint> next = timing->Next(after, &error);
  if (next) {
    status.Set("nextRunTime", apiserver::FormatRFC3339(*next));
  } else {
    status.Erase("nextRunTime");
  }
  status.Set("phase", "Enabled");
  SetCondition(&status, "Ready", "True", "Scheduled",
               next ? "next run at " + apiserver::FormatRFC3339(*next) : "no further run: " + error,
               generation, now);
  if (!WriteStatus(schedule, std::move(status)) && !retry) retry = now + kRetrySoon;
  Prune(schedule, backups);
  if (retry) return retry;
  return next;
}

void ScheduleController::Remember(const std::string& uid, TimePoint due, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (runs_.size() > 10000) runs_.clear();  // deleted schedules' entries go this way
  runs_[uid] = {due, name};
  pending_.erase(uid);
}

void ScheduleController::Prune(const json::Value& schedule,
                               const std::vector<json::Value>& backups) {
  RetentionPolicy policy = RetentionPolicy::FromSchedule(schedule);
  if (policy.empty()) return;
  std::vector<RetainedBackup> retained;
  retained.reserve(backups.size());
  for (const json::Value& b : backups) retained.push_back(RetainedBackup::FromObject(b));
  RetentionDecision decision = DecideRetention(std::move(retained), policy);
  int pruned = 0;
  for (const std::string& victim : decision.prune) {
    apiserver::Scope scope;
    scope.kind = &Kind("backups");
    scope.namespace_ = schedule.GetString({"metadata", "namespace"});
    scope.name = victim;
    scope.user = &ControllerUser();
    auto deleted = ctx_.registry->Delete(scope, apiserver::DeleteOptions{});
    if (deleted.ok()) {
      ++pruned;
      LOG(INFO) << "schedule " << scope.namespace_ << "/"
                << schedule.GetString({"metadata", "name"}) << ": pruned backup " << victim
                << " (retention)";
      ctx_.Event(schedule, "Normal", "SuccessfulDelete",
                 "Deleted backup " + victim + " (spec.retention)");
    } else if (deleted.status().code() != Code::kNotFound) {
      LOG(WARNING) << "schedule " << scope.namespace_ << "/"
                   << schedule.GetString({"metadata", "name"}) << ": cannot prune backup " << victim
                   << ": " << deleted.status().message();
    }
  }
  if (pruned > 0) CountPruned(pruned);
}

bool ScheduleController::WriteStatus(const json::Value& schedule, json::Value status) {
  const json::Value* current = schedule.Find("status");
  if (current != nullptr && *current == status) return true;
  json::Value next = schedule;
  next.Set("status", std::move(status));
  apiserver::Scope scope;
  scope.kind = &Kind("backupschedules");
  scope.namespace_ = schedule.GetString({"metadata", "namespace"});
  scope.name = schedule.GetString({"metadata", "name"});
  scope.subresource = "status";
  scope.user = &ControllerUser();
  apiserver::WriteOptions options;
  options.field_manager = "csdr-schedule-controller";
  auto written = ctx_.registry->Update(scope, std::move(next), options);
  if (!written.ok()) {
    // A conflict is a newer schedule on its way through the informer: the next pass uses it.
    if (written.status().code() != Code::kConflict && written.status().code() != Code::kNotFound) {
      LOG(WARNING) << "schedule " << scope.namespace_ << "/" << scope.name
                   << ": cannot write status: " << written.status().message();
    }
    return false;
  }
  return true;
}

}  // namespace csdr::controllers
