// CSDR-RS-001..014: restores. RS-005 (a product-card rule) also has its full matrix in
// card_rules_test.cc.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

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
constexpr const char* kRs012 = "[CSDR-RS-012] existingResourcePolicy must be none or update";
constexpr const char* kRs014 = "[CSDR-RS-014] Restore spec is immutable";

// Restore r1 of `backup` with extra spec members.
std::function<json::Value()> R(std::string backup = "done", std::string extra = "{}") {
  return [backup, extra] {
    json::Value r = Restore("r1", extra);
    SetPath(&r, "spec.backupName", json::Value(backup));
    return r;
  };
}

// Replaces the stored "done" backup after `edit`.
std::function<void(FakeFacts*)> Done(std::function<void(json::Value*)> edit) {
  return [edit](FakeFacts* f) {
    json::Value b = DoneBackup();
    edit(&b);
    f->Put(std::move(b));
  };
}
std::function<void(FakeFacts*)> FromRegion(std::string region, std::string data_type = "snapshot") {
  return Done([region, data_type](json::Value* b) {
    SetPath(b, "status.sourceCluster.regionID", json::Value(region));
    SetPath(b, "status.dataType", json::Value(data_type));
  });
}
std::function<void(FakeFacts*)> Cluster(std::string type, std::string region, std::string version) {
  return [type, region, version](FakeFacts* f) {
    f->Put(Profile(type, region, version));
    f->PutCluster(AddonSecret(kGoodKeys));
  };
}
std::function<void(FakeFacts*)> All(std::vector<std::function<void(FakeFacts*)>> steps) {
  return [steps](FakeFacts* f) {
    for (const auto& s : steps) s(f);
  };
}

TEST(Rs001Test, BackupMustBeRestorable) {
  const auto phase = [](std::string p) {
    return Done([p](json::Value* b) { SetPath(b, "status.phase", json::Value(p)); });
  };
  RunCases({
      {"Completed", {}, CreateOf(R()), {}, {}},
      {"PartiallyFailed", phase("PartiallyFailed"), CreateOf(R()), {}, {}},
      {"InProgress",
       phase("InProgress"),
       CreateOf(R()),
       {"[CSDR-RS-001] backup \"done\" is not restorable (phase=InProgress)"},
       {}},
      {"Failed",
       phase("Failed"),
       CreateOf(R()),
       {"[CSDR-RS-001] backup \"done\" is not restorable (phase=Failed)"},
       {}},
      {"no phase",
       phase(""),
       CreateOf(R()),
       {"[CSDR-RS-001] backup \"done\" is not restorable (phase=<none>)"},
       {}},
      {"being deleted",
       Done([](json::Value* b) {
         SetPath(b, "metadata.deletionTimestamp", json::Value("2026-11-24T09:04:57Z"));
       }),
       CreateOf(R()),
       {"[CSDR-RS-001] backup \"done\" is not restorable (phase=Deleting)"},
       {}},
      {"missing",
       {},
       CreateOf(R("nope")),
       {"[CSDR-RS-001] backup \"nope\" is not restorable (phase=NotFound)"},
       {}},
  });
}

