// CSDR-RS-001..014: restores.
#include <algorithm>
#include <set>

#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

constexpr const char* kRs001Format = "[CSDR-RS-001] backup %q is not restorable (phase=%s)";
constexpr const char* kRs002 =
    "[CSDR-RS-002] cross-region restore requires migrate-controller v1.7.7 or later";
constexpr const char* kRs003 =
    "[CSDR-RS-003] only disk type PVs support cross-region restore in current version; set "
    "restoreVolumes: false or "
    "exclude non-disk volumes";
constexpr const char* kRs004 =
    "[CSDR-RS-004] grant ECS snapshot cross-region permissions (CopySnapshot) to the credentials, "
    "or the restore "
    "fails with \"ECS snapshot cross region request failed\"";
constexpr const char* kRs005 =
    "[CSDR-RS-005] volume data cannot be restored on ACK Serverless Pro or ACK Edge clusters";
constexpr const char* kRs006Format = "[CSDR-RS-006] storageclass %s not exists";
constexpr const char* kRs007 =
    "[CSDR-RS-007] only support convert to storageclass with CSI diskplugin or nasplugin "
    "provisioner";
constexpr const char* kRs008 =
    "[CSDR-RS-008] current cluster is multi-zoned; use a WaitForFirstConsumer disk StorageClass "
    "such as "
    "alicloud-disk-topology-alltype";
constexpr const char* kRs009 =
    "[CSDR-RS-009] disk volumes only support ReadWriteOnce; set convertToAccessModes: "
    "[ReadWriteOnce] or choose "
    "alibabacloud-cnfs-nas";
constexpr const char* kRs010Format = "[CSDR-RS-010] invalid namespaceMapping %q\u2192%q";
constexpr const char* kRs011Format = "[CSDR-RS-011] %s are non-restorable resources";
constexpr const char* kRs012 = "[CSDR-RS-012] existingResourcePolicy must be none or update";
constexpr const char* kRs013Format =
    "[CSDR-RS-013] resource modifiers need ConfigMap csdr/%s and migrate-controller v1.8.1 or "
    "later";
constexpr const char* kRs014 = "[CSDR-RS-014] Restore spec is immutable";

constexpr std::string_view kDiskProvisioner = "diskplugin.csi.alibabacloud.com";
constexpr std::string_view kNasProvisioner = "nasplugin.csi.alibabacloud.com";

const json::Value& SpecOf(const json::Value& object) {
  static const json::Value kEmpty = json::Value::MakeObject();
  const json::Value* spec = Member(object, "spec");
  return spec != nullptr && spec->is_object() ? *spec : kEmpty;
}

ObjectFact BackupOf(const RuleContext& ctx) {
  return ctx.Get("Backup", ctx.Namespace(), Str(SpecOf(ctx.object()), "backupName"));
}

// Whether the backup holds volume data: its status says so (dataType snapshot/hbr/all, or
// volumes listed), or, before the controller has said, its spec asked for it.
bool HasVolumeData(const json::Value& backup) {
  const std::string data_type = backup.GetString({"status", "dataType"});
  if (!data_type.empty()) return data_type != "none";
  const json::Value* volumes = backup.FindPath({"status", "volumes"});
  if (volumes != nullptr && volumes->is_array() && !volumes->array().empty()) return true;
  return BacksUpVolumes(SpecOf(backup));
}

// Whether any volume went through Cloud Backup (which cannot be restored across regions).
bool HasCloudBackupData(const json::Value& backup) {
  const std::string data_type = backup.GetString({"status", "dataType"});
  if (data_type == "hbr" || data_type == "all") return true;
  if (const json::Value* volumes = backup.FindPath({"status", "volumes"});
      volumes != nullptr && volumes->is_array()) {
    for (const json::Value& v : volumes->array()) {
      if (v.is_object() && Str(v, "method") == "hbr") return true;
    }
  }
  return false;
}

// spec.restoreVolumes, defaulting to whether the backup has volume data. With the backup
// unknown only an explicit true counts.
bool RestoresVolumes(const json::Value& restore_spec, const json::Value* backup) {
  const json::Value* rv = Member(restore_spec, "restoreVolumes");
  if (rv != nullptr && rv->is_bool())
    return rv->as_bool() && (backup == nullptr || HasVolumeData(*backup));
  return backup != nullptr && HasVolumeData(*backup);
}

