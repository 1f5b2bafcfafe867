#include "apiserver/kinds/schema.h"

#include <gtest/gtest.h>

#include "apiserver/kinds/kind.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using testing::Json;

const KindStrategy& Kind(const char* resource) { return *FindKindByResource(resource); }

// kube-captures/13-create-fieldvalidation.txt
constexpr const char* kUnknownFieldsBody = R"({
  "apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
  "metadata": {"name": "b-strict", "namespace": "csdr", "bogusMeta": true},
  "spec": {"vaultName": "vault1", "backupType": "AppBackup", "includedNamespaces": ["shop"], "bogusSpec": "x"},
  "bogusTop": 1})";

TEST(CheckAgainstSchemaTest, ReportsUnknownFieldsInUpstreamOrder) {
  json::Value obj = Json(kUnknownFieldsBody);
  const json::Value before = obj;
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, /*prune=*/false);
  EXPECT_EQ(check.unknown_fields,
            (std::vector<std::string>{"metadata.bogusMeta", "bogusTop", "spec.bogusSpec"}));
  EXPECT_TRUE(check.errors.empty());
  EXPECT_EQ(obj, before);  // not pruned
}

TEST(CheckAgainstSchemaTest, PrunesUnknownFieldsWhenAsked) {
  json::Value obj = Json(kUnknownFieldsBody);
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, /*prune=*/true);
  EXPECT_EQ(check.unknown_fields.size(), 3u);
  EXPECT_EQ(obj, Json(R"({
    "apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
    "metadata": {"name": "b-strict", "namespace": "csdr"},
    "spec": {"vaultName": "vault1", "backupType": "AppBackup", "includedNamespaces": ["shop"]}})"));
}

// kube-captures/35-error-422-invalid.txt, byte for byte.
TEST(CheckAgainstSchemaTest, TypeErrorsAreWordedLikeCRDValidation) {
  json::Value obj =
      Json(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b-bad2"},
    "spec":{"vaultName":"v","backupType":5,"includedNamespaces":"shop","volumeBackup":{"method":["x"]}}})");
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, true);
  EXPECT_TRUE(check.unknown_fields.empty());
  ASSERT_EQ(check.errors.size(), 3u);
  auto find = [&](const std::string& field) -> const FieldError* {
    for (const FieldError& e : check.errors) {
      if (e.field == field) return &e;
    }
    return nullptr;
  };
  struct Want {
    const char* field;
    const char* message;
  };
  const Want want[] = {
      {"spec.backupType",
       "Invalid value: \"integer\": spec.backupType in body must be of type string: \"integer\""},
      {"spec.includedNamespaces",
       "Invalid value: \"string\": spec.includedNamespaces in body must be of type array: "
       "\"string\""},
      {"spec.volumeBackup.method",
       "Invalid value: \"array\": spec.volumeBackup.method in body must be of type string: "
       "\"array\""},
  };
  for (const Want& w : want) {
    SCOPED_TRACE(w.field);
    const FieldError* e = find(w.field);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->type, "FieldValueTypeInvalid");
    EXPECT_EQ(e->message, w.message);
  }
}

TEST(CheckAgainstSchemaTest, SpecAsAString) {
  json::Value obj = Json(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b"},"spec":"not-an-object"})");
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, true);
  ASSERT_EQ(check.errors.size(), 1u);
  EXPECT_EQ(check.errors[0].field, "spec");
  EXPECT_EQ(check.errors[0].message,
            "Invalid value: \"string\": spec in body must be of type object: \"string\"");
}

