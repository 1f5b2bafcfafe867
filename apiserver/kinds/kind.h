// KindStrategy: what the generic REST registry needs to know about one csdr.io kind.
//
// The registry (apiserver/registry) is generic; each kind is a small strategy that supplies
// its identity, defaults, object-local validation, printer columns and selectable fields.
// Strategies are pure: no I/O, no clock (the caller passes `now`), no global state, so they
// are unit-tested as tables. Thread safety: strategies are immutable after construction
// and safe to share between threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cron.h"
#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

// One printer-column cell as the stored object gives it: a value read from the object, or a
// time the cell shows relative to the moment of the request (an age, or a countdown that
// reads `past` once the time has come). Everything but that moment depends on the stored
// object alone, so a row can be prepared once per stored revision and rendered per request
// (endpoints/table.h).
struct TableCell {
  enum class Clock { kNone, kAge, kCountdown, kNextFire };

  TableCell(json::Value v) : value(std::move(v)) {}  // NOLINT: a plain cell converts
  static TableCell Age(std::chrono::system_clock::time_point since);
  static TableCell Countdown(std::chrono::system_clock::time_point until, std::string past);
  // The time left until a schedule next fires after the moment of the request: a cron
  // schedule's next time, or the next of `anchor` + k * `every`.
  static TableCell NextFire(CronSchedule cron);
  static TableCell NextFire(std::chrono::system_clock::time_point anchor,
                            std::chrono::nanoseconds every);

  // The cell as shown at `now`: `value`, or HumanDuration of the time since `at` (kAge), left
  // until `at` (kCountdown; `past` once `at` <= now), or left until the next fire time after
  // `now` (kNextFire; `value` when there is none).
  json::Value Render(std::chrono::system_clock::time_point now) const;

  json::Value value;
  Clock clock = Clock::kNone;
  std::chrono::system_clock::time_point at;
  std::string past;
  std::shared_ptr<const CronSchedule> cron;  // kNextFire of a cron schedule
  std::chrono::nanoseconds every{0};         // kNextFire of an interval, from `at`
};

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

  // One Table row's cells, in Columns() order, as the object gives them (ages and
  // countdowns unrendered).
  virtual std::vector<TableCell> RowCells(const json::Value& object) const = 0;

  // RowCells rendered at `now`.
  std::vector<json::Value> Cells(const json::Value& object,
                                 std::chrono::system_clock::time_point now) const;

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
