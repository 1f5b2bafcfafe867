// The policy engine: one admission request and the facts in, one decision out.
//
// Pure: no I/O, no clock, no globals beyond the immutable rule table; it reads the world only
// through Facts (facts.h). The API server calls it in-process on every write to a csdr.io
// object (after object-local validation, before storage, dry runs included), and the
// webhook handler calls it for AdmissionReviews on Namespaces, Secrets and csdr.io kinds.
//
// Rules (docs/rules.md has the full table) are small units registered in a fixed order
// (rule.h, registry.cc). Evaluate runs every rule that applies to the request's kind and
// operation and combines what they find:
//   - denials: every denial of every rule, in rule-table order (DEP, CP, BV, BK, RS, BS, SEC,
//     NS; by number within each family), and within one rule in the order the rule found
//     them (which each rule keeps deterministic, e.g. list order or sorted names). Each
//     denial is the rule's message, which starts with its ID: "[CSDR-BK-004] ...". A
//     BackupSchedule's template findings are the Backup rules' messages prefixed
//     "template: " (CSDR-BS-002).
//   - allowed == denials.empty().
//   - message == the denials joined by "; " (empty when allowed).
//   - code/reason: 422 "Invalid" when every denial is the fault of a field of the request
//     (each then has a cause naming the field), else 403 "Forbidden". 0 and "" when allowed.
//   - warnings: every warning, in the same order, whether or not the request is allowed.
//
// Which requests are evaluated:
//   - CONNECT, and any subresource (status writes by controllers among them): allowed with
//     no rule run. Spec rules must not block a controller recording what happened; no rule
//     of the table is about status.
//   - group "csdr.io": the five known kinds, and unknown csdr.io kinds for the rules that
//     cover "every csdr.io kind".
//   - group "" (core): Secrets and Namespaces (CSDR-SEC-*, CSDR-NS-001).
//   - anything else: allowed with no rule run.
//
// Thread safety: Evaluate may be called concurrently; it shares nothing but the rule table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

enum class Operation { kCreate, kUpdate, kDelete, kConnect };

struct AdmissionInput {
  Operation operation = Operation::kCreate;
  std::string group;        // "csdr.io", or "" for core (Secret, Namespace)
  std::string kind;         // "Backup", "Namespace", "Secret", ...
  std::string namespace_;   // "" for cluster-scoped objects; else the request's namespace
  std::string name;         // the object's name (assigned before admission on generateName)
  std::string subresource;  // "" for the object itself, "status", ...
  const json::Value* object = nullptr;      // the new object; null on DELETE
  const json::Value* old_object = nullptr;  // the stored object; null on CREATE
  // The requesting user. No rule reads them today (the SEC-001 exemption for the namespace
  // controller rests on the namespace's state, not on who asks); they are here for rules and
  // audit logs that will.
  std::string user;
  std::vector<std::string> groups;
  bool dry_run = false;  // no rule behaves differently: admission has no side effects
};

struct Decision {
  bool allowed = true;
  int code = 0;                       // 403 or 422 when denied; 0 when allowed
  std::string reason;                 // "Forbidden" or "Invalid" when denied; "" when allowed
  std::string message;                // denials joined by "; "
  std::vector<std::string> denials;   // each "[CSDR-...] text" (templates: "template: [...] ...")
  std::vector<std::string> warnings;  // each "[CSDR-...] text"
  FieldErrors causes;                 // FieldValueInvalid per field-at-fault denial
  // IDs of the rules that denied, in order, unique ("CSDR-BS-002" for template findings): for
  // metrics and logs, which must not carry messages.
  std::vector<std::string> denied_rule_ids;
};

struct EngineOptions {
  // Finance and government cloud region IDs (cn-hangzhou-finance-1, cn-north-2-gov-1, ...)
  // are valid only when set: domain.md 2.7 keeps them "behind a flag", since an ordinary
  // cluster naming one is a typo far more often than a finance-cloud cluster.
  bool allow_finance_and_gov_regions = false;
};

Decision Evaluate(const AdmissionInput& input, const Facts& facts,
                  const EngineOptions& options = {});

// What a stored BackupVault or BackupSchedule fails under `profile` as it stands now (its
// declared and observed facts, merged as the rules read them): the profile-dependent rules
// that CSDR-CP-004 replays when a declared fact changes (for a schedule, the Backup rules its
// template must keep passing). Each finding names its rule; `unverified` ones could not get a
// fact they need. Empty when the object passes, or when the profile is not complete (nothing
// can be judged against it). The discovery controller says with it what an observed change
// of the cluster broke.
struct StoredFinding {
  std::string rule_id;      // "CSDR-BK-005"
  std::string message;      // "[CSDR-BK-005] ..."
  bool unverified = false;  // the message ends with " (cannot verify: ...)"
};
std::vector<StoredFinding> JudgeStored(const json::Value& profile, std::string_view kind,
                                       const json::Value& object, const Facts& facts,
                                       const EngineOptions& options = {});

}  // namespace csdr::webhook
