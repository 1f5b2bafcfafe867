#include "webhook/cluster/cluster_facts.h"

#include <gtest/gtest.h>

#include <chrono>

#include "test/kube/fake_apiserver.h"
#include "test/kube/test_pki.h"
#include "test/kube/test_util.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/fake_facts.h"

namespace csdr::webhook {
namespace {

using kube::testing::Base64;
using kube::testing::FakeApiServer;
using kube::testing::TempDir;
using kube::testing::TestPki;
using kube::testing::WaitUntil;

constexpr const char* kSecrets = "/api/v1/namespaces/csdr/secrets";
constexpr const char* kNamespaces = "/api/v1/namespaces";
constexpr const char* kStorageClasses = "/apis/storage.k8s.io/v1/storageclasses";
constexpr const char* kPvcs = "/api/v1/persistentvolumeclaims";
constexpr const char* kConfigMaps = "/api/v1/namespaces/csdr/configmaps";

json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? std::move(v).value() : json::Value();
}

json::Value AddonSecret(const std::string& id, const std::string& secret) {
  json::Value s = J(R"({"apiVersion":"v1","kind":"Secret","type":"Opaque",
                        "metadata":{"name":"alibaba-addon-secret","namespace":"csdr"}})");
  s["data"].Set("access-key-id", Base64(id));
  s["data"].Set("access-key-secret", Base64(secret));
  return s;
}

// Store facts from FakeFacts, cluster facts from a ClusterFacts: how main composes Facts.
class ComposedFacts : public Facts {
 public:
  ComposedFacts(const Facts& store, const ClusterFacts& cluster)
      : store_(store), cluster_(cluster) {}
  ObjectFact Get(std::string_view kind, std::string_view ns, std::string_view name) const override {
    return store_.Get(kind, ns, name);
  }
  ListFact List(std::string_view kind, std::string_view ns) const override {
    return store_.List(kind, ns);
  }
  ObjectFact VaultTombstone(std::string_view ns, std::string_view name) const override {
    return store_.VaultTombstone(ns, name);
  }
  bool VaultIndexHasBackup(std::string_view ns, std::string_view vault,
                           std::string_view backup) const override {
    return store_.VaultIndexHasBackup(ns, vault, backup);
  }
  SecretFact Secret(std::string_view ns, std::string_view name) const override {
    return cluster_.Secret(ns, name);
  }
  ObjectFact Namespace(std::string_view name) const override { return cluster_.Namespace(name); }
  ObjectFact StorageClass(std::string_view name) const override {
    return cluster_.StorageClass(name);
  }
  ListFact PersistentVolumeClaims(std::string_view ns) const override {
    return cluster_.PersistentVolumeClaims(ns);
  }
  ObjectFact ConfigMap(std::string_view ns, std::string_view name) const override {
    return cluster_.ConfigMap(ns, name);
  }

 private:
  const Facts& store_;
  const ClusterFacts& cluster_;
};

TEST(NoClusterTest, EveryLookupIsUnknownWithTheReason) {
  NoCluster none;
  const std::string reason(kNoClusterReason);
  EXPECT_EQ(reason, "no cluster configured (--kubeconfig or in-cluster)");
  const SecretFact secret = none.Secret("csdr", "alibaba-addon-secret");
  EXPECT_EQ(secret.presence, Presence::kUnknown);
  EXPECT_EQ(secret.unknown_reason, reason);
  for (const ObjectFact& f :
       {none.Namespace("csdr"), none.StorageClass("sc"), none.ConfigMap("csdr", "m")}) {
    EXPECT_TRUE(f.unknown());
    EXPECT_EQ(f.unknown_reason, reason);
    EXPECT_EQ(f.object, nullptr);
  }
  const ListFact pvcs = none.PersistentVolumeClaims("");
  EXPECT_FALSE(pvcs.known);
  EXPECT_EQ(pvcs.unknown_reason, reason);
  none.Start();
  EXPECT_FALSE(none.Configured());
  EXPECT_FALSE(none.HasSynced());
  EXPECT_FALSE(none.WaitForSync(std::chrono::milliseconds(1)));
  EXPECT_EQ(none.StatusLine(),
            "cluster: none (no cluster configured (--kubeconfig or in-cluster)); rules that need "
            "cluster objects "
            "fail closed");
  none.Stop();

  NoCluster custom("cluster access disabled by --no-cluster");
  EXPECT_EQ(custom.Namespace("x").unknown_reason, "cluster access disabled by --no-cluster");
}

class ClusterFactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeApiServer>(FakeApiServer::Options{pki_.Server(), "", {"token"}});
    for (const char* path : {kSecrets, kStorageClasses, kPvcs, kConfigMaps})
      server_->AddCollection(path);
    server_->Put(kNamespaces,
                 J(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"csdr"}})"));
    server_->Put(kNamespaces,
                 J(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}})"));
    options_.reflector.backoff_initial = std::chrono::milliseconds(10);
    options_.reflector.backoff_max = std::chrono::milliseconds(50);
    options_.use_in_cluster = false;
  }

  // A kubeconfig for the fake server, written to a temp dir: the path main gets.
  std::string WriteKubeconfig() {
    return dir_.Write("kubeconfig",
                      "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                      "contexts:\n- name: fake\n  context: {cluster: fake, user: csdr}\n"
                      "clusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:" +
                          std::to_string(server_->port()) +
                          "\n    certificate-authority: ca.crt\n"
                          "users:\n- name: csdr\n  user:\n    tokenFile: token\n");
  }
  std::unique_ptr<ClusterFacts> Connect() {
    dir_.Write("ca.crt", pki_.ca_pem());
    dir_.Write("token", "token\n");
    options_.kubeconfig = WriteKubeconfig();
    StatusOr<std::unique_ptr<ClusterFacts>> facts = NewClusterFacts(options_);
    EXPECT_TRUE(facts.ok()) << facts.status().message();
    return facts.ok() ? std::move(*facts) : nullptr;
  }

  TempDir dir_;
  TestPki pki_;
  std::unique_ptr<FakeApiServer> server_;
  ClusterOptions options_;
};

TEST_F(ClusterFactsTest, NewClusterFactsChoosesTheSource) {
  // Nothing configured: standalone.
  StatusOr<std::unique_ptr<ClusterFacts>> none = NewClusterFacts(options_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->Configured());

  // In a pod (the variables say so) but the service account files are missing: an error.
  ClusterOptions in_pod = options_;
  in_pod.use_in_cluster = true;
  in_pod.in_cluster.getenv = [](const char* name) {
    return std::string(name) == "KUBERNETES_SERVICE_HOST"   ? "10.96.0.1"
           : std::string(name) == "KUBERNETES_SERVICE_PORT" ? "443"
                                                            : "";
  };
  in_pod.in_cluster.token_file = dir_.path() + "/no-token";
  in_pod.in_cluster.ca_file = dir_.path() + "/no-ca.crt";
  StatusOr<std::unique_ptr<ClusterFacts>> broken = NewClusterFacts(in_pod);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().message(), "in-cluster CA certificate: cannot read " + dir_.path() +
                                           "/no-ca.crt: No such file or directory");

  // In a pod with the files: the service account.
  in_pod.in_cluster.ca_file = dir_.Write("sa/ca.crt", pki_.ca_pem());
  in_pod.in_cluster.token_file = dir_.Write("sa/token", "t\n");
  StatusOr<std::unique_ptr<ClusterFacts>> pod = NewClusterFacts(in_pod);
  ASSERT_TRUE(pod.ok()) << pod.status().message();
  EXPECT_TRUE((*pod)->Configured());
  EXPECT_EQ(
      (*pod)->StatusLine().rfind("cluster https://10.96.0.1:443: secrets in csdr not synced", 0),
      0u)
      << (*pod)->StatusLine();

  // --kubeconfig that does not exist: an error, not standalone mode.
  ClusterOptions missing = options_;
  missing.kubeconfig = dir_.path() + "/nope";
  StatusOr<std::unique_ptr<ClusterFacts>> refused = NewClusterFacts(missing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kNotFound);
}

