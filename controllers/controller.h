// What the built-in controllers share: the registry they write through (so every Backup they
// make passes the same defaults, validation and admission rules as a client's), the informers
// they read, the clock, the identity they act as, and their metrics.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "apiserver/auth/auth.h"
#include "apiserver/registry/registry.h"
#include "controllers/events.h"
#include "controllers/informer.h"

namespace csdr::controllers {

using Clock = std::function<std::chrono::system_clock::time_point()>;

// The user the controllers act as in admission and managedFields (kube-controller-manager's
// controllers act as system:serviceaccount:kube-system:<controller>).
const apiserver::UserInfo& ControllerUser();

struct ControllerContext {
  apiserver::Registry* registry = nullptr;
  Informer* schedules = nullptr;    // BackupSchedules
  Informer* backups = nullptr;      // Backups
  Clock clock;                      // system_clock::now when null
  EventRecorder* events = nullptr;  // none when null
  std::chrono::system_clock::time_point Now() const {
    return clock ? clock() : std::chrono::system_clock::now();
  }
  void Event(const json::Value& object, const std::string& type, const std::string& reason,
             const std::string& message) const {
    if (events != nullptr) events->Event(object, type, reason, message);
  }
};

// Counters of csdr_controller_* (metrics.h): runs, failed runs, pruned and expired Backups.
void CountRun(const std::string& controller, const std::string& result);
void CountPruned(int n);
void CountExpired(int n);

// What the controllers read of a Backup, the Backups informer's transform: apiVersion, kind,
// metadata's name, namespace, uid, resourceVersion, creation and deletion timestamps and
// labels, and status.phase and status.expiration. The rest (spec, managedFields, volumes)
// is dropped.
json::Value BackupFacts(json::Value backup);

// Sets condition `type` (a metav1.Condition) in the array `*conditions`: replaces the entry of
// that type or appends one. Its lastTransitionTime is the one `previous` (an array of the
// conditions as stored; may be `conditions` itself, or null) has for the type while the status
// is unchanged, else `now` (RFC 3339).
void SetCondition(json::Value* conditions, const json::Value* previous, const std::string& type,
                  const std::string& status, const std::string& reason, const std::string& message,
                  int64_t generation, const std::string& now);

// "<schedule>-20261207040100": the Backup a schedule makes for the run due at `due` (UTC).
std::string RunName(const std::string& schedule, std::chrono::system_clock::time_point due);

}  // namespace csdr::controllers
