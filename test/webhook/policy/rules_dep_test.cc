// CSDR-DEP-001..006, one table each. Every case states the full list of denials and
// warnings, so it also proves that no other rule fired.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kDep001 =
    "[CSDR-DEP-001] csdr.io resources must be created in namespace \"csdr\"";
constexpr const char* kDep002 =
    "[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters";
constexpr const char* kDep003 =
    "[CSDR-DEP-003] ClusterProfile \"cluster\" is not initialised; install migrate-controller "
    "first";
constexpr const char* kDep004 =
    "[CSDR-DEP-004] Secret csdr/alibaba-addon-secret with non-empty keys access-key-id and "
    "access-key-secret is "
    "required on ACK dedicated and registered clusters";
constexpr const char* kDep005 =
    "[CSDR-DEP-005] credentialRef is ignored on managed clusters; the "
    "AliyunCSManagedBackupRestoreRole role is used";
constexpr const char* kDep006 =
    "[CSDR-DEP-006] the backup center requires Kubernetes >= 1.18 and CSI storage (FlexVolume is "
    "not supported)";

json::Value InNamespace(json::Value o, std::string_view ns) {
  SetPath(&o, "metadata.namespace", json::Value(ns));
  return o;
}
json::Value AppBackup() {
  return Backup("b1", R"({"vaultName":"v1","includedNamespaces":["shop"]})");
}
json::Value ShopRestore() { return Restore("r1", R"({"backupName":"done"})"); }
json::Value AppSchedule() {
  return Schedule(R"({"vaultName":"v1","includedNamespaces":["shop"]})");
}
json::Value OtherKind() {
  return J(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"DeleteRequest","metadata":{"name":"d1","namespace":"csdr"}})");
}
std::function<void(FakeFacts*)> WithProfile(std::string_view type,
                                            std::function<void(json::Value*)> edit = {}) {
  return [type = std::string(type), edit](FakeFacts* f) {
    json::Value p = Profile(type, "cn-hangzhou", "v1.8.4");
    if (edit) edit(&p);
    f->Put(std::move(p));
  };
}
void NoProfile(FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); }

TEST(Dep001Test, ObjectsLiveInCsdr) {
  RunCases({
      {"vault in csdr", {}, CreateOf([] { return Vault("v2"); }), {}, {}},
      {"vault in default",
       {},
       CreateOf([] { return InNamespace(Vault("v2"), "default"); }),
       {kDep001},
       {}},
      {"backup in default (its vault is looked up there too)",
       {},
       CreateOf([] { return InNamespace(AppBackup(), "default"); }),
       {kDep001, "[CSDR-BK-001] backup vault \"v1\" is not Available (phase=NotFound)"},
       {}},
      {"restore in shop",
       {},
       CreateOf([] { return InNamespace(ShopRestore(), "shop"); }),
       {kDep001, "[CSDR-RS-001] backup \"done\" is not restorable (phase=NotFound)"},
       {}},
      {"schedule in kube-system",
       {},
       CreateOf([] { return InNamespace(AppSchedule(), "kube-system"); }),
       {kDep001, "template: [CSDR-BK-001] backup vault \"v1\" is not Available (phase=NotFound)"},
       {}},
      {"the cluster-scoped ClusterProfile has no namespace",
       NoProfile,
       CreateOf([] { return Profile("ACKManaged", "cn-hangzhou", "v1.8.4"); }),
       {},
       {}},
      {"updates are not judged",
       {},
       UpdateOf([] { return InNamespace(Vault("v2"), "default"); },
                [] { return InNamespace(Vault("v2"), "default"); }),
       {},
       {}},
  });
}

TEST(Dep001Test, FieldAtFaultIs422) {
  const Case c{"", {}, CreateOf([] { return InNamespace(Vault("v2"), "default"); }), {}, {}};
  const Decision d = RunCase(c);
  EXPECT_EQ(d.code, 422);
  EXPECT_EQ(d.reason, "Invalid");
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].type, "FieldValueInvalid");
  EXPECT_EQ(d.causes[0].field, "metadata.namespace");
  EXPECT_EQ(d.causes[0].message, kDep001);
}

