#include "controllers/expiry.h"

#include <glog/logging.h>

#include <map>
#include <set>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"
#include "controllers/retention.h"

namespace csdr::controllers {
namespace {

using TimePoint = std::chrono::system_clock::time_point;
constexpr std::chrono::seconds kRetrySoon{5};

}  // namespace

std::optional<TimePoint> ExpiryController::Sync(TimePoint now) {
  std::optional<TimePoint> next;
  auto consider = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  // The Backups each schedule's keepLastSuccessful keeps from expiring, by "<ns>/<schedule>".
  std::map<std::string, std::set<std::string>> kept;
  auto kept_by_schedule = [&](const std::string& ns,
                              const std::string& schedule) -> const std::set<std::string>& {
    const std::string key = ns + "/" + schedule;
    auto it = kept.find(key);
    if (it != kept.end()) return it->second;
    std::set<std::string> names;
    if (Informer::Object s = ctx_.schedules->Get(ns, schedule)) {
      RetentionPolicy policy = RetentionPolicy::FromSchedule(*s);
      if (policy.keep_last_successful) {
        std::vector<RetainedBackup> backups;
        for (const Informer::Object& b : ctx_.backups->List(ns)) {
          if (b->GetString({"metadata", "labels", "csdr.io/schedule"}) == schedule) {
            backups.push_back(RetainedBackup::FromObject(*b));
          }
        }
        names = DecideRetention(std::move(backups), policy).keep_from_expiry;
      }
    }
    return kept.emplace(key, std::move(names)).first->second;
  };

  int expired = 0;
  for (const Informer::Object& object : ctx_.backups->List()) {
    const json::Value& backup = *object;
    if (backup.FindPath({"metadata", "deletionTimestamp"}) != nullptr) continue;
    const json::Value* at = backup.FindPath({"status", "expiration"});
    if (at == nullptr || !at->is_string()) continue;
    std::optional<TimePoint> expiration = apiserver::ParseRFC3339(at->as_string());
    if (!expiration) continue;
    if (*expiration > now) {
      consider(*expiration);
      continue;
    }
    const std::string ns = backup.GetString({"metadata", "namespace"});
    const std::string name = backup.GetString({"metadata", "name"});
    const std::string schedule = backup.GetString({"metadata", "labels", "csdr.io/schedule"});
    if (!schedule.empty() && kept_by_schedule(ns, schedule).count(name) != 0) continue;
    apiserver::Scope scope;
    scope.kind = apiserver::FindKindByResource("backups");
    scope.namespace_ = ns;
    scope.name = name;
    scope.user = &ControllerUser();
    auto deleted = ctx_.registry->Delete(scope, apiserver::DeleteOptions{});
    if (deleted.ok()) {
      ++expired;
      CountRun("expiry", "deleted");
      LOG(INFO) << "backup " << ns << "/" << name << " expired at " << at->as_string()
                << ": deleted";
      ctx_.Event(backup, "Normal", "Expired", "Backup expired at " + at->as_string() + ": deleted");
    } else if (deleted.status().code() != Code::kNotFound) {
      CountRun("expiry", "error");
      LOG(WARNING) << "backup " << ns << "/" << name
                   << " expired but cannot be deleted: " << deleted.status().message();
      consider(now + kRetrySoon);
    }
  }
  if (expired > 0) CountExpired(expired);
  return next;
}

}  // namespace csdr::controllers
