#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/schema.h"
#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using testing::Json;

json::Value V2() { return Json(OpenAPIV2Document()); }
json::Value V3() { return Json(OpenAPIV3GroupVersionDocument()); }

// Every {"$ref": ...} in `v`, with the path where it was found. The documents nest only as
// deep as the schema tables, so plain recursion is fine here.
void CollectRefs(const json::Value& v, const std::string& path,
                 std::vector<std::pair<std::string, const json::Value*>>* out) {
  if (v.is_object()) {
    if (v.Find("$ref") != nullptr) out->emplace_back(path, &v);
    for (const auto& [k, m] : v.object()) CollectRefs(m, path + "/" + k, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.array().size(); ++i)
      CollectRefs(v.array()[i], path + "/" + std::to_string(i), out);
  }
}

std::string RefName(const json::Value& node, const std::string& prefix) {
  const json::Value* ref = node.Find("$ref");
  if (ref == nullptr || !ref->is_string() || ref->as_string().rfind(prefix, 0) != 0) return "";
  return ref->as_string().substr(prefix.size());
}

struct Doc {
  const char* name;
  json::Value doc;
  const char* ref_prefix;
  const json::Value* definitions;
};

TEST(OpenAPITest, DocumentsAreServedOnceAndParse) {
  EXPECT_EQ(&OpenAPIV2Document(), &OpenAPIV2Document());
  EXPECT_EQ(V2().GetString({"swagger"}), "2.0");
  EXPECT_EQ(V3().GetString({"openapi"}), "3.0.0");
}

// What kubectl's v2 parser and kube-aggregator require (aggregated-api.md section 3.1).
TEST(OpenAPITest, EveryRefResolvesInBothDocuments) {
  const json::Value v2 = V2();
  const json::Value v3 = V3();
  const Doc docs[] = {{"v2", v2, "#/definitions/", v2.Find("definitions")},
                      {"v3", v3, "#/components/schemas/", v3.FindPath({"components", "schemas"})}};
  for (const Doc& d : docs) {
    SCOPED_TRACE(d.name);
    ASSERT_NE(d.definitions, nullptr);
    EXPECT_EQ(d.definitions->size(), Definitions().size());
    for (const auto& [name, def] : d.definitions->object()) {
      EXPECT_EQ(name.find('/'), std::string::npos) << name;
      EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char c) {
        return c > 0x20 && c < 0x7f;
      })) << name;
    }
    std::vector<std::pair<std::string, const json::Value*>> refs;
    CollectRefs(d.doc, "", &refs);
    EXPECT_GT(refs.size(), 50u);
    for (const auto& [path, node] : refs) {
      const std::string name = RefName(*node, d.ref_prefix);
      ASSERT_FALSE(name.empty()) << path << ": " << json::Serialize(*node);
      EXPECT_NE(d.definitions->Find(name), nullptr) << path << " -> " << name;
      // kubectl rejects a $ref schema that also has type or properties.
      EXPECT_EQ(node->Find("type"), nullptr) << path;
      EXPECT_EQ(node->Find("properties"), nullptr) << path;
    }
  }
}

TEST(OpenAPITest, NoSchemaHasSeveralTypes) {
  const json::Value v2 = V2();
  std::function<void(const json::Value&, const std::string&)> walk = [&](const json::Value& v,
                                                                         const std::string& path) {
    if (v.is_object()) {
      if (const json::Value* t = v.Find("type")) {
        EXPECT_TRUE(t->is_string()) << path;
      }
      for (const auto& [k, m] : v.object()) {
        if (k != "properties") {
          walk(m, path + "/" + k);
          continue;
        }
        for (const auto& [pk, pv] : m.object()) walk(pv, path + "/properties/" + pk);
      }
    } else if (v.is_array()) {
      for (const json::Value& e : v.array()) walk(e, path + "[]");
    }
  };
  walk(*v2.Find("definitions"), "definitions");
}

