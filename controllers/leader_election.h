// Leader election among replicas: one runs the built-in controllers at a time.
//
// The lease is kept by a LeaseLock (lease_lock.h): a coordination.k8s.io/v1 Lease in the
// cluster when the server has one, else a record in our own store (every replica on etcd
// shares it; one replica on SQLite holds it alone). Written with compare-and-swap, as
// client-go's leaderelection does, and with its defaults and rules:
//   - a record names its holder, the lease duration, acquire and renew times and the number
//     of transitions (a Lease's spec, LeaseRecord):
//       {"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-12-07T12:00:00.123456Z",
//        "renewTime":"2026-12-07T12:00:02.123456Z","leaseTransitions":3}
//     (times as metav1.MicroTime; leaseDurationSeconds is lease_duration rounded up to whole
//     seconds); leaseTransitions counts acquisitions by a holder other than the record's;
//   - a candidate takes the lease when the record is absent, released (holder ""), or has not
//     changed (same mod_revision) for a whole lease duration of the candidate's own clock
//     from when it first saw that version (observed time, never the writer's timestamps:
//     clocks of different machines do not need to agree). The lease duration waited is the
//     longer of the candidate's lease_duration and the record's leaseDurationSeconds;
//   - the holder renews every retry period and gives up leading (OnStoppedLeading) when it
//     could not renew within the renew deadline, before anyone else may take it, or at once
//     when it finds another holder in the record; it stays a candidate afterwards;
//   - Stop() stops leading (OnStoppedLeading) and then releases the lease (holder "",
//     duration 1 s), so that a rolling update hands over at once: candidates wait on the
//     lock's watch and try as soon as the record changes (polling every retry period when
//     the watch fails). The callback runs before the release so that the old leader's work has
//     stopped when a new leader may start (client-go's ReleaseOnCancel leaves that to its
//     caller).
//
// Errors of the lock (unavailable, timeouts, forbidden) are retried every retry period, logged when
// they start and when they end. The gauge csdr_leader_election_master_status{name} is 1 while this
// process leads lease `name` and 0 otherwise (kube-controller-manager's
// leader_election_master_status); run one elector per lease name per process.
//
// Thread safety: Start/Stop from one thread; IsLeader/Holder from any. The callbacks run on
// the elector's thread; OnStartedLeading must return promptly (start work elsewhere), and
// OnStoppedLeading should return once that work has stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "controllers/lease_lock.h"

namespace csdr::controllers {

struct LeaderElectionConfig {
  std::string name = "csdr-controllers";  // the lease's name
  std::string identity;                   // this replica's; DefaultIdentity() when empty
  // client-go's and kube-controller-manager's defaults. Required, as client-go checks:
  // lease_duration > renew_deadline > retry_period > 0; the constructor logs and shortens
  // renew_deadline (to 2/3 of lease_duration) and retry_period (to 1/2 of renew_deadline)
  // that break it, since a holder that renews for longer than others wait would overlap.
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // The elector's clock for lease arithmetic (observed times, the renew deadline); tests
  // inject one. The thread's own waits (retry period) are real time. steady_clock::now
  // when null.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // Wall time written into acquireTime/renewTime; system_clock::now when null.
  std::function<std::chrono::system_clock::time_point()> wall_clock;
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // Any change of the observed holder, this replica included ("" when none).
  std::function<void(const std::string& holder)> on_new_leader;
};

// "<hostname>_<random hex>": unique per process, as client-go's callers build it.
std::string DefaultIdentity();

class LeaderElector {
 public:
  // `lock` outlives the elector.
  LeaderElector(LeaseLock* lock, LeaderElectionConfig config, LeaderCallbacks callbacks);
  ~LeaderElector();  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts the elector's thread: try to acquire every retry period (and at once when the
  // record changes), then renew while leading. No-op when already started.
  void Start();
  // Stops trying, without waiting for a retry period. While leading: OnStoppedLeading, then
  // the lease is released (one round trip, retried on conflict), before it returns.
  void Stop();

  bool IsLeader() const { return leading_.load(std::memory_order_acquire); }
  std::string Holder() const;  // the holder last observed ("" when none)
  const std::string& Identity() const { return config_.identity; }

 private:
  class Impl;
  LeaderElectionConfig config_;
  std::atomic<bool> leading_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace csdr::controllers
