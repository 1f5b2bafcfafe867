// FakeFacts: an in-memory Facts for tests (header-only, so any test target can use it with
// csdr_policy alone). Not for production: it keeps whole Secrets, which the real cache must
// not (it summarizes them, see facts.h).
//
// Store objects and cluster objects are keyed by kind, namespace and name taken from the
// objects themselves. The cluster side starts "known and empty"; SetClusterUnknown makes
// every cluster lookup answer kUnknown with the given reason, as a client without a
// configured or synced cluster does. SetStoreUnknown does the same for the store.
//
// Thread safety: none; a test builds it, then evaluates.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "webhook/policy/facts.h"

namespace csdr::webhook {

class FakeFacts : public Facts {
 public:
  // ---- Store. ----
  // Adds or replaces a csdr.io object (kind, metadata.namespace, metadata.name).
  void Put(json::Value object) { Insert(&store_, std::move(object)); }
  void Remove(const std::string& kind, const std::string& ns, const std::string& name) {
    store_.erase({kind, ns, name});
  }
  void AddVaultTombstone(std::string ns, std::string name) {
    tombstones_.insert({std::move(ns), std::move(name)});
  }
  void AddVaultIndexEntry(std::string ns, std::string vault, std::string backup) {
    vault_index_.insert({std::move(ns), std::move(vault), std::move(backup)});
  }
  void SetStoreUnknown(std::string reason) { store_unknown_ = std::move(reason); }

  // ---- Cluster. ----
  // Adds or replaces a Secret, Namespace, StorageClass, PersistentVolumeClaim or ConfigMap.
  void PutCluster(json::Value object) { Insert(&cluster_, std::move(object)); }
  void RemoveCluster(const std::string& kind, const std::string& ns, const std::string& name) {
    cluster_.erase({kind, ns, name});
  }
  void SetClusterUnknown(std::string reason) { cluster_unknown_ = std::move(reason); }

  // ---- Facts. ----
  ObjectFact Get(std::string_view kind, std::string_view ns, std::string_view name) const override {
    if (!store_unknown_.empty()) return Unknown(store_unknown_);
    return Lookup(store_, kind, ns, name);
  }
  ListFact List(std::string_view kind, std::string_view ns) const override {
    if (!store_unknown_.empty()) return ListFact{false, {}, store_unknown_};
    return ListOf(store_, kind, ns);
  }
  ObjectFact VaultTombstone(std::string_view ns, std::string_view name) const override {
    if (!store_unknown_.empty()) return Unknown(store_unknown_);
    ObjectFact f;
    f.presence = tombstones_.count({std::string(ns), std::string(name)}) != 0 ? Presence::kPresent
                                                                              : Presence::kAbsent;
    return f;
  }
  bool VaultIndexHasBackup(std::string_view ns, std::string_view vault,
                           std::string_view backup) const override {
    return vault_index_.count({std::string(ns), std::string(vault), std::string(backup)}) != 0;
  }
  SecretFact Secret(std::string_view ns, std::string_view name) const override {
    if (!cluster_unknown_.empty()) {
      SecretFact f;
      f.unknown_reason = cluster_unknown_;
      return f;
    }
    const ObjectFact o = Lookup(cluster_, "Secret", ns, name);
    if (!o.present()) {
      SecretFact f;
      f.presence = Presence::kAbsent;
      return f;
    }
    return SummarizeSecret(*o.object);
  }
  ObjectFact Namespace(std::string_view name) const override {
    return ClusterGet("Namespace", "", name);
  }
  ObjectFact StorageClass(std::string_view name) const override {
    return ClusterGet("StorageClass", "", name);
  }
  ListFact PersistentVolumeClaims(std::string_view ns) const override {
    if (!cluster_unknown_.empty()) return ListFact{false, {}, cluster_unknown_};
    return ListOf(cluster_, "PersistentVolumeClaim", ns);
  }
  ObjectFact ConfigMap(std::string_view ns, std::string_view name) const override {
    return ClusterGet("ConfigMap", ns, name);
  }

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // kind, namespace, name
  using Objects = std::map<Key, ObjectRef>;

  static void Insert(Objects* objects, json::Value object) {
    Key key{object.GetString({"kind"}), object.GetString({"metadata", "namespace"}),
            object.GetString({"metadata", "name"})};
    (*objects)[key] = std::make_shared<const json::Value>(std::move(object));
  }
  static ObjectFact Unknown(const std::string& reason) {
    ObjectFact f;
    f.unknown_reason = reason;
    return f;
  }
  static ObjectFact Lookup(const Objects& objects, std::string_view kind, std::string_view ns,
                           std::string_view name) {
    ObjectFact f;
    auto it = objects.find({std::string(kind), std::string(ns), std::string(name)});
    f.presence = it == objects.end() ? Presence::kAbsent : Presence::kPresent;
    if (it != objects.end()) f.object = it->second;
    return f;
  }
  static ListFact ListOf(const Objects& objects, std::string_view kind, std::string_view ns) {
    ListFact l;
    l.known = true;
    for (const auto& [key, obj] : objects) {
      if (std::get<0>(key) == kind && (ns.empty() || std::get<1>(key) == ns))
        l.items.push_back(obj);
    }
    return l;
  }
  ObjectFact ClusterGet(std::string_view kind, std::string_view ns, std::string_view name) const {
    if (!cluster_unknown_.empty()) return Unknown(cluster_unknown_);
    return Lookup(cluster_, kind, ns, name);
  }

  Objects store_;
  Objects cluster_;
  std::set<std::pair<std::string, std::string>> tombstones_;
  std::set<std::tuple<std::string, std::string, std::string>> vault_index_;
  std::string store_unknown_;
  std::string cluster_unknown_;
};

}  // namespace csdr::webhook
