#include "apiserver/kinds/kind.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Json;

constexpr int64_t kSecond = 1000;  // in milliseconds
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kYear = 365 * kDay;

struct DurationCase {
  int64_t ms;
  const char* want;
};

// Go truncates toward zero; so does duration_cast, which makes the millisecond cases of
// upstream's tests exact here too.
std::string Human(int64_t ms) {
  return HumanDuration(std::chrono::duration_cast<seconds>(milliseconds(ms)));
}

// k8s.io/apimachinery/pkg/util/duration/duration_test.go, TestHumanDuration.
TEST(HumanDurationTest, UpstreamTable) {
  const DurationCase cases[] = {
      {kSecond, "1s"},
      {70 * kSecond, "70s"},
      {190 * kSecond, "3m10s"},
      {70 * kMinute, "70m"},
      {47 * kHour, "47h"},
      {49 * kHour, "2d1h"},
      {(8 * 24 + 2) * kHour, "8d"},
      {367 * kDay, "367d"},
      {(365 * 2 * 24 + 25) * kHour, "2y1d"},
      {(365 * 8 * 24 + 2) * kHour, "8y"},
  };
  for (const DurationCase& c : cases) {
    SCOPED_TRACE(c.ms);
    EXPECT_EQ(Human(c.ms), c.want);
  }
}

// TestHumanDurationBoundaries.
TEST(HumanDurationTest, UpstreamBoundaries) {
  const DurationCase cases[] = {
      {-2 * kSecond, "<invalid>"},
      {-2 * kSecond + 1, "0s"},
      {0, "0s"},
      {kSecond - 1, "0s"},
      {2 * kMinute - 1, "119s"},
      {2 * kMinute, "2m"},
      {2 * kMinute + kSecond, "2m1s"},
      {10 * kMinute - 1, "9m59s"},
      {10 * kMinute, "10m"},
      {10 * kMinute + kSecond, "10m"},
      {3 * kHour - 1, "179m"},
      {3 * kHour, "3h"},
      {3 * kHour + kMinute, "3h1m"},
      {8 * kHour - 1, "7h59m"},
      {8 * kHour, "8h"},
      {8 * kHour + 59 * kMinute, "8h"},
      {2 * kDay - 1, "47h"},
      {2 * kDay, "2d"},
      {2 * kDay + kHour, "2d1h"},
      {8 * kDay - 1, "7d23h"},
      {8 * kDay, "8d"},
      {8 * kDay + 23 * kHour, "8d"},
      {2 * kYear - 1, "729d"},
      {2 * kYear, "2y"},
      {2 * kYear + 23 * kHour, "2y"},
      {2 * kYear + 23 * kHour + 59 * kMinute, "2y"},
      {2 * kYear + kDay - 1, "2y"},
      {2 * kYear + kDay, "2y1d"},
      {3 * kYear, "3y"},
      {4 * kYear, "4y"},
      {5 * kYear, "5y"},
      {6 * kYear, "6y"},
      {7 * kYear, "7y"},
      {8 * kYear - 1, "7y364d"},
      {8 * kYear, "8y"},
      {8 * kYear + 364 * kDay, "8y"},
      {9 * kYear, "9y"},
  };
  for (const DurationCase& c : cases) {
    SCOPED_TRACE(c.ms);
    EXPECT_EQ(Human(c.ms), c.want);
  }
}

TEST(KindsTest, InventoryMatchesTheDesign) {
  struct Want {
    const char* kind;
    const char* resource;
    const char* singular;
    const char* short_name;
    bool namespaced;
  };
  const Want want[] = {{"ClusterProfile", "clusterprofiles", "clusterprofile", "cprof", false},
                       {"BackupVault", "backupvaults", "backupvault", "bv", true},
                       {"Backup", "backups", "backup", "cbk", true},
                       {"Restore", "restores", "restore", "crs", true},
                       {"BackupSchedule", "backupschedules", "backupschedule", "cbs", true}};
  const auto& kinds = AllKinds();
  ASSERT_EQ(kinds.size(), std::size(want));
  for (size_t i = 0; i < kinds.size(); ++i) {
    SCOPED_TRACE(want[i].kind);
    const KindInfo& info = kinds[i]->info();
    EXPECT_EQ(info.group, "csdr.io");
    EXPECT_EQ(info.version, "v1alpha1");
    EXPECT_EQ(info.api_version(), "csdr.io/v1alpha1");
    EXPECT_EQ(info.kind, want[i].kind);
    EXPECT_EQ(info.list_kind, std::string(want[i].kind) + "List");
    EXPECT_EQ(info.resource, want[i].resource);
    EXPECT_EQ(info.singular, want[i].singular);
    EXPECT_EQ(info.short_names, std::vector<std::string>{want[i].short_name});
    EXPECT_EQ(info.categories, std::vector<std::string>{"csdr"});
    EXPECT_EQ(info.namespaced, want[i].namespaced);
    EXPECT_TRUE(info.has_status);
    EXPECT_EQ(FindKindByResource(want[i].resource), kinds[i]);
  }
  EXPECT_EQ(FindKindByResource("backup"), nullptr);  // singular is not a resource
  EXPECT_EQ(FindKindByResource("pods"), nullptr);
  EXPECT_EQ(FindKindByResource(""), nullptr);
}

