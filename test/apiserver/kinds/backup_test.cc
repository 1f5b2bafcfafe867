#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

const KindStrategy& Kind() { return *FindKindByResource("backups"); }

json::Value Base() {
  return Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr"},
    "spec":{"vaultName":"vault1","backupType":"AppBackup","includedNamespaces":["shop"]}})");
}

TEST(BackupTest, Defaults) {
  RunDefaultCases(
      Kind(),
      {
          {"application backup", R"({"spec":{"vaultName":"v","backupType":"AppBackup"}})",
           R"({"spec":{"vaultName":"v","backupType":"AppBackup","ttl":"720h"}})"},
          {"type defaults to AppBackup", R"({"spec":{"vaultName":"v"}})",
           R"({"spec":{"vaultName":"v","backupType":"AppBackup","ttl":"720h"}})"},
          {"volume backup gets method Auto",
           R"({"spec":{"vaultName":"v","backupType":"AppAndPvBackup"}})",
           R"({"spec":{"vaultName":"v","backupType":"AppAndPvBackup","volumeBackup":{"method":"Auto"},"ttl":"720h"}})"},
          {"PvBackup too",
           R"({"spec":{"backupType":"PvBackup","volumeBackup":{"excludedPVCs":[]}}})",
           R"({"spec":{"backupType":"PvBackup","volumeBackup":{"excludedPVCs":[],"method":"Auto"},"ttl":"720h"}})"},
          {"explicit method and ttl are kept",
           R"({"spec":{"backupType":"AppAndPvBackup","volumeBackup":{"method":"Snapshot"},"ttl":"48h"}})",
           R"({"spec":{"backupType":"AppAndPvBackup","volumeBackup":{"method":"Snapshot"},"ttl":"48h"}})"},
          {"null ttl is unset", R"({"spec":{"backupType":"AppBackup","ttl":null}})",
           R"({"spec":{"backupType":"AppBackup","ttl":"720h"}})"},
          {"no spec", R"({})", R"({"spec":{"backupType":"AppBackup","ttl":"720h"}})"},
          {"a spec of the wrong type is left to validation", R"({"spec":"x"})", R"({"spec":"x"})"},
          // status.expiration = creationTimestamp + ttl, when there is a creation time.
          {"expiration from creation and ttl",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"1h30m59.9s"}})",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"1h30m59.9s","backupType":"AppBackup"},"status":{"expiration":"2026-12-07T11:30:59Z"}})"},
          {"the default ttl: 30 days",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{}})",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"backupType":"AppBackup","ttl":"720h"},"status":{"expiration":"2027-01-06T10:00:00Z"}})"},
          {"an expiration already set is kept",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"1h"},"status":{"phase":"Completed","expiration":"2026-12-08T00:00:00Z"}})",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"1h","backupType":"AppBackup"},"status":{"phase":"Completed","expiration":"2026-12-08T00:00:00Z"}})"},
          {"a ttl of 0 never expires",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"0s"}})",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"0s","backupType":"AppBackup"}})"},
          {"an unreadable ttl or creation time sets nothing",
           R"({"metadata":{"creationTimestamp":"yesterday"},"spec":{"ttl":"1h"}})",
           R"({"metadata":{"creationTimestamp":"yesterday"},"spec":{"ttl":"1h","backupType":"AppBackup"}})"},
          {"a ttl beyond a century is a century",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"2562047h"}})",
           R"({"metadata":{"creationTimestamp":"2026-12-07T10:00:00Z"},"spec":{"ttl":"2562047h","backupType":"AppBackup"},"status":{"expiration":"2126-11-13T10:00:00Z"}})"},
      });
}

