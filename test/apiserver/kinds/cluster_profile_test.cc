#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

const KindStrategy& Kind() { return *FindKindByResource("clusterprofiles"); }

json::Value Base() {
  return Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},
    "spec":{"clusterType":"ACKManaged","regionID":"cn-hangzhou","componentVersion":"v1.8.4"}})");
}

TEST(ClusterProfileTest, Defaults) {
  RunDefaultCases(
      Kind(),
      {
          {"managed uses the managed role", R"({"spec":{"clusterType":"ACKManaged"}})",
           R"({"spec":{"clusterType":"ACKManaged","credentialMode":"ManagedRole"}})"},
          {"dedicated uses an AccessKey Secret", R"({"spec":{"clusterType":"ACKDedicated"}})",
           R"({"spec":{"clusterType":"ACKDedicated","credentialMode":"AccessKeySecret",
                   "accessKeySecretRef":{"namespace":"csdr","name":"alibaba-addon-secret"}}})"},
          {"registered uses an AccessKey Secret", R"({"spec":{"clusterType":"Registered"}})",
           R"({"spec":{"clusterType":"Registered","credentialMode":"AccessKeySecret",
                   "accessKeySecretRef":{"namespace":"csdr","name":"alibaba-addon-secret"}}})"},
          {"an explicit mode is kept",
           R"({"spec":{"clusterType":"Registered","credentialMode":"ManagedRole"}})",
           R"({"spec":{"clusterType":"Registered","credentialMode":"ManagedRole"}})"},
          {"a partial secret ref gets its namespace",
           R"({"spec":{"clusterType":"ACKManaged","credentialMode":"AccessKeySecret","accessKeySecretRef":{"name":"mine"}}})",
           R"({"spec":{"clusterType":"ACKManaged","credentialMode":"AccessKeySecret","accessKeySecretRef":{"name":"mine","namespace":"csdr"}}})"},
          {"no cluster type yet: nothing to derive", R"({"spec":{}})", R"({"spec":{}})"},
          {"no spec", R"({"metadata":{"name":"cluster"}})",
           R"({"metadata":{"name":"cluster"},"spec":{}})"},
      });
}

TEST(ClusterProfileTest, ValidateCreate) {
  RunCreateCases(
      Kind(), Base(),
      {
          {"valid", "", {}},
          {"no spec at all (not yet discovered)", R"({"spec":null})", {}},
          {"every cluster type", R"({"spec":{"clusterType":"ACKServerlessBasic"}})", {}},
          {"unknown cluster type",
           R"({"spec":{"clusterType":"GKE"}})",
           {{kNotSupported, "spec.clusterType"}}},
          {"region with capitals",
           R"({"spec":{"regionID":"CN-Hangzhou"}})",
           {{kInvalid, "spec.regionID"}}},
          {"region without a dash",
           R"({"spec":{"regionID":"hangzhou"}})",
           {{kInvalid, "spec.regionID"}}},
          {"region starting with a digit",
           R"({"spec":{"regionID":"1-hangzhou"}})",
           {{kInvalid, "spec.regionID"}}},
          {"version without v",
           R"({"spec":{"componentVersion":"1.8.4"}})",
           {{kInvalid, "spec.componentVersion"}}},
          {"version with two parts",
           R"({"spec":{"componentVersion":"v1.8"}})",
           {{kInvalid, "spec.componentVersion"}}},
          {"version with leading zero",
           R"({"spec":{"componentVersion":"v01.8.4"}})",
           {{kInvalid, "spec.componentVersion"}}},
          {"pre-release version", R"({"spec":{"componentVersion":"v1.9.0-rc.1+build.5"}})", {}},
          {"unknown credential mode",
           R"({"spec":{"credentialMode":"RamUser"}})",
           {{kNotSupported, "spec.credentialMode"}}},
          {"secret ref without name",
           R"({"spec":{"accessKeySecretRef":{"namespace":"csdr"}}})",
           {{kRequired, "spec.accessKeySecretRef.name"}}},
          {"secret ref with bad names",
           R"({"spec":{"accessKeySecretRef":{"namespace":"a.b","name":"Bad"}}})",
           {{kInvalid, "spec.accessKeySecretRef.name"},
            {kInvalid, "spec.accessKeySecretRef.namespace"}}},
          {"cluster-scoped: no namespace",
           R"({"metadata":{"namespace":"csdr"}})",
           {{kForbidden, "metadata.namespace"}}},
          {"bad name", R"({"metadata":{"name":"Cluster"}})", {{kInvalid, "metadata.name"}}},
      });
  FieldErrors e = Kind().ValidateCreate(Patched(Base(), R"({"spec":{"clusterType":"GKE"}})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message,
            "Unsupported value: \"GKE\": supported values: \"ACKManaged\", \"ACKDedicated\", "
            "\"ACKServerlessPro\", "
            "\"ACKServerlessBasic\", \"ACKEdge\", \"Registered\"");
}

TEST(ClusterProfileTest, ValidateUpdate) {
  RunUpdateCases(Kind(), Base(),
                 {
                     {"unchanged", "", {}},
                     {"new component version", R"({"spec":{"componentVersion":"v1.9.0"}})", {}},
                     {"new region", R"({"spec":{"regionID":"cn-heyuan"}})", {}},
                     {"cluster type changes",
                      R"({"spec":{"clusterType":"ACKDedicated"}})",
                      {{kInvalid, "spec.clusterType"}}},
                     {"cluster type removed",
                      R"({"spec":{"clusterType":null}})",
                      {{kInvalid, "spec.clusterType"}}},
                     {"renamed", R"({"metadata":{"name":"other"}})", {{kInvalid, "metadata.name"}}},
                     {"labels may change", R"({"metadata":{"labels":{"a":"b"}}})", {}},
                 });
  // Set once: an empty cluster type may be filled in.
  const json::Value undiscovered = Json(R"({"metadata":{"name":"cluster"},"spec":{}})");
  EXPECT_TRUE(Kind()
                  .ValidateUpdate(Patched(undiscovered, R"({"spec":{"clusterType":"ACKEdge"}})"),
                                  undiscovered)
                  .empty());
  FieldErrors e =
      Kind().ValidateUpdate(Patched(Base(), R"({"spec":{"clusterType":"ACKDedicated"}})"), Base());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message,
            "Invalid value: \"ACKDedicated\": [CSDR-CP-002] spec.clusterType is immutable");
  // Removing it is a change too.
  e = Kind().ValidateUpdate(Patched(Base(), R"({"spec":{"clusterType":null}})"), Base());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "Invalid value: null: [CSDR-CP-002] spec.clusterType is immutable");
}