TEST(CheckAgainstSchemaTest, Table) {
  struct Case {
    const char* name;
    const char* resource;
    const char* body;
    std::vector<std::string> unknown;
    std::vector<std::string> error_fields;
  };
  const Case cases[] = {
      {"labels are a string map",
       "backups",
       R"({"metadata":{"labels":{"a":"x","b":1}}})",
       {},
       {"metadata.labels.b"}},
      {"annotations are a string map",
       "backups",
       R"({"metadata":{"annotations":["x"]}})",
       {},
       {"metadata.annotations"}},
      {"managedFields fieldsV1 is free-form",
       "backups",
       R"({"metadata":{"managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1",
           "fieldsV1":{"f:spec":{".":{},"f:vaultName":{}}},"time":"2026-11-24T09:04:57Z"}]}})",
       {},
       {}},
      {"unknown field in a managedFields entry",
       "backups",
       R"({"metadata":{"managedFields":[{"bogus":1}]}})",
       {"metadata.managedFields[0].bogus"},
       {}},
      {"unknown field in an ownerReference",
       "backups",
       R"({"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"K","name":"n","uid":"u","x":1}]}})",
       {"metadata.ownerReferences[0].x"},
       {}},
      {"unknown field in a selector in a list",
       "backups",
       R"({"spec":{"orLabelSelectors":[{"matchLabels":{"a":"b"}},{"matchLabelz":{}}]}})",
       {"spec.orLabelSelectors[1].matchLabelz"},
       {}},
      {"unknown field in status",
       "backups",
       R"({"status":{"phase":"New","bogus":true}})",
       {"status.bogus"},
       {}},
      {"unknown field in a schedule template",
       "backupschedules",
       R"({"spec":{"template":{"vaultname":"v"}}})",
       {"spec.template.vaultname"},
       {}},
      {"array element of the wrong type",
       "backups",
       R"({"spec":{"includedNamespaces":["a",2]}})",
       {},
       {"spec.includedNamespaces[1]"}},
      {"null array element",
       "backups",
       R"({"spec":{"includedNamespaces":[null]}})",
       {},
       {"spec.includedNamespaces[0]"}},
      {"integral number for an integer", "backups", R"({"status":{"errors":5.0}})", {}, {}},
      {"fractional number for an integer",
       "backups",
       R"({"status":{"errors":5.5}})",
       {},
       {"status.errors"}},
      {"boolean as a string",
       "backupschedules",
       R"({"spec":{"paused":"true"}})",
       {},
       {"spec.paused"}},
      {"malformed date-time",
       "backups",
       R"({"status":{"startTimestamp":"yesterday"}})",
       {},
       {"status.startTimestamp"}},
      {"map of strings",
       "restores",
       R"({"spec":{"namespaceMapping":{"a":"b","c":{"d":1}}}})",
       {},
       {"spec.namespaceMapping.c"}},
      {"cluster profile capabilities",
       "clusterprofiles",
       R"({"status":{"capabilities":{"backupCenter":"yes","x":1}}})",
       {"status.capabilities.x"},
       {"status.capabilities.backupCenter"}},
      {"vault",
       "backupvaults",
       R"({"spec":{"bucket":["b"],"regoin":"cn-hangzhou"}})",
       {"spec.regoin"},
       {"spec.bucket"}},
      {"unknown kinds of top-level members",
       "restores",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","x":{}})",
       {"x"},
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value obj = Json(c.body);
    SchemaCheck check = CheckAgainstSchema(Kind(c.resource), &obj, false);
    EXPECT_EQ(check.unknown_fields, c.unknown);
    std::vector<std::string> fields;
    for (const FieldError& e : check.errors) fields.push_back(e.field);
    EXPECT_EQ(fields, c.error_fields) << testing::Describe(check.errors);
  }
}

TEST(CheckAgainstSchemaTest, NullsAreDroppedAsCRDsDo) {
  json::Value obj = Json(
      R"({"metadata":{"name":"b","labels":null},"spec":{"vaultName":"v","ttl":null,"volumeBackup":{"method":null}}})");
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, /*prune=*/false);
  EXPECT_TRUE(check.errors.empty());
  EXPECT_TRUE(check.unknown_fields.empty());
  EXPECT_EQ(obj, Json(R"({"metadata":{"name":"b"},"spec":{"vaultName":"v","volumeBackup":{}}})"));
}

TEST(CheckAgainstSchemaTest, DeeplyNestedFreeFormStaysUntouched) {
  // fieldsV1 is free-form: the walk stops there, whatever the nesting below.
  std::string deep = "{}";
  for (int i = 0; i < 90; ++i) deep = R"({"f:x":)" + deep + "}";
  json::Value obj = Json(R"({"metadata":{"managedFields":[{"fieldsV1":)" + deep + "}]}}");
  const json::Value before = obj;
  SchemaCheck check = CheckAgainstSchema(Kind("backups"), &obj, true);
  EXPECT_TRUE(check.errors.empty());
  EXPECT_TRUE(check.unknown_fields.empty());
  EXPECT_EQ(obj, before);
}

