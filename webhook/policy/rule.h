// The rule table's building blocks. Internal to csdr_policy (and its tests).
//
// A rule is one small unit: its ID, the seed sentence it rests on, what it applies to, the
// message format of domain.md section 8, and a check. A check appends Findings; it never
// throws, never does I/O, and reads the world only through the RuleContext (request, Facts,
// and the ClusterView loaded once per evaluation).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "webhook/policy/cluster.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

enum class Severity { kDeny, kWarn };

// Kinds as bits, so that a rule names several at once.
enum KindBits : uint32_t {
  kClusterProfileKind = 1u << 0,
  kBackupVaultKind = 1u << 1,
  kBackupKind = 1u << 2,
  kRestoreKind = 1u << 3,
  kBackupScheduleKind = 1u << 4,
  kOtherCsdrKind = 1u << 5,  // a csdr.io kind this engine does not know yet
  kSecretKind = 1u << 6,     // core/v1
  kNamespaceKind = 1u << 7,  // core/v1
};
inline constexpr uint32_t kCsdrTaskKinds =
    kBackupVaultKind | kBackupKind | kRestoreKind | kBackupScheduleKind;
inline constexpr uint32_t kCsdrKindsButProfile = kCsdrTaskKinds | kOtherCsdrKind;

enum OperationBits : uint32_t {
  kOnCreate = 1u << 0,
  kOnUpdate = 1u << 1,
  kOnDelete = 1u << 2,
};

struct Finding {
  Severity severity = Severity::kDeny;
  std::string rule_id;  // set by the engine: the rule whose check produced it
  std::string message;  // "[CSDR-BK-005] ..."
  // Set when a field of the request is at fault (the decision may then be 422 Invalid):
  // "spec.ttl", "metadata.name", "spec.template.includedNamespaces[0]".
  std::string field;
  // A fail-closed denial: the rule could not get a fact it needs (the message ends with
  // " (cannot verify: ...)"), rather than finding the request at fault.
  bool unverified = false;
};

class Findings {
 public:
  void Deny(std::string message) {
    items_.push_back({Severity::kDeny, "", std::move(message), "", false});
  }
  void DenyField(std::string field, std::string message) {
    items_.push_back({Severity::kDeny, "", std::move(message), std::move(field), false});
  }
  // Fails closed: denies `message` + " (cannot verify: <why>)".
  void DenyUnverified(std::string_view message, std::string_view why) {
    items_.push_back({Severity::kDeny, "", CannotVerify(message, why), "", true});
  }
  void Warn(std::string message) {
    items_.push_back({Severity::kWarn, "", std::move(message), "", false});
  }
  void Add(Finding f) { items_.push_back(std::move(f)); }
  const std::vector<Finding>& items() const { return items_; }
  std::vector<Finding>& items() { return items_; }

 private:
  std::vector<Finding> items_;
};

// What a check may read. The ClusterView is loaded on first use (a Namespace webhook for a
// namespace other than csdr never touches the store).
class RuleContext {
 public:
  RuleContext(const AdmissionInput& input, const Facts& facts, const EngineOptions& options);
  // A context that reads `cluster` instead of the store's profile (CSDR-CP-004 replays rules
  // against the old and the new profile).
  RuleContext(const RuleContext& base, const ClusterView* cluster);

  const AdmissionInput& input() const { return input_; }
  const Facts& facts() const { return facts_; }
  const EngineOptions& options() const { return options_; }
  const ClusterView& cluster() const;
  Operation operation() const { return input_.operation; }
  // The request's object (CREATE/UPDATE) and stored object (UPDATE/DELETE); an empty object
  // when absent, so that checks can walk them without null tests.
  const json::Value& object() const;
  const json::Value& old_object() const;
  // The object's namespace: the request's, else metadata.namespace of object/old object.
  std::string Namespace() const;
  // The object's name: the request's, else metadata.name.
  std::string Name() const;

  // Facts::Get and Facts::StorageClass, memoized for this evaluation: every rule sees the same
  // answer (one consistent view per decision, even while the cache or store changes), and a
  // Restore's backup is read once rather than by each of the seven rules that need it.
  ObjectFact Get(std::string_view kind, std::string_view ns, std::string_view name) const;
  ObjectFact StorageClass(std::string_view name) const;

 private:
  const AdmissionInput& input_;
  const Facts& facts_;
  const EngineOptions& options_;
  const ClusterView* cluster_override_ = nullptr;
  template <typename Read>
  ObjectFact Memoized(std::string key, Read&& read) const;

