#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

const KindStrategy& Kind() { return *FindKindByResource("backupvaults"); }

// domain.md section 7.7.
json::Value Base() {
  return Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":{"name":"prod-vault","namespace":"csdr"},
    "spec":{"bucket":"cnfs-oss-prod-backup","region":"cn-heyuan","network":"internal"}})");
}

TEST(BackupVaultTest, Defaults) {
  RunDefaultCases(
      Kind(),
      {
          {"minimal", R"({"spec":{"bucket":"b-1","region":"cn-heyuan"}})",
           R"({"spec":{"bucket":"b-1","region":"cn-heyuan","provider":"alibabacloud","accessMode":"ReadWrite","validationFrequency":"5m"}})"},
          {"explicit values are kept",
           R"({"spec":{"provider":"alibabacloud","accessMode":"ReadOnly","validationFrequency":"1h","network":"public"}})",
           R"({"spec":{"provider":"alibabacloud","accessMode":"ReadOnly","validationFrequency":"1h","network":"public"}})"},
          {"empty strings count as unset", R"({"spec":{"accessMode":""}})",
           R"({"spec":{"accessMode":"ReadWrite","provider":"alibabacloud","validationFrequency":"5m"}})"},
      });
}

TEST(BackupVaultTest, ValidateCreate) {
  RunCreateCases(
      Kind(), Base(),
      {
          {"valid", "", {}},
          {"no bucket", R"({"spec":{"bucket":null}})", {{kRequired, "spec.bucket"}}},
          {"empty bucket", R"({"spec":{"bucket":""}})", {{kRequired, "spec.bucket"}}},
          {"bucket with capitals",
           R"({"spec":{"bucket":"Prod_Backup"}})",
           {{kInvalid, "spec.bucket"}}},
          {"bucket too short", R"({"spec":{"bucket":"ab"}})", {{kInvalid, "spec.bucket"}}},
          {"bucket ending in a dash",
           R"({"spec":{"bucket":"backup-"}})",
           {{kInvalid, "spec.bucket"}}},
          {"no region", R"({"spec":{"region":null}})", {{kRequired, "spec.region"}}},
          {"bad region", R"({"spec":{"region":"Heyuan"}})", {{kInvalid, "spec.region"}}},
          {"prefix", R"({"spec":{"prefix":"cluster-a/backups/"}})", {}},
          {"prefix with leading slash",
           R"({"spec":{"prefix":"/backups"}})",
           {{kInvalid, "spec.prefix"}}},
          {"prefix escaping upwards",
           R"({"spec":{"prefix":"a/../b"}})",
           {{kInvalid, "spec.prefix"}}},
          {"prefix of dots", R"({"spec":{"prefix":".."}})", {{kInvalid, "spec.prefix"}}},
          {"dots inside a segment are fine", R"({"spec":{"prefix":"a..b/c.d"}})", {}},
          {"prefix too long",
           std::string(R"({"spec":{"prefix":")") + std::string(1024, 'p') + "\"}}",
           {{kTooLong, "spec.prefix"}}},
          {"unknown provider",
           R"({"spec":{"provider":"aws"}})",
           {{kNotSupported, "spec.provider"}}},
          {"unknown network", R"({"spec":{"network":"vpc"}})", {{kNotSupported, "spec.network"}}},
          {"unknown access mode",
           R"({"spec":{"accessMode":"RW"}})",
           {{kNotSupported, "spec.accessMode"}}},
          {"credential ref without name",
           R"({"spec":{"credentialRef":{"namespace":"csdr"}}})",
           {{kRequired, "spec.credentialRef.name"}}},
          {"sync period in days",
           R"({"spec":{"backupSyncPeriod":"1d"}})",
           {{kInvalid, "spec.backupSyncPeriod"}}},
          {"negative sync period",
           R"({"spec":{"backupSyncPeriod":"-1h"}})",
           {{kInvalid, "spec.backupSyncPeriod"}}},
          {"zero sync period disables sync", R"({"spec":{"backupSyncPeriod":"0"}})", {}},
          {"bad validation frequency",
           R"({"spec":{"validationFrequency":"5x"}})",
           {{kInvalid, "spec.validationFrequency"}}},
          {"no namespace",
           R"({"metadata":{"namespace":null}})",
           {{kRequired, "metadata.namespace"}}},
          {"no spec", R"({"spec":null})", {{kRequired, "spec.bucket"}, {kRequired, "spec.region"}}},
      });
  FieldErrors e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"backupSyncPeriod":"1d"}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: \"1d\": time: unknown unit \"d\" in duration \"1d\"");
}

