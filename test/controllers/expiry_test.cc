// The expiry controller: deletes what expired, wakes at the next expiration, respects
// finalizers and a schedule's keepLastSuccessful.
#include "controllers/expiry.h"

#include <gtest/gtest.h>

#include "test/controllers/controllers_test_util.h"

namespace csdr::controllers {
namespace {

using std::chrono::system_clock;
using testing::At;
using testing::Sample;

class ExpiryControllerTest : public testing::ControllerWorld {
 protected:
  std::optional<system_clock::time_point> SyncAt(ExpiryController& c, const std::string& t) {
    SetNow(t);
    Refresh();
    auto next = c.Sync(Now());
    Refresh();
    return next;
  }
};

TEST_F(ExpiryControllerTest, DeletesInExpirationOrderAndWakesForTheNext) {
  SetNow("2026-12-07T10:00:00Z");
  CreateBackup("late", "");
  CreateBackup("early", "");
  CreateBackup("never", "");
  SetBackupStatus("late", R"({"expiration":"2026-12-07T10:00:20Z"})");
  SetBackupStatus("early", R"({"expiration":"2026-12-07T10:00:10Z"})");
  SetBackupStatus("never", R"({"expiration":"2027-12-07T10:00:00Z"})");
  ExpiryController c(Context());
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), At("2026-12-07T10:00:10Z"));
  EXPECT_EQ(BackupNames().size(), 3u);
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:10Z"), At("2026-12-07T10:00:20Z"));
  EXPECT_EQ(BackupNames(), (std::vector<std::string>{"late", "never"}));
  EXPECT_EQ(events_.Take(),
            std::vector<std::string>{
                "Normal Expired Backup/early: Backup expired at 2026-12-07T10:00:10Z: deleted"});
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:25Z"), At("2027-12-07T10:00:00Z"));
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"never"});
  EXPECT_EQ(Sample("csdr_controller_expired_backups_total"), 2);
  EXPECT_EQ(Sample(R"(csdr_controller_runs_total{controller="expiry",result="deleted"})"), 2);
}

TEST_F(ExpiryControllerTest, TheDefaultTtlWakesItThirtyDaysOn) {
  SetNow("2026-12-07T10:00:00Z");
  CreateBackup("default-ttl", "");
  json::Value b = Get("backups", "default-ttl");
  ASSERT_NE(b.FindPath({"status", "expiration"}), nullptr) << "the default ttl expires";
  ExpiryController c(Context());
  EXPECT_EQ(SyncAt(c, "2026-12-07T10:00:00Z"), At("2027-01-06T10:00:00Z"));  // 720h
}

TEST_F(ExpiryControllerTest, FinalizersHoldTheDeletion) {
  SetNow("2026-12-07T10:00:00Z");
  CreateBackup("held", "", R"(,"finalizers":["csdr.io/data"])");
  SetBackupStatus("held", R"({"expiration":"2026-12-07T10:00:01Z"})");
  ExpiryController c(Context());
  SyncAt(c, "2026-12-07T10:00:02Z");
  json::Value b = Get("backups", "held");
  EXPECT_NE(b.FindPath({"metadata", "deletionTimestamp"}), nullptr);
  // Marked: not deleted again on the next pass, and gone once the finalizer is removed.
  SyncAt(c, "2026-12-07T10:00:03Z");
  b = Get("backups", "held");
  b["metadata"].Erase("finalizers");
  ASSERT_TRUE(registry_->Update(ScopeOf("backups", "held"), b, {}).ok());
  EXPECT_TRUE(BackupNames().empty());
}

TEST_F(ExpiryControllerTest, KeepLastSuccessfulKeepsTheNewestCompletedOnesFromExpiring) {
  SetNow("2026-12-07T09:00:00Z");
  CreateSchedule(
      "s",
      R"({"schedule":"0 4 * * *","paused":true,"retention":{"keepLastSuccessful":1},"template":{"vaultName":"v"}})");
  CreateBackup("s-1", "s");
  SetNow("2026-12-07T09:01:00Z");
  CreateBackup("s-2", "s");
  for (const char* n : {"s-1", "s-2"}) {
    SetBackupStatus(n, R"({"phase":"Completed","expiration":"2026-12-07T09:30:00Z"})");
  }
  ExpiryController c(Context());
  SyncAt(c, "2026-12-07T10:00:00Z");
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-2"});
}

TEST(MakeEventTest, ACoreV1EventAboutTheObject) {
  auto backup = json::Parse(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b","namespace":"csdr","uid":"u-1","resourceVersion":"42"}})");
  const auto now = At("2026-12-07T10:00:00Z") + std::chrono::nanoseconds(255);
  json::Value e = MakeEvent(*backup, "Normal", "Expired", "gone", "csdr-controllers", now);
  auto want = json::Parse(R"({"apiVersion":"v1","kind":"Event",
    "metadata":{"name":"b.18eef060d21c40ff","namespace":"csdr"},
    "involvedObject":{"apiVersion":"csdr.io/v1alpha1","kind":"Backup","name":"b","namespace":"csdr","uid":"u-1","resourceVersion":"42"},
    "reason":"Expired","message":"gone","type":"Normal","source":{"component":"csdr-controllers"},
    "firstTimestamp":"2026-12-07T10:00:00Z","lastTimestamp":"2026-12-07T10:00:00Z","count":1})");
  EXPECT_EQ(json::Serialize(e), json::Serialize(*want));
}

}  // namespace
}  // namespace csdr::controllers
