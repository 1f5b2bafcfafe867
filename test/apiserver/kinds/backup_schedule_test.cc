#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

const KindStrategy& Kind() { return *FindKindByResource("backupschedules"); }

// domain.md section 7.7.
json::Value Base() {
  return Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule","metadata":{"name":"nightly","namespace":"csdr"},
    "spec":{"schedule":"1 4 * * *","template":{"vaultName":"prod-vault","backupType":"AppAndPvBackup",
            "includedNamespaces":["shop"],"volumeBackup":{"method":"Auto"},"ttl":"720h"},
            "retention":{"keepLastSuccessful":1}}})");
}

TEST(BackupScheduleTest, Defaults) {
  RunDefaultCases(
      Kind(),
      {
          {"the template gets Backup's defaults",
           R"({"spec":{"schedule":"6h","template":{"vaultName":"v","backupType":"AppAndPvBackup"}}})",
           R"({"spec":{"schedule":"6h","template":{"vaultName":"v","backupType":"AppAndPvBackup","volumeBackup":{"method":"Auto"},"ttl":"720h"}}})"},
          {"no template", R"({"spec":{"schedule":"6h"}})",
           R"({"spec":{"schedule":"6h","template":{"backupType":"AppBackup","ttl":"720h"}}})"},
      });
  // The example of domain.md is already complete.
  json::Value example = Base();
  Kind().Default(&example);
  EXPECT_EQ(example, Base());
}

TEST(BackupScheduleTest, ValidateCreate) {
  RunCreateCases(
      Kind(), Base(),
      {
          {"valid", "", {}},
          {"interval", R"({"spec":{"schedule":"6h30m"}})", {}},
          {"cron with a zone", R"({"spec":{"schedule":"CRON_TZ=Asia/Shanghai 0 3 * * *"}})", {}},
          {"cron with names", R"({"spec":{"schedule":"0 2 * * MON-FRI"}})", {}},
          {"zero interval", R"({"spec":{"schedule":"0s"}})", {{kInvalid, "spec.schedule"}}},
          {"negative interval", R"({"spec":{"schedule":"-1h"}})", {{kInvalid, "spec.schedule"}}},
          {"prose", R"({"spec":{"schedule":"every day"}})", {{kInvalid, "spec.schedule"}}},
          {"minute out of range",
           R"({"spec":{"schedule":"61 * * * *"}})",
           {{kInvalid, "spec.schedule"}}},
          {"six fields", R"({"spec":{"schedule":"0 1 4 * * *"}})", {{kInvalid, "spec.schedule"}}},
          {"descriptor", R"({"spec":{"schedule":"@daily"}})", {{kInvalid, "spec.schedule"}}},
          {"no schedule", R"({"spec":{"schedule":null}})", {{kRequired, "spec.schedule"}}},
          {"no template", R"({"spec":{"template":null}})", {{kRequired, "spec.template"}}},
          {"template without vault",
           R"({"spec":{"template":{"vaultName":null}}})",
           {{kRequired, "spec.template.vaultName"}}},
          {"template ttl in days",
           R"({"spec":{"template":{"ttl":"7d"}}})",
           {{kInvalid, "spec.template.ttl"}}},
          {"template volume settings on an application backup",
           R"({"spec":{"template":{"backupType":"AppBackup"}}})",
           {{kForbidden, "spec.template.volumeBackup"}}},
          {"template with a bad namespace",
           R"({"spec":{"template":{"includedNamespaces":["Shop"]}}})",
           {{kInvalid, "spec.template.includedNamespaces[0]"}}},
          {"keep none",
           R"({"spec":{"retention":{"keepLast":0}}})",
           {{kInvalid, "spec.retention.keepLast"}}},
          {"keep negative",
           R"({"spec":{"retention":{"keepLastSuccessful":-1}}})",
           {{kInvalid, "spec.retention.keepLastSuccessful"}}},
          {"paused", R"({"spec":{"paused":true,"skipImmediately":true}})", {}},
      });
  FieldErrors e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"schedule":"61 * * * *"}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message,
            "Invalid value: \"61 * * * *\": must be a 5-field cron expression such as \"1 4 * * "
            "*\" (optionally "
            "prefixed \"CRON_TZ=<zone> \") or an interval such as \"6h30m\": minute: end of range "
            "(61) above "
            "maximum (59): 61");
  e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"retention":{"keepLast":0}}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: 0: must be greater than or equal to 1");
}