// Whether restoring `backup` here crosses regions: its source region differs from the
// cluster's. kUnknown (with *why) when either region is not recorded.
Tri CrossRegion(const json::Value& backup, const ClusterView& cluster, std::string* why) {
  const std::string source = backup.GetString({"status", "sourceCluster", "regionID"});
  if (source.empty()) {
    *why = "backup " + Q(backup.GetString({"metadata", "name"})) +
           " has no status.sourceCluster.regionID";
    return Tri::kUnknown;
  }
  if (cluster.region.empty()) {
    *why = "ClusterProfile \"cluster\" has neither status.regionID nor spec.regionID";
    return Tri::kUnknown;
  }
  return source != cluster.region ? Tri::kYes : Tri::kNo;
}

void CheckRs001(const RuleContext& ctx, Findings* out) {
  const std::string name = Str(SpecOf(ctx.object()), "backupName");
  const ObjectFact backup = BackupOf(ctx);
  if (backup.unknown()) {
    out->DenyUnverified(
        "[CSDR-RS-001] backup " + Q(name) + " is not restorable (phase=Unknown)",
        backup.unknown_reason.empty() ? "the store cannot be read" : backup.unknown_reason);
    return;
  }
  std::string phase = "NotFound";
  if (backup.present()) {
    phase = backup.object->GetString({"status", "phase"});
    // A backup being deleted is not restorable whatever its last phase (Velero #9790).
    if (!backup.object->GetString({"metadata", "deletionTimestamp"}).empty()) phase = "Deleting";
    if (phase == "Completed" || phase == "PartiallyFailed") return;
    if (phase.empty()) phase = "<none>";
  }
  out->Deny("[CSDR-RS-001] backup " + Q(name) + " is not restorable (phase=" + phase + ")");
}

void CheckRs002(const RuleContext& ctx, Findings* out) {
  const ObjectFact backup = BackupOf(ctx);
  if (!backup.present() || !NeedCluster(ctx, kRs002, out)) return;
  std::string cross_why, version_why;
  const Tri cross = CrossRegion(*backup.object, ctx.cluster(), &cross_why);
  if (cross == Tri::kNo) return;
  const Tri new_enough = ctx.cluster().VersionAtLeast(kV1_7_7(), &version_why);
  if (new_enough == Tri::kYes) return;
  if (cross == Tri::kYes && new_enough == Tri::kNo) {
    out->Deny(kRs002);
  } else {
    out->DenyUnverified(kRs002, cross == Tri::kUnknown ? cross_why : version_why);
  }
}

void CheckRs003(const RuleContext& ctx, Findings* out) {
  const ObjectFact backup = BackupOf(ctx);
  if (!backup.present() || !RestoresVolumes(SpecOf(ctx.object()), backup.object.get()) ||
      !HasCloudBackupData(*backup.object) || !NeedCluster(ctx, kRs003, out)) {
    return;
  }
  std::string why;
  const Tri cross = CrossRegion(*backup.object, ctx.cluster(), &why);
  if (cross == Tri::kYes) out->Deny(kRs003);
  if (cross == Tri::kUnknown) out->DenyUnverified(kRs003, why);
}

void CheckRs004(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (!cluster.Complete() || !(cluster.IsType(kACKDedicated) || cluster.IsType(kRegistered)))
    return;
  const ObjectFact backup = BackupOf(ctx);
  std::string why;
  if (backup.present() && CrossRegion(*backup.object, cluster, &why) == Tri::kYes)
    out->Warn(kRs004);
}

void CheckRs005(const RuleContext& ctx, Findings* out) {
  const ObjectFact backup = BackupOf(ctx);
  if (!RestoresVolumes(SpecOf(ctx.object()), backup.present() ? backup.object.get() : nullptr))
    return;
  if (!NeedCluster(ctx, kRs005, out)) return;
  if (ctx.cluster().IsType(kACKServerlessPro) || ctx.cluster().IsType(kACKEdge)) out->Deny(kRs005);
}

// The storageClassConversions of the request, each with its index.
template <typename Fn>
void ForEachConversion(const RuleContext& ctx, Fn&& fn) {
  const json::Value* list = Member(SpecOf(ctx.object()), "storageClassConversions");
  if (list == nullptr || !list->is_array()) return;
  for (size_t i = 0; i < list->array().size(); ++i) {
    if (list->array()[i].is_object()) fn(i, list->array()[i]);
  }
}

