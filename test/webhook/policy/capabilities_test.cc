// status.capabilities against the rules: for every cluster type, gated and ungated regions,
// old, new, missing and malformed versions, and observed facts that beat declared ones, each
// capability says exactly what the rule that judges it decides (a capability left out is a
// rule that cannot verify).
#include "webhook/policy/capabilities.h"

#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

// What the rule `id` did to a request: nothing, a denial, or a "cannot verify" denial.
enum class Verdict { kAllowed, kDenied, kUnverified };

Verdict VerdictOf(const Decision& d, std::string_view id) {
  for (const std::string& m : d.denials) {
    if (m.find("[" + std::string(id) + "]") == std::string::npos) continue;
    return m.find("(cannot verify:") != std::string::npos ? Verdict::kUnverified : Verdict::kDenied;
  }
  return Verdict::kAllowed;
}

// The capability as the rule's verdict would have it.
void ExpectAgrees(const json::Value& caps, const char* capability, Verdict v,
                  const std::string& trace) {
  const json::Value* c = caps.Find(capability);
  if (v == Verdict::kUnverified) {
    EXPECT_EQ(c, nullptr) << trace << ": " << capability << " is "
                          << json::Serialize(c ? *c : json::Value())
                          << " but the rule cannot verify";
    return;
  }
  ASSERT_NE(c, nullptr) << trace << ": " << capability << " missing, the rule decided";
  EXPECT_EQ(c->as_bool(), v == Verdict::kAllowed) << trace << ": " << capability;
}

TEST(CapabilitiesTest, AgreeWithTheRulesThatJudgeThem) {
  const char* kTypes[] = {"ACKManaged", "ACKDedicated", "ACKServerlessPro", "ACKEdge",
                          "Registered"};
  const char* kRegions[] = {"cn-hangzhou", "cn-heyuan", "cn-wulanchabu", ""};
  const char* kVersions[] = {"v1.7.6", "v1.7.7", "v1.8.3", "v1.8.4", "v1.9.0", "", "1.8"};
  int cases = 0;
  for (const char* type : kTypes) {
    for (const char* region : kRegions) {
      for (const char* version : kVersions) {
        for (bool observed : {false, true}) {
          // Observed: the facts in status (discovery's), with contrary declarations in spec.
          json::Value profile =
              Profile(type, observed ? "cn-beijing" : region, observed ? "v1.0.0" : version);
          if (observed) {
            if (*region != '\0')
              SetPath(&profile, "status.regionID", json::Value(region));
            else
              ErasePath(&profile, "spec.regionID");
            if (*version != '\0')
              SetPath(&profile, "status.componentVersion", json::Value(version));
            else
              ErasePath(&profile, "spec.componentVersion");
          }
          SetPath(&profile, "status.allNodesECS", json::Value(std::string(type) == "Registered"));
          const std::string trace = std::string(type) + " " + region + " " + version +
                                    (observed ? " observed" : " declared");
          FakeFacts facts;
          Baseline(&facts);
          facts.Put(profile);
          facts.PutCluster(AddonSecret(kGoodKeys));
          const json::Value caps = CapabilitiesOf(profile);
          EXPECT_EQ(caps.Find("backupCenter")->as_bool(), true) << trace;

          const json::Value cloud = Backup(
              "b1",
              R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
                "volumeBackup":{"method":"CloudBackup"}})");
          const Decision dc = Evaluate(Create(cloud), facts);
          ExpectAgrees(caps, "volumeBackup", VerdictOf(dc, "CSDR-BK-004"), trace);
          if (caps.Find("volumeBackup")->as_bool()) {
            ExpectAgrees(caps, "cloudBackup", VerdictOf(dc, "CSDR-BK-005"), trace);
            const json::Value snap = Backup(
                "b2",
                R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
                  "volumeBackup":{"method":"Snapshot"}})");
            ExpectAgrees(caps, "ecsSnapshot",
                         VerdictOf(Evaluate(Create(snap), facts), "CSDR-BK-007"), trace);
            if (*region != '\0') {
              // A disk backup from another region, restored here.
              json::Value done = DoneBackup();
              SetPath(&done, "status.sourceCluster.regionID",
                      json::Value(std::string(region) == "cn-hangzhou" ? "cn-shanghai"
                                                                       : "cn-hangzhou"));
              facts.Put(done);
              const json::Value restore =
                  Restore("r1", R"({"backupName":"done","includedNamespaces":["shop"]})");
              ExpectAgrees(caps, "crossRegionDiskRestore",
                           VerdictOf(Evaluate(Create(restore), facts), "CSDR-RS-002"), trace);
            }
          } else {
            EXPECT_FALSE(caps.Find("cloudBackup")->as_bool()) << trace;
            EXPECT_FALSE(caps.Find("ecsSnapshot")->as_bool()) << trace;
            EXPECT_FALSE(caps.Find("crossRegionDiskRestore")->as_bool()) << trace;
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 5 * 4 * 7 * 2);
}

TEST(CapabilitiesTest, ServerlessBasicSupportsNothingAndNoTypeDecidesNothing) {
  const json::Value basic = CapabilitiesOf(Profile("ACKServerlessBasic", "cn-hangzhou", "v1.9.0"));
  EXPECT_EQ(basic, J(R"({"backupCenter":false,"volumeBackup":false,"ecsSnapshot":false,
      "cloudBackup":false,"crossRegionDiskRestore":false})"))
      << json::Serialize(basic);
  EXPECT_EQ(CapabilitiesOf(Profile("", "cn-hangzhou", "v1.9.0")), json::Value::MakeObject());
}

}  // namespace
}  // namespace csdr::webhook