TEST(Rs002To004Test, CrossRegion) {
  const char* kNoSource = " (cannot verify: backup \"done\" has no status.sourceCluster.regionID)";
  RunCases({
      {"same region, v1.7.6",
       Cluster("ACKManaged", "cn-hangzhou", "v1.7.6"),
       CreateOf(R()),
       {},
       {}},
      {"cross-region, v1.7.6",
       All({Cluster("ACKManaged", "cn-hangzhou", "v1.7.6"), FromRegion("cn-beijing")}),
       CreateOf(R()),
       {kRs002},
       {}},
      {"cross-region, v1.7.7",
       All({Cluster("ACKManaged", "cn-hangzhou", "v1.7.7"), FromRegion("cn-beijing")}),
       CreateOf(R()),
       {},
       {}},
      {"cross-region, v1.8.10",
       All({Cluster("ACKManaged", "cn-hangzhou", "v1.8.10"), FromRegion("cn-beijing")}),
       CreateOf(R()),
       {},
       {}},
      {"source region not recorded, v1.7.6: fails closed",
       All({Cluster("ACKManaged", "cn-hangzhou", "v1.7.6"),
            Done([](json::Value* b) { ErasePath(b, "status.sourceCluster"); })}),
       CreateOf(R()),
       {std::string(kRs002) + kNoSource},
       {}},
      {"source region not recorded, v1.7.7: no matter",
       All({Cluster("ACKManaged", "cn-hangzhou", "v1.7.7"),
            Done([](json::Value* b) { ErasePath(b, "status.sourceCluster"); })}),
       CreateOf(R()),
       {},
       {}},
      {"cross-region, version malformed: fails closed",
       All({Cluster("ACKManaged", "cn-hangzhou", "1.7.7"), FromRegion("cn-beijing")}),
       CreateOf(R()),
       {std::string(kRs002) + " (cannot verify: ClusterProfile \"cluster\" componentVersion "
                              "\"1.7.7\" is not a version "
                              "vMAJOR.MINOR.PATCH)"},
       {}},
      {"Cloud Backup data across regions",
       All({FromRegion("cn-beijing", "hbr")}),
       CreateOf(R()),
       {kRs003},
       {}},
      {"mixed data across regions",
       All({FromRegion("cn-beijing", "all")}),
       CreateOf(R()),
       {kRs003},
       {}},
      {"a volume by hbr across regions",
       Done([](json::Value* b) {
         SetPath(b, "status.sourceCluster.regionID", json::Value("cn-beijing"));
         ErasePath(b, "status.dataType");
         SetPath(b, "status.volumes", J(R"([{"namespace":"shop","pvc":"data","method":"hbr"}])"));
       }),
       CreateOf(R()),
       {kRs003},
       {}},
      {"Cloud Backup data across regions without volumes",
       FromRegion("cn-beijing", "hbr"),
       CreateOf(R("done", R"({"restoreVolumes":false})")),
       {},
       {}},
      {"Cloud Backup data in region", FromRegion("cn-hangzhou", "hbr"), CreateOf(R()), {}, {}},
      {"Cloud Backup data, source unknown",
       Done([](json::Value* b) {
         ErasePath(b, "status.sourceCluster");
         SetPath(b, "status.dataType", json::Value("hbr"));
       }),
       CreateOf(R()),
       {std::string(kRs003) + kNoSource},
       {}},
      {"dedicated, cross-region",
       All({Cluster("ACKDedicated", "cn-hangzhou", "v1.8.4"), FromRegion("cn-beijing")}),
       CreateOf(R()),
       {},
       {kRs004}},
      {"registered, same region",
       Cluster("Registered", "cn-hangzhou", "v1.8.4"),
       CreateOf(R()),
       {},
       {}},
      {"managed, cross-region", FromRegion("cn-beijing"), CreateOf(R()), {}, {}},
  });
}