void CheckRs006(const RuleContext& ctx, Findings* out) {
  ForEachConversion(ctx, [&](size_t, const json::Value& conv) {
    const std::string target = Str(conv, "targetStorageClass");
    const ObjectFact sc = ctx.StorageClass(target);
    const std::string message = "[CSDR-RS-006] storageclass " + target + " not exists";
    if (sc.unknown()) {
      out->DenyUnverified(
          message, sc.unknown_reason.empty() ? "StorageClasses cannot be read" : sc.unknown_reason);
    } else if (sc.absent()) {
      out->Deny(message);
    }
  });
}

void CheckRs007(const RuleContext& ctx, Findings* out) {
  ForEachConversion(ctx, [&](size_t, const json::Value& conv) {
    const ObjectFact sc = ctx.StorageClass(Str(conv, "targetStorageClass"));
    if (!sc.present()) return;  // CSDR-RS-006
    const std::string provisioner = sc.object->GetString({"provisioner"});
    if (provisioner != kDiskProvisioner && provisioner != kNasProvisioner) out->Deny(kRs007);
  });
}

void CheckRs008(const RuleContext& ctx, Findings* out) {
  ForEachConversion(ctx, [&](size_t, const json::Value& conv) {
    const ObjectFact sc = ctx.StorageClass(Str(conv, "targetStorageClass"));
    if (!sc.present() || sc.object->GetString({"provisioner"}) != kDiskProvisioner) return;
    std::string mode = sc.object->GetString({"volumeBindingMode"});
    if (mode.empty()) mode = "Immediate";  // the StorageClass API default
    if (mode != "Immediate" || !NeedCluster(ctx, kRs008, out)) return;
    const json::Value* zones = ctx.cluster().profile->FindPath({"status", "zones"});
    if (zones != nullptr && zones->is_array() && zones->array().size() > 1) out->Deny(kRs008);
  });
}

void CheckRs009(const RuleContext& ctx, Findings* out) {
  const ObjectFact backup = BackupOf(ctx);
  if (!backup.present()) return;
  const json::Value* volumes = backup.object->FindPath({"status", "volumes"});
  if (volumes == nullptr || !volumes->is_array()) return;  // access modes unknown: nothing to judge
  ForEachConversion(ctx, [&](size_t, const json::Value& conv) {
    const ObjectFact sc = ctx.StorageClass(Str(conv, "targetStorageClass"));
    if (!sc.present() || sc.object->GetString({"provisioner"}) != kDiskProvisioner) return;
    const std::vector<std::string> target_modes = StrList(conv, "convertToAccessModes");
    if (target_modes == std::vector<std::string>{"ReadWriteOnce"}) return;
    const std::string ns = Str(conv, "namespace"), pvc = Str(conv, "pvc");
    bool shared = false;
    for (const json::Value& v : volumes->array()) {
      if (!v.is_object() || Str(v, "namespace") != ns || (!pvc.empty() && Str(v, "pvc") != pvc))
        continue;
      for (const std::string& m : StrList(v, "accessModes")) {
        if (m == "ReadWriteMany" || m == "ReadOnlyMany") shared = true;
      }
    }
    if (!shared || !NeedCluster(ctx, kRs009, out)) return;
    // From v1.8.4 the controller converts disk access modes to ReadWriteOnce itself.
    std::string why;
    const Tri converts = ctx.cluster().VersionAtLeast(kV1_8_4(), &why);
    if (converts == Tri::kYes) {
      out->Warn(kRs009);
    } else if (converts == Tri::kNo) {
      out->Deny(kRs009);
    } else {
      out->DenyUnverified(kRs009, why);
    }
  });
}