TEST_F(ClusterFactsTest, AnswersFromTheCache) {
  server_->Put(kSecrets, AddonSecret("LTAIexampleid", "examplesecret"));
  server_->Put(kStorageClasses, J(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
      "metadata":{"name":"alicloud-disk-topology-alltype"},"provisioner":"diskplugin.csi.alibabacloud.com"})"));
  server_->Put(kPvcs, J(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim",
      "metadata":{"name":"data","namespace":"shop"},"spec":{"volumeMode":"Block"}})"));
  server_->Put(
      kConfigMaps,
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"modifiers","namespace":"csdr"}})"));
  std::unique_ptr<ClusterFacts> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  EXPECT_TRUE(cluster->Configured());
  EXPECT_FALSE(cluster->HasSynced());
  const SecretFact early = cluster->Secret("csdr", "alibaba-addon-secret");
  EXPECT_EQ(early.presence, Presence::kUnknown);
  EXPECT_EQ(early.unknown_reason, "cluster cache for secrets in csdr has not synced yet");

  cluster->Start();
  ASSERT_TRUE(cluster->WaitForSync(std::chrono::seconds(10))) << cluster->StatusLine();
  EXPECT_TRUE(cluster->HasSynced());

  const SecretFact secret = cluster->Secret("csdr", "alibaba-addon-secret");
  EXPECT_EQ(secret.presence, Presence::kPresent);
  EXPECT_TRUE(secret.HasNonEmpty("access-key-id"));
  EXPECT_TRUE(secret.HasNonEmpty("access-key-secret"));
  EXPECT_EQ(cluster->Secret("csdr", "other").presence, Presence::kAbsent);
  const SecretFact elsewhere = cluster->Secret("kube-system", "alibaba-addon-secret");
  EXPECT_EQ(elsewhere.presence, Presence::kUnknown);
  EXPECT_EQ(elsewhere.unknown_reason,
            "Secrets are only watched in namespace csdr, not in \"kube-system\"");

  EXPECT_TRUE(cluster->Namespace("shop").present());
  EXPECT_TRUE(cluster->Namespace("gone").absent());
  const ObjectFact sc = cluster->StorageClass("alicloud-disk-topology-alltype");
  ASSERT_TRUE(sc.present());
  EXPECT_EQ(sc.object->GetString({"provisioner"}), "diskplugin.csi.alibabacloud.com");
  EXPECT_EQ(cluster->PersistentVolumeClaims("shop").items.size(), 1u);
  EXPECT_EQ(cluster->PersistentVolumeClaims("").items.size(), 1u);
  EXPECT_TRUE(cluster->PersistentVolumeClaims("csdr").known);
  EXPECT_TRUE(cluster->PersistentVolumeClaims("csdr").items.empty());
  EXPECT_TRUE(cluster->ConfigMap("csdr", "modifiers").present());
  EXPECT_TRUE(cluster->ConfigMap("csdr", "other").absent());

  const std::string line = cluster->StatusLine();
  EXPECT_EQ(line.rfind("cluster https://127.0.0.1:" + std::to_string(server_->port()) +
                           ": secrets in csdr synced (1 objects, resourceVersion ",
                       0),
            0u)
      << line;
  for (const char* part :
       {"; namespaces synced (2 objects", "; storageclasses synced (1 objects",
        "; persistentvolumeclaims synced (1 objects", "; configmaps in csdr synced (1 objects"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  }
  EXPECT_EQ(line.find(Base64("examplesecret")), std::string::npos);

  // Watched changes arrive without a request from the caller.
  server_->Remove(kSecrets, "csdr", "alibaba-addon-secret");
  EXPECT_TRUE(WaitUntil([&] {
    return cluster->Secret("csdr", "alibaba-addon-secret").presence == Presence::kAbsent;
  }));

  const auto start = std::chrono::steady_clock::now();
  cluster->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  cluster->Stop();  // idempotent
}