TEST(Dep002Test, ServerlessBasicRefusesEveryCreateButTheProfile) {
  const auto basic = WithProfile("ACKServerlessBasic");
  RunCases({
      {"vault", basic, CreateOf([] { return Vault("v2"); }), {kDep002}, {}},
      {"backup", basic, CreateOf(AppBackup), {kDep002}, {}},
      {"restore", basic, CreateOf(ShopRestore), {kDep002}, {}},
      {"schedule", basic, CreateOf(AppSchedule), {kDep002}, {}},
      {"a csdr.io kind the engine does not know", basic, CreateOf(OtherKind), {kDep002}, {}},
      {"the ClusterProfile itself (it records the facts)",
       NoProfile,
       CreateOf([] { return Profile("ACKServerlessBasic", "cn-hangzhou", "v1.8.4"); }),
       {},
       {}},
      {"update of a stored vault (only creates are refused)",
       basic,
       UpdateOf([] { return Vault("v1"); }, [] { return Vault("v1"); }),
       {},
       {}},
      {"delete of a stored backup", basic, DeleteOf(DoneBackup), {}, {}},
      {"not on ServerlessPro", WithProfile("ACKServerlessPro"), CreateOf(AppBackup), {}, {}},
  });
}

TEST(Dep003Test, ProfileMustExistAndBeComplete) {
  const auto no_type = WithProfile("");
  RunCases({
      {"vault, no profile", NoProfile, CreateOf([] { return Vault("v2"); }), {kDep003}, {}},
      {"backup, no profile: the volume rules stay silent",
       NoProfile,
       CreateOf([] {
         return Backup(
             "b1", R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
           "volumeBackup":{"method":"CloudBackup"}})");
       }),
       {kDep003},
       {}},
      {"restore, no clusterType", no_type, CreateOf(ShopRestore), {kDep003}, {}},
      {"schedule, no clusterType", no_type, CreateOf(AppSchedule), {kDep003}, {}},
      {"unknown csdr.io kind", NoProfile, CreateOf(OtherKind), {kDep003}, {}},
      {"store unreadable",
       [](FakeFacts* f) { f->SetStoreUnknown("the store is unavailable: disk I/O error"); },
       CreateOf(OtherKind),
       {std::string(kDep003) + " (cannot verify: the store is unavailable: disk I/O error)"},
       {}},
      {"ClusterProfile create needs no profile",
       NoProfile,
       CreateOf([] { return Profile("ACKManaged", "cn-hangzhou", "v1.8.4"); }),
       {},
       {}},
      {"profile present", {}, CreateOf(OtherKind), {}, {}},
  });
}