bool IsDNS1123Label(std::string_view s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !s.empty() && s.size() <= 63 && alnum(s.front()) && alnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// Whether `ns` is among the namespaces the backup holds (its include/exclude lists, with
// ACK's default exclusions when it included everything).
bool BackupHoldsNamespace(const json::Value& backup, const std::string& ns) {
  const json::Value& spec = SpecOf(backup);
  const std::vector<std::string> inc = StrList(spec, "includedNamespaces");
  const std::vector<std::string> exc = StrList(spec, "excludedNamespaces");
  if (std::find(exc.begin(), exc.end(), ns) != exc.end()) return false;
  if (inc.empty() || std::find(inc.begin(), inc.end(), "*") != inc.end()) {
    static const std::set<std::string> kDefaultExcluded = {"csdr", "ack-csi-fuse", "kube-system",
                                                           "kube-public", "kube-node-lease"};
    return kDefaultExcluded.count(ns) == 0;
  }
  return std::find(inc.begin(), inc.end(), ns) != inc.end();
}

void CheckRs010(const RuleContext& ctx, Findings* out) {
  const json::Value* mapping = Member(SpecOf(ctx.object()), "namespaceMapping");
  if (mapping == nullptr || !mapping->is_object()) return;
  const ObjectFact backup = BackupOf(ctx);
  for (const auto& [from, to_value] : mapping->object()) {
    const std::string to = to_value.is_string() ? to_value.as_string() : std::string();
    const bool bad_target = !IsDNS1123Label(to) || to == kCsdrNamespace || to == "kube-system";
    const bool unknown_source = backup.present() && !BackupHoldsNamespace(*backup.object, from);
    if (bad_target || unknown_source) {
      out->DenyField("spec.namespaceMapping[" + from + "]",
                     "[CSDR-RS-010] invalid namespaceMapping " + Q(from) + "\u2192" + Q(to));
    }
  }
}

void CheckRs011(const RuleContext& ctx, Findings* out) {
  // Velero's non-restorable list, plus every csdr.io kind (restoring the backup center's own
  // objects into a cluster would replay its tasks).
  static const std::set<std::string, std::less<>> kNonRestorable = {
      "nodes",
      "events",
      "events.events.k8s.io",
      "csinodes",
      "csinodes.storage.k8s.io",
      "volumeattachments",
      "volumeattachments.storage.k8s.io",
      "backups.velero.io",
      "restores.velero.io",
      "resticrepositories.velero.io",
      "backuprepositories.velero.io",
      "clusterprofiles.csdr.io",
      "backupvaults.csdr.io",
      "backups.csdr.io",
      "restores.csdr.io",
      "backupschedules.csdr.io",
  };
  std::vector<std::string> bad;
  for (const std::string& r : StrList(SpecOf(ctx.object()), "includedResources")) {
    std::string lower = r;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (kNonRestorable.count(lower) != 0) bad.push_back(r);
  }
  if (bad.empty()) return;
  std::string list = "[";  // Go's %v of a []string
  for (size_t i = 0; i < bad.size(); ++i) list += (i > 0 ? " " : "") + bad[i];
  list += "]";
  out->DenyField("spec.includedResources",
                 "[CSDR-RS-011] " + list + " are non-restorable resources");
}

void CheckRs012(const RuleContext& ctx, Findings* out) {
  const std::string policy = Str(SpecOf(ctx.object()), "existingResourcePolicy");
  if (!policy.empty() && policy != "none" && policy != "update")
    out->DenyField("spec.existingResourcePolicy", kRs012);
}

void CheckRs013(const RuleContext& ctx, Findings* out) {
  const json::Value* ref = Member(SpecOf(ctx.object()), "resourceModifierRef");
  if (ref == nullptr) return;
  const std::string name = ref->is_object() ? Str(*ref, "name") : std::string();
  const std::string message = "[CSDR-RS-013] resource modifiers need ConfigMap csdr/" + name +
                              " and migrate-controller v1.8.1 or later";
  const ObjectFact cm = ctx.facts().ConfigMap(kCsdrNamespace, name);
  if (cm.absent()) {
    out->Deny(message);
    return;
  }
  if (!NeedCluster(ctx, message, out)) return;
  std::string why;
  const Tri new_enough = ctx.cluster().VersionAtLeast(kV1_8_1(), &why);
  if (new_enough == Tri::kNo) {
    out->Deny(message);
  } else if (new_enough == Tri::kUnknown) {
    out->DenyUnverified(message, why);
  } else if (cm.unknown()) {
    out->DenyUnverified(
        message, cm.unknown_reason.empty() ? "ConfigMaps cannot be read" : cm.unknown_reason);
  }
}

void CheckRs014(const RuleContext& ctx, Findings* out) {
  const json::Value* now = Member(ctx.object(), "spec");
  const json::Value* before = Member(ctx.old_object(), "spec");
  const bool same = (now == nullptr && before == nullptr) ||
                    (now != nullptr && before != nullptr && *now == *before);
  if (!same) out->DenyField("spec", kRs014);
}

Rule RestoreRule(const char* id, Severity sev, const char* message, const char* basis, CheckFn fn) {
  return Rule{id, sev, kRestoreKind, kOnCreate, "Restore / CREATE", message, basis, fn};
}

}  // namespace

