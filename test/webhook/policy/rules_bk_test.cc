// CSDR-BK-001..016: backups. The product card's BK-004/005/006 have their full matrix in
// card_rules_test.cc; here each rule gets its own table, and the Backup rules are also run
// through a BackupSchedule template where they apply there (CSDR-BS-002).
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kBk003 = "[CSDR-BK-003] Backup spec is immutable; create a new Backup";
constexpr const char* kBk004 =
    "[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge clusters; use "
    "backupType "
    "AppBackup";
constexpr const char* kBk007 =
    "[CSDR-BK-007] ECS disk snapshots need an ACK managed/dedicated cluster with Kubernetes and "
    "CSI >= 1.18 "
    "(registered clusters: all nodes on ECS); use method Auto or CloudBackup";
constexpr const char* kBk009 =
    "[CSDR-BK-009] namespace csdr (backup center components) cannot be backed up";
constexpr const char* kBk010 =
    "[CSDR-BK-010] system namespaces are cluster-specific and usually fail to restore on another "
    "cluster";
constexpr const char* kBk012 =
    "[CSDR-BK-012] only one of labelSelector and orLabelSelectors may be specified";
constexpr const char* kBk013 =
    "[CSDR-BK-013] ttl must be between 24h and 65536 days when volume data is backed up (ECS "
    "snapshot / Cloud "
    "Backup retention is in whole days)";
constexpr const char* kBk015 = "[CSDR-BK-015] backup name must be at most 59 characters";
constexpr const char* kBk016 =
    "[CSDR-BK-016] deleting an in-progress backup cancels it; snapshots and Cloud Backup jobs "
    "already created will "
    "be cleaned up";

constexpr const char* kAppSpec = R"({"vaultName":"v1","includedNamespaces":["shop"]})";
constexpr const char* kVolumeSpec =
    R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],"volumeBackup":{"method":"Auto"}})";

// A Backup b1 from a base spec with one path changed.
std::function<json::Value()> B(const char* base, std::string path = "", json::Value value = {}) {
  return [base, path, value] {
    json::Value b = Backup("b1", base);
    if (!path.empty()) SetPath(&b, "spec." + path, value);
    return b;
  };
}
// The same spec as a BackupSchedule template.
std::function<json::Value()> S(const char* base, std::string path = "", json::Value value = {}) {
  return [base, path, value] {
    json::Value s = Schedule(base);
    if (!path.empty()) SetPath(&s, "spec.template." + path, value);
    return s;
  };
}
std::string T(std::string_view message) { return "template: " + std::string(message); }

std::function<void(FakeFacts*)> VaultPhase(std::string phase) {
  return [phase](FakeFacts* f) { f->Put(Vault("v1", phase)); };
}
std::function<void(FakeFacts*)> ProfileEdit(std::string type,
                                            std::function<void(json::Value*)> edit) {
  return [type, edit](FakeFacts* f) {
    json::Value p = Profile(type, "cn-hangzhou", "v1.8.4");
    edit(&p);
    f->Put(std::move(p));
    f->PutCluster(AddonSecret(kGoodKeys));
  };
}

TEST(Bk001Test, VaultMustBeAvailable) {
  const char* kMissing = "[CSDR-BK-001] backup vault \"v9\" is not Available (phase=NotFound)";
  const char* kInProgress = "[CSDR-BK-001] backup vault \"v1\" is not Available (phase=InProgress)";
  RunCases({
      {"Available", {}, CreateOf(B(kAppSpec)), {}, {}},
      {"missing", {}, CreateOf(B(kAppSpec, "vaultName", json::Value("v9"))), {kMissing}, {}},
      {"no vaultName",
       {},
       CreateOf(B(kAppSpec, "vaultName", json::Value(""))),
       {"[CSDR-BK-001] backup vault \"\" is not Available (phase=NotFound)"},
       {}},
      {"InProgress", VaultPhase("InProgress"), CreateOf(B(kAppSpec)), {kInProgress}, {}},
      {"Unavailable",
       VaultPhase("Unavailable"),
       CreateOf(B(kAppSpec)),
       {"[CSDR-BK-001] backup vault \"v1\" is not Available (phase=Unavailable)"},
       {}},
      {"no phase yet",
       VaultPhase(""),
       CreateOf(B(kAppSpec)),
       {"[CSDR-BK-001] backup vault \"v1\" is not Available (phase=<none>)"},
       {}},
      {"template: missing",
       {},
       CreateOf(S(kAppSpec, "vaultName", json::Value("v9"))),
       {T(kMissing)},
       {}},
      {"template: InProgress",
       VaultPhase("InProgress"),
       CreateOf(S(kAppSpec)),
       {T(kInProgress)},
       {}},
  });
}