TEST(KindsTest, ColumnsStartWithNameAndEndWithAge) {
  const std::set<std::string> types = {"string", "integer", "number", "boolean", "date"};
  for (const KindStrategy* kind : AllKinds()) {
    SCOPED_TRACE(kind->info().kind);
    const auto& cols = kind->Columns();
    ASSERT_GE(cols.size(), 3u);
    EXPECT_EQ(cols.front().name, "Name");
    EXPECT_EQ(cols.front().format, "name");
    EXPECT_EQ(cols.front().type, "string");
    EXPECT_EQ(cols.back().name, "Age");
    EXPECT_EQ(cols.back().type, "date");
    std::set<std::string> names;
    for (const ColumnDefinition& c : cols) {
      EXPECT_TRUE(types.count(c.type)) << c.name << " " << c.type;
      EXPECT_FALSE(c.description.empty()) << c.name;
      EXPECT_TRUE(c.priority == 0 || c.priority == 1) << c.name;
      EXPECT_TRUE(names.insert(c.name).second) << "duplicate column " << c.name;
    }
  }
}

TEST(KindsTest, CellsHaveOneValuePerColumnEvenForAnEmptyObject) {
  const auto now = std::chrono::system_clock::now();
  for (const KindStrategy* kind : AllKinds()) {
    SCOPED_TRACE(kind->info().kind);
    for (const char* text : {"{}", R"({"metadata":{"name":"x"},"spec":"oops","status":[1]})"}) {
      std::vector<json::Value> cells = kind->Cells(Json(text), now);
      ASSERT_EQ(cells.size(), kind->Columns().size());
      EXPECT_EQ(cells.back(), json::Value("<unknown>"));  // no creationTimestamp
    }
  }
}

TEST(KindsTest, AgeCellIsHumanDurationSinceCreation) {
  const auto now = std::chrono::sys_days(std::chrono::year(2026) / 11 / 24) + std::chrono::hours(9);
  const json::Value obj =
      Json(R"({"metadata":{"name":"b1","creationTimestamp":"2026-11-24T08:54:50Z"}})");
  for (const KindStrategy* kind : AllKinds()) {
    SCOPED_TRACE(kind->info().kind);
    std::vector<json::Value> cells = kind->Cells(obj, now);
    EXPECT_EQ(cells.front(), json::Value("b1"));
    EXPECT_EQ(cells.back(), json::Value("5m10s"));
  }
}

TEST(KindsTest, FieldSelectors) {
  struct Case {
    const char* resource;
    const char* field;
    std::optional<std::string> want;
  };
  const json::Value obj = Json(R"({
    "metadata": {"name": "n1", "namespace": "csdr"},
    "spec": {"clusterType": "ACKManaged", "bucket": "b", "region": "cn-hangzhou", "vaultName": "v",
             "backupName": "bk", "template": {"vaultName": "tv"}, "paused": true},
    "status": {"phase": "Completed", "scheduleName": "nightly"}})");
  const Case cases[] = {
      {"backups", "metadata.name", "n1"},
      {"backups", "metadata.namespace", "csdr"},
      {"backups", "status.phase", "Completed"},
      {"backups", "spec.vaultName", "v"},
      {"backups", "status.scheduleName", "nightly"},
      {"backups", "spec.backupType", std::nullopt},
      {"backups", "spec.bucket", std::nullopt},
      {"restores", "spec.backupName", "bk"},
      {"restores", "status.phase", "Completed"},
      {"backupvaults", "spec.bucket", "b"},
      {"backupvaults", "spec.region", "cn-hangzhou"},
      {"backupvaults", "status.phase", "Completed"},
      {"clusterprofiles", "spec.clusterType", "ACKManaged"},
      {"clusterprofiles", "metadata.namespace", "csdr"},
      {"clusterprofiles", "status.phase", std::nullopt},
      {"backupschedules", "spec.template.vaultName", "tv"},
      {"backupschedules", "status.phase", "Completed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.resource) + " " + c.field);
    const KindStrategy* kind = FindKindByResource(c.resource);
    ASSERT_NE(kind, nullptr);
    EXPECT_EQ(kind->FieldValue(obj, c.field), c.want);
  }
  // An unset selectable field reads "", as upstream's field sets do.
  EXPECT_EQ(FindKindByResource("backups")->FieldValue(Json("{}"), "status.phase"), "");
  // Every declared field is answered for any object.
  for (const KindStrategy* kind : AllKinds()) {
    for (const std::string& f : kind->SelectableFields()) {
      EXPECT_TRUE(kind->FieldValue(obj, f).has_value()) << kind->info().kind << " " << f;
    }
  }
}

}  // namespace
}  // namespace csdr::apiserver
