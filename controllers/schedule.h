// The schedule controller: BackupSchedules make Backups when they are due, keep their status,
// and prune by their retention. Velero's schedule controller and Kubernetes' CronJob
// controller are the models:
//   - due times from spec.schedule: a 5-field cron (optional CRON_TZ=, DST as robfig/cron and
//     so CronJob handle it: common/cron.h) or a Go duration interval counted from the last run;
//   - a new schedule (no status.lastBackup) runs at once unless spec.skipImmediately, and
//     so does one unpaused without a lastBackup; a schedule unpaused with one does not make
//     up for the runs it missed while paused;
//   - runs missed while no controller ran (the server down, no leader): at most one, the
//     most recent, and only if it is at most `starting_deadline` late (CronJob's
//     startingDeadlineSeconds); later than that it is skipped and the schedule waits;
//   - a run's Backup is "<schedule>-<UTC yyyymmddhhmmss of the due time>", labelled
//     csdr.io/schedule=<schedule>, owned by the schedule (ownerReference), created through the
//     registry so the backup center's rules judge it as any create; one that exists already
//     (a retry, another replica) counts as made; one the rules deny sets the schedule's
//     FailedValidation condition with the rule's message and is not retried until the next
//     due time;
//   - status: phase (Enabled, Paused, FailedValidation for a schedule that cannot run, e.g.
//     an unknown time zone), lastBackup {name, time (the due time), phase (the Backup's,
//     followed)}, lastSuccessfulBackup, nextRunTime, conditions, observedGeneration; written
//     through the status subresource only when it changed.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/json.h"
#include "controllers/controller.h"

namespace csdr::controllers {

class ScheduleController {
 public:
  ScheduleController(ControllerContext ctx, std::chrono::seconds starting_deadline);

  // One pass over every schedule at `now`: runs what is due, writes status, prunes. Returns
  // when the next run is due (nullopt: nothing scheduled); a pass that hit a transient error
  // asks to be called again within seconds.
  std::optional<std::chrono::system_clock::time_point> Sync(
      std::chrono::system_clock::time_point now);

 private:
  std::optional<std::chrono::system_clock::time_point> SyncOne(
      const json::Value& schedule, std::chrono::system_clock::time_point now);
  void Prune(const json::Value& schedule, const std::vector<json::Value>& backups);
  bool WriteStatus(const json::Value& schedule, json::Value status);
  void Remember(const std::string& uid, std::chrono::system_clock::time_point due,
                const std::string& name);

  ControllerContext ctx_;
  std::chrono::seconds starting_deadline_;
  // The last run this controller made (or was denied) per schedule uid: its due time and
  // Backup name, until the informer brings the status that records it.
  std::mutex mu_;
  std::map<std::string, std::pair<std::chrono::system_clock::time_point, std::string>> runs_;
  // A run that failed for a transient reason, retried under the same due time.
  std::map<std::string, std::chrono::system_clock::time_point> pending_;
  // The missed due time last reported per schedule uid (reported once).
  std::map<std::string, std::chrono::system_clock::time_point> missed_;
};

}  // namespace csdr::controllers