  mutable std::optional<ClusterView> cluster_;
  // Keyed "group/kind/namespace/name". A decision reads a handful of objects, so a vector
  // beats a map.
  mutable std::vector<std::pair<std::string, ObjectFact>> memo_;
};

// The spec a Backup rule checks: a Backup's spec, or a BackupSchedule's template
// (CSDR-BS-002). `field_prefix` is where it sits in the request ("spec" or
// "spec.template"), for field paths.
struct BackupSpecTarget {
  const json::Value& spec;
  std::string ns;
  std::string field_prefix;
  bool is_template = false;
};

using CheckFn = void (*)(const RuleContext&, Findings*);
using BackupSpecCheckFn = void (*)(const RuleContext&, const BackupSpecTarget&, Findings*);

struct Rule {
  const char* id;          // "CSDR-BK-005"
  Severity severity;       // the usual severity (a check may emit the other, e.g. RS-009)
  uint32_t kinds;          // KindBits
  uint32_t operations;     // OperationBits
  const char* applies_to;  // for docs: "Backup, BackupSchedule template / CREATE"
  const char* message;     // domain.md's format, with %q/%s placeholders
  // What the rule rests on. Text in double quotes is verbatim from the seed (the product
  // documentation, shared/seed/ack-backup-center-install.txt; "..." marks an elision);
  // other sources are cited by section of reference/domain.md, quoted in single quotes.
  const char* basis;
  CheckFn check = nullptr;
  // Backup CREATE rules set this instead of `check`: the engine runs it on a Backup's spec,
  // and CSDR-BS-002 on every BackupSchedule template.
  BackupSpecCheckFn backup_spec_check = nullptr;
};

// The whole table, in evaluation and report order.
const std::vector<Rule>& Rules();

// Per-family tables (registry.cc concatenates them in this order).
std::vector<Rule> DepRules();
std::vector<Rule> CpRules();
std::vector<Rule> BvRules();
std::vector<Rule> BkRules();
std::vector<Rule> RsRules();
std::vector<Rule> BsRules();
std::vector<Rule> SecRules();  // CSDR-SEC-001..003 and CSDR-NS-001

// ---- Checks shared between families (CSDR-CP-004 replays them against a changed profile). ----

// CSDR-DEP-004 against `cluster`: the AccessKey Secret exists with both keys non-empty.
std::string Dep004Message(const ClusterView& cluster);
void CheckAccessKeySecret(const RuleContext& ctx, const ClusterView& cluster, Findings* out);
// CSDR-BV-006 against `cluster` for a vault spec: network internal only in the cluster's
// region. `cluster` must be complete.
void CheckVaultNetwork(const ClusterView& cluster, const json::Value& vault_spec, Findings* out);
// The rule of the table with this ID (nullptr if none).
const Rule* FindRule(std::string_view id);

// ---- Small helpers shared by the rule files. ----

// The member at `key` if it is a string, else "".
std::string Str(const json::Value& obj, std::string_view key);
// The member at `key` if present and not null, else nullptr.
const json::Value* Member(const json::Value& obj, std::string_view key);
// The strings of an array member (non-strings skipped).
std::vector<std::string> StrList(const json::Value& obj, std::string_view key);
// For rules that need ClusterProfile facts: true when the profile is complete. Otherwise
// false, and on CREATE silently (CSDR-DEP-003 already denies every create without a
// complete profile, and one denial says it best); on UPDATE and DELETE it first denies
// `message` with a "cannot verify" suffix, since nothing else would.
bool NeedCluster(const RuleContext& ctx, std::string_view message, Findings* findings);
// "a.b" joined.
std::string Path(std::string_view parent, std::string_view child);
// Go's fmt %q for ASCII: "\"x\"".
std::string Q(std::string_view s);

// Backup spec facts with their defaults (domain.md 7.4): backupType AppBackup, method Auto.
std::string BackupType(const json::Value& spec);
bool BacksUpVolumes(const json::Value& spec);  // AppAndPvBackup or PvBackup
std::string VolumeMethod(const json::Value& spec);
// Whether the backup may put volume data through Cloud Backup: it backs up volumes with
// method CloudBackup or Auto. Auto counts because it falls back to Cloud Backup for every
// non-disk volume and for disks without snapshots (ACK FAQ), and because a schedule's
// volumes are not known when it is admitted (docs/rules.md, CSDR-BK-005).
bool MayUseCloudBackup(const json::Value& spec);

}  // namespace csdr::webhook
