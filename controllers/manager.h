// ControllerManager: runs the built-in controllers (schedule, expiry) in this process while
// it holds the controllers' lease (leader_election.h, lease_lock.h), as kube-controller-manager
// runs its controllers beside kube-apiserver, one active among replicas.
//
// While leading: informers on BackupSchedules and Backups, and one loop that runs each
// controller's Sync when something changed (debounced by 100 ms) or when the earliest time
// either asked for comes (a run due, an expiration), and at least every 30 s. Losing the
// lease stops the loop before another replica can take it (the renew deadline is shorter
// than the lease). Stop() stops the loop, then releases the lease: a rolling update hands
// over at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "apiserver/registry/registry.h"
#include "controllers/controller.h"
#include "controllers/leader_election.h"
#include "storage/store.h"
#include "webhook/cluster/cluster_facts.h"

namespace csdr::controllers {

// The controllers' names, as --controllers takes them.
inline constexpr const char* kScheduleController = "schedule";
inline constexpr const char* kExpiryController = "expiry";
inline constexpr const char* kDiscoveryController = "discovery";

// kube-controller-manager's --controllers: "*" turns on every controller that is on by
// default (here: all), "name" turns one on, "-name" off. The names enabled, or kInvalid for
// an unknown name.
StatusOr<std::set<std::string>> ParseControllers(const std::vector<std::string>& flags);

struct ControllerManagerOptions {
  std::set<std::string> controllers = {kScheduleController, kExpiryController,
                                       kDiscoveryController};
  std::chrono::seconds starting_deadline{3600};
  LeaderElectionConfig election;
  // Where the lease is kept (outlives the manager); a StoreLeaseLock on `store` when null.
  LeaseLock* lease_lock = nullptr;
  Clock clock;                      // system_clock::now when null
  EventRecorder* events = nullptr;  // where the controllers' Events go; none when null
  // What the discovery controller reads; it does not run when null.
  const webhook::ClusterFacts* cluster = nullptr;
  // The rules' facts (the store and the cluster cache), with which the discovery controller
  // judges stored objects against the observed cluster; none are judged when null.
  const webhook::Facts* facts = nullptr;
};

class ControllerManager {
 public:
  ControllerManager(apiserver::Registry* registry, storage::Store* store,
                    ControllerManagerOptions options);
  ~ControllerManager();  // Stop()

  // Starts the elector (nothing when no controller is enabled).
  void Start();
  // Stops the controllers and releases the lease.
  void Stop();

  bool Leading() const { return elector_ != nullptr && elector_->IsLeader(); }

 private:
  void Lead();
  void Follow();
  void Loop();
  void Wake();

  apiserver::Registry* registry_;
  storage::Store* store_;
  ControllerManagerOptions options_;
  std::unique_ptr<LeaseLock> own_lock_;  // when options_.lease_lock is null
  std::unique_ptr<LeaderElector> elector_;

  std::mutex mu_;  // guards what the loop shares with the elector and informer threads
  std::condition_variable cv_;
  bool changed_ = false;
  bool stop_loop_ = false;
  std::unique_ptr<Informer> schedules_;
  std::unique_ptr<Informer> backups_;
  std::thread loop_;
};

}  // namespace csdr::controllers
