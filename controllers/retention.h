// A schedule's retention (spec.retention), as a pure function of its Backups: which to prune,
// and which ttl may not expire. The schedule and expiry controllers apply it.
//
//   keepLast N            the newest N Backups (by creation time, any phase) are kept; older
//                         ones are pruned;
//   keepLastSuccessful N  the newest N Completed Backups are kept: older Completed ones are
//                         pruned, and these N are neither pruned by keepLast nor expired by
//                         their ttl.
// Whatever the policy: a Backup in progress (phase New or InProgress) or already being
// deleted is never pruned, and the newest Completed Backup is never pruned (a schedule never
// loses its only good backup to retention).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"

namespace csdr::controllers {

struct RetentionPolicy {
  std::optional<int64_t> keep_last;
  std::optional<int64_t> keep_last_successful;

  // From a BackupSchedule's spec.retention (absent or malformed fields: no limit).
  static RetentionPolicy FromSchedule(const json::Value& schedule);
  bool empty() const { return !keep_last && !keep_last_successful; }
};

struct RetainedBackup {
  std::string name;
  std::chrono::system_clock::time_point created;
  std::string phase;
  bool deleting = false;  // metadata.deletionTimestamp is set

  static RetainedBackup FromObject(const json::Value& backup);
};

struct RetentionDecision {
  std::vector<std::string> prune;          // newest first
  std::set<std::string> keep_from_expiry;  // keepLastSuccessful's Completed ones
};

RetentionDecision DecideRetention(std::vector<RetainedBackup> backups,
                                  const RetentionPolicy& policy);

}  // namespace csdr::controllers
