// Facts: everything the policy engine may know beyond the request itself.
//
// The engine (engine.h) is pure: it reads the world only through this interface, which the
// caller implements over two sources:
//   - our own store: the csdr.io objects (ClusterProfile "cluster", BackupVaults, Backups,
//     Restores, BackupSchedules), vault-name tombstones and the vaults' synced backup index;
//   - the cluster, through a list-then-watch cache: Secrets, Namespaces, StorageClasses,
//     PersistentVolumeClaims and ConfigMaps.
//
// Every lookup is tri-state. kUnknown means the answer cannot be known right now (no cluster
// configured, the cluster unreachable or its cache not yet synced, a store read failing);
// `unknown_reason` then says what is missing in words fit for a denial message, e.g. "no
// cluster connection is configured (--kubeconfig or in-cluster service account)". A rule
// that needs a fact it cannot get fails closed: it denies, and its message ends with
// " (cannot verify: <unknown_reason>)".
//
// Secrets: the engine never sees a Secret's values. SecretFact carries only which keys exist
// and whether each is non-empty (SummarizeSecret builds it from a Secret object), so a cache
// may keep the summary alone, and nothing the engine writes can echo a credential.
//
// Thread safety: implementations must allow concurrent calls from many admission threads.
// Objects are handed out as shared_ptr<const json::Value> snapshots, so a cache may replace
// its entries while a decision still reads the old ones.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace csdr::webhook {

using ObjectRef = std::shared_ptr<const json::Value>;

enum class Presence { kUnknown, kAbsent, kPresent };

// One object, or why it cannot be known.
struct ObjectFact {
  Presence presence = Presence::kUnknown;
  ObjectRef object;            // set iff presence == kPresent
  std::string unknown_reason;  // set iff presence == kUnknown

  bool present() const { return presence == Presence::kPresent; }
  bool absent() const { return presence == Presence::kAbsent; }
  bool unknown() const { return presence == Presence::kUnknown; }
};

// A list, or why it cannot be known. An empty known list is `known` with no items.
struct ListFact {
  bool known = false;
  std::vector<ObjectRef> items;  // in the source's order; rules sort what they report
  std::string unknown_reason;    // set iff !known
};

// What the engine may know about a Secret: its existence and, per key of `data` and
// `stringData`, whether the value is non-empty. Never the values.
struct SecretFact {
  Presence presence = Presence::kUnknown;
  std::string unknown_reason;                     // set iff presence == kUnknown
  std::map<std::string, bool, std::less<>> keys;  // key -> value is non-empty

  // True when `key` exists with a non-empty value.
  bool HasNonEmpty(std::string_view key) const {
    auto it = keys.find(key);
    return it != keys.end() && it->second;
  }
};

// Summarizes a Secret object (core/v1) without keeping its values. A key counts as
// non-empty when its value holds at least one byte that is not ASCII whitespace: an
// AccessKey is never blank, and `--from-literal=access-key-id= ` is a mistake, not a key.
// `data` values are base64 (standard alphabet, padded) and are decoded only to be looked
// at; a value that is not valid base64 counts as empty (kube-apiserver would not have
// stored it). `stringData` (plain text) overrides `data` for the same key, as the API
// server merges them on write. Returns kPresent.
SecretFact SummarizeSecret(const json::Value& secret);

class Facts {
 public:
  virtual ~Facts() = default;

  // ---- Our store (csdr.io objects). ----

  // The object of `kind` ("ClusterProfile", "BackupVault", "Backup", "Restore",
  // "BackupSchedule") named `name` in namespace `ns` ("" for the cluster-scoped
  // ClusterProfile). kAbsent when it does not exist; kUnknown when the store fails.
  virtual ObjectFact Get(std::string_view kind, std::string_view ns,
                         std::string_view name) const = 0;

  // Every object of `kind` in namespace `ns`; ns == "" lists all namespaces.
  virtual ListFact List(std::string_view kind, std::string_view ns) const = 0;

  // CSDR-BV-004: a vault name cannot be reused after the vault is deleted (ACK FAQ). The
  // registry feeds this: after a successful, non-dry-run DELETE of a BackupVault it writes a
  // tombstone record (namespace, name, deletion time) to the store, and never removes it.
  // kPresent when a tombstone exists, kAbsent when none does, kUnknown when the store fails.
  virtual ObjectFact VaultTombstone(std::string_view ns, std::string_view name) const = 0;

  // CSDR-BK-014: true when the synced backup index of vault ns/`vault` (the backups found in
  // its bucket, including ones in progress on other clusters) lists `backup`. An
  // implementation without an index, or whose index has not synced yet, returns false: the
  // controller still refuses the duplicate at run time ("backup already exists in OSS
  // bucket"), so this rule can only catch what has been synced.
  virtual bool VaultIndexHasBackup(std::string_view ns, std::string_view vault,
                                   std::string_view backup) const = 0;

  // ---- The cluster (core/v1 and storage.k8s.io/v1 objects, from the watch cache). ----

  virtual SecretFact Secret(std::string_view ns, std::string_view name) const = 0;
  virtual ObjectFact Namespace(std::string_view name) const = 0;
  virtual ObjectFact StorageClass(std::string_view name) const = 0;
  // PersistentVolumeClaims in `ns`; ns == "" lists all namespaces.
  virtual ListFact PersistentVolumeClaims(std::string_view ns) const = 0;
  virtual ObjectFact ConfigMap(std::string_view ns, std::string_view name) const = 0;
};

}  // namespace csdr::webhook
