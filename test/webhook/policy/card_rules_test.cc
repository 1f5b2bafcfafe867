// The product card's rules, as a matrix: every cluster type, each Cloud Backup gated region
// and an ungated one, the version boundaries, Backups and BackupSchedule templates alike, and
// the AccessKey Secret missing, with an empty key, present, and unknowable.
//
//   CSDR-DEP-002  no backup center at all on ACK Serverless Basic
//   CSDR-BK-004   no volume backup on ACK Serverless Pro or ACK Edge (and CSDR-RS-005: no
//                 volume restore there)
//   CSDR-BK-005   Cloud Backup in cn-wulanchabu, cn-heyuan, cn-guangzhou needs v1.8.4
//                 (CSDR-BK-006 warns there about API Gateway)
//   CSDR-DEP-004  ACK dedicated and registered clusters need csdr/alibaba-addon-secret
//
// The expectations are written out per case from the rule text, not computed by the engine's
// helpers.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kDep002 =
    "[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters";
constexpr const char* kDep004 =
    "[CSDR-DEP-004] Secret csdr/alibaba-addon-secret with non-empty keys access-key-id and "
    "access-key-secret is "
    "required on ACK dedicated and registered clusters";
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
constexpr const char* kRs002 =
    "[CSDR-RS-002] cross-region restore requires migrate-controller v1.7.7 or later";
constexpr const char* kRs005 =
    "[CSDR-RS-005] volume data cannot be restored on ACK Serverless Pro or ACK Edge clusters";

const std::vector<std::string> kAllTypes = {"ACKManaged",       "ACKDedicated",
                                            "ACKServerlessPro", "ACKServerlessBasic",
                                            "ACKEdge",          "Registered"};

bool NeedsSecret(const std::string& type) { return type == "ACKDedicated" || type == "Registered"; }

// The baseline world on a cluster of `type` in `region` at `version`, with the AccessKey
// Secret where the type needs it (so that DEP-004 stays out of the other rules' matrices)
// and every node on ECS (so that Registered clusters may snapshot).
std::function<void(FakeFacts*)> ClusterOf(std::string type, std::string region = "cn-hangzhou",
                                          std::string version = "v1.8.4") {
  return [=](FakeFacts* f) {
    json::Value p = Profile(type, region, version);
    SetPath(&p, "status.allNodesECS", json::Value(true));
    f->Put(std::move(p));
    if (NeedsSecret(type)) f->PutCluster(AddonSecret(kGoodKeys));
  };
}

// A Backup, or a BackupSchedule with the same spec as its template.
enum class Form { kBackup, kTemplate };
std::function<AdmissionInput(std::vector<json::Value>*)> Make(Form form, std::string spec) {
  return CreateOf(
      [form, spec] { return form == Form::kBackup ? Backup("b1", spec) : Schedule(spec); });
}
std::vector<std::string> As(Form form, std::vector<std::string> messages) {
  if (form == Form::kTemplate) {
    for (std::string& m : messages) m = "template: " + m;
  }
  return messages;
}
const char* Name(Form form) { return form == Form::kBackup ? "Backup" : "BackupSchedule template"; }

std::string Spec(std::string backup_type, std::string method) {
  std::string s =
      R"({"vaultName":"v1","includedNamespaces":["shop"],"backupType":")" + backup_type + "\"";
  if (!method.empty()) s += R"(,"volumeBackup":{"method":")" + method + "\"}";
  return s + "}";
}

TEST(CardDep002Test, EveryClusterTypeEveryKind) {
  std::vector<Case> cases;
  for (const std::string& type : kAllTypes) {
    const std::vector<std::string> want = type == "ACKServerlessBasic"
                                              ? std::vector<std::string>{kDep002}
                                              : std::vector<std::string>{};
    cases.push_back(
        {type + " BackupVault", ClusterOf(type), CreateOf([] { return Vault("v2"); }), want, {}});
    cases.push_back(
        {type + " Backup", ClusterOf(type), Make(Form::kBackup, Spec("AppBackup", "")), want, {}});
    cases.push_back(
        {type + " Restore",
         ClusterOf(type),
         CreateOf([] { return Restore("r1", R"({"backupName":"done","restoreVolumes":false})"); }),
         want,
         {}});
    cases.push_back({type + " BackupSchedule",
                     ClusterOf(type),
                     Make(Form::kTemplate, Spec("AppBackup", "")),
                     want,
                     {}});
    cases.push_back({type + " ClusterProfile",
                     [](FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); },
                     CreateOf([type] { return Profile(type, "cn-hangzhou", "v1.8.4"); }),
                     {},
                     {}});
  }
  RunCases(cases);
}

