#include "webhook/policy/engine.h"

#include <algorithm>

#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

const json::Value& EmptyObject() {
  static const json::Value kEmpty = json::Value::MakeObject();
  return kEmpty;
}

// The kind bit of a request; 0 when no rule is about it.
uint32_t KindBit(const AdmissionInput& in) {
  if (in.group == "csdr.io") {
    if (in.kind == "ClusterProfile") return kClusterProfileKind;
    if (in.kind == "BackupVault") return kBackupVaultKind;
    if (in.kind == "Backup") return kBackupKind;
    if (in.kind == "Restore") return kRestoreKind;
    if (in.kind == "BackupSchedule") return kBackupScheduleKind;
    return kOtherCsdrKind;
  }
  if (in.group.empty()) {
    if (in.kind == "Secret") return kSecretKind;
    if (in.kind == "Namespace") return kNamespaceKind;
  }
  return 0;
}

uint32_t OperationBit(Operation op) {
  switch (op) {
    case Operation::kCreate:
      return kOnCreate;
    case Operation::kUpdate:
      return kOnUpdate;
    case Operation::kDelete:
      return kOnDelete;
    case Operation::kConnect:
      return 0;
  }
  return 0;
}

}  // namespace

RuleContext::RuleContext(const AdmissionInput& input, const Facts& facts,
                         const EngineOptions& options)
    : input_(input), facts_(facts), options_(options) {}

RuleContext::RuleContext(const RuleContext& base, const ClusterView* cluster)
    : input_(base.input_),
      facts_(base.facts_),
      options_(base.options_),
      cluster_override_(cluster) {}

const ClusterView& RuleContext::cluster() const {
  if (cluster_override_ != nullptr) return *cluster_override_;
  if (!cluster_) cluster_ = ViewOfFact(Get("ClusterProfile", "", kProfileName));
  return *cluster_;
}

const json::Value& RuleContext::object() const {
  return input_.object != nullptr && input_.object->is_object() ? *input_.object : EmptyObject();
}

const json::Value& RuleContext::old_object() const {
  return input_.old_object != nullptr && input_.old_object->is_object() ? *input_.old_object
                                                                        : EmptyObject();
}

std::string RuleContext::Namespace() const {
  if (!input_.namespace_.empty()) return input_.namespace_;
  std::string ns = object().GetString({"metadata", "namespace"});
  return ns.empty() ? old_object().GetString({"metadata", "namespace"}) : ns;
}

std::string RuleContext::Name() const {
  if (!input_.name.empty()) return input_.name;
  std::string name = object().GetString({"metadata", "name"});
  return name.empty() ? old_object().GetString({"metadata", "name"}) : name;
}

template <typename Read>
ObjectFact RuleContext::Memoized(std::string key, Read&& read) const {
  for (const auto& [k, fact] : memo_) {
    if (k == key) return fact;
  }
  ObjectFact fact = read();
  memo_.emplace_back(std::move(key), fact);
  return fact;
}

ObjectFact RuleContext::Get(std::string_view kind, std::string_view ns,
                            std::string_view name) const {
  std::string key;
  key.append("csdr.io/").append(kind).append("/").append(ns).append("/").append(name);
  return Memoized(std::move(key), [&] { return facts_.Get(kind, ns, name); });
}

ObjectFact RuleContext::StorageClass(std::string_view name) const {
  return Memoized("storage.k8s.io/StorageClass//" + std::string(name),
                  [&] { return facts_.StorageClass(name); });
}

Decision Evaluate(const AdmissionInput& input, const Facts& facts, const EngineOptions& options) {
  Decision decision;
  const uint32_t kind = KindBit(input);
  const uint32_t op = OperationBit(input.operation);
  if (kind == 0 || op == 0 || !input.subresource.empty()) return decision;

  RuleContext ctx(input, facts, options);
  Findings findings;
  for (const Rule& rule : Rules()) {
    if ((rule.kinds & kind) == 0 || (rule.operations & op) == 0) continue;
    const size_t first_new = findings.items().size();
    if (rule.check != nullptr) {
      rule.check(ctx, &findings);
    } else if (rule.backup_spec_check != nullptr && kind == kBackupKind) {
      const json::Value* spec = Member(ctx.object(), "spec");
      static const json::Value kEmptySpec = json::Value::MakeObject();
      const BackupSpecTarget target{spec != nullptr && spec->is_object() ? *spec : kEmptySpec,
                                    ctx.Namespace(), "spec", false};
      rule.backup_spec_check(ctx, target, &findings);
    }
    for (size_t i = first_new; i < findings.items().size(); ++i)
      findings.items()[i].rule_id = rule.id;
  }

  bool all_field_faults = true;
  for (Finding& f : findings.items()) {
    if (f.severity == Severity::kWarn) {
      decision.warnings.push_back(std::move(f.message));
      continue;
    }
    if (std::find(decision.denied_rule_ids.begin(), decision.denied_rule_ids.end(), f.rule_id) ==
        decision.denied_rule_ids.end()) {
      decision.denied_rule_ids.push_back(f.rule_id);
    }
    if (f.field.empty()) {
      all_field_faults = false;
    } else {
      decision.causes.push_back(FieldError{"FieldValueInvalid", f.field, f.message});
    }
    decision.denials.push_back(std::move(f.message));
  }
  if (decision.denials.empty()) return decision;
  decision.allowed = false;
  decision.code = all_field_faults ? 422 : 403;
  decision.reason = all_field_faults ? "Invalid" : "Forbidden";
  for (size_t i = 0; i < decision.denials.size(); ++i) {
    if (i > 0) decision.message += "; ";
    decision.message += decision.denials[i];
  }
  return decision;
}

// ---- Helpers shared by the rule files. ----

std::string Str(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : std::string();
}

const json::Value* Member(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::vector<std::string> StrList(const json::Value& obj, std::string_view key) {
  std::vector<std::string> out;
  const json::Value* v = obj.Find(key);
  if (v == nullptr || !v->is_array()) return out;
  for (const json::Value& item : v->array()) {
    if (item.is_string()) out.push_back(item.as_string());
  }
  return out;
}

bool NeedCluster(const RuleContext& ctx, std::string_view message, Findings* findings) {
  const ClusterView& cluster = ctx.cluster();
  if (cluster.Complete()) return true;
  if (ctx.operation() != Operation::kCreate)
    findings->DenyUnverified(message, cluster.WhyIncomplete());
  return false;
}

std::string Path(std::string_view parent, std::string_view child) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += child;
  return out;
}

std::string Q(std::string_view s) { return Quote(s); }

std::string BackupType(const json::Value& spec) {
  std::string t = Str(spec, "backupType");
  return t.empty() ? "AppBackup" : t;
}

bool BacksUpVolumes(const json::Value& spec) {
  const std::string t = BackupType(spec);
  return t == "AppAndPvBackup" || t == "PvBackup";
}

std::string VolumeMethod(const json::Value& spec) {
  const json::Value* vb = Member(spec, "volumeBackup");
  std::string m = vb != nullptr ? Str(*vb, "method") : std::string();
  return m.empty() ? "Auto" : m;
}

bool MayUseCloudBackup(const json::Value& spec) {
  if (!BacksUpVolumes(spec)) return false;
  const std::string m = VolumeMethod(spec);
  return m == "CloudBackup" || m == "Auto";
}

}  // namespace csdr::webhook
