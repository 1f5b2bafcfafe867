// Test helpers for the policy engine: a baseline world in which every rule passes, builders
// for objects and requests, and a table-case runner that compares denials and warnings
// exactly (so a case also proves that no other rule fired).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/fake_facts.h"

namespace csdr::webhook::policytest {

// Parses JSON or fails the test (returning null).
inline json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message() << " in " << text;
  return v.ok() ? std::move(v).value() : json::Value();
}

// Replaces (or adds) the member at a dotted path, creating objects on the way.
inline void SetPath(json::Value* obj, std::string_view dotted, json::Value value) {
  json::Value* cur = obj;
  while (true) {
    const size_t dot = dotted.find('.');
    const std::string_view key = dotted.substr(0, dot);
    if (dot == std::string_view::npos) {
      cur->Set(key, std::move(value));
      return;
    }
    cur = &(*cur)[key];
    dotted.remove_prefix(dot + 1);
  }
}

inline bool ErasePath(json::Value* obj, std::string_view dotted) {
  json::Value* cur = obj;
  while (true) {
    const size_t dot = dotted.find('.');
    const std::string_view key = dotted.substr(0, dot);
    if (dot == std::string_view::npos) return cur->Erase(key);
    cur = cur->Find(key);
    if (cur == nullptr) return false;
    dotted.remove_prefix(dot + 1);
  }
}

// ClusterProfile "cluster" with the given facts; version "" leaves componentVersion out.
inline json::Value Profile(std::string_view type, std::string_view region,
                           std::string_view version) {
  json::Value p =
      J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},
    "spec":{},"status":{"kubernetesVersion":"v1.30.1","csiVersion":"v1.30.1","zones":["zone-a"]}})");
  if (!type.empty()) SetPath(&p, "spec.clusterType", json::Value(type));
  if (!region.empty()) SetPath(&p, "spec.regionID", json::Value(region));
  if (!version.empty()) SetPath(&p, "spec.componentVersion", json::Value(version));
  return p;
}

inline json::Value Vault(std::string_view name, std::string_view phase = "Available") {
  json::Value v = J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault",
    "metadata":{"name":"","namespace":"csdr"},
    "spec":{"provider":"alibabacloud","bucket":"cnfs-oss-backups","region":"cn-hangzhou","accessMode":"ReadWrite"},
    "status":{}})");
  SetPath(&v, "metadata.name", json::Value(name));
  SetPath(&v, "spec.prefix", json::Value(std::string(name)));
  if (!phase.empty()) SetPath(&v, "status.phase", json::Value(phase));
  return v;
}

// A Backup named `name` in csdr with `spec_json` as its spec.
inline json::Value Backup(std::string_view name, std::string_view spec_json) {
  json::Value b = J(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"","namespace":"csdr"}})");
  SetPath(&b, "metadata.name", json::Value(name));
  b.Set("spec", J(spec_json));
  return b;
}

// A BackupSchedule "nightly" in csdr with `template_json` as its template.
inline json::Value Schedule(std::string_view template_json,
                            std::string_view schedule = "1 4 * * *") {
  json::Value s = J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule",
    "metadata":{"name":"nightly","namespace":"csdr"},"spec":{}})");
  SetPath(&s, "spec.schedule", json::Value(schedule));
  SetPath(&s, "spec.template", J(template_json));
  return s;
}

inline json::Value Restore(std::string_view name, std::string_view spec_json) {
  json::Value r = J(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"","namespace":"csdr"}})");
  SetPath(&r, "metadata.name", json::Value(name));
  r.Set("spec", J(spec_json));
  return r;
}

// Secret csdr/alibaba-addon-secret with `data` (base64 values) as given.
inline json::Value AddonSecret(std::string_view data_json) {
  json::Value s = J(R"({"apiVersion":"v1","kind":"Secret","type":"Opaque",
    "metadata":{"name":"alibaba-addon-secret","namespace":"csdr"}})");
  s.Set("data", J(data_json));
  return s;
}
// base64 of "LTAIexampleid" and "examplesecret".
inline constexpr std::string_view kGoodKeys =
    R"({"access-key-id":"TFRBSWV4YW1wbGVpZA==","access-key-secret":"ZXhhbXBsZXNlY3JldA=="})";

inline json::Value NamespaceObject(std::string_view name) {
  json::Value n = J(
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":""},"status":{"phase":"Active"}})");
  SetPath(&n, "metadata.name", json::Value(name));
  return n;
}

inline json::Value Pvc(std::string_view ns, std::string_view name,
                       std::string_view mode = "Filesystem") {
  json::Value p =
      J(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{},"spec":{}})");
  SetPath(&p, "metadata.namespace", json::Value(ns));
  SetPath(&p, "metadata.name", json::Value(name));
  SetPath(&p, "spec.volumeMode", json::Value(mode));
  return p;
}

inline json::Value StorageClassObject(std::string_view name, std::string_view provisioner,
                                      std::string_view binding = "WaitForFirstConsumer") {
  json::Value s = J(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{}})");
  SetPath(&s, "metadata.name", json::Value(name));
  s.Set("provisioner", json::Value(provisioner));
  if (!binding.empty()) s.Set("volumeBindingMode", json::Value(binding));
  return s;
}

