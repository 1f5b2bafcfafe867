// CSDR-BK-001..016: backups. The Backup CREATE rules are written against a Backup spec so
// that CSDR-BS-002 runs the same code on every BackupSchedule template.
#include <algorithm>
#include <set>

#include "common/duration.h"
#include "webhook/policy/rule.h"
#include "webhook/policy/semver.h"

namespace csdr::webhook {
namespace {

constexpr const char* kBk001Format = "[CSDR-BK-001] backup vault %q is not Available (phase=%s)";
constexpr const char* kBk002Format =
    "[CSDR-BK-002] vault %q is read-only; backups cannot be written to it";
constexpr const char* kBk003 = "[CSDR-BK-003] Backup spec is immutable; create a new Backup";
constexpr const char* kBk004 =
    "[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge clusters; use "
    "backupType "
    "AppBackup";
constexpr const char* kBk005 =
    "[CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) and China "
    "(Guangzhou) requires "
    "migrate-controller v1.8.4 or later";
constexpr const char* kBk006 =
    "[CSDR-BK-006] in this region Cloud Backup must also be authorised to access API Gateway "
    "(AliyunServiceRoleForHbrMagpieBridge)";
constexpr const char* kBk007 =
    "[CSDR-BK-007] ECS disk snapshots need an ACK managed/dedicated cluster with Kubernetes and "
    "CSI >= 1.18 "
    "(registered clusters: all nodes on ECS); use method Auto or CloudBackup";
constexpr const char* kBk008Format =
    "[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes (%s); use method Snapshot for "
    "disks";
constexpr const char* kBk009 =
    "[CSDR-BK-009] namespace csdr (backup center components) cannot be backed up";
constexpr const char* kBk010 =
    "[CSDR-BK-010] system namespaces are cluster-specific and usually fail to restore on another "
    "cluster";
constexpr const char* kBk011Format = "[CSDR-BK-011] invalid included/excluded %s lists: %s";
constexpr const char* kBk012 =
    "[CSDR-BK-012] only one of labelSelector and orLabelSelectors may be specified";
constexpr const char* kBk013 =
    "[CSDR-BK-013] ttl must be between 24h and 65536 days when volume data is backed up (ECS "
    "snapshot / Cloud "
    "Backup retention is in whole days)";
constexpr const char* kBk014Format = "[CSDR-BK-014] backup %q already exists in vault %q";
constexpr const char* kBk015 = "[CSDR-BK-015] backup name must be at most 59 characters";
constexpr const char* kBk016 =
    "[CSDR-BK-016] deleting an in-progress backup cancels it; snapshots and Cloud Backup jobs "
    "already created will "
    "be cleaned up";

// ECS snapshot RetentionDays is 1-65536 (ECS API); Cloud Backup retention is in days.
constexpr int64_t kMaxTtlDays = 65536;
// Derived job names append "-hbr" / "-dbr" (ACK FAQ) and must stay within 63 characters.
constexpr size_t kMaxBackupNameLength = 59;
// BK-008 names at most this many PVCs before "and N more".
constexpr size_t kMaxPvcsNamed = 10;

// Namespaces ACK leaves out of a backup unless they are named (ACK FAQ).
const std::set<std::string, std::less<>>& DefaultExcludedNamespaces() {
  static const std::set<std::string, std::less<>> kSet = {"csdr", "ack-csi-fuse", "kube-system",
                                                          "kube-public", "kube-node-lease"};
  return kSet;
}
const std::set<std::string, std::less<>>& SystemNamespaces() {
  static const std::set<std::string, std::less<>> kSet = {"kube-system", "kube-public",
                                                          "kube-node-lease", "ack-csi-fuse"};
  return kSet;
}

ObjectFact VaultOf(const RuleContext& ctx, const BackupSpecTarget& t) {
  return ctx.Get("BackupVault", t.ns, Str(t.spec, "vaultName"));
}

void CheckBk001(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  const std::string vault = Str(t.spec, "vaultName");
  const ObjectFact fact = VaultOf(ctx, t);
  if (fact.unknown()) {
    out->DenyUnverified(
        "[CSDR-BK-001] backup vault " + Q(vault) + " is not Available (phase=Unknown)",
        fact.unknown_reason.empty() ? "the store cannot be read" : fact.unknown_reason);
    return;
  }
  std::string phase = "NotFound";
  if (fact.present()) {
    phase = fact.object->GetString({"status", "phase"});
    if (phase == "Available") return;
    if (phase.empty()) phase = "<none>";  // as kubectl prints an unset column
  }
  out->Deny("[CSDR-BK-001] backup vault " + Q(vault) + " is not Available (phase=" + phase + ")");
}

void CheckBk002(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  const ObjectFact fact = VaultOf(ctx, t);
  if (fact.present() && fact.object->GetString({"spec", "accessMode"}) == "ReadOnly") {
    out->Deny("[CSDR-BK-002] vault " + Q(Str(t.spec, "vaultName")) +
              " is read-only; backups cannot be written to it");
  }
}

void CheckBk003(const RuleContext& ctx, Findings* out) {
  const json::Value* now = Member(ctx.object(), "spec");
  const json::Value* before = Member(ctx.old_object(), "spec");
  const bool same = (now == nullptr && before == nullptr) ||
                    (now != nullptr && before != nullptr && *now == *before);
  if (!same) out->DenyField("spec", kBk003);
}

void CheckBk004(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  if (!BacksUpVolumes(t.spec) || !NeedCluster(ctx, kBk004, out)) return;
  if (ctx.cluster().IsType(kACKServerlessPro) || ctx.cluster().IsType(kACKEdge)) out->Deny(kBk004);
}

void CheckBk005(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  if (!MayUseCloudBackup(t.spec) || !NeedCluster(ctx, kBk005, out)) return;
  const ClusterView& cluster = ctx.cluster();
  std::string version_why, region_why;
  const Tri new_enough = cluster.VersionAtLeast(kV1_8_4(), &version_why);
  if (new_enough == Tri::kYes) return;  // supported everywhere from v1.8.4
  const Tri gated = cluster.InGatedRegion(&region_why);
  if (gated == Tri::kNo) return;
  if (gated == Tri::kUnknown) {
    out->DenyUnverified(kBk005, region_why);
  } else if (new_enough == Tri::kNo) {
    out->Deny(kBk005);
  } else {
    out->DenyUnverified(kBk005, version_why);  // a malformed or missing version fails closed
  }
}

void CheckBk006(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  if (!MayUseCloudBackup(t.spec) || !ctx.cluster().Complete()) return;
  std::string why;
  if (ctx.cluster().InGatedRegion(&why) == Tri::kYes) out->Warn(kBk006);
}

// Whether the cluster can take ECS disk snapshots: status.capabilities.ecsSnapshot when the
// discovery controller has set it, else derived from the same facts it uses.
Tri CanSnapshot(const ClusterView& cluster, std::string* why) {
  if (const json::Value* cap = cluster.profile->FindPath({"status", "capabilities", "ecsSnapshot"});
      cap != nullptr && cap->is_bool()) {
    return cap->as_bool() ? Tri::kYes : Tri::kNo;
  }
  return cluster.SnapshotsFromFacts(why);
}

void CheckBk007(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  if (!BacksUpVolumes(t.spec) || VolumeMethod(t.spec) != "Snapshot" ||
      !NeedCluster(ctx, kBk007, out))
    return;
  std::string why;
  const Tri can = CanSnapshot(ctx.cluster(), &why);
  if (can == Tri::kNo) out->Deny(kBk007);
  if (can == Tri::kUnknown) out->DenyUnverified(kBk007, why);
}

void CheckBk008(const RuleContext& ctx, const BackupSpecTarget& t, Findings* out) {
  if (!BacksUpVolumes(t.spec) || VolumeMethod(t.spec) != "CloudBackup") return;
  const std::vector<std::string> included = StrList(t.spec, "includedNamespaces");
  const std::vector<std::string> excluded_list = StrList(t.spec, "excludedNamespaces");
  const std::set<std::string> excluded(excluded_list.begin(), excluded_list.end());
  const bool all =
      included.empty() || std::find(included.begin(), included.end(), "*") != included.end();
  std::set<std::string> excluded_pvcs;  // "ns/name"
  if (const json::Value* vb = Member(t.spec, "volumeBackup"); vb != nullptr) {
    if (const json::Value* list = Member(*vb, "excludedPVCs");
        list != nullptr && list->is_array()) {
      for (const json::Value& ref : list->array()) {
        if (ref.is_object()) excluded_pvcs.insert(Str(ref, "namespace") + "/" + Str(ref, "name"));
      }
    }
  }
  std::vector<ObjectRef> pvcs;
  std::string unknown;
  auto collect = [&](std::string_view ns) {
    ListFact l = ctx.facts().PersistentVolumeClaims(ns);
    if (!l.known) {
      if (unknown.empty())
        unknown =
            l.unknown_reason.empty() ? "PersistentVolumeClaims cannot be listed" : l.unknown_reason;
      return;
    }
    pvcs.insert(pvcs.end(), l.items.begin(), l.items.end());
  };
  if (all) {
    collect("");
  } else {
    for (const std::string& ns : std::set<std::string>(included.begin(), included.end())) {
      if (excluded.count(ns) == 0) collect(ns);
    }
  }
  if (!unknown.empty()) {
    out->DenyUnverified(
        "[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes; use method Snapshot for "
        "disks",
        unknown);
    return;
  }
  std::vector<std::string> block;
  for (const ObjectRef& pvc : pvcs) {
    const std::string ns = pvc->GetString({"metadata", "namespace"});
    const std::string name = ns + "/" + pvc->GetString({"metadata", "name"});
    if (excluded.count(ns) != 0 || excluded_pvcs.count(name) != 0) continue;
    // Without an explicit list ACK skips its default-excluded namespaces.
    if (all && DefaultExcludedNamespaces().count(ns) != 0) continue;
    if (pvc->GetString({"spec", "volumeMode"}) == "Block") block.push_back(name);
  }
  if (block.empty()) return;
  std::sort(block.begin(), block.end());
  std::string names;
  for (size_t i = 0; i < block.size() && i < kMaxPvcsNamed; ++i)
    names += (i > 0 ? ", " : "") + block[i];
  if (block.size() > kMaxPvcsNamed)
    names += " and " + std::to_string(block.size() - kMaxPvcsNamed) + " more";
  out->Deny("[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes (" + names +
            "); use method Snapshot for disks");
}

void CheckBk009(const RuleContext&, const BackupSpecTarget& t, Findings* out) {
  const std::vector<std::string> included = StrList(t.spec, "includedNamespaces");
  for (size_t i = 0; i < included.size(); ++i) {
    if (included[i] == kCsdrNamespace) {
      out->DenyField(Path(t.field_prefix, "includedNamespaces[" + std::to_string(i) + "]"), kBk009);
      return;
    }
  }
}

void CheckBk010(const RuleContext&, const BackupSpecTarget& t, Findings* out) {
  for (const std::string& ns : StrList(t.spec, "includedNamespaces")) {
    if (SystemNamespaces().count(ns) != 0) {
      out->Warn(kBk010);
      return;
    }
  }
}

bool IsDNS1123Label(std::string_view s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !s.empty() && s.size() <= 63 && alnum(s.front()) && alnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// Velero's ValidateIncludesExcludes (pkg/util/collections/includes_excludes.go), worded as
// Velero words it; for namespaces also each name, as Velero's namespace variant does.
std::vector<std::string> IncludesExcludesErrors(const std::vector<std::string>& includes,
                                                const std::vector<std::string>& excludes,
                                                bool namespaces) {
  std::vector<std::string> errs;
  const std::set<std::string> inc(includes.begin(), includes.end());
  const std::set<std::string> exc(excludes.begin(), excludes.end());
  if (inc.size() > 1 && inc.count("*") != 0) {
    errs.push_back("includes list must either contain '*' only, or a non-empty list of items");
  }
  if (exc.count("*") != 0) errs.push_back("excludes list cannot contain '*'");
  for (const std::string& item : exc) {
    if (inc.count(item) != 0)
      errs.push_back("excludes list cannot contain an item in the includes list: " + item);
  }
  if (namespaces) {
    for (const std::vector<std::string>* list : {&includes, &excludes}) {
      for (const std::string& ns : *list) {
        if (ns != "*" && !IsDNS1123Label(ns)) {
          errs.push_back("invalid namespace " + Q(ns) + ": must be a lowercase RFC 1123 label");
        }
      }
    }
  }
  return errs;
}

void CheckBk011(const RuleContext&, const BackupSpecTarget& t, Findings* out) {
  struct Lists {
    const char* what;
    const char* included;
    const char* excluded;
    bool namespaces;
  };
  for (const Lists& l : {Lists{"namespaces", "includedNamespaces", "excludedNamespaces", true},
                         Lists{"resources", "includedResources", "excludedResources", false}}) {
    const std::vector<std::string> errs = IncludesExcludesErrors(
        StrList(t.spec, l.included), StrList(t.spec, l.excluded), l.namespaces);
    if (errs.empty()) continue;
    std::string joined;
    for (size_t i = 0; i < errs.size(); ++i) joined += (i > 0 ? ", " : "") + errs[i];
    out->DenyField(
        Path(t.field_prefix, l.included),
        std::string("[CSDR-BK-011] invalid included/excluded ") + l.what + " lists: " + joined);
  }
}

void CheckBk012(const RuleContext&, const BackupSpecTarget& t, Findings* out) {
  const json::Value* selector = Member(t.spec, "labelSelector");
  const json::Value* or_selectors = Member(t.spec, "orLabelSelectors");
  if (selector != nullptr && or_selectors != nullptr && or_selectors->is_array() &&
      !or_selectors->array().empty()) {
    out->DenyField(Path(t.field_prefix, "orLabelSelectors"), kBk012);
  }
}

void CheckBk013(const RuleContext&, const BackupSpecTarget& t, Findings* out) {
  const json::Value* ttl = Member(t.spec, "ttl");
  if (ttl == nullptr) return;  // defaulted to 720h (Velero's default) by the API server
  std::optional<int64_t> ns;
  if (ttl->is_string()) {
    if (StatusOr<int64_t> d = ParseGoDuration(ttl->as_string()); d.ok()) ns = *d;
  }
  const bool bad = !ns || *ns <= 0 || *ns > kMaxTtlDays * kNanosPerDay ||
                   (BacksUpVolumes(t.spec) && *ns < kNanosPerDay);
  if (bad) out->DenyField(Path(t.field_prefix, "ttl"), kBk013);
}

void CheckBk014(const RuleContext& ctx, Findings* out) {
  const std::string vault = ctx.object().GetString({"spec", "vaultName"});
  const std::string name = ctx.Name();
  if (!vault.empty() && ctx.facts().VaultIndexHasBackup(ctx.Namespace(), vault, name)) {
    out->Deny("[CSDR-BK-014] backup " + Q(name) + " already exists in vault " + Q(vault));
  }
}

void CheckBk015(const RuleContext& ctx, Findings* out) {
  if (ctx.Name().size() > kMaxBackupNameLength) out->DenyField("metadata.name", kBk015);
}

void CheckBk016(const RuleContext& ctx, Findings* out) {
  if (ctx.old_object().GetString({"status", "phase"}) == "InProgress") out->Warn(kBk016);
}

constexpr uint32_t kBackup = kBackupKind;

Rule SpecRule(const char* id, Severity sev, const char* message, const char* basis,
              BackupSpecCheckFn fn) {
  Rule r{
      id,      sev,  kBackup, kOnCreate, "Backup / CREATE; BackupSchedule template (CSDR-BS-002)",
      message, basis};
  r.backup_spec_check = fn;
  return r;
}

}  // namespace

std::vector<Rule> BkRules() {
  return {
      SpecRule("CSDR-BK-001", Severity::kDeny, kBk001Format,
               "domain.md 2.3 (ACK FAQ, monitoring): 'Backup, snapshot and restore tasks can only "
               "run once the vault "
               "is Available.'",
               CheckBk001),
      SpecRule("CSDR-BK-002", Severity::kDeny, kBk002Format,
               "domain.md 3.2 (Velero): 'backup can\'t be created because backup storage location "
               "%s is currently in "
               "read-only mode'",
               CheckBk002),
      {"CSDR-BK-003", Severity::kDeny, kBackupKind, kOnUpdate, "Backup / UPDATE", kBk003,
       "domain.md 8 [I]: a backup is a one-shot task (Velero, ACK); changing its spec after it ran "
       "would make the "
       "object lie about the data",
       CheckBk003},
      SpecRule("CSDR-BK-004", Severity::kDeny, kBk004,
               "seed: \"Backing up volumes is not supported when using the backup center with ACK "
               "Serverless Pro "
               "clusters or ACK Edge clusters.\"",
               CheckBk004),
      SpecRule("CSDR-BK-005", Severity::kDeny, kBk005,
               "seed: \"Starting from v1.8.4, the migrate-controller backup component supports "
               "using Cloud Backup to "
               "back up volumes for clusters in the China (Ulanqab), China (Heyuan), or China "
               "(Guangzhou) region.\"",
               CheckBk005),
      SpecRule(
          "CSDR-BK-006", Severity::kWarn, kBk006,
          "seed: \"If you run backup or restore jobs for a cluster in the China (Ulanqab), China "
          "(Heyuan), or "
          "China (Guangzhou) region, you must grant Cloud Backup permission to use API Gateway.\"",
          CheckBk006),
      SpecRule("CSDR-BK-007", Severity::kDeny, kBk007,
               "domain.md 2.5 (ACK FAQ, overview): ECS disk snapshots need an ACK managed or "
               "dedicated cluster with "
               "Kubernetes >= 1.18 and CSI >= 1.18; registered clusters only if every node is an "
               "ECS instance",
               CheckBk007),
      SpecRule("CSDR-BK-008", Severity::kDeny, kBk008Format,
               "domain.md 2.5 (ACK overview, FAQ): Cloud Backup does not support volumeMode: Block",
               CheckBk008),
      SpecRule("CSDR-BK-009", Severity::kDeny, kBk009,
               "seed: \"a namespace named csdr is created\"; domain.md 2.4 (ACK FAQ): backing up "
               "csdr breaks the "
               "components in the restore cluster",
               CheckBk009),
      SpecRule("CSDR-BK-010", Severity::kWarn, kBk010,
               "domain.md 2.4 (ACK FAQ): kube-system, kube-public, kube-node-lease and "
               "ack-csi-fuse are excluded by "
               "default because the system namespaces differ per cluster",
               CheckBk010),
      SpecRule("CSDR-BK-011", Severity::kDeny, kBk011Format,
               "domain.md 3.2 (Velero includes_excludes.go): the include/exclude list rules",
               CheckBk011),
      SpecRule("CSDR-BK-012", Severity::kDeny, kBk012,
               "domain.md 3.2 (Velero): 'encountered labelSelector as well as orLabelSelectors in "
               "backup spec, only "
               "one can be specified'",
               CheckBk012),
      SpecRule("CSDR-BK-013", Severity::kDeny, kBk013,
               "domain.md 2.5: ECS CreateSnapshot.RetentionDays is 1-65536 days; HBR retention is "
               "in days",
               CheckBk013),
      {"CSDR-BK-014", Severity::kDeny, kBackupKind, kOnCreate, "Backup / CREATE", kBk014Format,
       "domain.md 2.3 (ACK FAQ): 'backup already exists in OSS bucket': a backup of the same name "
       "is already in "
       "the vault's bucket",
       CheckBk014},
      {"CSDR-BK-015", Severity::kDeny, kBackupKind, kOnCreate, "Backup / CREATE", kBk015,
       "domain.md 2.4 (ACK FAQ): HBR jobs are named <backup-name>-hbr and delete requests "
       "<object>-dbr; names are "
       "at most 63 characters",
       CheckBk015},
      {"CSDR-BK-016", Severity::kWarn, kBackupKind, kOnDelete, "Backup / DELETE", kBk016,
       "domain.md 2.4 (ACK FAQ): a job left InProgress keeps its finalizers and can leave csdr "
       "stuck Terminating",
       CheckBk016},
  };
}

}  // namespace csdr::webhook
