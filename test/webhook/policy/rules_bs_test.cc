// CSDR-BS-001..005: backup schedules. (The Backup rules a template runs through BS-002 are
// tested rule by rule in rules_bk_test.cc and card_rules_test.cc.)
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kBs001 =
    "[CSDR-BS-001] schedule must be a 5-field cron expression (e.g. \"1 4 * * *\") or an interval "
    "such as \"6h30m\"";
constexpr const char* kBs004 =
    "[CSDR-BS-004] frequent schedules accumulate backups until ttl expires; consider "
    "retention.keepLast";
constexpr const char* kBs005 = "[CSDR-BS-005] retention counts must be >= 1";
constexpr const char* kTemplate = R"({"vaultName":"v1","includedNamespaces":["shop"]})";

std::function<json::Value()> S(std::string schedule, std::string retention = "") {
  return [schedule, retention] {
    json::Value s = Schedule(kTemplate, schedule);
    if (!retention.empty()) SetPath(&s, "spec.retention", J(retention));
    return s;
  };
}

TEST(Bs001Test, CronOrInterval) {
  RunCases({
      {"daily cron", {}, CreateOf(S("1 4 * * *")), {}, {}},
      {"CRON_TZ cron", {}, CreateOf(S("CRON_TZ=Asia/Shanghai 1 4 * * *")), {}, {}},
      {"interval 6h30m", {}, CreateOf(S("6h30m")), {}, {}},
      {"interval 24h", {}, CreateOf(S("24h")), {}, {}},
      {"6 fields", {}, CreateOf(S("0 1 4 * * *")), {kBs001}, {}},
      {"minute 60", {}, CreateOf(S("60 4 * * *")), {kBs001}, {}},
      {"descriptor", {}, CreateOf(S("@daily")), {kBs001}, {}},
      {"zero interval", {}, CreateOf(S("0s")), {kBs001}, {}},
      {"negative interval", {}, CreateOf(S("-1h")), {kBs001}, {}},
      {"days", {}, CreateOf(S("1d")), {kBs001}, {}},
      {"empty", {}, CreateOf(S("")), {kBs001}, {}},
      {"update to a bad schedule", {}, UpdateOf(S("1 4 * *"), S("1 4 * * *")), {kBs001}, {}},
      {"update keeping a stored bad schedule (not re-judged)",
       {},
       UpdateOf(
           [] {
             json::Value s = S("1 4 * *")();
             SetPath(&s, "spec.paused", json::Value(true));
             return s;
           },
           S("1 4 * *")),
       {},
       {}},
  });
}

TEST(Bs002Test, TemplateRulesOnUpdateOnlyWhenTheTemplateChanges) {
  const auto unavailable = [](FakeFacts* f) { f->Put(Vault("v1", "Unavailable")); };
  RunCases({
      {"pausing a schedule whose vault is Unavailable",
       unavailable,
       UpdateOf(
           [] {
             json::Value s = S("1 4 * * *")();
             SetPath(&s, "spec.paused", json::Value(true));
             return s;
           },
           S("1 4 * * *")),
       {},
       {}},
      {"changing its template",
       unavailable,
       UpdateOf(
           [] {
             json::Value s = S("1 4 * * *")();
             SetPath(&s, "spec.template.ttl", json::Value("48h"));
             return s;
           },
           S("1 4 * * *")),
       {"template: [CSDR-BK-001] backup vault \"v1\" is not Available (phase=Unavailable)"},
       {}},
      {"a template with no vault",
       {},
       CreateOf([] {
         json::Value s = S("1 4 * * *")();
         s["spec"].Erase("template");
         return s;
       }),
       {"template: [CSDR-BK-001] backup vault \"\" is not Available (phase=NotFound)"},
       {}},
  });
  const Case c{
      "",
      [](FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); },
      UpdateOf(
          [] {
            json::Value s = Schedule(
                R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"]})");
            return s;
          },
          S("1 4 * * *")),
      {},
      {}};
  // On UPDATE no DEP-003 speaks for a missing profile, so the template's profile rules fail
  // closed themselves.
  const Decision d = RunCase(c);
  EXPECT_EQ(
      d.denials,
      (std::vector<std::string>{
          "template: [CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK "
          "Edge clusters; "
          "use backupType AppBackup (cannot verify: ClusterProfile \"cluster\" does not exist)",
          "template: [CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) "
          "and China "
          "(Guangzhou) requires migrate-controller v1.8.4 or later (cannot verify: ClusterProfile "
          "\"cluster\" "
          "does not exist)"}));
  EXPECT_EQ(d.denied_rule_ids, std::vector<std::string>{"CSDR-BS-002"});
}

TEST(Bs003Test, MissingNamespaces) {
  RunCases({
      {"shop exists", {}, CreateOf(S("1 4 * * *")), {}, {}},
      {"apps does not",
       {},
       CreateOf(
           [] { return Schedule(R"({"vaultName":"v1","includedNamespaces":["shop","apps"]})"); }),
       {},
       {"[CSDR-BS-003] namespace \"apps\" does not exist; scheduled runs will fail with \"get "
        "target namespace "
        "failed\""}},
      {"cluster unknown: no warning",
       [](FakeFacts* f) { f->SetClusterUnknown("no cluster"); },
       CreateOf([] { return Schedule(R"({"vaultName":"v1","includedNamespaces":["apps"]})"); }),
       {},
       {}},
  });
}

TEST(Bs004Test, FrequentSchedulesWithoutKeepLast) {
  RunCases({
      {"hourly cron", {}, CreateOf(S("0 * * * *")), {}, {}},
      {"every 30 minutes", {}, CreateOf(S("*/30 * * * *")), {}, {kBs004}},
      {"twice an hour by list", {}, CreateOf(S("0,30 9 * * *")), {}, {kBs004}},
      {"every 30 minutes with keepLast",
       {},
       CreateOf(S("*/30 * * * *", R"({"keepLast":48})")),
       {},
       {}},
      {"every 30 minutes with keepLastSuccessful only",
       {},
       CreateOf(S("*/30 * * * *", R"({"keepLastSuccessful":1})")),
       {},
       {kBs004}},
      {"interval 59m", {}, CreateOf(S("59m")), {}, {kBs004}},
      {"interval 1h", {}, CreateOf(S("1h")), {}, {}},
  });
}

TEST(Bs005Test, RetentionCounts) {
  RunCases({
      {"keepLast 1", {}, CreateOf(S("1 4 * * *", R"({"keepLast":1})")), {}, {}},
      {"keepLast 0", {}, CreateOf(S("1 4 * * *", R"({"keepLast":0})")), {kBs005}, {}},
      {"keepLastSuccessful -1",
       {},
       CreateOf(S("1 4 * * *", R"({"keepLastSuccessful":-1})")),
       {kBs005},
       {}},
      {"both unset", {}, CreateOf(S("1 4 * * *", R"({})")), {}, {}},
  });
}

}  // namespace
}  // namespace csdr::webhook