std::vector<Rule> RsRules() {
  return {
      RestoreRule("CSDR-RS-001", Severity::kDeny, kRs001Format,
                  "domain.md 8 (ACK FAQ; Velero #9790): only Completed or PartiallyFailed backups "
                  "restore; a restore "
                  "from a backup being deleted must be refused",
                  CheckRs001),
      RestoreRule("CSDR-RS-002", Severity::kDeny, kRs002,
                  "seed: \"The migrate-controller component of v1.7.7 and later supports "
                  "cross-region restoration of "
                  "Alibaba Cloud disk storage backups.\"",
                  CheckRs002),
      RestoreRule(
          "CSDR-RS-003", Severity::kDeny, kRs003,
          "seed: \"migrate-controller versions 1.7.7 and later support cross-region restoration "
          "for Alibaba "
          "Cloud disk backups.\" (disk backups only); ACK FAQ message 'only disk type PVs support "
          "cross-region restore in current version'",
          CheckRs003),
      RestoreRule("CSDR-RS-004", Severity::kWarn, kRs004,
                  "seed (ACK dedicated clusters): \"To use this feature, add the required "
                  "permissions for ECS disk "
                  "snapshots to the original RAM user\" (the policy lists ecs:CopySnapshot)",
                  CheckRs004),
      RestoreRule("CSDR-RS-005", Severity::kDeny, kRs005,
                  "seed: \"Backing up volumes is not supported when using the backup center with "
                  "ACK Serverless Pro "
                  "clusters or ACK Edge clusters.\" (extended to restoring volumes: there is no "
                  "volume path there)",
                  CheckRs005),
      RestoreRule("CSDR-RS-006", Severity::kDeny, kRs006Format,
                  "domain.md 8 (ACK FAQ message 'storageclass %s not exists')", CheckRs006),
      RestoreRule("CSDR-RS-007", Severity::kDeny, kRs007,
                  "domain.md 8 (ACK FAQ message 'only support convert to storageclass with CSI "
                  "diskplugin or "
                  "nasplugin provisioner')",
                  CheckRs007),
      RestoreRule("CSDR-RS-008", Severity::kDeny, kRs008,
                  "domain.md 8 (ACK FAQ): multi-zone clusters need a WaitForFirstConsumer disk "
                  "StorageClass",
                  CheckRs008),
      RestoreRule("CSDR-RS-009", Severity::kWarn, kRs009,
                  "domain.md 2.8 (ACK FAQ): from v1.8.4 access modes of disk volumes are converted "
                  "to ReadWriteOnce "
                  "on restore",
                  CheckRs009),
      RestoreRule("CSDR-RS-010", Severity::kDeny, kRs010Format,
                  "domain.md 2.2 (ACK FAQ): namespaceMapping; seed: \"a namespace named csdr is "
                  "created. Do not "
                  "delete this namespace.\" (restoring into csdr would overwrite the components)",
                  CheckRs010),
      RestoreRule("CSDR-RS-011", Severity::kDeny, kRs011Format,
                  "domain.md 3.2 (Velero): '%v are non-restorable resources'", CheckRs011),
      RestoreRule("CSDR-RS-012", Severity::kDeny, kRs012,
                  "domain.md 3.2 (Velero): 'Invalid ExistingResourcePolicy: %s'", CheckRs012),
      RestoreRule(
          "CSDR-RS-013", Severity::kDeny, kRs013Format,
          "domain.md 2.8 (ACK modify-on-restore page): resource modifiers from a ConfigMap need "
          "migrate-controller >= 1.8.1",
          CheckRs013),
      Rule{"CSDR-RS-014", Severity::kDeny, kRestoreKind, kOnUpdate, "Restore / UPDATE", kRs014,
           "domain.md 8 [I]: a restore is a one-shot task", CheckRs014},
  };
}

}  // namespace csdr::webhook
