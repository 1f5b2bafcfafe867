// KindStrategy: what the generic REST registry needs to know about one csdr.io kind.
//
// The registry (apiserver/registry) is generic; each kind is a small strategy that supplies
// its identity, defaults, object-local validation, printer columns and selectable fields.
// Strategies are pure: no I/O, no clock (the caller passes `now`), no global state, so they
// are unit-tested as tables. Thread safety: strategies are immutable after construction
// and safe to share between threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

struct KindInfo {
  std::string group = "csdr.io";
  std::string version = "v1alpha1";
  std::string kind;                      // "Backup"
  std::string list_kind;                 // "BackupList"
  std::string resource;                  // "backups"
  std::string singular;                  // "backup"
  std::vector<std::string> short_names;  // {"cbk"}
  std::vector<std::string> categories;   // {"csdr"}
  bool namespaced = true;
  bool has_status = true;
  std::string api_version() const { return group + "/" + version; }
};

// A printer column of meta.k8s.io/v1 Table.
struct ColumnDefinition {
  std::string name;    // "Name", "Vault", "Expires"
  std::string type;    // "string", "integer", "number", "boolean", "date"
  std::string format;  // "name" for the name column, else ""
  std::string description;
  int priority = 0;  // 0: always shown; 1: only with -o wide
};

class KindStrategy {
 public:
  virtual ~KindStrategy() = default;
  virtual const KindInfo& info() const = 0;

  // Fills spec defaults in place (on create, update and apply, before validation).
  virtual void Default(json::Value* object) const = 0;

  // Object-local validation of a whole object being created: metadata shape (name,
  // labels, annotations) and spec (required fields, enums, formats, bounds). Field paths
  // are relative to the object root ("spec.vaultName", "metadata.name").
  virtual FieldErrors ValidateCreate(const json::Value& object) const = 0;

  // Validation of an update: everything ValidateCreate checks plus immutability against
  // the stored object.
  virtual FieldErrors ValidateUpdate(const json::Value& object, const json::Value& old) const = 0;

  // Validation of a write to the status subresource (status shape only).
  virtual FieldErrors ValidateStatus(const json::Value& object) const = 0;

  // Printer columns for kubectl get; the first is Name (format "name"), the last Age.
  virtual const std::vector<ColumnDefinition>& Columns() const = 0;

  // One Table row's cells, in Columns() order. Computed cells (ages, EXPIRES) use `now`.
  virtual std::vector<json::Value> Cells(const json::Value& object,
                                         std::chrono::system_clock::time_point now) const = 0;

  // Field selector support: the fields this kind can be selected on besides
  // metadata.name and metadata.namespace (e.g. "status.phase", "spec.vaultName"), and the
  // value of any selectable field (metadata.* included) of an object, "" when unset.
  virtual const std::vector<std::string>& SelectableFields() const = 0;
  virtual std::optional<std::string> FieldValue(const json::Value& object,
                                                std::string_view field) const = 0;
};

// The five kinds, in discovery order: ClusterProfile, BackupVault, Backup, Restore,
// BackupSchedule. The pointers live for the whole program.
const std::vector<const KindStrategy*>& AllKinds();
// Lookup by plural resource name; nullptr when unknown.
const KindStrategy* FindKindByResource(std::string_view resource);

// Formats a duration the way kubectl's HumanDuration does ("45s", "5m10s", "3d4h", "2y3d").
std::string HumanDuration(std::chrono::seconds d);

}  // namespace csdr::apiserver
