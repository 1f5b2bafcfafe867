// CSDR-CP-001..004: the ClusterProfile singleton and profile changes.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kCp001 = "[CSDR-CP-001] ClusterProfile is a singleton named \"cluster\"";
constexpr const char* kCp002 = "[CSDR-CP-002] spec.clusterType is immutable";
constexpr const char* kCp003 =
    "[CSDR-CP-003] spec.componentVersion must be a semantic version such as v1.8.4";
constexpr const char* kBk004 =
    "[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge clusters; use "
    "backupType "
    "AppBackup";
constexpr const char* kBk005 =
    "[CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) and China "
    "(Guangzhou) requires "
    "migrate-controller v1.8.4 or later";

void NoProfile(FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); }

std::function<json::Value()> P(std::string type, std::string region, std::string version,
                               std::function<void(json::Value*)> edit = {}) {
  return [=] {
    json::Value p = Profile(type, region, version);
    if (edit) edit(&p);
    return p;
  };
}

json::Value CloudSchedule(std::string_view name, std::string_view method = "CloudBackup") {
  json::Value s =
      Schedule(R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
    "volumeBackup":{"method":"CloudBackup"}})");
  SetPath(&s, "metadata.name", json::Value(name));
  SetPath(&s, "spec.template.volumeBackup.method", json::Value(method));
  return s;
}

TEST(Cp001Test, SingletonName) {
  RunCases({
      {"cluster", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4")), {}, {}},
      {"other name",
       NoProfile,
       CreateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4",
                  [](json::Value* p) { SetPath(p, "metadata.name", json::Value("prod")); })),
       {kCp001},
       {}},
  });
}

TEST(Cp002Test, ClusterTypeImmutableOnceSet) {
  RunCases({
      {"ACKManaged -> ACKEdge",
       {},
       UpdateOf(P("ACKEdge", "cn-hangzhou", "v1.8.4"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {kCp002},
       {}},
      {"ACKDedicated -> removed",
       {},
       UpdateOf(P("", "cn-hangzhou", "v1.8.4"), P("ACKDedicated", "cn-hangzhou", "v1.8.4")),
       {kCp002},
       {}},
      {"unset -> ACKManaged (the installer fills it in)",
       {},
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4"), P("", "cn-hangzhou", "v1.8.4")),
       {},
       {}},
      {"unchanged",
       {},
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.5"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {},
       {}},
  });
}

TEST(Cp002Test, IsFieldFault) {
  const Case c{
      "",
      {},
      UpdateOf(P("ACKEdge", "cn-hangzhou", "v1.8.4"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
      {},
      {}};
  const Decision d = RunCase(c);
  EXPECT_EQ(d.code, 422);
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].field, "spec.clusterType");
}

TEST(Cp003Test, VersionAndRegion) {
  const char* kRegion =
      "[CSDR-CP-003] spec.regionID \"cn-nowhere\" is not a known Alibaba Cloud region ID";
  const char* kFinance =
      "[CSDR-CP-003] spec.regionID \"cn-shanghai-finance-1\" is not a known Alibaba Cloud region "
      "ID";
  RunCases({
      {"v1.8.10", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "v1.8.10")), {}, {}},
      {"no version yet", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "")), {}, {}},
      {"pre-release", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4-rc.1")), {}, {}},
      {"1.8.4 (no v)", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "1.8.4")), {kCp003}, {}},
      {"v1.8", NoProfile, CreateOf(P("ACKManaged", "cn-hangzhou", "v1.8")), {kCp003}, {}},
      {"update to latest",
       {},
       UpdateOf(P("ACKManaged", "cn-hangzhou", "latest"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {kCp003},
       {}},
      {"update that keeps a stored malformed version (not re-judged)",
       {},
       UpdateOf(P("ACKManaged", "cn-hangzhou", "1.8.4",
                  [](json::Value* p) { SetPath(p, "metadata.labels", J(R"({"a":"b"})")); }),
                P("ACKManaged", "cn-hangzhou", "1.8.4")),
       {},
       {}},
      {"unknown region",
       NoProfile,
       CreateOf(P("ACKManaged", "cn-nowhere", "v1.8.4")),
       {kRegion},
       {}},
      {"both wrong",
       NoProfile,
       CreateOf(P("ACKManaged", "cn-nowhere", "v1.8")),
       {kCp003, kRegion},
       {}},
      {"finance region without the option",
       NoProfile,
       CreateOf(P("ACKManaged", "cn-shanghai-finance-1", "v1.8.4")),
       {kFinance},
       {}},
      {"each gated region is known",
       NoProfile,
       CreateOf(P("ACKManaged", "cn-wulanchabu", "v1.8.4")),
       {},
       {}},
  });
  EngineOptions finance;
  finance.allow_finance_and_gov_regions = true;
  RunCases({{"finance region with the option",
             NoProfile,
             CreateOf(P("ACKManaged", "cn-shanghai-finance-1", "v1.8.4")),
             {},
             {}}},
           finance);
}