TEST(Bk002Test, ReadOnlyVault) {
  const auto read_only = [](FakeFacts* f) {
    json::Value v = Vault("v1");
    SetPath(&v, "spec.accessMode", json::Value("ReadOnly"));
    f->Put(std::move(v));
  };
  const char* kRo = "[CSDR-BK-002] vault \"v1\" is read-only; backups cannot be written to it";
  RunCases({
      {"ReadOnly", read_only, CreateOf(B(kAppSpec)), {kRo}, {}},
      {"template: ReadOnly", read_only, CreateOf(S(kAppSpec)), {T(kRo)}, {}},
      {"ReadWrite", {}, CreateOf(B(kAppSpec)), {}, {}},
  });
}

TEST(Bk003Test, SpecImmutable) {
  RunCases({
      {"spec change",
       {},
       UpdateOf(B(kAppSpec, "ttl", json::Value("48h")), B(kAppSpec)),
       {kBk003},
       {}},
      {"spec removed",
       {},
       UpdateOf(
           [] {
             json::Value b = Backup("b1", kAppSpec);
             b.Erase("spec");
             return b;
           },
           B(kAppSpec)),
       {kBk003},
       {}},
      {"labels only",
       {},
       UpdateOf(
           [] {
             json::Value b = Backup("b1", kAppSpec);
             SetPath(&b, "metadata.labels", J(R"({"a":"b"})"));
             return b;
           },
           B(kAppSpec)),
       {},
       {}},
      {"same spec, members in another order",
       {},
       UpdateOf([] { return Backup("b1", R"({"includedNamespaces":["shop"],"vaultName":"v1"})"); },
                B(kAppSpec)),
       {},
       {}},
  });
}

TEST(Bk004Test, NoVolumeBackupOnServerlessProAndEdge) {
  const auto edge = ProfileEdit("ACKEdge", [](json::Value*) {});
  RunCases({
      {"AppAndPvBackup on ACKEdge", edge, CreateOf(B(kVolumeSpec)), {kBk004}, {}},
      {"PvBackup on ACKEdge",
       edge,
       CreateOf(B(kVolumeSpec, "backupType", json::Value("PvBackup"))),
       {kBk004},
       {}},
      {"AppBackup on ACKEdge", edge, CreateOf(B(kAppSpec)), {}, {}},
      {"template: AppAndPvBackup on ACKEdge", edge, CreateOf(S(kVolumeSpec)), {T(kBk004)}, {}},
      {"ACKManaged", {}, CreateOf(B(kVolumeSpec)), {}, {}},
  });
}

