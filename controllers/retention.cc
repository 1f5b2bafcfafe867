#include "controllers/retention.h"

#include <algorithm>

#include "apiserver/kinds/validation.h"

namespace csdr::controllers {
namespace {

std::optional<int64_t> Count(const json::Value* retention, const char* field) {
  if (retention == nullptr || !retention->is_object()) return std::nullopt;
  const json::Value* v = retention->Find(field);
  if (v == nullptr || !v->is_int() || v->as_int() < 0) return std::nullopt;
  return v->as_int();
}

bool InProgress(const std::string& phase) { return phase == "New" || phase == "InProgress"; }

}  // namespace

RetentionPolicy RetentionPolicy::FromSchedule(const json::Value& schedule) {
  const json::Value* retention = schedule.FindPath({"spec", "retention"});
  return RetentionPolicy{Count(retention, "keepLast"), Count(retention, "keepLastSuccessful")};
}

RetainedBackup RetainedBackup::FromObject(const json::Value& backup) {
  RetainedBackup b;
  b.name = backup.GetString({"metadata", "name"});
  auto created = apiserver::ParseRFC3339(backup.GetString({"metadata", "creationTimestamp"}));
  b.created = created.value_or(std::chrono::system_clock::time_point{});
  b.phase = backup.GetString({"status", "phase"});
  b.deleting = backup.FindPath({"metadata", "deletionTimestamp"}) != nullptr;
  return b;
}

RetentionDecision DecideRetention(std::vector<RetainedBackup> backups,
                                  const RetentionPolicy& policy) {
  // Newest first; names break ties (schedule runs of one second sort by their time suffix).
  std::sort(backups.begin(), backups.end(), [](const RetainedBackup& a, const RetainedBackup& b) {
    if (a.created != b.created) return a.created > b.created;
    return a.name > b.name;
  });
  RetentionDecision out;
  std::set<std::string> protected_names;
  int64_t completed = 0;
  const int64_t keep_successful = policy.keep_last_successful.value_or(1);
  for (const RetainedBackup& b : backups) {
    if (b.phase != "Completed" || b.deleting) continue;
    if (completed < std::max<int64_t>(keep_successful, 1)) {
      protected_names.insert(b.name);
      if (policy.keep_last_successful) out.keep_from_expiry.insert(b.name);
    }
    ++completed;
  }
  int64_t position = 0;
  completed = 0;
  for (const RetainedBackup& b : backups) {
    if (b.deleting) continue;  // going already; not counted
    const int64_t index = position++;
    const bool is_completed = b.phase == "Completed";
    const int64_t completed_index = is_completed ? completed++ : -1;
    if (InProgress(b.phase) || protected_names.count(b.name) != 0) continue;
    const bool beyond_last = policy.keep_last && index >= *policy.keep_last;
    const bool beyond_successful = is_completed && policy.keep_last_successful &&
                                   completed_index >= *policy.keep_last_successful;
    if (beyond_last || beyond_successful) out.prune.push_back(b.name);
  }
  return out;
}

}  // namespace csdr::controllers