TEST(CardBk004Test, VolumeBackupByClusterTypeAndBackupType) {
  std::vector<Case> cases;
  for (Form form : {Form::kBackup, Form::kTemplate}) {
    for (const std::string& type : kAllTypes) {
      for (const std::string backup_type : {"AppBackup", "AppAndPvBackup", "PvBackup"}) {
        const bool volumes = backup_type != "AppBackup";
        std::vector<std::string> want;
        if (type == "ACKServerlessBasic") {
          want = {kDep002};
        } else if (volumes && (type == "ACKServerlessPro" || type == "ACKEdge")) {
          want = As(form, {kBk004});
        }
        cases.push_back({std::string(Name(form)) + " " + type + " " + backup_type,
                         ClusterOf(type),
                         Make(form, Spec(backup_type, volumes ? "Auto" : "")),
                         want,
                         {}});
      }
    }
  }
  RunCases(cases);
}

TEST(CardRs005Test, VolumeRestoreByClusterType) {
  std::vector<Case> cases;
  const auto app_only = [](FakeFacts* f) {
    json::Value b = DoneBackup();
    SetPath(&b, "spec.backupType", json::Value("AppBackup"));
    SetPath(&b, "status.dataType", json::Value("none"));
    ErasePath(&b, "status.volumes");
    f->Put(std::move(b));
  };
  for (const std::string& type : kAllTypes) {
    for (const std::string restore_volumes : {"", "true", "false"}) {
      for (bool volume_data : {true, false}) {
        std::vector<std::string> want;
        const bool restores = volume_data && restore_volumes != "false";
        if (type == "ACKServerlessBasic") {
          want = {kDep002};
        } else if (restores && (type == "ACKServerlessPro" || type == "ACKEdge")) {
          want = {kRs005};
        }
        const std::string spec =
            restore_volumes.empty()
                ? R"({"backupName":"done"})"
                : R"({"backupName":"done","restoreVolumes":)" + restore_volumes + "}";
        auto world = ClusterOf(type);
        cases.push_back(
            {type + " restoreVolumes=" + (restore_volumes.empty() ? "unset" : restore_volumes) +
                 (volume_data ? " volume data" : " app only"),
             [world, volume_data, app_only](FakeFacts* f) {
               world(f);
               if (!volume_data) app_only(f);
             },
             CreateOf([spec] { return Restore("r1", spec); }),
             want,
             {}});
      }
    }
  }
  RunCases(cases);
}