TEST(Bk007Test, SnapshotCapability) {
  const auto status = [](std::string type, std::string path, json::Value v) {
    return ProfileEdit(type, [path, v](json::Value* p) { SetPath(p, path, v); });
  };
  const auto snapshot = B(kVolumeSpec, "volumeBackup.method", json::Value("Snapshot"));
  RunCases({
      {"managed, k8s and CSI 1.30", {}, CreateOf(snapshot), {}, {}},
      {"dedicated, CSI 1.18",
       status("ACKDedicated", "status.csiVersion", json::Value("v1.18.8.47-906bd535-aliyun")),
       CreateOf(snapshot),
       {},
       {}},
      {"managed, CSI 1.16",
       status("ACKManaged", "status.csiVersion", json::Value("v1.16.9")),
       CreateOf(snapshot),
       {kBk007},
       {}},
      {"managed, k8s 1.17",
       status("ACKManaged", "status.kubernetesVersion", json::Value("v1.17.3")),
       CreateOf(snapshot),
       {"[CSDR-DEP-006] the backup center requires Kubernetes >= 1.18 and CSI storage (FlexVolume "
        "is not supported)",
        kBk007},
       {}},
      {"managed, CSI version not discovered",
       status("ACKManaged", "status.csiVersion", json::Value("")),
       CreateOf(snapshot),
       {std::string(kBk007) +
        " (cannot verify: ClusterProfile \"cluster\" has no parseable status.csiVersion)"},
       {}},
      {"registered, all nodes ECS",
       status("Registered", "status.allNodesECS", json::Value(true)),
       CreateOf(snapshot),
       {},
       {}},
      {"registered, not all nodes ECS",
       status("Registered", "status.allNodesECS", json::Value(false)),
       CreateOf(snapshot),
       {kBk007},
       {}},
      {"registered, unknown",
       status("Registered", "status.k", json::Value(1)),
       CreateOf(snapshot),
       {std::string(kBk007) +
        " (cannot verify: ClusterProfile \"cluster\" has no status.allNodesECS)"},
       {}},
      {"capability recorded false wins",
       status("ACKManaged", "status.capabilities.ecsSnapshot", json::Value(false)),
       CreateOf(snapshot),
       {kBk007},
       {}},
      {"ACKEdge: no volume backup at all",
       status("ACKEdge", "status.k", json::Value(1)),
       CreateOf(snapshot),
       {kBk004, kBk007},
       {}},
      {"template: managed, CSI 1.16",
       status("ACKManaged", "status.csiVersion", json::Value("v1.16.9")),
       CreateOf(S(kVolumeSpec, "volumeBackup.method", json::Value("Snapshot"))),
       {T(kBk007)},
       {}},
      {"Auto needs no snapshot capability",
       status("ACKManaged", "status.csiVersion", json::Value("v1.16.9")),
       CreateOf(B(kVolumeSpec)),
       {},
       {}},
  });
}

TEST(Bk008Test, CloudBackupAndBlockVolumes) {
  const auto cloud = B(kVolumeSpec, "volumeBackup.method", json::Value("CloudBackup"));
  const auto block = [](std::string ns, std::string name) {
    return [ns, name](FakeFacts* f) { f->PutCluster(Pvc(ns, name, "Block")); };
  };
  RunCases({
      {"filesystem volumes", {}, CreateOf(cloud), {}, {}},
      {"a block volume",
       block("shop", "raw"),
       CreateOf(cloud),
       {"[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes (shop/raw); use method "
        "Snapshot for disks"},
       {}},
      {"excluded by excludedPVCs",
       block("shop", "raw"),
       CreateOf(
           B(kVolumeSpec, "volumeBackup",
             J(R"({"method":"CloudBackup","excludedPVCs":[{"namespace":"shop","name":"raw"}]})"))),
       {},
       {}},
      {"in a namespace not backed up", block("other", "raw"), CreateOf(cloud), {}, {}},
      {"all namespaces: default-excluded ones are skipped",
       block("kube-system", "raw"),
       CreateOf(B(kVolumeSpec, "includedNamespaces", J("[]"))),
       {},
       {}},
      {"all namespaces (\"*\"), a block volume in apps",
       block("apps", "raw"),
       CreateOf([] {
         json::Value b = Backup("b1", kVolumeSpec);
         SetPath(&b, "spec.includedNamespaces", J(R"(["*"])"));
         SetPath(&b, "spec.volumeBackup.method", json::Value("CloudBackup"));
         return b;
       }),
       {"[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes (apps/raw); use method "
        "Snapshot for disks"},
       {}},
      {"method Auto snapshots disks, so not judged",
       block("shop", "raw"),
       CreateOf(B(kVolumeSpec)),
       {},
       {}},
      {"cluster unknown: fails closed",
       [](FakeFacts* f) { f->SetClusterUnknown("no cluster connection is configured"); },
       CreateOf(cloud),
       {"[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes; use method Snapshot for "
        "disks (cannot verify: "
        "no cluster connection is configured)"},
       {}},
      {"template: a block volume",
       block("shop", "raw"),
       CreateOf(S(kVolumeSpec, "volumeBackup.method", json::Value("CloudBackup"))),
       {T("[CSDR-BK-008] Cloud Backup cannot back up Block-mode volumes (shop/raw); use method "
          "Snapshot for disks")},
       {}},
  });
}