TEST(Cp004Test, ChangesThatStrandStoredObjects) {
  const auto stored = [](std::vector<json::Value> objects) {
    return [objects](FakeFacts* f) {
      for (const json::Value& o : objects) f->Put(o);
    };
  };
  const std::string strand_nightly =
      "[CSDR-CP-004] the change would break BackupSchedule csdr/nightly: ";
  json::Value internal_vault = Vault("v-int");
  SetPath(&internal_vault, "spec.network", json::Value("internal"));
  RunCases({
      {"version lowered below v1.8.4 in a gated region with a Cloud Backup schedule",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-heyuan", "v1.8.3"), P("ACKManaged", "cn-heyuan", "v1.8.4")),
       {strand_nightly + kBk005},
       {}},
      {"an Auto schedule is stranded too (Auto may use Cloud Backup)",
       stored({CloudSchedule("nightly", "Auto")}),
       UpdateOf(P("ACKManaged", "cn-guangzhou", "v1.8.3"),
                P("ACKManaged", "cn-guangzhou", "v1.8.10")),
       {strand_nightly + kBk005},
       {}},
      {"a Snapshot schedule is not",
       stored({CloudSchedule("nightly", "Snapshot")}),
       UpdateOf(P("ACKManaged", "cn-heyuan", "v1.8.3"), P("ACKManaged", "cn-heyuan", "v1.8.4")),
       {},
       {}},
      {"version lowered outside the gated regions",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.3"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {},
       {}},
      {"version raised",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-heyuan", "v1.8.4"), P("ACKManaged", "cn-heyuan", "v1.8.3")),
       {},
       {}},
      {"already broken before: not this change's doing",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-heyuan", "v1.8.2"), P("ACKManaged", "cn-heyuan", "v1.8.3")),
       {},
       {}},
      {"region moved into a gated region below v1.8.4",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-wulanchabu", "v1.8.3"),
                P("ACKManaged", "cn-hangzhou", "v1.8.3")),
       {strand_nightly + kBk005},
       {}},
      {"version removed: fails closed",
       stored({CloudSchedule("nightly")}),
       UpdateOf(P("ACKManaged", "cn-heyuan", ""), P("ACKManaged", "cn-heyuan", "v1.8.4")),
       {strand_nightly + kBk005 +
        " (cannot verify: ClusterProfile \"cluster\" has neither status.componentVersion nor "
        "spec.componentVersion)"},
       {}},
      {"type set to ACKEdge with a volume schedule stored",
       stored({CloudSchedule("nightly", "Snapshot")}),
       UpdateOf(P("ACKEdge", "cn-hangzhou", "v1.8.4"), P("", "cn-hangzhou", "v1.8.4")),
       {strand_nightly + kBk004,
        strand_nightly +
            "[CSDR-BK-007] ECS disk snapshots need an ACK managed/dedicated cluster with "
            "Kubernetes and "
            "CSI >= 1.18 (registered clusters: all nodes on ECS); use method Auto or CloudBackup"},
       {}},
      {"type set to ACKServerlessBasic with vaults stored",
       {},
       UpdateOf(P("ACKServerlessBasic", "cn-hangzhou", "v1.8.4"), P("", "cn-hangzhou", "v1.8.4")),
       {"[CSDR-CP-004] the change would break BackupVault csdr/v1: [CSDR-DEP-002] the backup "
        "center is not supported "
        "on ACK Serverless Basic clusters"},
       {}},
      {"region moved away from an internal-network vault",
       stored({internal_vault}),
       UpdateOf(P("ACKManaged", "cn-shanghai", "v1.8.4"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {"[CSDR-CP-004] the change would break BackupVault csdr/v-int: [CSDR-BV-006] OSS internal "
        "endpoints are only "
        "reachable in-region; set network: public for a bucket in cn-hangzhou"},
       {}},
      {"switch to AccessKeySecret without the Secret",
       {},
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4",
                  [](json::Value* p) {
                    SetPath(p, "spec.credentialMode", json::Value("AccessKeySecret"));
                  }),
                P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {"[CSDR-CP-004] the change would break BackupVault csdr/v1: [CSDR-DEP-004] Secret "
        "csdr/alibaba-addon-secret "
        "with non-empty keys access-key-id and access-key-secret is required by ClusterProfile "
        "\"cluster\" "
        "spec.credentialMode AccessKeySecret"},
       {}},
      {"switch to AccessKeySecret with the Secret",
       [](FakeFacts* f) { f->PutCluster(AddonSecret(kGoodKeys)); },
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4",
                  [](json::Value* p) {
                    SetPath(p, "spec.credentialMode", json::Value("AccessKeySecret"));
                  }),
                P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {},
       {}},
      {"unrelated change with the store down: nothing to check",
       [](FakeFacts* f) { f->SetStoreUnknown("store down"); },
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.4",
                  [](json::Value* p) { SetPath(p, "metadata.labels", J(R"({"a":"b"})")); }),
                P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {},
       {}},
      {"relevant change with the store down: fails closed",
       [](FakeFacts* f) { f->SetStoreUnknown("store down"); },
       UpdateOf(P("ACKManaged", "cn-hangzhou", "v1.8.5"), P("ACKManaged", "cn-hangzhou", "v1.8.4")),
       {"[CSDR-CP-004] the change could break stored BackupVaults (cannot verify: store down)",
        "[CSDR-CP-004] the change could break stored BackupSchedules (cannot verify: store down)"},
       {}},
  });
}

TEST(Cp004Test, ReportsTenThenCounts) {
  const Case c{
      "",
      [](FakeFacts* f) {
        for (int i = 0; i < 12; ++i)
          f->Put(CloudSchedule("s" + std::string(i < 10 ? "0" : "") + std::to_string(i)));
      },
      UpdateOf(P("ACKManaged", "cn-heyuan", "v1.8.3"), P("ACKManaged", "cn-heyuan", "v1.8.4")),
      {},
      {}};
  const Decision d = RunCase(c);
  ASSERT_EQ(d.denials.size(), 11u);
  EXPECT_EQ(d.denials[0],
            std::string("[CSDR-CP-004] the change would break BackupSchedule csdr/s00: ") + kBk005);
  EXPECT_EQ(d.denials[9],
            std::string("[CSDR-CP-004] the change would break BackupSchedule csdr/s09: ") + kBk005);
  EXPECT_EQ(d.denials[10], "[CSDR-CP-004] and 2 more breakages of stored objects");
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.denied_rule_ids, std::vector<std::string>{"CSDR-CP-004"});
}

}  // namespace
}  // namespace csdr::webhook