TEST(CardBk005Test, RegionsVersionsMethods) {
  struct Version {
    const char* text;
    enum { kOld, kNew, kMalformed } verdict;
  };
  const Version versions[] = {
      {"v1.7.9", Version::kOld}, {"v1.8.3", Version::kOld},      {"v1.8.4-rc.1", Version::kOld},
      {"v1.8.4", Version::kNew}, {"v1.8.10", Version::kNew},     {"v1.10.0", Version::kNew},
      {"v2.0.0", Version::kNew}, {"1.8.4", Version::kMalformed}, {"", Version::kMalformed},
  };
  const char* kRegions[] = {"cn-wulanchabu", "cn-heyuan", "cn-guangzhou", "cn-hangzhou",
                            "ap-southeast-1"};
  std::vector<Case> cases;
  for (Form form : {Form::kBackup, Form::kTemplate}) {
    for (const std::string type : {"ACKManaged", "ACKDedicated", "Registered"}) {
      for (const char* region : kRegions) {
        const std::string r = region;
        const bool gated = r == "cn-wulanchabu" || r == "cn-heyuan" || r == "cn-guangzhou";
        for (const Version& v : versions) {
          for (const std::string method : {"CloudBackup", "Auto", "Snapshot"}) {
            const bool cloud = method != "Snapshot";
            std::vector<std::string> want, warnings;
            if (cloud && gated) {
              warnings = As(form, {kBk006});
              if (v.verdict == Version::kOld) want = As(form, {kBk005});
              if (v.verdict == Version::kMalformed) {
                const std::string why =
                    std::string(v.text).empty()
                        ? "ClusterProfile \"cluster\" has neither status.componentVersion nor "
                          "spec.componentVersion"
                        : "ClusterProfile \"cluster\" componentVersion \"" + std::string(v.text) +
                              "\" is not a version vMAJOR.MINOR.PATCH";
                want = As(form, {std::string(kBk005) + " (cannot verify: " + why + ")"});
              }
            }
            cases.push_back(
                {std::string(Name(form)) + " " + type + " " + region + " " + v.text + " " + method,
                 ClusterOf(type, region, v.text), Make(form, Spec("AppAndPvBackup", method)), want,
                 warnings});
          }
        }
        // No volume data, no Cloud Backup: never judged.
        cases.push_back({std::string(Name(form)) + " " + type + " " + region + " AppBackup v1.8.3",
                         ClusterOf(type, region, "v1.8.3"),
                         Make(form, Spec("AppBackup", "CloudBackup")),
                         {},
                         {}});
      }
    }
  }
  RunCases(cases);
}

TEST(CardBk005Test, RegionUnknownAndEdgeCombinations) {
  const std::string no_region =
      std::string(kBk005) +
      " (cannot verify: ClusterProfile \"cluster\" has neither status.regionID nor spec.regionID)";
  RunCases({
      {"no region, v1.8.3: fails closed",
       ClusterOf("ACKManaged", "", "v1.8.3"),
       Make(Form::kBackup, Spec("AppAndPvBackup", "CloudBackup")),
       {no_region},
       {}},
      {"no region, v1.8.4: supported everywhere",
       ClusterOf("ACKManaged", "", "v1.8.4"),
       Make(Form::kBackup, Spec("AppAndPvBackup", "CloudBackup")),
       {},
       {}},
      {"region from status.regionID",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKManaged", "", "v1.8.3");
         SetPath(&p, "status.regionID", json::Value("cn-heyuan"));
         f->Put(std::move(p));
       },
       Make(Form::kTemplate, Spec("AppAndPvBackup", "Auto")), As(Form::kTemplate, {kBk005}),
       As(Form::kTemplate, {kBk006})},
      {"the observed status.regionID wins over a declared spec.regionID",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKManaged", "cn-hangzhou", "v1.8.3");
         SetPath(&p, "status.regionID", json::Value("cn-heyuan"));
         f->Put(std::move(p));
       },
       Make(Form::kBackup, Spec("AppAndPvBackup", "CloudBackup")),
       {kBk005},
       {"[CSDR-CP-005] ClusterProfile \"cluster\" declares spec.regionID \"cn-hangzhou\" but "
        "the cluster shows \"cn-heyuan\"; the rules use what the cluster shows",
        kBk006}},
      {"the observed status.componentVersion wins over a declared one",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKManaged", "cn-heyuan", "v1.8.4");
         SetPath(&p, "status.componentVersion", json::Value("v1.8.3"));
         f->Put(std::move(p));
       },
       Make(Form::kBackup, Spec("AppAndPvBackup", "CloudBackup")),
       {kBk005},
       {"[CSDR-CP-005] ClusterProfile \"cluster\" declares spec.componentVersion \"v1.8.4\" "
        "but the cluster shows \"v1.8.3\"; the rules use what the cluster shows",
        kBk006}},
      {"ACKEdge in cn-heyuan on v1.8.3: every applicable rule is reported",
       ClusterOf("ACKEdge", "cn-heyuan", "v1.8.3"),
       Make(Form::kBackup, Spec("AppAndPvBackup", "CloudBackup")),
       {kBk004, kBk005},
       {kBk006}},
  });
}

