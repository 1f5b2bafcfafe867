// The schedule controller against the registry on memory://, with the clock in the test's
// hands: due times, the first run, pause, missed runs and their deadline, idempotent names,
// denials, status, and retention through the controller.
#include "controllers/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "test/controllers/controllers_test_util.h"

namespace csdr::controllers {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;
using testing::At;
using testing::Sample;

class ScheduleControllerTest : public testing::ControllerWorld {
 protected:
  std::optional<system_clock::time_point> SyncAt(ScheduleController& c, const std::string& t) {
    SetNow(t);
    Refresh();
    auto next = c.Sync(Now());
    Refresh();
    return next;
  }
  std::string Status(const std::string& schedule, std::initializer_list<std::string_view> path) {
    return Get("backupschedules", schedule).GetString(path);
  }
};

TEST_F(ScheduleControllerTest, ANewScheduleRunsAtOnceThenAtEachDueTime) {
  SetNow("2026-12-07T10:00:30Z");
  json::Value s =
      CreateSchedule("nightly", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  auto next = SyncAt(c, "2026-12-07T10:00:30Z");
  ASSERT_EQ(BackupNames(), std::vector<std::string>{"nightly-20261207100030"});
  EXPECT_EQ(next, At("2026-12-07T10:05:00Z"));
  // The Backup: the template, the label, owned by the schedule, judged by admission.
  json::Value b = Get("backups", "nightly-20261207100030");
  EXPECT_EQ(b.GetString({"spec", "vaultName"}), "v");
  EXPECT_EQ(b.GetString({"metadata", "labels", "csdr.io/schedule"}), "nightly");
  const json::Value* owners = b.FindPath({"metadata", "ownerReferences"});
  ASSERT_TRUE(owners != nullptr && owners->is_array() && owners->size() == 1);
  EXPECT_EQ(owners->array()[0].GetString({"uid"}), s.GetString({"metadata", "uid"}));
  EXPECT_EQ(owners->array()[0].GetString({"kind"}), "BackupSchedule");
  EXPECT_EQ(admission_.backup_creates.load(), 1);
  EXPECT_EQ(events_.Take(), std::vector<std::string>{"Normal SuccessfulCreate BackupSchedule/"
                                                     "nightly: Created backup "
                                                     "nightly-20261207100030"});
  // Status through the status subresource.
  EXPECT_EQ(Status("nightly", {"status", "phase"}), "Enabled");
  EXPECT_EQ(Status("nightly", {"status", "lastBackup", "name"}), "nightly-20261207100030");
  EXPECT_EQ(Status("nightly", {"status", "lastBackup", "time"}), "2026-12-07T10:00:30Z");
  EXPECT_EQ(Status("nightly", {"status", "nextRunTime"}), "2026-12-07T10:05:00Z");
  // Nothing more until it is due; then exactly the due time's Backup.
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:04:59Z"), At("2026-12-07T10:05:00Z"));
  EXPECT_EQ(BackupNames().size(), 1u);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:05:00Z"), At("2026-12-07T10:10:00Z"));
  EXPECT_EQ(BackupNames(),
            (std::vector<std::string>{"nightly-20261207100030", "nightly-20261207100500"}));
  // lastBackup's phase follows its Backup; lastSuccessfulBackup is the newest Completed one.
  SetBackupStatus("nightly-20261207100500", R"({"phase":"Completed"})");
  SyncAt(c, "2026-12-07T10:06:00Z");
  EXPECT_EQ(Status("nightly", {"status", "lastBackup", "phase"}), "Completed");
  EXPECT_EQ(Status("nightly", {"status", "lastSuccessfulBackup", "name"}),
            "nightly-20261207100500");
}

TEST_F(ScheduleControllerTest, SkipImmediatelyWaitsForTheFirstDueTime) {
  SetNow("2026-12-07T10:00:30Z");
  CreateSchedule(
      "s", R"({"schedule":"*/5 * * * *","skipImmediately":true,"template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:31Z"), At("2026-12-07T10:05:00Z"));
  EXPECT_TRUE(BackupNames().empty());
  SyncAt(c, "2026-12-07T10:05:01Z");
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100500"});
}

TEST_F(ScheduleControllerTest, APausedScheduleMakesNothingAndUnpausedDoesNotCatchUp) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  SyncAt(c, "2026-12-07T10:00:00Z");
  ASSERT_EQ(BackupNames().size(), 1u);
  // Pause.
  json::Value s = Get("backupschedules", "s");
  s["spec"].Set("paused", true);
  ASSERT_TRUE(registry_->Update(ScopeOf("backupschedules", "s"), s, {}).ok());
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:01:00Z"), std::nullopt);
  EXPECT_EQ(Status("s", {"status", "phase"}), "Paused");
  {  // The status is of the spec it saw: the pause made generation 2.
    const json::Value paused = Get("backupschedules", "s");
    const json::Value* observed = paused.FindPath({"status", "observedGeneration"});
    ASSERT_NE(observed, nullptr);
    EXPECT_EQ(observed->as_int(), 2);
    EXPECT_EQ(paused.FindPath({"metadata", "generation"})->as_int(), 2);
  }
  EXPECT_EQ(Status("s", {"status", "nextRunTime"}), "");
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:20:00Z"), std::nullopt);
  EXPECT_EQ(BackupNames().size(), 1u);
  // Unpause at 10:22: no run for 10:05..10:20; the next is 10:25.
  s = Get("backupschedules", "s");
  s["spec"].Set("paused", false);
  ASSERT_TRUE(registry_->Update(ScopeOf("backupschedules", "s"), s, {}).ok());
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:22:00Z"), At("2026-12-07T10:25:00Z"));
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:23:00Z"), At("2026-12-07T10:25:00Z"));
  EXPECT_EQ(BackupNames().size(), 1u);
  EXPECT_EQ(Status("s", {"status", "phase"}), "Enabled");
  SyncAt(c, "2026-12-07T10:25:00Z");
  EXPECT_EQ(BackupNames().size(), 2u);
}

// Velero's semantics: a schedule with no lastBackup runs at once when it becomes active,
// whether created so or unpaused so (skipImmediately aside).
TEST_F(ScheduleControllerTest, UnpausedWithoutALastBackupRunsAtOnce) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"0 4 * * *","paused":true,"template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), std::nullopt);
  EXPECT_TRUE(BackupNames().empty());
  json::Value s = Get("backupschedules", "s");
  s["spec"].Set("paused", false);
  ASSERT_TRUE(registry_->Update(ScopeOf("backupschedules", "s"), s, {}).ok());
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:07:00Z"), At("2026-12-08T04:00:00Z"));
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100700"});
  EXPECT_EQ(Status("s", {"status", "lastBackup", "name"}), "s-20261207100700");
}

TEST_F(ScheduleControllerTest, MissedRunsMakeOneCatchUpWithinTheDeadline) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  {
    ScheduleController c(Context(), 1h);
    SyncAt(c, "2026-12-07T10:00:00Z");
  }
  // No controller ran from 10:00 to 10:17:10: one run, for 10:15, not for 10:05 or 10:10.
  ScheduleController later(Context(), 1h);
  EXPECT_EQ(SyncAt(later, "2026-12-07T10:17:10Z"), At("2026-12-07T10:20:00Z"));
  EXPECT_EQ(BackupNames(), (std::vector<std::string>{"s-20261207100000", "s-20261207101500"}));
  EXPECT_EQ(SyncAt(later, "2026-12-07T10:18:00Z"), At("2026-12-07T10:20:00Z"));
  EXPECT_EQ(BackupNames().size(), 2u);
}