TEST(Bk009And010Test, Namespaces) {
  RunCases({
      {"csdr",
       {},
       CreateOf(B(kAppSpec, "includedNamespaces", J(R"(["shop","csdr"])"))),
       {kBk009},
       {}},
      {"template: csdr",
       {},
       CreateOf(S(kAppSpec, "includedNamespaces", J(R"(["csdr"])"))),
       {T(kBk009)},
       {}},
      {"kube-system",
       {},
       CreateOf(B(kAppSpec, "includedNamespaces", J(R"(["kube-system"])"))),
       {},
       {kBk010}},
      {"ack-csi-fuse and kube-public: one warning",
       {},
       CreateOf(B(kAppSpec, "includedNamespaces", J(R"(["ack-csi-fuse","kube-public"])"))),
       {},
       {kBk010}},
      {"template: kube-node-lease",
       {},
       CreateOf(S(kAppSpec, "includedNamespaces", J(R"(["kube-node-lease"])"))),
       {},
       {T(kBk010)}},
      {"excluding csdr is fine",
       {},
       CreateOf(B(kAppSpec, "excludedNamespaces", J(R"(["csdr"])"))),
       {},
       {}},
  });
  const Case c{
      "", {}, CreateOf(S(kAppSpec, "includedNamespaces", J(R"(["shop","csdr"])"))), {}, {}};
  const Decision d = RunCase(c);
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].field, "spec.template.includedNamespaces[1]");
  EXPECT_EQ(d.code, 422);
}

TEST(Bk011Test, IncludeExcludeLists) {
  const std::string ns = "[CSDR-BK-011] invalid included/excluded namespaces lists: ";
  const std::string res = "[CSDR-BK-011] invalid included/excluded resources lists: ";
  RunCases({
      {"* with others",
       {},
       CreateOf(B(kAppSpec, "includedNamespaces", J(R"(["*","shop"])"))),
       {ns + "includes list must either contain '*' only, or a non-empty list of items"},
       {}},
      {"* excluded",
       {},
       CreateOf(B(kAppSpec, "excludedNamespaces", J(R"(["*"])"))),
       {ns + "excludes list cannot contain '*'"},
       {}},
      {"overlap",
       {},
       CreateOf(B(kAppSpec, "excludedNamespaces", J(R"(["shop"])"))),
       {ns + "excludes list cannot contain an item in the includes list: shop"},
       {}},
      {"bad namespace name",
       {},
       CreateOf(B(kAppSpec, "includedNamespaces", J(R"(["Shop"])"))),
       {ns + "invalid namespace \"Shop\": must be a lowercase RFC 1123 label"},
       {}},
      {"several at once",
       {},
       CreateOf(B(kAppSpec, "excludedNamespaces", J(R"(["*","shop"])"))),
       {ns + "excludes list cannot contain '*', excludes list cannot contain an item in the "
             "includes list: shop"},
       {}},
      {"resources",
       {},
       CreateOf([] {
         json::Value b = Backup("b1", kAppSpec);
         SetPath(&b, "spec.includedResources", J(R"(["deployments","*"])"));
         SetPath(&b, "spec.excludedResources", J(R"(["deployments"])"));
         return b;
       }),
       {res + "includes list must either contain '*' only, or a non-empty list of items, excludes "
              "list cannot "
              "contain an item in the includes list: deployments"},
       {}},
      {"template",
       {},
       CreateOf(S(kAppSpec, "excludedResources", J(R"(["*"])"))),
       {T(res + "excludes list cannot contain '*'")},
       {}},
      {"valid lists",
       {},
       CreateOf([] {
         json::Value b = Backup("b1", kAppSpec);
         SetPath(&b, "spec.includedResources", J(R"(["deployments","services"])"));
         SetPath(&b, "spec.excludedResources", J(R"(["secrets"])"));
         SetPath(&b, "spec.excludedNamespaces", J(R"(["kube-system"])"));
         return b;
       }),
       {},
       {}},
  });
}