TEST(CardDep004Test, SecretStatesByClusterTypeAndKind) {
  struct SecretState {
    const char* name;
    std::function<void(FakeFacts*)> world;
    bool usable;
    const char* unknown;  // the reason when the cluster cannot be asked
  };
  const SecretState states[] = {
      {"missing", [](FakeFacts*) {}, false, nullptr},
      {"empty access-key-id",
       [](FakeFacts* f) {
         f->PutCluster(AddonSecret(R"({"access-key-id":"","access-key-secret":"c2VjcmV0"})"));
       },
       false, nullptr},
      {"empty access-key-secret",
       [](FakeFacts* f) {
         f->PutCluster(AddonSecret(R"({"access-key-id":"TFRBSQ==","access-key-secret":""})"));
       },
       false, nullptr},
      {"only access-key-id",
       [](FakeFacts* f) { f->PutCluster(AddonSecret(R"({"access-key-id":"TFRBSQ=="})")); }, false,
       nullptr},
      {"present", [](FakeFacts* f) { f->PutCluster(AddonSecret(kGoodKeys)); }, true, nullptr},
      {"present in another namespace",
       [](FakeFacts* f) {
         json::Value s = AddonSecret(kGoodKeys);
         SetPath(&s, "metadata.namespace", json::Value("kube-system"));
         f->PutCluster(std::move(s));
       },
       false, nullptr},
      {"cluster not configured",
       [](FakeFacts* f) {
         f->SetClusterUnknown("no cluster connection is configured (--kubeconfig or in-cluster)");
       },
       false, "no cluster connection is configured (--kubeconfig or in-cluster)"},
  };
  struct Kind {
    const char* name;
    std::function<json::Value()> make;
  };
  const Kind kinds[] = {
      {"BackupVault", [] { return Vault("v2"); }},
      {"Backup", [] { return Backup("b1", Spec("AppBackup", "")); }},
      {"Restore", [] { return Restore("r1", R"({"backupName":"done","restoreVolumes":false})"); }},
      {"BackupSchedule", [] { return Schedule(Spec("AppBackup", "")); }},
  };
  std::vector<Case> cases;
  for (const std::string& type : kAllTypes) {
    for (const SecretState& s : states) {
      for (const Kind& k : kinds) {
        std::vector<std::string> want;
        if (type == "ACKServerlessBasic") {
          want = {kDep002};
        } else if (NeedsSecret(type) && s.unknown != nullptr) {
          want = {std::string(kDep004) + " (cannot verify: " + s.unknown + ")"};
        } else if (NeedsSecret(type) && !s.usable) {
          want = {kDep004};
        }
        std::vector<std::string> warnings;
        auto world = s.world;
        cases.push_back({type + " / " + s.name + " / " + k.name,
                         [type, world](FakeFacts* f) {
                           f->Put(Profile(type, "cn-hangzhou", "v1.8.4"));
                           world(f);
                         },
                         CreateOf(k.make), want, warnings});
      }
    }
  }
  RunCases(cases);
}

TEST(CardRs002Test, CrossRegionRestoreVersionBoundary) {
  std::vector<Case> cases;
  for (const char* version : {"v1.7.6", "v1.7.7", "v1.7.10", "v1.8.10"}) {
    const bool old = std::string(version) == "v1.7.6";
    for (bool cross : {true, false}) {
      cases.push_back({std::string(version) + (cross ? " cross-region" : " same region"),
                       [version, cross](FakeFacts* f) {
                         f->Put(Profile("ACKManaged", "cn-hangzhou", version));
                         json::Value b = DoneBackup();
                         if (cross)
                           SetPath(&b, "status.sourceCluster.regionID", json::Value("cn-beijing"));
                         f->Put(std::move(b));
                       },
                       CreateOf([] { return Restore("r1", R"({"backupName":"done"})"); }),
                       old && cross ? std::vector<std::string>{kRs002} : std::vector<std::string>{},
                       {}});
    }
  }
  RunCases(cases);
}

}  // namespace
}  // namespace csdr::webhook
