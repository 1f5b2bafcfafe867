// Shared by the tools tests: a store filled with objects of every kind (and internal keys), and
// a comparison of two stores written independently of the code under test.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/json.h"
#include "storage/store.h"

namespace csdr::apiserver::testing {

constexpr const char* kPrefix = "/registry/";

// A stored csdr.io object as the registry writes it, resourceVersion stamped by the Encoder.
inline storage::Encoder ObjectEncoder(const std::string& kind, const std::string& ns,
                                      const std::string& name, int serial) {
  return [=](int64_t revision) {
    auto v = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","metadata":{
        "labels":{"app":"shop","tier":"gold"},"annotations":{"note":"ü ☃ <&> \"q\""},
        "generation":2,"finalizers":["csdr.io/cleanup"],
        "managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"csdr.io/v1alpha1",
          "time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:ttl":{}}}}]},
      "spec":{"ttl":"720h","ratio":1.5,"big":9007199254740993,"list":[1,2,{"deep":[true,null]}]},
      "status":{"phase":"Completed","conditions":[]}})");
    EXPECT_TRUE(v.ok()) << v.status().message();
    json::Value obj = std::move(v.value());
    obj.Set("kind", kind);
    json::Value& meta = obj["metadata"];
    meta.Set("name", name);
    if (!ns.empty()) meta.Set("namespace", ns);
    meta.Set("uid", "7d3c0c5e-0000-4000-8000-" + std::to_string(100000000000 + serial));
    meta.Set("creationTimestamp", "2024-05-0" + std::to_string(1 + serial % 9) + "T10:00:00Z");
    meta["labels"].Set("serial", std::to_string(serial));
    meta.Set("resourceVersion", std::to_string(revision));
    return json::Serialize(obj);
  };
}

// Fills `store` with several kinds, updates and deletes, a vault tombstone (no metadata), a value
// that is not JSON, and a key outside /registry/ that migrate must leave alone. Returns the
// number of keys under /registry/ afterwards.
inline size_t Fill(storage::Store* store) {
  size_t keys = 0;
  auto create = [&](const std::string& key, const storage::Encoder& encode) {
    auto r = store->Create(key, encode);
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().message();
    if (key.rfind(kPrefix, 0) == 0) ++keys;
  };
  int serial = 0;
  create("/registry/csdr.io/clusterprofiles/cluster",
         ObjectEncoder("ClusterProfile", "", "cluster", serial++));
  for (const char* ns : {"csdr", "other"}) {
    create(std::string("/registry/csdr.io/backupvaults/") + ns + "/prod-vault",
           ObjectEncoder("BackupVault", ns, "prod-vault", serial++));
    for (int i = 0; i < 12; ++i) {
      const std::string name = "shop-" + std::to_string(i);
      create(std::string("/registry/csdr.io/backups/") + ns + "/" + name,
             ObjectEncoder("Backup", ns, name, serial++));
    }
    create(std::string("/registry/csdr.io/restores/") + ns + "/restore-1",
           ObjectEncoder("Restore", ns, "restore-1", serial++));
    create(std::string("/registry/csdr.io/backupschedules/") + ns + "/nightly",
           ObjectEncoder("BackupSchedule", ns, "nightly", serial++));
  }
  // Updates (mod_revision moves past create_revision) and a delete.
  for (int i = 0; i < 12; i += 3) {
    const std::string name = "shop-" + std::to_string(i);
    auto r = store->Update("/registry/csdr.io/backups/csdr/" + name, 0,
                           ObjectEncoder("Backup", "csdr", name, 1000 + i));
    EXPECT_TRUE(r.ok()) << r.status().message();
  }
  EXPECT_TRUE(store->Delete("/registry/csdr.io/backups/other/shop-11", 0, nullptr).ok());
  --keys;
  create("/registry/csdr.io/_backupvault_tombstones/csdr/old-vault",
         [](int64_t) { return std::string(R"({"namespace":"csdr","name":"old-vault"})"); });
  create("/registry/csdr.io/_raw/bytes", [](int64_t) { return std::string("not json \x01\xff"); });
  create("/elsewhere/not-copied", [](int64_t) { return std::string("{}"); });
  return keys;
}

inline std::map<std::string, storage::KeyValue> ListPrefix(storage::Store* store,
                                                           int64_t at_revision = 0,
                                                           const std::string& prefix = kPrefix) {
  std::map<std::string, storage::KeyValue> out;
  auto r = store->List(prefix, "", 0, at_revision);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (r.ok()) {
    for (auto& kv : r->items) out[kv.key] = kv;
  }
  return out;
}

// The target holds exactly the source's keys under /registry/ as of `source_revision`, each
// value identical apart from metadata.resourceVersion, which is the target's mod_revision.
inline void ExpectSameContent(storage::Store* source, int64_t source_revision,
                              storage::Store* target) {
  const auto want = ListPrefix(source, source_revision);
  const auto got = ListPrefix(target);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [key, w] : want) {
    SCOPED_TRACE(key);
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << "missing from the target";
    const storage::KeyValue& g = it->second;
    auto wv = json::Parse(w.value);
    auto gv = json::Parse(g.value);
    if (!wv.ok() || wv->Find("metadata") == nullptr) {
      EXPECT_EQ(g.value, w.value) << "copied bytes differ";
      continue;
    }
    ASSERT_TRUE(gv.ok()) << gv.status().message();
    EXPECT_EQ(gv->GetString({"metadata", "resourceVersion"}), std::to_string(g.mod_revision));
    EXPECT_EQ(wv->GetString({"metadata", "resourceVersion"}), std::to_string(w.mod_revision));
    for (const char* field : {"name", "namespace", "uid", "creationTimestamp"}) {
      EXPECT_EQ(gv->GetString({"metadata", field}), wv->GetString({"metadata", field})) << field;
    }
    ASSERT_NE(gv->FindPath({"metadata", "labels"}), nullptr);
    EXPECT_EQ(*gv->FindPath({"metadata", "labels"}), *wv->FindPath({"metadata", "labels"}));
    (*wv)["metadata"].Erase("resourceVersion");
    (*gv)["metadata"].Erase("resourceVersion");
    EXPECT_EQ(json::Serialize(*gv), json::Serialize(*wv));
  }
  for (const auto& [key, g] : got) {
    EXPECT_TRUE(want.count(key)) << key << " is in the target but was not in the source";
  }
}

}  // namespace csdr::apiserver::testing