TEST(Dep004Test, AccessKeySecret) {
  const auto with_secret = [](FakeFacts* f) { f->PutCluster(AddonSecret(kGoodKeys)); };
  const auto dedicated = [](std::function<void(json::Value*)> edit = {}) {
    return WithProfile("ACKDedicated", edit);
  };
  const auto both = [](std::function<void(FakeFacts*)> a, std::function<void(FakeFacts*)> b) {
    return [a, b](FakeFacts* f) {
      a(f);
      b(f);
    };
  };
  const char* kCustom =
      "[CSDR-DEP-004] Secret csdr/my-ak with non-empty keys access-key-id and access-key-secret is "
      "required on ACK "
      "dedicated and registered clusters";
  const char* kOptIn =
      "[CSDR-DEP-004] Secret csdr/alibaba-addon-secret with non-empty keys access-key-id and "
      "access-key-secret is "
      "required by ClusterProfile \"cluster\" spec.credentialMode AccessKeySecret";
  RunCases({
      {"managed: no Secret needed", {}, CreateOf([] { return Vault("v2"); }), {}, {}},
      {"dedicated, no Secret", dedicated(), CreateOf([] { return Vault("v2"); }), {kDep004}, {}},
      {"dedicated, Secret",
       both(dedicated(), with_secret),
       CreateOf([] { return Vault("v2"); }),
       {},
       {}},
      {"dedicated with credentialMode ManagedRole still needs it (product card)",
       dedicated(
           [](json::Value* p) { SetPath(p, "spec.credentialMode", json::Value("ManagedRole")); }),
       CreateOf(AppBackup),
       {kDep004},
       {}},
      {"referenced Secret missing, the default one present",
       both(dedicated([](json::Value* p) {
              SetPath(p, "spec.accessKeySecretRef", J(R"({"name":"my-ak"})"));
            }),
            with_secret),
       CreateOf(AppBackup),
       {kCustom},
       {}},
      {"referenced Secret present",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKDedicated", "cn-hangzhou", "v1.8.4");
         SetPath(&p, "spec.accessKeySecretRef", J(R"({"namespace":"csdr","name":"my-ak"})"));
         f->Put(std::move(p));
         json::Value s = AddonSecret(kGoodKeys);
         SetPath(&s, "metadata.name", json::Value("my-ak"));
         f->PutCluster(std::move(s));
       },
       CreateOf(AppBackup),
       {},
       {}},
      {"managed cluster opting into AccessKeySecret",
       WithProfile("ACKManaged",
                   [](json::Value* p) {
                     SetPath(p, "spec.credentialMode", json::Value("AccessKeySecret"));
                   }),
       CreateOf(ShopRestore),
       {kOptIn},
       {}},
      {"unknown csdr.io kinds are not checked", dedicated(), CreateOf(OtherKind), {}, {}},
      {"updates are not checked",
       dedicated(),
       UpdateOf([] { return Vault("v1"); }, [] { return Vault("v1"); }),
       {},
       {}},
  });
}

TEST(Dep005Test, CredentialRefOnManagedClusters) {
  const auto with_ref = [] {
    json::Value v = Vault("v2");
    SetPath(&v, "spec.credentialRef", J(R"({"name":"my-ak"})"));
    return v;
  };
  RunCases({
      {"managed, credentialRef", {}, CreateOf(with_ref), {}, {kDep005}},
      {"serverless pro, credentialRef",
       WithProfile("ACKServerlessPro"),
       CreateOf(with_ref),
       {},
       {kDep005}},
      {"managed, none", {}, CreateOf([] { return Vault("v2"); }), {}, {}},
      {"registered (uses the Secret), credentialRef",
       [](FakeFacts* f) {
         f->Put(Profile("Registered", "cn-hangzhou", "v1.8.4"));
         f->PutCluster(AddonSecret(kGoodKeys));
       },
       CreateOf(with_ref),
       {},
       {}},
  });
}

TEST(Dep006Test, KubernetesAndFlexVolume) {
  const auto status = [](const char* path, json::Value v) {
    return WithProfile("ACKManaged", [path, v](json::Value* p) { SetPath(p, path, v); });
  };
  RunCases({
      {"kubernetes v1.17.9",
       status("status.kubernetesVersion", json::Value("v1.17.9")),
       CreateOf(OtherKind),
       {kDep006},
       {}},
      {"kubernetes 1.18 (boundary)",
       status("status.kubernetesVersion", json::Value("1.18")),
       CreateOf(OtherKind),
       {},
       {}},
      {"kubernetes v1.9.0 is older, not newer",
       status("status.kubernetesVersion", json::Value("v1.9.0")),
       CreateOf([] { return Vault("v2"); }),
       {kDep006},
       {}},
      {"kubernetes not yet discovered",
       status("status.kubernetesVersion", json::Value("")),
       CreateOf(OtherKind),
       {},
       {}},
      {"FlexVolume detected",
       status("status.flexVolumeDetected", json::Value(true)),
       CreateOf(AppBackup),
       {kDep006},
       {}},
      {"FlexVolume false",
       status("status.flexVolumeDetected", json::Value(false)),
       CreateOf(AppBackup),
       {},
       {}},
      {"ClusterProfile create is never refused",
       NoProfile,
       CreateOf([] {
         json::Value p = Profile("ACKManaged", "cn-hangzhou", "v1.8.4");
         SetPath(&p, "status.kubernetesVersion", json::Value("v1.16.0"));
         return p;
       }),
       {},
       {}},
  });
}

}  // namespace
}  // namespace csdr::webhook