TEST(CheckAgainstSchemaTest, FullExamplesAreClean) {
  struct Case {
    const char* resource;
    const char* body;
  };
  const Case cases[] = {
      {"clusterprofiles", R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile",
        "metadata":{"name":"cluster","uid":"u","resourceVersion":"1","generation":1,"creationTimestamp":"2026-11-24T09:00:00Z",
                    "labels":{"a":"b"},"annotations":{"c":"d"},"finalizers":["csdr.io/x"],"deletionGracePeriodSeconds":0,
                    "deletionTimestamp":"2026-11-24T09:00:00Z","generateName":"c-","selfLink":""},
        "spec":{"clusterType":"ACKManaged","regionID":"cn-hangzhou","componentVersion":"v1.8.4","credentialMode":"ManagedRole",
                "accessKeySecretRef":{"namespace":"csdr","name":"alibaba-addon-secret"}},
        "status":{"clusterID":"c1","accountID":"a","vpcID":"vpc","zones":["cn-hangzhou-h"],"regionID":"cn-hangzhou",
                  "kubernetesVersion":"v1.30.1","csiVersion":"v1.30.0","flexVolumeDetected":false,"allNodesECS":true,
                  "capabilities":{"backupCenter":true,"volumeBackup":true,"ecsSnapshot":true,"cloudBackup":true,"crossRegionDiskRestore":true},
                  "conditions":[{"type":"Supported","status":"True","reason":"Ok","message":"","lastTransitionTime":"2026-11-24T09:00:00Z","observedGeneration":1}],
                  "observedGeneration":1}})"},
      {"backupvaults",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":{"name":"v","namespace":"csdr"},
        "spec":{"provider":"alibabacloud","bucket":"cnfs-oss-b","prefix":"p","region":"cn-hangzhou","network":"internal",
                "accessMode":"ReadWrite","credentialRef":{"name":"s"},"backupSyncPeriod":"1h","validationFrequency":"5m"},
        "status":{"phase":"Available","lastValidationTime":"2026-11-24T09:00:00Z","lastSyncedTime":"2026-11-24T09:00:00Z",
                  "endpoint":"oss-cn-hangzhou-internal.aliyuncs.com","backupCount":3,"message":"","conditions":[],"observedGeneration":1}})"},
      {"backups",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b","namespace":"csdr"},
        "spec":{"vaultName":"v","backupType":"AppAndPvBackup","includedNamespaces":["shop"],"excludedNamespaces":["x"],
                "includedResources":["deployments"],"excludedResources":["events"],"includeClusterResources":true,
                "labelSelector":{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"k","operator":"In","values":["v"]}]},
                "volumeBackup":{"method":"Auto","excludedPVCs":[{"namespace":"shop","name":"logs"}]},"ttl":"720h"},
        "status":{"phase":"Completed","dataType":"all","scheduleName":"nightly",
                  "sourceCluster":{"clusterID":"c","regionID":"cn-hangzhou","kubernetesVersion":"v1.30.1","componentVersion":"v1.8.4"},
                  "startTimestamp":"2026-11-24T09:00:00Z","completionTimestamp":"2026-11-24T09:10:00Z","expiration":"2026-12-24T09:00:00Z",
                  "progress":{"totalItems":10,"itemsBackedUp":10},
                  "volumes":[{"namespace":"shop","pvc":"data","pv":"pv1","driver":"diskplugin.csi.alibabacloud.com","method":"snapshot",
                              "snapshotID":"s-1","cloudBackupJob":"","phase":"Completed","message":""}],
                  "errors":0,"warnings":1,"failureReason":"","conditions":[],"observedGeneration":1}})"},
      {"restores",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"r","namespace":"csdr"},
        "spec":{"backupName":"b","includedNamespaces":["shop"],"excludedNamespaces":[],"includedResources":[],"excludedResources":[],
                "includeClusterResources":false,"orLabelSelectors":[{"matchLabels":{"a":"b"}}],
                "namespaceMapping":{"shop":"shop2"},"imageRegistryMapping":{"docker.io/library/":"registry.cn-beijing.aliyuncs.com/r/"},
                "restoreVolumes":true,"storageClassConversions":[{"namespace":"shop","pvc":"data","targetStorageClass":"alicloud-disk-topology-alltype",
                "convertToAccessModes":["ReadWriteOnce"]}],"preserveNodePorts":true,"existingResourcePolicy":"update",
                "resourceModifierRef":{"name":"mods"}},
        "status":{"phase":"InProgress","crossRegion":true,"sourceRegionID":"cn-heyuan","targetRegionID":"cn-hangzhou",
                  "startTimestamp":"2026-11-24T09:00:00Z","progress":{"totalItems":3,"itemsRestored":1},
                  "volumes":[{"namespace":"shop","pvc":"data","pv":"pv2","storageClass":"sc","method":"snapshot","phase":"InProgress","message":""}],
                  "errors":0,"warnings":0,"failureReason":"","conditions":[],"observedGeneration":1}})"},
      {"backupschedules",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule","metadata":{"name":"nightly","namespace":"csdr"},
        "spec":{"schedule":"1 4 * * *","template":{"vaultName":"v","backupType":"AppBackup","ttl":"720h"},"paused":false,
                "skipImmediately":true,"retention":{"keepLast":7,"keepLastSuccessful":1}},
        "status":{"phase":"Enabled","lastBackup":{"name":"nightly-1","time":"2026-11-24T04:01:00Z","phase":"Completed"},
                  "lastSuccessfulBackup":{"name":"nightly-1","time":"2026-11-24T04:01:00Z","phase":"Completed"},
                  "nextRunTime":"2026-11-25T04:01:00Z","validationErrors":[],"conditions":[],"observedGeneration":2}})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.resource);
    json::Value obj = Json(c.body);
    SchemaCheck check = CheckAgainstSchema(Kind(c.resource), &obj, false);
    EXPECT_TRUE(check.unknown_fields.empty()) << check.unknown_fields.front();
    EXPECT_TRUE(check.errors.empty()) << testing::Describe(check.errors);
    // And the strategies accept them as they are.
    EXPECT_TRUE(Kind(c.resource).ValidateCreate(obj).empty())
        << testing::Describe(Kind(c.resource).ValidateCreate(obj));
    EXPECT_TRUE(Kind(c.resource).ValidateStatus(obj).empty())
        << testing::Describe(Kind(c.resource).ValidateStatus(obj));
  }
}