// kube-aggregator keeps only definitions reachable from paths under /apis/csdr.io/v1alpha1/.
TEST(OpenAPITest, EveryDefinitionIsReachableFromThePaths) {
  const json::Value v2 = V2();
  const json::Value& defs = *v2.Find("definitions");
  std::set<std::string> seen;
  std::vector<std::string> todo;
  std::vector<std::pair<std::string, const json::Value*>> refs;
  CollectRefs(*v2.Find("paths"), "", &refs);
  for (const auto& [p, n] : refs) todo.push_back(RefName(*n, "#/definitions/"));
  while (!todo.empty()) {
    std::string name = todo.back();
    todo.pop_back();
    if (!seen.insert(name).second) continue;
    std::vector<std::pair<std::string, const json::Value*>> inner;
    CollectRefs(*defs.Find(name), "", &inner);
    for (const auto& [p, n] : inner) todo.push_back(RefName(*n, "#/definitions/"));
  }
  for (const auto& [name, d] : defs.object())
    EXPECT_TRUE(seen.count(name)) << name << " is unreachable";
}

TEST(OpenAPITest, KindsAndListsCarryTheirGVKAsAList) {
  for (const json::Value& doc : {V2(), V3()}) {
    const json::Value* defs = doc.Find("definitions");
    if (defs == nullptr) defs = doc.FindPath({"components", "schemas"});
    for (const KindStrategy* kind : AllKinds()) {
      const KindInfo& info = kind->info();
      for (const auto& [def, k] : {std::pair{DefinitionName(info), info.kind},
                                   std::pair{ListDefinitionName(info), info.list_kind}}) {
        SCOPED_TRACE(def);
        const json::Value* gvk = defs->FindPath({def, "x-kubernetes-group-version-kind"});
        ASSERT_NE(gvk, nullptr);
        ASSERT_TRUE(gvk->is_array());
        ASSERT_EQ(gvk->size(), 1u);
        EXPECT_EQ(gvk->array()[0],
                  Json(R"({"group":"csdr.io","version":"v1alpha1","kind":")" + k + R"("})"));
      }
    }
  }
}

// kubectl explain on 1.27+ (v3): a path of the resource with an operation carrying the GVK
// as a single map, and the schema with the GVK list (aggregated-api.md section 3.3).
TEST(OpenAPITest, KubectlExplainFindsEveryKind) {
  const json::Value v3 = V3();
  const json::Value v2 = V2();
  for (const KindStrategy* kind : AllKinds()) {
    const KindInfo& info = kind->info();
    SCOPED_TRACE(info.kind);
    const std::string root = "/apis/csdr.io/v1alpha1/";
    const std::string item =
        root + (info.namespaced ? "namespaces/{namespace}/" : "") + info.resource + "/{name}";
    for (const json::Value* doc : {&v2, &v3}) {
      const json::Value* get = doc->FindPath({"paths", item, "get"});
      ASSERT_NE(get, nullptr) << item;
      EXPECT_EQ(*get->Find("x-kubernetes-group-version-kind"),
                Json(R"({"group":"csdr.io","kind":")" + info.kind + R"(","version":"v1alpha1"})"));
    }
  }
  // kubectl explain backups.spec: the spec reference resolves to a described BackupSpec.
  const json::Value* spec =
      v3.FindPath({"components", "schemas", "io.csdr.v1alpha1.Backup", "properties", "spec"});
  ASSERT_NE(spec, nullptr);
  EXPECT_FALSE(spec->GetString({"description"}).empty());
  ASSERT_NE(spec->Find("allOf"), nullptr);
  EXPECT_EQ(spec->Find("allOf")->array()[0].GetString({"$ref"}),
            "#/components/schemas/io.csdr.v1alpha1.BackupSpec");
  const json::Value* vault = v3.FindPath(
      {"components", "schemas", "io.csdr.v1alpha1.BackupSpec", "properties", "vaultName"});
  ASSERT_NE(vault, nullptr);
  EXPECT_EQ(vault->GetString({"type"}), "string");
  const json::Value* v2spec =
      v2.FindPath({"definitions", "io.csdr.v1alpha1.Backup", "properties", "spec"});
  ASSERT_NE(v2spec, nullptr);
  EXPECT_EQ(v2spec->GetString({"$ref"}), "#/definitions/io.csdr.v1alpha1.BackupSpec");
}