TEST_F(ClusterFactsTest, UnsyncedResourcesSayWhy) {
  server_->FailLists(
      kNamespaces, 403, "Forbidden",
      "namespaces is forbidden: User \"system:serviceaccount:csdr:csdr-apiserver\" cannot list "
      "resource \"namespaces\" in API group \"\" at the cluster scope");
  std::unique_ptr<ClusterFacts> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  cluster->Start();
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->ListCount(kNamespaces) >= 1 && server_->WatchCount(kSecrets) >= 1; }));
  EXPECT_FALSE(cluster->WaitForSync(std::chrono::milliseconds(200)));
  EXPECT_FALSE(cluster->HasSynced());
  const ObjectFact ns = cluster->Namespace("csdr");
  ASSERT_TRUE(ns.unknown());
  EXPECT_EQ(ns.unknown_reason,
            "cluster cache for namespaces has not synced: list namespaces: GET https://127.0.0.1:" +
                std::to_string(server_->port()) +
                "/api/v1/namespaces?limit=500: HTTP 403 Forbidden: namespaces is forbidden: User "
                "\"system:serviceaccount:csdr:csdr-apiserver\" cannot list resource \"namespaces\" "
                "in API group \"\" "
                "at the cluster scope");
  // The other resources are not held back by the one that fails.
  EXPECT_EQ(cluster->Secret("csdr", "alibaba-addon-secret").presence, Presence::kAbsent);
  EXPECT_NE(cluster->StatusLine().find("; namespaces not synced: list namespaces: GET "),
            std::string::npos)
      << cluster->StatusLine();
}

// The issue's acceptance scenario, against the fake server: on an ACK dedicated cluster a
// BackupVault is admitted only once csdr/alibaba-addon-secret exists with both keys.
TEST_F(ClusterFactsTest, EngineAdmitsAVaultOnDedicatedOnlyOnceTheSecretExists) {
  FakeFacts store;
  store.Put(
      J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},
      "spec":{"clusterType":"ACKDedicated","regionID":"cn-hangzhou","componentVersion":"v1.8.4"},
      "status":{"kubernetesVersion":"v1.30.1","csiVersion":"v1.30.1","zones":["zone-a"]}})"));
  const json::Value vault = J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault",
      "metadata":{"name":"v1","namespace":"csdr"},
      "spec":{"provider":"alibabacloud","bucket":"cnfs-oss-backups","region":"cn-hangzhou","prefix":"v1",
              "accessMode":"ReadWrite"}})");
  AdmissionInput create;
  create.operation = Operation::kCreate;
  create.group = "csdr.io";
  create.kind = "BackupVault";
  create.namespace_ = "csdr";
  create.name = "v1";
  create.object = &vault;
  const std::string dep004 =
      "[CSDR-DEP-004] Secret csdr/alibaba-addon-secret with non-empty keys access-key-id and "
      "access-key-secret is "
      "required on ACK dedicated and registered clusters";

  NoCluster none;
  const Decision standalone = Evaluate(create, ComposedFacts(store, none));
  EXPECT_EQ(standalone.denials,
            std::vector<std::string>{
                dep004 + " (cannot verify: no cluster configured (--kubeconfig or in-cluster))"});

  std::unique_ptr<ClusterFacts> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  const ComposedFacts facts(store, *cluster);
  const Decision unsynced = Evaluate(create, facts);
  EXPECT_EQ(unsynced.denials,
            std::vector<std::string>{
                dep004 + " (cannot verify: cluster cache for secrets in csdr has not synced yet)"});

  cluster->Start();
  ASSERT_TRUE(cluster->WaitForSync(std::chrono::seconds(10))) << cluster->StatusLine();
  EXPECT_EQ(Evaluate(create, facts).denials, std::vector<std::string>{dep004});

  server_->Put(kSecrets, AddonSecret("LTAIexampleid", ""));
  ASSERT_TRUE(WaitUntil([&] {
    return cluster->Secret("csdr", "alibaba-addon-secret").presence == Presence::kPresent;
  }));
  EXPECT_EQ(Evaluate(create, facts).denials, std::vector<std::string>{dep004})
      << "an empty key does not count";

  server_->Put(kSecrets, AddonSecret("LTAIexampleid", "examplesecret"));
  ASSERT_TRUE(WaitUntil([&] {
    return cluster->Secret("csdr", "alibaba-addon-secret").HasNonEmpty("access-key-secret");
  }));
  const Decision admitted = Evaluate(create, facts);
  EXPECT_TRUE(admitted.allowed) << admitted.message;
  cluster->Stop();
}

}  // namespace
}  // namespace csdr::webhook