TEST(Bk012Test, OneSelectorKind) {
  RunCases({
      {"both",
       {},
       CreateOf([] {
         json::Value b = Backup("b1", kAppSpec);
         SetPath(&b, "spec.labelSelector", J(R"({"matchLabels":{"app":"a"}})"));
         SetPath(&b, "spec.orLabelSelectors", J(R"([{"matchLabels":{"app":"b"}}])"));
         return b;
       }),
       {kBk012},
       {}},
      {"labelSelector only",
       {},
       CreateOf(B(kAppSpec, "labelSelector", J(R"({"matchLabels":{"app":"a"}})"))),
       {},
       {}},
      {"orLabelSelectors only",
       {},
       CreateOf(B(kAppSpec, "orLabelSelectors", J(R"([{"matchLabels":{"app":"a"}}])"))),
       {},
       {}},
      {"empty orLabelSelectors beside labelSelector",
       {},
       CreateOf([] {
         json::Value b = Backup("b1", kAppSpec);
         SetPath(&b, "spec.labelSelector", J(R"({"matchLabels":{"app":"a"}})"));
         SetPath(&b, "spec.orLabelSelectors", J("[]"));
         return b;
       }),
       {},
       {}},
      {"template: both",
       {},
       CreateOf([] {
         json::Value s = Schedule(kAppSpec);
         SetPath(&s, "spec.template.labelSelector", J(R"({"matchLabels":{"app":"a"}})"));
         SetPath(&s, "spec.template.orLabelSelectors", J(R"([{"matchLabels":{"app":"b"}}])"));
         return s;
       }),
       {T(kBk012)},
       {}},
  });
}

TEST(Bk013Test, TtlBounds) {
  const auto app = [](json::Value ttl) { return CreateOf(B(kAppSpec, "ttl", ttl)); };
  const auto vol = [](json::Value ttl) { return CreateOf(B(kVolumeSpec, "ttl", ttl)); };
  RunCases({
      {"app 1h", {}, app(json::Value("1h")), {}, {}},
      {"app 0s", {}, app(json::Value("0s")), {kBk013}, {}},
      {"app -1h", {}, app(json::Value("-1h")), {kBk013}, {}},
      {"volume 23h59m", {}, vol(json::Value("23h59m")), {kBk013}, {}},
      {"volume 24h", {}, vol(json::Value("24h")), {}, {}},
      {"volume 720h0m0s", {}, vol(json::Value("720h0m0s")), {}, {}},
      {"65536 days", {}, vol(json::Value("1572864h")), {}, {}},
      {"65536 days and a second", {}, vol(json::Value("1572864h1s")), {kBk013}, {}},
      {"days are not a Go unit", {}, app(json::Value("30d")), {kBk013}, {}},
      {"a number", {}, app(json::Value(5)), {kBk013}, {}},
      {"template: volume 1h",
       {},
       CreateOf(S(kVolumeSpec, "ttl", json::Value("1h"))),
       {T(kBk013)},
       {}},
  });
}

TEST(Bk014Test, NameAlreadyInVault) {
  RunCases({
      {"in the vault's index",
       [](FakeFacts* f) { f->AddVaultIndexEntry("csdr", "v1", "b1"); },
       CreateOf(B(kAppSpec)),
       {"[CSDR-BK-014] backup \"b1\" already exists in vault \"v1\""},
       {}},
      {"in another vault's index",
       [](FakeFacts* f) { f->AddVaultIndexEntry("csdr", "v2", "b1"); },
       CreateOf(B(kAppSpec)),
       {},
       {}},
  });
}

TEST(Bk015Test, NameLength) {
  const auto named = [](size_t n) {
    return CreateOf([n] {
      json::Value b = Backup("b1", kAppSpec);
      SetPath(&b, "metadata.name", json::Value(std::string(n, 'b')));
      return b;
    });
  };
  RunCases({
      {"59", {}, named(59), {}, {}},
      {"60", {}, named(60), {kBk015}, {}},
  });
}

TEST(Bk016Test, DeletingInProgress) {
  const auto with_phase = [](std::string phase) {
    return DeleteOf([phase] {
      json::Value b = Backup("b1", kAppSpec);
      SetPath(&b, "status.phase", json::Value(phase));
      return b;
    });
  };
  RunCases({
      {"InProgress", {}, with_phase("InProgress"), {}, {kBk016}},
      {"Completed", {}, with_phase("Completed"), {}, {}},
      {"Failed", {}, with_phase("Failed"), {}, {}},
  });
}

}  // namespace
}  // namespace csdr::webhook