TEST(DefinitionsTest, EveryKindHasItsDefinitions) {
  for (const KindStrategy* kind : AllKinds()) {
    SCOPED_TRACE(kind->info().kind);
    const Definition* def = FindDefinition(DefinitionName(kind->info()));
    ASSERT_NE(def, nullptr);
    EXPECT_EQ(def->name, "io.csdr.v1alpha1." + kind->info().kind);
    ASSERT_EQ(def->gvks.size(), 1u);
    EXPECT_EQ(def->gvks[0].kind, kind->info().kind);
    for (const char* prop : {"apiVersion", "kind", "metadata", "spec", "status"}) {
      EXPECT_NE(def->schema.Property(prop), nullptr) << prop;
    }
    const Definition* list = FindDefinition(ListDefinitionName(kind->info()));
    ASSERT_NE(list, nullptr);
    ASSERT_EQ(list->gvks.size(), 1u);
    EXPECT_EQ(list->gvks[0].kind, kind->info().list_kind);
  }
  EXPECT_EQ(FindDefinition("io.csdr.v1alpha1.Nope"), nullptr);
}

TEST(DefinitionsTest, EveryRefResolvesAndEveryFieldIsDescribed) {
  for (const Definition& d : Definitions()) {
    SCOPED_TRACE(d.name);
    EXPECT_EQ(d.name.find('/'), std::string::npos);
    EXPECT_FALSE(d.schema.description.empty());
    // Iterative walk over the definition's nodes.
    std::vector<std::pair<std::string, const Schema*>> stack = {{d.name, &d.schema}};
    while (!stack.empty()) {
      auto [path, s] = stack.back();
      stack.pop_back();
      if (!s->ref.empty()) {
        EXPECT_NE(FindDefinition(s->ref), nullptr) << path << " -> " << s->ref;
        continue;
      }
      for (const auto& [name, p] : s->properties) {
        // kubectl explain prints these; a field without one is a gap in the docs.
        // (Map values and list items may go undescribed, as upstream's do.)
        EXPECT_FALSE(p.description.empty()) << path << "." << name;
        stack.emplace_back(path + "." + name, &p);
      }
      if (s->items) stack.emplace_back(path + "[]", s->items.get());
      if (s->additional_properties) stack.emplace_back(path + "{}", s->additional_properties.get());
    }
  }
}

}  // namespace
}  // namespace csdr::apiserver