TEST(BackupTest, ValidateCreate) {
  RunCreateCases(
      Kind(), Base(),
      {
          {"valid", "", {}},
          {"no vault", R"({"spec":{"vaultName":null}})", {{kRequired, "spec.vaultName"}}},
          {"bad vault name", R"({"spec":{"vaultName":"Vault_1"}})", {{kInvalid, "spec.vaultName"}}},
          {"unknown type",
           R"({"spec":{"backupType":"Full"}})",
           {{kNotSupported, "spec.backupType"}}},
          {"all namespaces",
           R"({"spec":{"includedNamespaces":["*"],"excludedNamespaces":["kube-system"]}})",
           {}},
          {"bad namespace",
           R"({"spec":{"includedNamespaces":["shop","Shop"]}})",
           {{kInvalid, "spec.includedNamespaces[1]"}}},
          {"duplicate namespace",
           R"({"spec":{"excludedNamespaces":["a","a"]}})",
           {{kDuplicate, "spec.excludedNamespaces[1]"}}},
          {"empty resource",
           R"({"spec":{"excludedResources":["","pods"]}})",
           {{kRequired, "spec.excludedResources[0]"}}},
          {"resources", R"({"spec":{"includedResources":["deployments.apps","configmaps"]}})", {}},
          {"bad selector operator",
           R"({"spec":{"labelSelector":{"matchExpressions":[{"key":"app","operator":"Is"}]}}})",
           {{kInvalid, "spec.labelSelector.matchExpressions[0].operator"}}},
          {"bad or-selector key",
           R"({"spec":{"orLabelSelectors":[{"matchLabels":{"a":"b"}},{"matchLabels":{"bad key":"b"}}]}})",
           {{kInvalid, "spec.orLabelSelectors[1].matchLabels"}}},
          {"volume settings on an application backup",
           R"({"spec":{"volumeBackup":{"method":"Auto"}}})",
           {{kForbidden, "spec.volumeBackup"}}},
          {"volume settings without a type",
           R"({"spec":{"backupType":null,"volumeBackup":{"method":"Auto"}}})",
           {{kForbidden, "spec.volumeBackup"}}},
          {"volume backup",
           R"({"spec":{"backupType":"AppAndPvBackup","volumeBackup":{"method":"CloudBackup"}}})",
           {}},
          {"unknown method",
           R"({"spec":{"backupType":"AppAndPvBackup","volumeBackup":{"method":"Fast"}}})",
           {{kNotSupported, "spec.volumeBackup.method"}}},
          {"excluded PVC without name",
           R"({"spec":{"backupType":"PvBackup","volumeBackup":{"excludedPVCs":[{"namespace":"shop","name":"logs"},{"namespace":"shop"}]}}})",
           {{kRequired, "spec.volumeBackup.excludedPVCs[1].name"}}},
          {"excluded PVC with a bad namespace",
           R"({"spec":{"backupType":"PvBackup","volumeBackup":{"excludedPVCs":[{"namespace":"Shop","name":"logs"}]}}})",
           {{kInvalid, "spec.volumeBackup.excludedPVCs[0].namespace"}}},
          {"ttl", R"({"spec":{"ttl":"1h30m"}})", {}},
          {"ttl in days", R"({"spec":{"ttl":"30d"}})", {{kInvalid, "spec.ttl"}}},
          {"zero ttl", R"({"spec":{"ttl":"0s"}})", {{kInvalid, "spec.ttl"}}},
          {"negative ttl", R"({"spec":{"ttl":"-1h"}})", {{kInvalid, "spec.ttl"}}},
          {"bad name", R"({"metadata":{"name":"B1"}})", {{kInvalid, "metadata.name"}}},
          {"no spec", R"({"spec":null})", {{kRequired, "spec.vaultName"}}},
      });
  FieldErrors e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"backupType":"Full"}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message,
            "Unsupported value: \"Full\": supported values: \"AppBackup\", \"AppAndPvBackup\", "
            "\"PvBackup\"");
  e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"ttl":"0s"}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: \"0s\": must be greater than 0");
}

TEST(BackupTest, SpecIsImmutable) {
  json::Value old = Base();
  Kind().Default(&old);
  RunUpdateCases(
      Kind(), old,
      {
          {"unchanged", "", {}},
          {"labels may change", R"({"metadata":{"labels":{"csdr.io/vault":"vault1"}}})", {}},
          {"status is not the spec", R"({"status":{"phase":"Completed"}})", {}},
          {"ttl", R"({"spec":{"ttl":"24h"}})", {{kInvalid, "spec.ttl"}}},
          {"namespaces",
           R"({"spec":{"includedNamespaces":["shop","web"]}})",
           {{kInvalid, "spec.includedNamespaces"}}},
          {"vault and type",
           R"({"spec":{"vaultName":"vault2","backupType":"AppAndPvBackup","volumeBackup":{"method":"Auto"}}})",
           {{kInvalid, "spec.vaultName"},
            {kInvalid, "spec.backupType"},
            {kInvalid, "spec.volumeBackup"}}},
          {"selector added",
           R"({"spec":{"labelSelector":{"matchLabels":{"a":"b"}}}})",
           {{kInvalid, "spec.labelSelector"}}},
          {"field removed",
           R"({"spec":{"includedNamespaces":null}})",
           {{kInvalid, "spec.includedNamespaces"}}},
      });
  FieldErrors e = Kind().ValidateUpdate(Patched(old, R"({"spec":{"ttl":"24h"}})"), old);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: \"24h\": field is immutable");
  e = Kind().ValidateUpdate(Patched(old, R"({"spec":{"includedNamespaces":null}})"), old);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: null: field is immutable");
}