TEST(Rs005Test, NoVolumeRestoreOnServerlessProAndEdge) {
  const auto app_only = Done([](json::Value* b) {
    SetPath(b, "status.dataType", json::Value("none"));
    SetPath(b, "spec.backupType", json::Value("AppBackup"));
    ErasePath(b, "status.volumes");
  });
  RunCases({
      {"Edge, volume data",
       Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"),
       CreateOf(R()),
       {kRs005},
       {}},
      {"Edge, restoreVolumes false",
       Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"),
       CreateOf(R("done", R"({"restoreVolumes":false})")),
       {},
       {}},
      {"Edge, an app-only backup",
       All({Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"), app_only}),
       CreateOf(R()),
       {},
       {}},
      {"Edge, restoreVolumes true of an app-only backup",
       All({Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"), app_only}),
       CreateOf(R("done", R"({"restoreVolumes":true})")),
       {},
       {}},
      {"Edge, missing backup, restoreVolumes true",
       Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"),
       CreateOf(R("nope", R"({"restoreVolumes":true})")),
       {"[CSDR-RS-001] backup \"nope\" is not restorable (phase=NotFound)", kRs005},
       {}},
      {"Edge, missing backup, restoreVolumes unset",
       Cluster("ACKEdge", "cn-hangzhou", "v1.8.4"),
       CreateOf(R("nope")),
       {"[CSDR-RS-001] backup \"nope\" is not restorable (phase=NotFound)"},
       {}},
  });
}

TEST(Rs006To008Test, StorageClassConversion) {
  const auto convert = [](std::string target) {
    return CreateOf(
        R("done", R"({"storageClassConversions":[{"namespace":"shop","targetStorageClass":")" +
                      target + R"("}]})"));
  };
  const auto zones = [](int n) {
    return [n](FakeFacts* f) {
      json::Value p = Profile("ACKManaged", "cn-hangzhou", "v1.8.4");
      json::Value list = json::Value::MakeArray();
      for (int i = 0; i < n; ++i) list.PushBack(json::Value("zone-" + std::to_string(i)));
      SetPath(&p, "status.zones", std::move(list));
      f->Put(std::move(p));
    };
  };
  const auto sc = [](std::string name, std::string provisioner, std::string binding) {
    return [=](FakeFacts* f) { f->PutCluster(StorageClassObject(name, provisioner, binding)); };
  };
  RunCases({
      {"disk, WaitForFirstConsumer", zones(3), convert("alicloud-disk-topology-alltype"), {}, {}},
      {"nas", zones(3), convert("alibabacloud-cnfs-nas"), {}, {}},
      {"missing", {}, convert("nope"), {"[CSDR-RS-006] storageclass nope not exists"}, {}},
      {"cluster unknown: fails closed",
       [](FakeFacts* f) { f->SetClusterUnknown("cluster cache not synced"); },
       convert("alibabacloud-cnfs-nas"),
       {"[CSDR-RS-006] storageclass alibabacloud-cnfs-nas not exists (cannot verify: cluster cache "
        "not synced)"},
       {}},
      {"other provisioner",
       sc("local", "rancher.io/local-path", "WaitForFirstConsumer"),
       convert("local"),
       {kRs007},
       {}},
      {"disk Immediate, 2 zones",
       All({zones(2), sc("disk-now", "diskplugin.csi.alibabacloud.com", "Immediate")}),
       convert("disk-now"),
       {kRs008},
       {}},
      {"disk, binding mode unset (Immediate), 2 zones",
       All({zones(2), sc("disk-now", "diskplugin.csi.alibabacloud.com", "")}),
       convert("disk-now"),
       {kRs008},
       {}},
      {"disk Immediate, 1 zone",
       All({zones(1), sc("disk-now", "diskplugin.csi.alibabacloud.com", "Immediate")}),
       convert("disk-now"),
       {},
       {}},
  });
}

TEST(Rs009Test, DiskAccessModes) {
  const auto shared = Done([](json::Value* b) {
    SetPath(
        b, "status.volumes",
        J(R"([{"namespace":"shop","pvc":"data","method":"snapshot","accessModes":["ReadWriteMany"]}])"));
  });
  const auto to = [](std::string target, std::string modes) {
    return CreateOf(
        R("done", R"({"storageClassConversions":[{"namespace":"shop","targetStorageClass":")" +
                      target + R"(")" + modes + "}]}"));
  };
  RunCases({
      {"RWX to disk on v1.8.4: converted, warned",
       shared,
       to("alicloud-disk-topology-alltype", ""),
       {},
       {kRs009}},
      {"RWX to disk on v1.8.3",
       All({shared, Cluster("ACKManaged", "cn-hangzhou", "v1.8.3")}),
       to("alicloud-disk-topology-alltype", ""),
       {kRs009},
       {}},
      {"RWX to disk with [ReadWriteOnce]",
       All({shared, Cluster("ACKManaged", "cn-hangzhou", "v1.8.3")}),
       to("alicloud-disk-topology-alltype", R"(,"convertToAccessModes":["ReadWriteOnce"])"),
       {},
       {}},
      {"RWX to nas",
       All({shared, Cluster("ACKManaged", "cn-hangzhou", "v1.8.3")}),
       to("alibabacloud-cnfs-nas", ""),
       {},
       {}},
      {"RWO to disk",
       Cluster("ACKManaged", "cn-hangzhou", "v1.8.3"),
       to("alicloud-disk-topology-alltype", ""),
       {},
       {}},
  });
}