TEST(OpenAPITest, PathsAndOperations) {
  const json::Value v2 = V2();
  const json::Value v3 = V3();
  const std::set<std::string> actions = {
      "get", "list", "put", "patch", "post", "delete", "deletecollection"};
  const std::set<std::string> patch_types = {"application/json-patch+json",
                                             "application/merge-patch+json",
                                             "application/apply-patch+yaml"};
  std::set<std::string> v2_paths;
  for (const auto& [path, item] : v2.Find("paths")->object()) {
    SCOPED_TRACE(path);
    v2_paths.insert(path);
    EXPECT_EQ(path.rfind("/apis/csdr.io/v1alpha1/", 0), 0u);
    for (const auto& [verb, op] : item.object()) {
      if (verb == "parameters") continue;
      SCOPED_TRACE(verb);
      EXPECT_TRUE(actions.count(op.GetString({"x-kubernetes-action"})));
      EXPECT_TRUE(op.Find("x-kubernetes-group-version-kind")->is_object());
      EXPECT_FALSE(op.GetString({"operationId"}).empty());
      std::set<std::string> params;
      for (const json::Value& p :
           op.Find("parameters") ? op.Find("parameters")->array() : json::Value::Array{}) {
        params.insert(p.GetString({"name"}));
      }
      if (verb == "patch") {
        std::set<std::string> consumes;
        for (const json::Value& c : op.Find("consumes")->array()) consumes.insert(c.as_string());
        // Never strategic merge patch: we do not implement it (kubectl would send it).
        EXPECT_EQ(consumes, patch_types);
        for (const char* p : {"body", "dryRun", "fieldManager", "fieldValidation", "force"})
          EXPECT_TRUE(params.count(p)) << p;
      }
      if (verb == "post" || verb == "put") {
        for (const char* p : {"body", "dryRun", "fieldManager", "fieldValidation"})
          EXPECT_TRUE(params.count(p)) << p;
      }
    }
  }
  // Upstream's CRD path set (kube-captures/06-openapi-v3.txt).
  const std::set<std::string> want = {
      "/apis/csdr.io/v1alpha1/backups",
      "/apis/csdr.io/v1alpha1/backupschedules",
      "/apis/csdr.io/v1alpha1/backupvaults",
      "/apis/csdr.io/v1alpha1/clusterprofiles",
      "/apis/csdr.io/v1alpha1/clusterprofiles/{name}",
      "/apis/csdr.io/v1alpha1/clusterprofiles/{name}/status",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backups",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backups/{name}",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backups/{name}/status",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupschedules",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupschedules/{name}",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupschedules/{name}/status",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupvaults",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupvaults/{name}",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/backupvaults/{name}/status",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/restores",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/restores/{name}",
      "/apis/csdr.io/v1alpha1/namespaces/{namespace}/restores/{name}/status",
      "/apis/csdr.io/v1alpha1/restores"};
  EXPECT_EQ(v2_paths, want);
  // v3: the same paths; patch bodies list the same three media types.
  for (const auto& [path, item] : v3.Find("paths")->object()) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(want.count(path));
    if (const json::Value* patch = item.Find("patch")) {
      std::set<std::string> content;
      for (const auto& [type, media] : patch->FindPath({"requestBody", "content"})->object())
        content.insert(type);
      EXPECT_EQ(content, patch_types);
    }
    for (const json::Value& p : item.Find("parameters")->array())
      EXPECT_NE(p.Find("schema"), nullptr);
  }
  EXPECT_EQ(v3.Find("paths")->size(), want.size());
}

}  // namespace
}  // namespace csdr::apiserver