TEST(BackupTest, ValidateStatus) {
  const json::Value base = Patched(Base(), R"({"status":{"phase":"Completed","dataType":"none",
      "startTimestamp":"2026-11-24T08:50:00Z","expiration":"2026-12-24T08:50:00Z","errors":0,"warnings":2,
      "progress":{"totalItems":10,"itemsBackedUp":10},"volumes":[{"method":"hbr"}]}})");
  RunStatusCases(
      Kind(), base,
      {
          {"valid", "", {}},
          {"every phase", R"({"status":{"phase":"FailedValidation"}})", {}},
          {"unknown phase", R"({"status":{"phase":"Done"}})", {{kNotSupported, "status.phase"}}},
          {"unknown data type",
           R"({"status":{"dataType":"disk"}})",
           {{kNotSupported, "status.dataType"}}},
          {"bad expiration",
           R"({"status":{"expiration":"soon"}})",
           {{kInvalid, "status.expiration"}}},
          {"bad volume method",
           R"({"status":{"volumes":[{"method":"rsync"}]}})",
           {{kNotSupported, "status.volumes[0].method"}}},
          {"negative errors", R"({"status":{"errors":-1}})", {{kInvalid, "status.errors"}}},
          {"negative progress",
           R"({"status":{"progress":{"totalItems":-1}}})",
           {{kInvalid, "status.progress.totalItems"}}},
          {"bad schedule name",
           R"({"status":{"scheduleName":"Nightly"}})",
           {{kInvalid, "status.scheduleName"}}},
      });
}

TEST(BackupTest, Cells) {
  struct Case {
    const char* name;
    const char* status;
    const char* want;
  };
  const Case cases[] = {
      {"completed, 29 days left",
       R"({"phase":"Completed","warnings":2,"startTimestamp":"2026-11-24T08:50:00Z","expiration":"2026-12-24T08:50:00Z"})",
       R"(["b1","vault1","AppBackup","Completed",0,2,"10m","29d","5m10s"])"},
      {"expired", R"({"phase":"Completed","expiration":"2026-11-24T08:59:59Z"})",
       R"(["b1","vault1","AppBackup","Completed",0,0,null,"expired","5m10s"])"},
      {"expires right now", R"({"expiration":"2026-11-24T09:00:00Z"})",
       R"(["b1","vault1","AppBackup",null,0,0,null,"expired","5m10s"])"},
      {"expires in an hour", R"({"expiration":"2026-11-24T10:00:00Z","errors":3})",
       R"(["b1","vault1","AppBackup",null,3,0,null,"60m","5m10s"])"},
      {"no expiration yet", R"({"phase":"InProgress"})",
       R"(["b1","vault1","AppBackup","InProgress",0,0,null,"<unknown>","5m10s"])"},
      {"malformed expiration", R"({"expiration":"tomorrow"})",
       R"(["b1","vault1","AppBackup",null,0,0,null,"<unknown>","5m10s"])"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value obj =
        Patched(Base(), std::string(R"({"metadata":{"creationTimestamp":")") + kCreated + "\"}}");
    obj.Set("status", Json(c.status));
    EXPECT_EQ(CellsText(Kind().Cells(obj, Now())), json::Serialize(Json(c.want)));
  }
  const auto& cols = Kind().Columns();
  ASSERT_EQ(cols.size(), 9u);
  EXPECT_EQ(cols[7].name, "Expires");
  EXPECT_EQ(cols[7].priority, 0);
  EXPECT_EQ(cols[4].name, "Errors");
  EXPECT_EQ(cols[4].type, "integer");
  EXPECT_EQ(cols[4].priority, 1);
}

}  // namespace
}  // namespace csdr::apiserver
