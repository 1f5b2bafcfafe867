#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

const KindStrategy& Kind() { return *FindKindByResource("restores"); }

json::Value Base() {
  return Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"r1","namespace":"csdr"},
    "spec":{"backupName":"b1","includedNamespaces":["shop"],"namespaceMapping":{"shop":"shop-restored"}}})");
}

TEST(RestoreTest, Defaults) {
  RunDefaultCases(Kind(),
                  {
                      {"existing resources are left alone", R"({"spec":{"backupName":"b1"}})",
                       R"({"spec":{"backupName":"b1","existingResourcePolicy":"none"}})"},
                      {"explicit policy kept; restoreVolumes is the controller's",
                       R"({"spec":{"backupName":"b1","existingResourcePolicy":"update"}})",
                       R"({"spec":{"backupName":"b1","existingResourcePolicy":"update"}})"},
                  });
}

TEST(RestoreTest, ValidateCreate) {
  RunCreateCases(
      Kind(), Base(),
      {
          {"valid", "", {}},
          {"no backup", R"({"spec":{"backupName":null}})", {{kRequired, "spec.backupName"}}},
          {"bad backup name", R"({"spec":{"backupName":"B1"}})", {{kInvalid, "spec.backupName"}}},
          {"bad target namespace",
           R"({"spec":{"namespaceMapping":{"shop":"Shop2"}}})",
           {{kInvalid, "spec.namespaceMapping[shop]"}}},
          {"bad source namespace",
           R"({"spec":{"namespaceMapping":{"Shop":"x"}}})",
           {{kInvalid, "spec.namespaceMapping[Shop]"}}},
          {"registry mapping",
           R"({"spec":{"imageRegistryMapping":{"docker.io/library/":"registry.cn-beijing.aliyuncs.com/r/"}}})",
           {}},
          {"empty registry target",
           R"({"spec":{"imageRegistryMapping":{"docker.io/":""}}})",
           {{kRequired, "spec.imageRegistryMapping[docker.io/]"}}},
          {"conversion",
           R"({"spec":{"storageClassConversions":[{"namespace":"shop","targetStorageClass":"alibabacloud-cnfs-nas",
                                                            "convertToAccessModes":["ReadWriteMany"]}]}})",
           {}},
          {"empty conversion",
           R"({"spec":{"storageClassConversions":[{}]}})",
           {{kRequired, "spec.storageClassConversions[0].namespace"},
            {kRequired, "spec.storageClassConversions[0].targetStorageClass"}}},
          {"bad pvc and access mode",
           R"({"spec":{"storageClassConversions":[{"namespace":"shop","pvc":"Data","targetStorageClass":"sc","convertToAccessModes":["RWO"]}]}})",
           {{kInvalid, "spec.storageClassConversions[0].pvc"},
            {kNotSupported, "spec.storageClassConversions[0].convertToAccessModes[0]"}}},
          {"unknown policy",
           R"({"spec":{"existingResourcePolicy":"overwrite"}})",
           {{kNotSupported, "spec.existingResourcePolicy"}}},
          {"modifier ref without name",
           R"({"spec":{"resourceModifierRef":{}}})",
           {{kRequired, "spec.resourceModifierRef.name"}}},
          {"bad namespace list",
           R"({"spec":{"excludedNamespaces":["a_b"]}})",
           {{kInvalid, "spec.excludedNamespaces[0]"}}},
          {"bad selector",
           R"({"spec":{"labelSelector":{"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}}})",
           {{kForbidden, "spec.labelSelector.matchExpressions[0].values"}}},
          {"bad or-selector",
           R"({"spec":{"orLabelSelectors":[{"matchExpressions":[{"key":"a","operator":"In"}]}]}})",
           {{kRequired, "spec.orLabelSelectors[0].matchExpressions[0].values"}}},
      });
}

TEST(RestoreTest, SpecIsImmutable) {
  json::Value old = Base();
  Kind().Default(&old);
  RunUpdateCases(
      Kind(), old,
      {
          {"unchanged", "", {}},
          {"annotations may change", R"({"metadata":{"annotations":{"a":"b"}}})", {}},
          {"backup", R"({"spec":{"backupName":"b2"}})", {{kInvalid, "spec.backupName"}}},
          {"volumes", R"({"spec":{"restoreVolumes":false}})", {{kInvalid, "spec.restoreVolumes"}}},
          {"mapping",
           R"({"spec":{"namespaceMapping":{"shop":"other"}}})",
           {{kInvalid, "spec.namespaceMapping"}}},
      });
}

TEST(RestoreTest, ValidateStatus) {
  const json::Value base = Patched(
      Base(), R"({"status":{"phase":"InProgress","crossRegion":true,"sourceRegionID":"cn-heyuan",
      "targetRegionID":"cn-hangzhou","startTimestamp":"2026-11-24T08:50:00Z","progress":{"totalItems":3,"itemsRestored":1}}})");
  RunStatusCases(Kind(), base,
                 {
                     {"valid", "", {}},
                     {"unknown phase",
                      R"({"status":{"phase":"Restoring"}})",
                      {{kNotSupported, "status.phase"}}},
                     {"bad region",
                      R"({"status":{"sourceRegionID":"x"}})",
                      {{kInvalid, "status.sourceRegionID"}}},
                     {"negative progress",
                      R"({"status":{"progress":{"itemsRestored":-2}}})",
                      {{kInvalid, "status.progress.itemsRestored"}}},
                     {"bad time",
                      R"({"status":{"completionTimestamp":"later"}})",
                      {{kInvalid, "status.completionTimestamp"}}},
                 });
}

TEST(RestoreTest, Cells) {
  json::Value obj = Patched(
      Base(),
      std::string(R"({"metadata":{"creationTimestamp":")") + kCreated +
          R"("},"status":{"phase":"Completed","crossRegion":true,"warnings":1,"startTimestamp":"2026-11-24T08:50:00Z"}})");
  EXPECT_EQ(CellsText(Kind().Cells(obj, Now())),
            R"(["r1","b1","Completed",true,0,1,"10m","5m10s"])");
  obj.Erase("status");
  EXPECT_EQ(CellsText(Kind().Cells(obj, Now())), R"(["r1","b1",null,false,0,0,null,"5m10s"])");
}

}  // namespace
}  // namespace csdr::apiserver