// The completed backup "done" (AppAndPvBackup of shop by snapshot, taken in cn-hangzhou).
inline json::Value DoneBackup() {
  json::Value b = Backup(
      "done", R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
    "volumeBackup":{"method":"Snapshot"}})");
  b.Set("status",
        J(R"({"phase":"Completed","dataType":"snapshot","sourceCluster":{"regionID":"cn-hangzhou"},
    "volumes":[{"namespace":"shop","pvc":"data","method":"snapshot","accessModes":["ReadWriteOnce"]}]})"));
  return b;
}

// The world in which every rule passes for the baseline objects below: an ACK managed
// cluster in cn-hangzhou on v1.8.4, vault v1 Available, namespace shop with one PVC, the
// completed backup "done", the system namespaces, the two storage classes ACK documents, ConfigMap
// csdr/modifiers.
inline void Baseline(FakeFacts* f) {
  f->Put(Profile("ACKManaged", "cn-hangzhou", "v1.8.4"));
  f->Put(Vault("v1"));
  f->Put(DoneBackup());
  for (const char* ns : {"csdr", "shop", "kube-system", "kube-public", "kube-node-lease"}) {
    f->PutCluster(NamespaceObject(ns));
  }
  f->PutCluster(Pvc("shop", "data"));
  f->PutCluster(
      StorageClassObject("alicloud-disk-topology-alltype", "diskplugin.csi.alibabacloud.com"));
  f->PutCluster(
      StorageClassObject("alibabacloud-cnfs-nas", "nasplugin.csi.alibabacloud.com", "Immediate"));
  f->PutCluster(J(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"modifiers","namespace":"csdr"}})"));
}

// Sets the profile's spec/status fields on top of the baseline profile.
inline void SetProfile(FakeFacts* f, std::string_view type, std::string_view region,
                       std::string_view version) {
  f->Put(Profile(type, region, version));
}

// Request builders: group, kind, namespace and name come from the object.
inline AdmissionInput Request(Operation op, const json::Value* object,
                              const json::Value* old_object) {
  const json::Value& o = object != nullptr ? *object : *old_object;
  AdmissionInput in;
  in.operation = op;
  const std::string api_version = o.GetString({"apiVersion"});
  const size_t slash = api_version.find('/');
  in.group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  in.kind = o.GetString({"kind"});
  in.namespace_ = o.GetString({"metadata", "namespace"});
  in.name = o.GetString({"metadata", "name"});
  in.object = object;
  in.old_object = old_object;
  in.user = "admin";
  in.groups = {"system:masters"};
  return in;
}
inline AdmissionInput Create(const json::Value& o) {
  return Request(Operation::kCreate, &o, nullptr);
}
inline AdmissionInput Update(const json::Value& o, const json::Value& old) {
  return Request(Operation::kUpdate, &o, &old);
}
inline AdmissionInput Delete(const json::Value& old) {
  return Request(Operation::kDelete, nullptr, &old);
}

// One table case: change the baseline world, build the request, expect exactly these
// denials and warnings.
struct Case {
  std::string name;
  std::function<void(FakeFacts*)> world;  // applied after Baseline; may be empty
  std::function<AdmissionInput(std::vector<json::Value>* keep)> request;
  std::vector<std::string> denials;
  std::vector<std::string> warnings;
};

inline Decision RunCase(const Case& c, const EngineOptions& options = {}) {
  FakeFacts facts;
  Baseline(&facts);
  if (c.world) c.world(&facts);
  std::vector<json::Value> keep;
  keep.reserve(4);  // the request points into these; no reallocation
  const AdmissionInput in = c.request(&keep);
  return Evaluate(in, facts, options);
}

inline void RunCases(const std::vector<Case>& cases, const EngineOptions& options = {}) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Decision d = RunCase(c, options);
    EXPECT_EQ(d.denials, c.denials);
    EXPECT_EQ(d.warnings, c.warnings);
    EXPECT_EQ(d.allowed, c.denials.empty());
  }
}

// Request makers for the table: keep the objects alive in `keep`.
inline std::function<AdmissionInput(std::vector<json::Value>*)> CreateOf(
    std::function<json::Value()> make) {
  return [make](std::vector<json::Value>* keep) {
    keep->push_back(make());
    return Create(keep->back());
  };
}
inline std::function<AdmissionInput(std::vector<json::Value>*)> UpdateOf(
    std::function<json::Value()> make, std::function<json::Value()> make_old) {
  return [make, make_old](std::vector<json::Value>* keep) {
    keep->push_back(make());
    keep->push_back(make_old());
    return Update((*keep)[0], (*keep)[1]);
  };
}
inline std::function<AdmissionInput(std::vector<json::Value>*)> DeleteOf(
    std::function<json::Value()> make_old) {
  return [make_old](std::vector<json::Value>* keep) {
    keep->push_back(make_old());
    return Delete(keep->back());
  };
}

}  // namespace csdr::webhook::policytest