TEST_F(ScheduleControllerTest, AMissedRunPastTheDeadlineIsSkipped) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  {
    ScheduleController c(Context(), 1h);
    SyncAt(c, "2026-12-07T10:00:00Z");
  }
  ScheduleController later(Context(), 60s);
  events_.Take();
  EXPECT_EQ(SyncAt(later, "2026-12-07T10:17:10Z"), At("2026-12-07T10:20:00Z"));
  EXPECT_EQ(BackupNames().size(), 1u);
  // Said once, not on every pass until the next due time.
  SyncAt(later, "2026-12-07T10:18:00Z");
  std::vector<std::string> events = events_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].rfind("Warning MissSchedule BackupSchedule/s: Missed scheduled time to "
                            "start a backup: 2026-12-07T10:15:00Z",
                            0),
            0u)
      << events[0];
  EXPECT_EQ(Status("s", {"status", "nextRunTime"}), "2026-12-07T10:20:00Z");
  SyncAt(later, "2026-12-07T10:20:00Z");
  EXPECT_EQ(BackupNames().size(), 2u);
}

TEST_F(ScheduleControllerTest, IntervalsCountFromTheLastRun) {
  SetNow("2026-12-07T10:00:07Z");
  CreateSchedule("i", R"({"schedule":"1h30m","template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:07Z"), At("2026-12-07T11:30:07Z"));
  EXPECT_EQ(SyncAt(c, "2026-12-07T11:30:07Z"), At("2026-12-07T13:00:07Z"));
  EXPECT_EQ(BackupNames(), (std::vector<std::string>{"i-20261207100007", "i-20261207113007"}));
}

TEST_F(ScheduleControllerTest, CronTzPicksTheZonesWallClock) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule(
      "z",
      R"({"schedule":"CRON_TZ=Asia/Shanghai 0 2 * * *","skipImmediately":true,"template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  // 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before.
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), At("2026-12-07T18:00:00Z"));
  EXPECT_EQ(Status("z", {"status", "nextRunTime"}), "2026-12-07T18:00:00Z");
}

TEST_F(ScheduleControllerTest, AnUnknownZoneIsFailedValidation) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("z",
                 R"({"schedule":"CRON_TZ=Mars/Olympus 0 2 * * *","template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), std::nullopt);
  EXPECT_TRUE(BackupNames().empty());
  EXPECT_EQ(Status("z", {"status", "phase"}), "FailedValidation");
  const json::Value z = Get("backupschedules", "z");
  const json::Value* errors = z.FindPath({"status", "validationErrors"});
  ASSERT_TRUE(errors != nullptr && errors->is_array() && errors->size() == 1);
  EXPECT_NE(errors->array()[0].as_string().find("Mars/Olympus"), std::string::npos);
}

