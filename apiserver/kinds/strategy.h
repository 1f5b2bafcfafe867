// StrategyBase: what the five csdr.io strategies share (internal to csdr_kinds).
//
// It implements the KindStrategy skeleton once: metadata validation, the Name and Age
// columns around each kind's own cells, field selectors over dotted paths, and the
// create/update/status validation order. Each kind supplies only its spec and status
// rules, its defaults and its middle columns.
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

class StrategyBase : public KindStrategy {
 public:
  // `middle_columns` go between Name and Age; `selectable` lists the fields beyond
  // metadata.name and metadata.namespace, as dotted paths into the object.
  StrategyBase(KindInfo info, std::vector<ColumnDefinition> middle_columns,
               std::vector<std::string> selectable);

  const KindInfo& info() const final { return info_; }
  FieldErrors ValidateCreate(const json::Value& object) const final;
  FieldErrors ValidateUpdate(const json::Value& object, const json::Value& old) const final;
  FieldErrors ValidateStatus(const json::Value& object) const final;
  const std::vector<ColumnDefinition>& Columns() const final { return columns_; }
  std::vector<TableCell> RowCells(const json::Value& object) const final;
  const std::vector<std::string>& SelectableFields() const final { return selectable_; }
  std::optional<std::string> FieldValue(const json::Value& object,
                                        std::string_view field) const final;

 protected:
  // `spec` and `status` are the members of the object, or a null Value when absent.
  virtual void ValidateSpec(const json::Value& spec, FieldErrors* errors) const = 0;
  virtual void ValidateSpecUpdate(const json::Value& spec, const json::Value& old_spec,
                                  FieldErrors* errors) const = 0;
  virtual void ValidateStatusFields(const json::Value& status, FieldErrors* errors) const = 0;
  // The cells of the middle columns, in order.
  virtual std::vector<TableCell> MiddleCells(const json::Value& object) const = 0;

 private:
  KindInfo info_;
  std::vector<ColumnDefinition> columns_;
  std::vector<std::string> selectable_;
};

// ---- helpers shared by the kinds -------------------------------------------------------

// The member `key` of an object, treating null as absent; nullptr when `v` is no object.
const json::Value* Get(const json::Value& v, std::string_view key);
// The string member, "" when absent or not a string.
std::string GetStr(const json::Value& v, std::string_view key);
// The value at a dotted path of objects, nullptr when absent or null.
const json::Value* GetPath(const json::Value& v, std::string_view dotted);
// Sets `key` on *object to `value` when it is absent, null or "" (turning *object into an
// object first if it is null). Returns the member.
json::Value& SetDefault(json::Value* object, std::string_view key, json::Value value);

// Appends "Required value" when the string member is absent or empty; returns the value.
std::string RequireString(const json::Value& parent, std::string_view key, std::string_view path,
                          FieldErrors* errors);
// Validates an optional string member as a DNS-1123 subdomain (object names) or label
// (namespace names); required ones add "Required value" when absent.
void CheckSubdomain(const json::Value& parent, std::string_view key, std::string_view path,
                    bool required, FieldErrors* errors);
void CheckLabel(const json::Value& parent, std::string_view key, std::string_view path,
                bool required, FieldErrors* errors);
// A Go duration string: parseable, and >= 0 (or > 0 when `positive`).
void CheckDuration(const json::Value& parent, std::string_view key, std::string_view path,
                   bool positive, FieldErrors* errors);
// An integer member: >= min.
void CheckMin(const json::Value& parent, std::string_view key, std::string_view path, int64_t min,
              FieldErrors* errors);
// An RFC 3339 time member (metav1.Time).
void CheckTime(const json::Value& parent, std::string_view key, std::string_view path,
               FieldErrors* errors);
// A list of namespace names ("*" allowed, as Velero's include/exclude lists).
void CheckNamespaceList(const json::Value& parent, std::string_view key, std::string_view path,
                        FieldErrors* errors);
// A list of non-empty strings without duplicates.
void CheckStringList(const json::Value& parent, std::string_view key, std::string_view path,
                     FieldErrors* errors);
// "field is immutable" for each of `keys` whose value differs between the two objects,
// as apimachinery's ValidateImmutableField words it.
void CheckImmutable(const json::Value& now, const json::Value& old,
                    std::initializer_list<std::string_view> keys, std::string_view path,
                    FieldErrors* errors);
// The same for every member of either object (a wholly immutable spec).
void CheckAllImmutable(const json::Value& now, const json::Value& old, std::string_view path,
                       FieldErrors* errors);

// Cells: the value at a dotted path as a cell (null when absent, as CRD columns do).
json::Value Cell(const json::Value& object, std::string_view dotted);
// An integer cell that reads 0 when the (omitempty) counter is absent.
json::Value CountCell(const json::Value& object, std::string_view dotted);
// A "date" cell: the age of the RFC 3339 time at `dotted`, as HumanDuration; null when
// absent, "<unknown>" when malformed.
TableCell AgeCell(const json::Value& object, std::string_view dotted);
// A cell counting down to the time at `dotted`: HumanDuration of the time left, or
// `past` once it has passed; "<unknown>" when absent or malformed.
TableCell CountdownCell(const json::Value& object, std::string_view dotted, std::string_view past);

// The five strategies (defined in their own files).
const KindStrategy& ClusterProfileStrategy();
const KindStrategy& BackupVaultStrategy();
const KindStrategy& BackupStrategy();
const KindStrategy& RestoreStrategy();
const KindStrategy& BackupScheduleStrategy();

// Shared by Backup and BackupSchedule (whose template is a BackupSpec).
void DefaultBackupSpec(json::Value* spec);
// A Backup's status.expiration when it has none: metadata.creationTimestamp + spec.ttl (at
// most a century; none for a ttl of 0 or an unreadable one). Set at create by Default, and
// on the next update of a Backup stored before it was.
void DefaultExpiration(json::Value* object);
void ValidateBackupSpec(const json::Value& spec, std::string_view path, FieldErrors* errors);

// An Alibaba Cloud region ID ("cn-hangzhou", "ap-southeast-1"): syntax only; whether the
// region exists is a policy rule (CSDR-BV-005), not shape.
void CheckRegionID(const json::Value& parent, std::string_view key, std::string_view path,
                   bool required, FieldErrors* errors);
// A reference {namespace, name} to a Secret (SecretReference) or, with `namespaced`
// false, {name} (LocalObjectReference).
void CheckObjectReference(const json::Value& parent, std::string_view key, std::string_view path,
                          bool namespaced, FieldErrors* errors);
// The phases of Backup.status.phase, shared with BackupSchedule's lastBackup.phase.
const std::vector<std::string>& BackupPhases();

}  // namespace csdr::apiserver
