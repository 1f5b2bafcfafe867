// Where the leader election keeps its lease: client-go's resourcelock.Interface, with a wait
// for the record to change so that a released lease is taken at once.
//
// Two locks:
//   - KubeLeaseLock: a coordination.k8s.io/v1 Lease in the cluster (when the server has one),
//     as kube-controller-manager and every client-go controller keep theirs: `kubectl get
//     lease -n csdr csdr-controllers` shows the holder, and every replica of one Deployment
//     shares it whatever their storage. Writes are PUTs with metadata.resourceVersion (a
//     compare-and-swap in kube-apiserver); changes arrive on a watch of that one Lease
//     (list, then watch from the list's resourceVersion; relisted when the watch ends).
//   - StoreLeaseLock: a record in our own store at LeaseKey(name), outside every resource
//     prefix (lists never see it): replicas on one etcd share it, one replica on SQLite holds
//     it alone. Writes use the store's compare-and-swap; changes arrive on a store watch.
//
// A version is the Lease's resourceVersion or the record's mod_revision in decimal: opaque
// to the elector, which only compares it for equality and hands it back to Update.
//
// Thread safety: Get/Create/Update/WaitForChange from one thread (the elector's), the stop
// token from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "common/json.h"
#include "common/status.h"
#include "kube/client.h"
#include "storage/store.h"

namespace csdr::controllers {

// The fields client-go's resourcelock.LeaderElectionRecord carries (a Lease's spec).
struct LeaseRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // metav1.MicroTime
  std::string renew_time;
  int64_t lease_transitions = 0;

  bool operator==(const LeaseRecord&) const = default;
};

// The record as the Lease's spec: {"holderIdentity":"a","leaseDurationSeconds":15,
// "acquireTime":"...","renewTime":"...","leaseTransitions":3}.
json::Value LeaseSpec(const LeaseRecord& record);
// The reverse; absent members are empty or 0, unknown ones ignored. kBadRequest when `spec`
// is not an object or a member has the wrong type.
StatusOr<LeaseRecord> RecordOfLeaseSpec(const json::Value& spec);

struct VersionedLease {
  LeaseRecord record;
  std::string version;
  // False when the stored bytes are not a lease record (then `record` is empty): the elector
  // treats it as held by someone unknown, overwritten only after a lease without change.
  bool readable = true;
};

class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // The record and its version; kNotFound when there is none; another error when the
  // lock's backend could not answer.
  virtual StatusOr<VersionedLease> Get() = 0;
  // Creates the record; its version. kAlreadyExists when one exists.
  virtual StatusOr<std::string> Create(const LeaseRecord& record) = 0;
  // Replaces the record if its version is still `version`; the new version. kConflict or
  // kNotFound when it changed (someone else wrote or deleted it).
  virtual StatusOr<std::string> Update(const LeaseRecord& record, const std::string& version) = 0;
  // Returns when the record has changed from `version` ("" = absent), as far as the lock can
  // tell, after `timeout` at the latest, or at once when `stop` is requested. Never fails: a
  // lock that cannot watch waits out the timeout (the elector then polls).
  virtual void WaitForChange(const std::string& version, std::chrono::milliseconds timeout,
                             std::stop_token stop) = 0;
  // For logs: "Lease csdr/csdr-controllers" or "store record /registry/csdr.io/_leases/...".
  virtual std::string Describe() const = 0;
};

// The store key of lease `name` (outside every resource prefix: lists never see it).
std::string LeaseKey(const std::string& name);

class StoreLeaseLock : public LeaseLock {
 public:
  StoreLeaseLock(storage::Store* store, const std::string& name);

  StatusOr<VersionedLease> Get() override;
  StatusOr<std::string> Create(const LeaseRecord& record) override;
  StatusOr<std::string> Update(const LeaseRecord& record, const std::string& version) override;
  void WaitForChange(const std::string& version, std::chrono::milliseconds timeout,
                     std::stop_token stop) override;
  std::string Describe() const override { return "store record " + key_; }

 private:
  storage::Store* const store_;
  const std::string key_;
  bool watch_failing_ = false;  // a failed watch is logged when it starts failing and ends
};

class KubeLeaseLock : public LeaseLock {
 public:
  // `client` outlives the lock. The watch thread starts with the first WaitForChange.
  KubeLeaseLock(const kube::KubeClient* client, std::string ns, std::string name);
  ~KubeLeaseLock() override;  // ends the watch
  KubeLeaseLock(const KubeLeaseLock&) = delete;
  KubeLeaseLock& operator=(const KubeLeaseLock&) = delete;

  StatusOr<VersionedLease> Get() override;
  StatusOr<std::string> Create(const LeaseRecord& record) override;
  StatusOr<std::string> Update(const LeaseRecord& record, const std::string& version) override;
  void WaitForChange(const std::string& version, std::chrono::milliseconds timeout,
                     std::stop_token stop) override;
  std::string Describe() const override { return "Lease " + ns_ + "/" + name_; }

  // The path of the Lease: /apis/coordination.k8s.io/v1/namespaces/<ns>/leases/<name>.
  std::string Path() const;

 private:
  json::Value LeaseObject(const LeaseRecord& record, const std::string& version) const;
  StatusOr<std::string> VersionOfAnswer(const char* what,
                                        const StatusOr<json::Value>& answer) const;
  void WatchLoop();
  // One list then watch; returns when the watch ends or fails.
  Status ListAndWatch();
  void SetObserved(bool known, std::string version);

  const kube::KubeClient* const client_;
  const std::string ns_;
  const std::string name_;

  std::mutex mu_;  // guards the members below
  std::condition_variable_any changed_;
  bool known_ = false;  // the watch is in sync: latest_ is the Lease's current version
  std::string latest_;  // "" when the Lease does not exist
  bool stopping_ = false;
  bool watch_done_ = false;  // WatchLoop has returned
  std::thread watch_thread_;
  kube::Cancellation cancel_;  // ends the watch's request at destruction
};

}  // namespace csdr::controllers