TEST(BackupScheduleTest, ValidateUpdate) {
  RunUpdateCases(
      Kind(), Base(),
      {
          {"unchanged", "", {}},
          {"new schedule", R"({"spec":{"schedule":"0 */6 * * *"}})", {}},
          {"new template", R"({"spec":{"template":{"vaultName":"other","ttl":"48h"}}})", {}},
          {"pause", R"({"spec":{"paused":true}})", {}},
          {"still validated",
           R"({"spec":{"schedule":"sometimes"}})",
           {{kInvalid, "spec.schedule"}}},
      });
}

TEST(BackupScheduleTest, ValidateStatus) {
  const json::Value base = Patched(Base(), R"({"status":{"phase":"Enabled",
      "lastBackup":{"name":"nightly-20261124","time":"2026-11-24T04:01:00Z","phase":"Completed"},
      "nextRunTime":"2026-11-25T04:01:00Z","validationErrors":[]}})");
  RunStatusCases(
      Kind(), base,
      {
          {"valid", "", {}},
          {"unknown phase", R"({"status":{"phase":"Running"}})", {{kNotSupported, "status.phase"}}},
          {"last backup without name",
           R"({"status":{"lastBackup":{"name":null}}})",
           {{kRequired, "status.lastBackup.name"}}},
          {"last backup phase",
           R"({"status":{"lastSuccessfulBackup":{"name":"b","phase":"Great"}}})",
           {{kNotSupported, "status.lastSuccessfulBackup.phase"}}},
          {"bad next run",
           R"({"status":{"nextRunTime":"tomorrow"}})",
           {{kInvalid, "status.nextRunTime"}}},
      });
}

TEST(BackupScheduleTest, Cells) {
  struct Case {
    const char* name;
    const char* patch;
    const char* want;
  };
  const Case cases[] = {
      {"enabled",
       R"({"status":{"lastBackup":{"name":"nightly-20261124","phase":"Completed"},"nextRunTime":"2026-11-25T04:01:00Z"}})",
       R"(["nightly","1 4 * * *","prod-vault",false,"nightly-20261124","Completed","19h","5m10s"])"},
      {"overdue", R"({"spec":{"paused":true},"status":{"nextRunTime":"2026-11-24T04:01:00Z"}})",
       R"(["nightly","1 4 * * *","prod-vault",true,null,null,"due","5m10s"])"},
      // No status.nextRunTime (no controller yet, or none running): when spec.schedule next
      // fires after the request (it is 09:00 UTC).
      {"never run", "", R"(["nightly","1 4 * * *","prod-vault",false,null,null,"19h","5m10s"])"},
      {"in its zone", R"({"spec":{"schedule":"CRON_TZ=Asia/Shanghai 1 4 * * *"}})",
       R"(["nightly","CRON_TZ=Asia/Shanghai 1 4 * * *","prod-vault",false,null,null,"11h","5m10s"])"},
      {"interval from creation", R"({"spec":{"schedule":"6h30m"}})",
       R"(["nightly","6h30m","prod-vault",false,null,null,"6h24m","5m10s"])"},
      {"interval from the last run",
       R"({"spec":{"schedule":"2h"},"status":{"lastBackup":{"name":"n","time":"2026-11-24T02:00:00Z"}}})",
       R"(["nightly","2h","prod-vault",false,"n",null,"60m","5m10s"])"},
      {"paused", R"({"spec":{"paused":true}})",
       R"(["nightly","1 4 * * *","prod-vault",true,null,null,null,"5m10s"])"},
      {"unparsable", R"({"spec":{"schedule":"61 * * * *"}})",
       R"(["nightly","61 * * * *","prod-vault",false,null,null,null,"5m10s"])"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value obj =
        Patched(Patched(Base(), c.patch),
                std::string(R"({"metadata":{"creationTimestamp":")") + kCreated + "\"}}");
    EXPECT_EQ(CellsText(Kind().Cells(obj, Now())), json::Serialize(Json(c.want)));
  }
}

}  // namespace
}  // namespace csdr::apiserver