TEST(BackupVaultTest, ValidateUpdate) {
  json::Value old = Base();
  Kind().Default(&old);
  RunUpdateCases(
      Kind(), old,
      {
          {"unchanged", "", {}},
          {"network may change", R"({"spec":{"network":"public"}})", {}},
          {"periods may change",
           R"({"spec":{"validationFrequency":"10m","backupSyncPeriod":"1h"}})",
           {}},
          {"bucket", R"({"spec":{"bucket":"other-bucket"}})", {{kInvalid, "spec.bucket"}}},
          {"prefix added", R"({"spec":{"prefix":"x"}})", {{kInvalid, "spec.prefix"}}},
          {"region", R"({"spec":{"region":"cn-hangzhou"}})", {{kInvalid, "spec.region"}}},
          {"access mode", R"({"spec":{"accessMode":"ReadOnly"}})", {{kInvalid, "spec.accessMode"}}},
          {"credentials",
           R"({"spec":{"credentialRef":{"name":"s"}}})",
           {{kInvalid, "spec.credentialRef"}}},
          {"several at once",
           R"({"spec":{"bucket":"other-bucket","region":"cn-hangzhou"}})",
           {{kInvalid, "spec.bucket"}, {kInvalid, "spec.region"}}},
      });
  // An update that omits defaulted fields is defaulted first, and then equal.
  json::Value sparse = Base();
  Kind().Default(&sparse);
  EXPECT_TRUE(Kind().ValidateUpdate(sparse, old).empty());
  FieldErrors e = Kind().ValidateUpdate(Patched(old, R"({"spec":{"bucket":"other-bucket"}})"), old);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: \"other-bucket\": field is immutable");
}

TEST(BackupVaultTest, ValidateStatus) {
  const json::Value base = Patched(
      Base(),
      R"({"status":{"phase":"Available","lastValidationTime":"2026-11-24T08:57:00Z","backupCount":3}})");
  RunStatusCases(
      Kind(), base,
      {
          {"valid", "", {}},
          {"unknown phase", R"({"status":{"phase":"Ready"}})", {{kNotSupported, "status.phase"}}},
          {"negative count",
           R"({"status":{"backupCount":-1}})",
           {{kInvalid, "status.backupCount"}}},
          {"bad time",
           R"({"status":{"lastSyncedTime":"now"}})",
           {{kInvalid, "status.lastSyncedTime"}}},
      });
}

TEST(BackupVaultTest, Cells) {
  json::Value obj = Patched(
      Base(),
      std::string(R"({"metadata":{"creationTimestamp":")") + kCreated +
          R"("},"spec":{"accessMode":"ReadWrite"},"status":{"phase":"Available","lastValidationTime":"2026-11-24T08:57:00Z"}})");
  EXPECT_EQ(
      CellsText(Kind().Cells(obj, Now())),
      R"(["prod-vault","cnfs-oss-prod-backup","cn-heyuan","internal","ReadWrite","Available","3m","5m10s"])");
  obj.Erase("status");
  EXPECT_EQ(
      CellsText(Kind().Cells(obj, Now())),
      R"(["prod-vault","cnfs-oss-prod-backup","cn-heyuan","internal","ReadWrite",null,null,"5m10s"])");
}

}  // namespace
}  // namespace csdr::apiserver