TEST(Rs010Test, NamespaceMapping) {
  const auto map = [](std::string json) {
    return CreateOf(R("done", R"({"namespaceMapping":)" + json + "}"));
  };
  const auto all_namespaces =
      Done([](json::Value* b) { SetPath(b, "spec.includedNamespaces", J(R"(["*"])")); });
  RunCases({
      {"shop -> shop-copy", {}, map(R"({"shop":"shop-copy"})"), {}, {}},
      {"a namespace not in the backup",
       {},
       map(R"({"other":"x"})"),
       {"[CSDR-RS-010] invalid namespaceMapping \"other\"\u2192\"x\""},
       {}},
      {"into csdr",
       {},
       map(R"({"shop":"csdr"})"),
       {"[CSDR-RS-010] invalid namespaceMapping \"shop\"\u2192\"csdr\""},
       {}},
      {"into kube-system",
       {},
       map(R"({"shop":"kube-system"})"),
       {"[CSDR-RS-010] invalid namespaceMapping \"shop\"\u2192\"kube-system\""},
       {}},
      {"not a label",
       {},
       map(R"({"shop":"Shop_2"})"),
       {"[CSDR-RS-010] invalid namespaceMapping \"shop\"\u2192\"Shop_2\""},
       {}},
      {"all namespaces backed up", all_namespaces, map(R"({"apps":"apps2"})"), {}, {}},
      {"all namespaces, but not the default-excluded",
       all_namespaces,
       map(R"({"kube-system":"ks"})"),
       {"[CSDR-RS-010] invalid namespaceMapping \"kube-system\"\u2192\"ks\""},
       {}},
  });
}

TEST(Rs011To013Test, ResourcesPolicyModifiers) {
  const char* kModifiers =
      "[CSDR-RS-013] resource modifiers need ConfigMap csdr/modifiers and migrate-controller "
      "v1.8.1 or later";
  const auto modifiers = CreateOf(R("done", R"({"resourceModifierRef":{"name":"modifiers"}})"));
  RunCases({
      {"non-restorable resources",
       {},
       CreateOf(R("done", R"({"includedResources":["nodes","deployments","Events"]})")),
       {"[CSDR-RS-011] [nodes Events] are non-restorable resources"},
       {}},
      {"csdr.io kinds",
       {},
       CreateOf(R("done", R"({"includedResources":["backups.csdr.io"]})")),
       {"[CSDR-RS-011] [backups.csdr.io] are non-restorable resources"},
       {}},
      {"restorable resources",
       {},
       CreateOf(R("done", R"({"includedResources":["deployments","services"]})")),
       {},
       {}},
      {"existingResourcePolicy update",
       {},
       CreateOf(R("done", R"({"existingResourcePolicy":"update"})")),
       {},
       {}},
      {"existingResourcePolicy overwrite",
       {},
       CreateOf(R("done", R"({"existingResourcePolicy":"overwrite"})")),
       {kRs012},
       {}},
      {"modifiers on v1.8.4", {}, modifiers, {}, {}},
      {"modifiers on v1.8.1", Cluster("ACKManaged", "cn-hangzhou", "v1.8.1"), modifiers, {}, {}},
      {"modifiers on v1.8.0",
       Cluster("ACKManaged", "cn-hangzhou", "v1.8.0"),
       modifiers,
       {kModifiers},
       {}},
      {"modifiers ConfigMap missing",
       {},
       CreateOf(R("done", R"({"resourceModifierRef":{"name":"nope"}})")),
       {"[CSDR-RS-013] resource modifiers need ConfigMap csdr/nope and migrate-controller v1.8.1 "
        "or later"},
       {}},
      {"cluster unknown: fails closed",
       [](FakeFacts* f) { f->SetClusterUnknown("no cluster connection is configured"); },
       modifiers,
       {std::string(kModifiers) + " (cannot verify: no cluster connection is configured)"},
       {}},
  });
}

TEST(Rs014Test, SpecImmutable) {
  RunCases({
      {"spec change", {}, UpdateOf(R("done", R"({"restoreVolumes":false})"), R()), {kRs014}, {}},
      {"labels",
       {},
       UpdateOf(
           [] {
             json::Value r = R()();
             SetPath(&r, "metadata.labels", J(R"({"a":"b"})"));
             return r;
           },
           R()),
       {},
       {}},
  });
}

}  // namespace
}  // namespace csdr::webhook