TEST_F(ScheduleControllerTest, TwoReplicasMakeOneBackupPerDueTime) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule(
      "s", R"({"schedule":"*/5 * * * *","skipImmediately":true,"template":{"vaultName":"v"}})");
  ScheduleController a(Context(), 1h);
  ScheduleController b(Context(), 1h);
  SetNow("2026-12-07T10:05:00Z");
  Refresh();
  a.Sync(Now());
  b.Sync(Now());  // the same informer view: it tries the same name and finds it made
  Refresh();
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100500"});
  EXPECT_EQ(admission_.backup_creates.load(), 2);
}

TEST_F(ScheduleControllerTest, ADeniedRunSetsFailedValidationAndWaitsForTheNextDueTime) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  admission_.deny = true;
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), At("2026-12-07T10:05:00Z"));
  EXPECT_TRUE(BackupNames().empty());
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="schedule",result="denied"})"), 1);
  json::Value s = Get("backupschedules", "s");
  EXPECT_EQ(s.GetString({"status", "lastBackup", "phase"}), "FailedValidation");
  bool found = false;
  for (const json::Value& cond : s.FindPath({"status", "conditions"})->array()) {
    if (cond.GetString({"type"}) != "FailedValidation") continue;
    found = true;
    EXPECT_EQ(cond.GetString({"status"}), "True");
    EXPECT_NE(cond.GetString({"message"}).find("CSDR-BK-004"), std::string::npos);
  }
  EXPECT_TRUE(found);
  std::vector<std::string> events = events_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].rfind("Warning FailedCreate BackupSchedule/s: Error creating backup "
                            "s-20261207100000: ",
                            0),
            0u)
      << events[0];
  EXPECT_NE(events[0].find("CSDR-BK-004"), std::string::npos);
  // Not retried within the same due time.
  SyncAt(c, "2026-12-07T10:01:00Z");
  EXPECT_EQ(admission_.backup_creates.load(), 1);
  EXPECT_TRUE(events_.Take().empty());
  admission_.deny = false;
  SyncAt(c, "2026-12-07T10:05:00Z");
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100500"});
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="schedule",result="denied"})"), 1);
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="schedule",result="created"})"), 1);
  s = Get("backupschedules", "s");
  for (const json::Value& cond : s.FindPath({"status", "conditions"})->array()) {
    if (cond.GetString({"type"}) == "FailedValidation") {
      EXPECT_EQ(cond.GetString({"status"}), "False");
    }
  }
}

// A run that fails for a reason other than a rule (the store or the rules' sources unavailable)
// is counted as an error and retried within seconds under the same name, with one Warning.
TEST_F(ScheduleControllerTest, AFailedRunIsRetriedSoonUnderTheSameName) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  admission_.unavailable = true;
  ScheduleController c(Context(), 1h);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), At("2026-12-07T10:00:05Z"));
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:05Z"), At("2026-12-07T10:00:10Z"));
  EXPECT_TRUE(BackupNames().empty());
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="schedule",result="error"})"), 2);
  std::vector<std::string> events = events_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("Warning FailedCreate BackupSchedule/s: Error creating backup "
                           "s-20261207100000 (retrying)"),
            std::string::npos)
      << events[0];
  admission_.unavailable = false;
  SyncAt(c, "2026-12-07T10:00:10Z");
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100000"});
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="schedule",result="created"})"), 1);
}

TEST_F(ScheduleControllerTest, RetentionPrunesLabelledBackupsDownToKeepLast) {
  SetNow("2026-12-07T09:00:00Z");
  for (int i = 0; i < 5; ++i) {
    SetNow("2026-12-07T09:0" + std::to_string(i) + ":00Z");
    CreateBackup("old-" + std::to_string(i), "s");
  }
  CreateBackup("unrelated", "");
  SetBackupStatus("old-3", R"({"phase":"InProgress"})");
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule(
      "s", R"({"schedule":"*/5 * * * *","retention":{"keepLast":2},"template":{"vaultName":"v"}})");
  ScheduleController c(Context(), 1h);
  SyncAt(c, "2026-12-07T10:00:00Z");
  EXPECT_EQ(Sample("csdr_controller_pruned_backups_total"), 3);
  std::vector<std::string> events = events_.Take();
  for (const char* pruned : {"old-2", "old-1", "old-0"}) {
    EXPECT_NE(std::find(events.begin(), events.end(),
                        std::string("Normal SuccessfulDelete BackupSchedule/s: Deleted backup ") +
                            pruned + " (spec.retention)"),
              events.end())
        << pruned;
  }
  // Kept: the run just made and old-4 (the newest two), old-3 (in progress), unrelated.
  EXPECT_EQ(BackupNames(),
            (std::vector<std::string>{"old-3", "old-4", "s-20261207100000", "unrelated"}));
}

}  // namespace
}  // namespace csdr::controllers
