// The policy engine plugged into the API server's admission seam, and the Facts it reads.
//
// StoreFacts answers the engine's questions about csdr.io objects from our own store and
// about cluster objects (Secrets, Namespaces, StorageClasses, PVCs, ConfigMaps) from
// ClusterFacts (the list-then-watch cache of webhook/cluster, or NoCluster in standalone
// mode, which answers "unknown" so that rules needing the cluster fail closed with a reason).
//
// PolicyAdmission runs Evaluate on every create, update and delete that the registry
// admits, and writes the BackupVault tombstones that CSDR-BV-004 reads.
//
// Thread safety: both are safe for concurrent use (the store and the cluster source are).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "apiserver/registry/admission.h"
#include "storage/store.h"
#include "webhook/cluster/cluster_facts.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

class StoreFacts : public Facts {
 public:
  StoreFacts(storage::Store* store, const ClusterFacts* cluster)
      : store_(store), cluster_(cluster) {}
  ObjectFact Get(std::string_view kind, std::string_view ns, std::string_view name) const override;
  ListFact List(std::string_view kind, std::string_view ns) const override;
  ObjectFact VaultTombstone(std::string_view ns, std::string_view name) const override;
  bool VaultIndexHasBackup(std::string_view, std::string_view, std::string_view) const override {
    return false;  // no vault index is synced by this server (see docs/rules.md, BK-014)
  }
  SecretFact Secret(std::string_view ns, std::string_view name) const override {
    return cluster_->Secret(ns, name);
  }
  ObjectFact Namespace(std::string_view name) const override { return cluster_->Namespace(name); }
  ObjectFact StorageClass(std::string_view name) const override {
    return cluster_->StorageClass(name);
  }
  ListFact PersistentVolumeClaims(std::string_view ns) const override {
    return cluster_->PersistentVolumeClaims(ns);
  }
  ObjectFact ConfigMap(std::string_view ns, std::string_view name) const override {
    return cluster_->ConfigMap(ns, name);
  }

  // The store key of a vault tombstone (outside every resource prefix, so lists never see it).
  static std::string TombstoneKey(std::string_view ns, std::string_view name);

 private:
  // The store's objects as facts, parsed once per store revision: a review or a create reads
  // the ClusterProfile, a vault or a backup, and reading and parsing them on every request
  // was a sixth of a webhook review's cost. Reads are the store's GetRecent and ListRecent
  // (its watch cache on etcd). An entry is valid while the store's RecentRevision is the one
  // read before the object was (any write since moves the revision on; the store bumps it
  // only after the write is visible to those reads).
  struct Cached {
    int64_t revision = 0;
    ObjectFact object;
    ListFact list;
  };
  ObjectFact CachedObject(const std::string& key, const std::function<ObjectFact()>& read) const;
  ListFact CachedList(const std::string& key, const std::function<ListFact()>& read) const;
  static constexpr size_t kMaxCached = 4096;  // entries per map; past it the map starts over
  static constexpr size_t kMaxCachedListItems = 256;

  storage::Store* store_;
  const ClusterFacts* cluster_;
  mutable std::mutex cache_mu_;  // guards objects_, lists_
  mutable std::unordered_map<std::string, Cached> objects_;
  mutable std::unordered_map<std::string, Cached> lists_;
};

class PolicyAdmission : public apiserver::AdmissionController {
 public:
  PolicyAdmission(storage::Store* store, const ClusterFacts* cluster, EngineOptions options = {})
      : store_(store), facts_(store, cluster), options_(options) {}
  Status Admit(const apiserver::AdmissionAttributes& attributes,
               std::vector<std::string>* warnings) override;
  void Deleted(const apiserver::KindStrategy& kind, const std::string& ns,
               const std::string& name) override;
  const Facts& facts() const { return facts_; }

 private:
  storage::Store* store_;
  StoreFacts facts_;
  EngineOptions options_;
};

}  // namespace csdr::webhook