TEST(ClusterProfileTest, ValidateStatus) {
  const json::Value base = Patched(
      Base(), R"({"status":{"regionID":"cn-hangzhou","zones":["cn-hangzhou-h","cn-hangzhou-i"],
      "kubernetesVersion":"v1.30.1","capabilities":{"backupCenter":true},"observedGeneration":1,
      "conditions":[{"type":"Supported","status":"True","reason":"Supported","message":"","lastTransitionTime":"2026-11-24T09:00:00Z"}]}})");
  RunStatusCases(
      Kind(), base,
      {
          {"valid", "", {}},
          {"bad region", R"({"status":{"regionID":"Hangzhou"}})", {{kInvalid, "status.regionID"}}},
          {"duplicate zone",
           R"({"status":{"zones":["a","a"]}})",
           {{kDuplicate, "status.zones[1]"}}},
          {"negative observedGeneration",
           R"({"status":{"observedGeneration":-1}})",
           {{kInvalid, "status.observedGeneration"}}},
          {"bad condition",
           R"({"status":{"conditions":[{"type":"Supported","status":"Maybe","reason":"x","lastTransitionTime":"2026-11-24T09:00:00Z"}]}})",
           {{kNotSupported, "status.conditions[0].status"}}},
      });
}

TEST(ClusterProfileTest, Cells) {
  struct Case {
    const char* name;
    const char* patch;
    const char* want;
  };
  const Case cases[] = {
      {"discovered: the observed region and version, the capabilities",
       R"({"spec":{"credentialMode":"ManagedRole"},"status":{"regionID":"cn-heyuan","componentVersion":"v1.8.3","kubernetesVersion":"v1.30.1","capabilities":{"backupCenter":true,"volumeBackup":true,"cloudBackup":false,"crossRegionDiskRestore":true}}})",
       R"(["cluster","ACKManaged","cn-heyuan","v1.8.3","v1.30.1","ManagedRole",true,true,false,true,"5m10s"])"},
      {"not yet discovered: region and version from spec, support unknown", "",
       R"(["cluster","ACKManaged","cn-hangzhou","v1.8.4",null,null,null,null,null,null,"5m10s"])"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value obj =
        Patched(Patched(Base(), c.patch),
                std::string(R"({"metadata":{"creationTimestamp":")") + kCreated + "\"}}");
    EXPECT_EQ(CellsText(Kind().Cells(obj, Now())), json::Serialize(Json(c.want)));
  }
  EXPECT_EQ(Kind().Columns().size(), 11u);
}

}  // namespace
}  // namespace csdr::apiserver
