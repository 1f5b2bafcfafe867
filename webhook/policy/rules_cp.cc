// CSDR-CP-001..004: the ClusterProfile singleton, and profile changes that would strand
// what is stored.
#include <algorithm>
#include <set>

#include "webhook/policy/regions.h"
#include "webhook/policy/rule.h"
#include "webhook/policy/semver.h"

namespace csdr::webhook {
namespace {

constexpr const char* kCp001 = "[CSDR-CP-001] ClusterProfile is a singleton named \"cluster\"";
constexpr const char* kCp002 = "[CSDR-CP-002] spec.clusterType is immutable";
constexpr const char* kCp003 =
    "[CSDR-CP-003] spec.componentVersion must be a semantic version such as v1.8.4";
constexpr const char* kCp004Format = "[CSDR-CP-004] the change would break %s %s/%s: %s";
constexpr const char* kCp005Format =
    "[CSDR-CP-005] ClusterProfile \"cluster\" declares %s %q but the cluster shows %q; the "
    "rules use what the cluster shows";
constexpr const char* kDep002 =
    "[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters";
// A profile change can strand many objects; past this many the message would be unreadable
// and the remedy (fix or delete them, or revert the change) is already clear.
constexpr size_t kMaxStrandedReported = 10;

std::string SpecString(const json::Value& object, std::string_view key) {
  const json::Value* spec = Member(object, "spec");
  return spec != nullptr ? Str(*spec, key) : std::string();
}

// On UPDATE a field is checked only when it changes: a value stored before a rule existed
// must not block unrelated updates (labels, or the fix of another field).
bool Changed(const RuleContext& ctx, std::string_view key) {
  return ctx.operation() == Operation::kCreate ||
         SpecString(ctx.object(), key) != SpecString(ctx.old_object(), key);
}

// Declared (spec) against observed (status, discovery's): the profile of the request for a
// ClusterProfile write (its spec against the stored status), else the stored profile.
void CheckCp005(const RuleContext& ctx, Findings* out) {
  const json::Value* spec = nullptr;
  const json::Value* status = nullptr;
  if (ctx.input().kind == "ClusterProfile") {
    spec = Member(ctx.object(), "spec");
    status = Member(ctx.old_object(), "status");
    if (status == nullptr) status = Member(ctx.object(), "status");
  } else if (ctx.cluster().presence == Presence::kPresent && ctx.cluster().profile) {
    spec = Member(*ctx.cluster().profile, "spec");
    status = Member(*ctx.cluster().profile, "status");
  }
  if (spec == nullptr || status == nullptr) return;
  for (const char* field : {"regionID", "componentVersion"}) {
    const std::string declared = Str(*spec, field);
    const std::string observed = Str(*status, field);
    if (!declared.empty() && !observed.empty() && declared != observed) {
      out->Warn("[CSDR-CP-005] ClusterProfile \"cluster\" declares spec." + std::string(field) +
                " " + Q(declared) + " but the cluster shows " + Q(observed) +
                "; the rules use what the cluster shows");
    }
  }
}

void CheckCp001(const RuleContext& ctx, Findings* out) {
  if (ctx.Name() != kProfileName) out->DenyField("metadata.name", kCp001);
}

void CheckCp002(const RuleContext& ctx, Findings* out) {
  const std::string old_type = SpecString(ctx.old_object(), "clusterType");
  if (!old_type.empty() && SpecString(ctx.object(), "clusterType") != old_type) {
    out->DenyField("spec.clusterType", kCp002);
  }
}

void CheckCp003(const RuleContext& ctx, Findings* out) {
  const std::string version = SpecString(ctx.object(), "componentVersion");
  if (!version.empty() && Changed(ctx, "componentVersion") && !ParseSemver(version)) {
    out->DenyField("spec.componentVersion", kCp003);
  }
  const std::string region = SpecString(ctx.object(), "regionID");
  if (!region.empty() && Changed(ctx, "regionID") &&
      !IsKnownRegion(region, ctx.options().allow_finance_and_gov_regions)) {
    out->DenyField("spec.regionID", "[CSDR-CP-003] spec.regionID " + Q(region) +
                                        " is not a known Alibaba Cloud region ID");
  }
}

// The facts CP-004 cares about; when none changes, no stored object can be stranded.
bool SameFacts(const ClusterView& a, const ClusterView& b) {
  return a.type == b.type && a.region == b.region && a.component_version == b.component_version &&
         a.credential_mode == b.credential_mode && a.SecretPath() == b.SecretPath();
}

// The profile-dependent rules an object of `kind` must keep passing, replayed against `view`.
std::vector<Finding> Replay(const RuleContext& ctx, const ClusterView& view, std::string_view kind,
                            const json::Value& object) {
  const RuleContext replay(ctx, &view);
  std::vector<Finding> found;
  auto run = [&](const char* id, auto&& body) {
    Findings f;
    body(&f);
    for (Finding& item : f.items()) {
      if (item.severity != Severity::kDeny) continue;
      item.rule_id = id;
      found.push_back(std::move(item));
    }
  };
  const json::Value* spec = Member(object, "spec");
  static const json::Value kEmpty = json::Value::MakeObject();
  const json::Value& s = spec != nullptr && spec->is_object() ? *spec : kEmpty;
  run("CSDR-DEP-002", [&](Findings* f) {
    if (view.Complete() && view.IsType(kACKServerlessBasic)) f->Deny(kDep002);
  });
  if (kind == "BackupVault") {
    run("CSDR-DEP-004", [&](Findings* f) { CheckAccessKeySecret(replay, view, f); });
    run("CSDR-BV-006", [&](Findings* f) {
      if (view.Complete()) CheckVaultNetwork(view, s, f);
    });
    return found;
  }
  // BackupSchedule: its template must keep passing the profile-dependent Backup rules.
  const json::Value* tmpl = Member(s, "template");
  const BackupSpecTarget target{tmpl != nullptr && tmpl->is_object() ? *tmpl : kEmpty,
                                object.GetString({"metadata", "namespace"}), "spec.template", true};
  for (const char* id : {"CSDR-BK-004", "CSDR-BK-005", "CSDR-BK-007"}) {
    const Rule* rule = FindRule(id);
    run(id, [&](Findings* f) { rule->backup_spec_check(replay, target, f); });
  }
  return found;
}

void CheckCp004(const RuleContext& ctx, Findings* out) {
  const ClusterView old_view = ViewOfProfile(ctx.old_object());
  const ClusterView new_view = ViewOfProfile(ctx.object());
  if (SameFacts(old_view, new_view)) return;

  struct Stranded {
    std::string kind, ns, name, message;
  };
  std::vector<Stranded> stranded;
  // Vaults first (they hold the data), then schedules (they make future backups).
  for (const char* kind : {"BackupVault", "BackupSchedule"}) {
    const ListFact list = ctx.facts().List(kind, "");
    if (!list.known) {
      out->DenyUnverified(
          "[CSDR-CP-004] the change could break stored " + std::string(kind) + "s",
          list.unknown_reason.empty() ? "the store cannot be read" : list.unknown_reason);
      continue;
    }
    std::vector<ObjectRef> items = list.items;
    std::sort(items.begin(), items.end(), [](const ObjectRef& a, const ObjectRef& b) {
      return std::make_pair(a->GetString({"metadata", "namespace"}),
                            a->GetString({"metadata", "name"})) <
             std::make_pair(b->GetString({"metadata", "namespace"}),
                            b->GetString({"metadata", "name"}));
    });
    for (const ObjectRef& obj : items) {
      // What already failed under the old profile is not this change's doing; an
      // incomplete old profile proved nothing, so then everything failing now counts.
      std::set<std::string> failed_before;
      if (old_view.Complete()) {
        for (const Finding& f : Replay(ctx, old_view, kind, *obj)) failed_before.insert(f.rule_id);
      }
      for (const Finding& f : Replay(ctx, new_view, kind, *obj)) {
        if (failed_before.count(f.rule_id) != 0) continue;
        stranded.push_back({kind, obj->GetString({"metadata", "namespace"}),
                            obj->GetString({"metadata", "name"}), f.message});
      }
    }
  }
  for (size_t i = 0; i < stranded.size() && i < kMaxStrandedReported; ++i) {
    const Stranded& s = stranded[i];
    out->Deny("[CSDR-CP-004] the change would break " + s.kind + " " + s.ns + "/" + s.name + ": " +
              s.message);
  }
  if (stranded.size() > kMaxStrandedReported) {
    out->Deny("[CSDR-CP-004] and " + std::to_string(stranded.size() - kMaxStrandedReported) +
              " more breakages of stored objects");
  }
}

}  // namespace

std::vector<StoredFinding> JudgeStored(const json::Value& profile, std::string_view kind,
                                       const json::Value& object, const Facts& facts,
                                       const EngineOptions& options) {
  const ClusterView view = ViewOfProfile(profile);
  if (!view.Complete()) return {};
  AdmissionInput input;
  input.operation = Operation::kUpdate;
  input.group = "csdr.io";
  input.kind = "ClusterProfile";
  input.name = "cluster";
  input.object = &profile;
  input.old_object = &profile;
  const RuleContext ctx(input, facts, options);
  std::vector<StoredFinding> out;
  for (Finding& f : Replay(ctx, view, kind, object)) {
    out.push_back({std::move(f.rule_id), std::move(f.message), f.unverified});
  }
  return out;
}

std::vector<Rule> CpRules() {
  return {
      {"CSDR-CP-001", Severity::kDeny, kClusterProfileKind, kOnCreate, "ClusterProfile / CREATE",
       kCp001,
       "domain.md 7.2: the profile holds the facts of the one cluster the server runs for (cluster "
       "type, region, "
       "component version), so there is exactly one",
       CheckCp001},
      {"CSDR-CP-002", Severity::kDeny, kClusterProfileKind, kOnUpdate, "ClusterProfile / UPDATE",
       kCp002,
       "seed: the cluster types differ in what they support (\"ACK Serverless Basic clusters do "
       "not support the "
       "backup center.\"); a cluster does not change type, so a changed type is an error that "
       "would re-judge "
       "every stored object",
       CheckCp002},
      {"CSDR-CP-003", Severity::kDeny, kClusterProfileKind, kOnCreate | kOnUpdate,
       "ClusterProfile / CREATE, UPDATE (fields set or changed)", kCp003,
       "seed: \"Starting from v1.8.4, ...\", \"The migrate-controller component of v1.7.7 and "
       "later ...\": the "
       "version gates need a comparable version; domain.md 2.7: region IDs",
       CheckCp003},
      {"CSDR-CP-004", Severity::kDeny, kClusterProfileKind, kOnUpdate,
       "ClusterProfile / UPDATE of clusterType, regionID, componentVersion, credentialMode or "
       "accessKeySecretRef",
       kCp004Format,
       "seed: \"Starting from v1.8.4, the migrate-controller backup component supports using Cloud "
       "Backup to back "
       "up volumes for clusters in the China (Ulanqab), China (Heyuan), or China (Guangzhou) "
       "region.\" (and the "
       "other profile-dependent rules it replays)",
       CheckCp004},
      {"CSDR-CP-005", Severity::kWarn, kClusterProfileKind | kCsdrKindsButProfile,
       kOnCreate | kOnUpdate, "every csdr.io kind / CREATE, UPDATE", kCp005Format,
       "domain.md 2.9: region and component version can be read in-cluster (the nodes' "
       "region label, the migrate-controller image), so a declared value that disagrees is a "
       "mistake to point out, not a fact to act on",
       CheckCp005},
  };
}

}  // namespace csdr::webhook
