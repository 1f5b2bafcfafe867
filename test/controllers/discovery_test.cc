// The discovery controller: observed facts merged into ClusterProfile "cluster"'s status,
// capabilities and conditions from them, written only on change, kept through an outage.
#include "controllers/discovery.h"

#include <gtest/gtest.h>

#include "test/controllers/controllers_test_util.h"
#include "webhook/admission/policy_admission.h"

namespace csdr::controllers {
namespace {

json::Value J(std::string_view text) {
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? std::move(v).value() : json::Value();
}

webhook::ObjectRef Ref(std::string_view text) {
  return std::make_shared<const json::Value>(J(text));
}

webhook::ObjectFact Present(std::string_view text) {
  webhook::ObjectFact f;
  f.presence = webhook::Presence::kPresent;
  f.object = Ref(text);
  return f;
}

webhook::ObjectFact Absent() {
  webhook::ObjectFact f;
  f.presence = webhook::Presence::kAbsent;
  return f;
}

std::string Workload(const std::string& container, const std::string& image) {
  return R"({"spec":{"template":{"spec":{"containers":[{"name":")" + container + R"(","image":")" +
         image + R"("}]}}}})";
}

// A cluster in cn-heyuan with migrate-controller v1.8.3 on two ECS nodes.
webhook::ObservedSources Heyuan(
    const std::string& migrate_image = "acs/migrate-controller:v1.8.3-1a2b-aliyun") {
  webhook::ObservedSources s;
  s.nodes.known = true;
  for (const char* id : {"cn-heyuan.i-a", "cn-heyuan.i-b"}) {
    s.nodes.items.push_back(Ref(R"({"metadata":{"labels":{"topology.kubernetes.io/region":
        "cn-heyuan"}},"spec":{"providerID":")" +
                                std::string(id) + R"("}})"));
  }
  s.kubernetes_version = "v1.33.1";
  s.migrate_controller = Present(Workload("migrate-controller", migrate_image));
  s.csi_plugin = Present(Workload("csi-plugin", "acs/csi-plugin:v1.30.4-9f8e"));
  s.flexvolume = Absent();
  s.ack_profile = Present(R"({"data":{"clusterid":"c1","uid":"42","vpcid":"vpc-1",
      "vsw-zone":"vsw-1:cn-heyuan-a"}})");
  return s;
}

const json::Value* Condition(const json::Value& status, const std::string& type) {
  const json::Value* list = status.Find("conditions");
  if (list == nullptr) return nullptr;
  for (const json::Value& c : list->array()) {
    if (c.GetString({"type"}) == type) return &c;
  }
  return nullptr;
}

class DiscoveryTest : public testing::ControllerWorld {
 protected:
  json::Value Profile(const std::string& spec_json) {
    json::Value p = J(R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile",
        "metadata":{"name":"cluster","generation":3}})");
    p.Set("spec", J(spec_json));
    return p;
  }
  DiscoveryController controller_{ControllerContext{}, nullptr};
  webhook::SecretFact no_secret_;
};

TEST_F(DiscoveryTest, EverySourceIntoStatusWithCapabilitiesAndConditions) {
  SetNow("2026-12-07T10:00:00Z");
  const json::Value status = controller_.NextStatus(Profile(R"({"clusterType":"ACKManaged"})"),
                                                    Heyuan(), true, no_secret_, Now());
  for (const auto& [field, want] :
       {std::pair<const char*, json::Value>{"regionID", json::Value("cn-heyuan")},
        {"componentVersion", json::Value("v1.8.3")},
        {"kubernetesVersion", json::Value("v1.33.1")},
        {"csiVersion", json::Value("v1.30.4")},
        {"allNodesECS", json::Value(true)},
        {"flexVolumeDetected", json::Value(false)},
        {"clusterID", json::Value("c1")},
        {"observedGeneration", json::Value(int64_t{3})}}) {
    ASSERT_NE(status.Find(field), nullptr) << field;
    EXPECT_EQ(*status.Find(field), want) << field;
  }
  // Heyuan is gated and v1.8.3 is before v1.8.4: no Cloud Backup.
  EXPECT_EQ(*status.Find("capabilities"),
            J(R"({"backupCenter":true,"volumeBackup":true,"ecsSnapshot":true,
                  "cloudBackup":false,"crossRegionDiskRestore":true})"));
  const json::Value* discovered = Condition(status, "ProfileDiscovered");
  ASSERT_NE(discovered, nullptr);
  EXPECT_EQ(discovered->GetString({"status"}), "True");
  EXPECT_EQ(discovered->GetString({"reason"}), "Discovered");
  EXPECT_EQ(discovered->GetString({"lastTransitionTime"}), "2026-12-07T10:00:00Z");
  EXPECT_EQ(Condition(status, "Supported")->GetString({"status"}), "True");
  EXPECT_EQ(Condition(status, "CredentialsReady")->GetString({"reason"}), "ManagedRole");

  // migrate-controller upgraded: Cloud Backup follows.
  json::Value upgraded = Profile(R"({"clusterType":"ACKManaged"})");
  upgraded.Set("status", status);
  SetNow("2026-12-07T10:05:00Z");
  const json::Value after = controller_.NextStatus(
      upgraded, Heyuan("acs/migrate-controller:v1.8.4-8bea6b9-aliyun"), true, no_secret_, Now());
  EXPECT_EQ(after.GetString({"componentVersion"}), "v1.8.4");
  EXPECT_TRUE(after.FindPath({"capabilities", "cloudBackup"})->as_bool());
  // An unchanged condition keeps when it last changed.
  EXPECT_EQ(Condition(after, "ProfileDiscovered")->GetString({"lastTransitionTime"}),
            "2026-12-07T10:00:00Z");
}

TEST_F(DiscoveryTest, AnUnreadableSourceKeepsItsFieldAnAbsentOneRemovesIt) {
  json::Value profile = Profile(R"({"clusterType":"ACKManaged"})");
  profile.Set("status", controller_.NextStatus(profile, Heyuan(), true, no_secret_, Now()));
  webhook::ObservedSources outage = Heyuan();
  outage.nodes = webhook::ListFact{};
  outage.nodes.unknown_reason = "cluster cache for nodes is stale";
  outage.migrate_controller = Absent();  // uninstalled
  const json::Value status = controller_.NextStatus(profile, outage, true, no_secret_, Now());
  EXPECT_EQ(status.GetString({"regionID"}), "cn-heyuan");  // kept through the outage
  EXPECT_EQ(status.Find("componentVersion"), nullptr);     // gone with its Deployment
  const json::Value* discovered = Condition(status, "ProfileDiscovered");
  EXPECT_EQ(discovered->GetString({"status"}), "False");
  EXPECT_EQ(discovered->GetString({"reason"}), "SourcesMissing");
  EXPECT_NE(discovered->GetString({"message"}).find("nodes: cluster cache for nodes is stale"),
            std::string::npos)
      << discovered->GetString({"message"});
  EXPECT_NE(discovered->GetString({"message"})
                .find("Deployment kube-system/migrate-controller: not found"),
            std::string::npos);
}

TEST_F(DiscoveryTest, DeclaredValuesThatDisagreeAreSaid) {
  const json::Value status = controller_.NextStatus(
      Profile(
          R"({"clusterType":"ACKManaged","regionID":"cn-hangzhou","componentVersion":"v1.8.4"})"),
      Heyuan(), true, no_secret_, Now());
  const json::Value* discovered = Condition(status, "ProfileDiscovered");
  EXPECT_EQ(discovered->GetString({"reason"}), "DeclaredDiffers");
  const std::string m = discovered->GetString({"message"});
  EXPECT_NE(m.find(R"(spec.regionID "cn-hangzhou" disagrees with the observed "cn-heyuan")"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(R"(spec.componentVersion "v1.8.4" disagrees with the observed "v1.8.3")"),
            std::string::npos)
      << m;
  // The observed ones decide: no Cloud Backup, whatever the spec says.
  EXPECT_FALSE(status.FindPath({"capabilities", "cloudBackup"})->as_bool());
}

TEST_F(DiscoveryTest, CredentialsAndSupport) {
  webhook::SecretFact secret;
  secret.presence = webhook::Presence::kAbsent;
  json::Value status = controller_.NextStatus(Profile(R"({"clusterType":"Registered"})"), Heyuan(),
                                              true, secret, Now());
  EXPECT_EQ(Condition(status, "CredentialsReady")->GetString({"reason"}), "SecretMissing");
  secret.presence = webhook::Presence::kPresent;
  secret.keys = {{"access-key-id", true}, {"access-key-secret", false}};
  status = controller_.NextStatus(Profile(R"({"clusterType":"Registered"})"), Heyuan(), true,
                                  secret, Now());
  EXPECT_EQ(Condition(status, "CredentialsReady")->GetString({"reason"}), "SecretIncomplete");
  secret.keys["access-key-secret"] = true;
  status = controller_.NextStatus(Profile(R"({"clusterType":"Registered"})"), Heyuan(), true,
                                  secret, Now());
  EXPECT_EQ(Condition(status, "CredentialsReady")->GetString({"status"}), "True");

  webhook::ObservedSources flex = Heyuan();
  flex.flexvolume = Present(Workload("flexvolume", "acs/flexvolume:v1.14.8"));
  status = controller_.NextStatus(Profile(R"({"clusterType":"ACKManaged"})"), flex, true,
                                  no_secret_, Now());
  EXPECT_EQ(Condition(status, "Supported")->GetString({"reason"}), "FlexVolume");
  EXPECT_FALSE(status.FindPath({"capabilities", "backupCenter"})->as_bool());
  status = controller_.NextStatus(Profile(R"({"clusterType":"ACKServerlessBasic"})"), Heyuan(),
                                  true, no_secret_, Now());
  EXPECT_EQ(Condition(status, "Supported")->GetString({"reason"}), "ClusterType");
}

TEST_F(DiscoveryTest, WithoutAClusterOnlyTheConditionSaysSo) {
  json::Value profile = Profile(R"({"clusterType":"ACKManaged"})");
  profile.Set("status", J(R"({"regionID":"cn-shanghai","capabilities":{"volumeBackup":true}})"));
  webhook::ObservedSources none;
  none.version_error = "no cluster configured (--kubeconfig or in-cluster)";
  const json::Value status = controller_.NextStatus(profile, none, false, no_secret_, Now());
  EXPECT_EQ(status.GetString({"regionID"}), "cn-shanghai");
  EXPECT_EQ(*status.Find("capabilities"), J(R"({"volumeBackup":true})"));
  const json::Value* discovered = Condition(status, "ProfileDiscovered");
  EXPECT_EQ(discovered->GetString({"reason"}), "NoCluster");
  EXPECT_NE(discovered->GetString({"message"}).find("no cluster configured"), std::string::npos);
}

// A ClusterFacts whose observations the test sets.
class FakeCluster final : public webhook::ClusterFacts {
 public:
  webhook::SecretFact Secret(std::string_view, std::string_view) const override { return {}; }
  webhook::ObjectFact Namespace(std::string_view) const override { return {}; }
  webhook::ObjectFact StorageClass(std::string_view) const override { return {}; }
  webhook::ListFact PersistentVolumeClaims(std::string_view) const override { return {}; }
  webhook::ObjectFact ConfigMap(std::string_view, std::string_view) const override { return {}; }
  void Start() override {}
  void Stop() override {}
  bool Configured() const override { return true; }
  bool HasSynced() const override { return true; }
  bool WaitForSync(std::chrono::milliseconds) const override { return true; }
  std::string StatusLine() const override { return "fake"; }
  webhook::ObservedSources Observe() const override { return sources; }
  webhook::ObservedSources sources;
};

TEST_F(DiscoveryTest, SyncWritesTheStatusOnlyWhenItChanges) {
  SetNow("2026-12-07T10:00:00Z");
  apiserver::Scope scope = ScopeOf("clusterprofiles", "cluster");
  scope.namespace_.clear();
  auto created = registry_->Create(scope, Profile(R"({"clusterType":"ACKManaged",
      "regionID":"cn-heyuan","componentVersion":"v1.8.3"})"),
                                   {});
  ASSERT_TRUE(created.ok()) << created.status().message();
  FakeCluster cluster;
  cluster.sources = Heyuan();
  DiscoveryController controller(Context(), &cluster);
  auto next = controller.Sync(Now());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next - Now(), std::chrono::seconds(2));
  auto read = registry_->Get(scope);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->GetString({"status", "regionID"}), "cn-heyuan");
  EXPECT_EQ(read->GetString({"status", "componentVersion"}), "v1.8.3");
  const std::string rv = read->GetString({"metadata", "resourceVersion"});
  // Nothing changed: nothing written.
  SetNow("2026-12-07T10:00:02Z");
  controller.Sync(Now());
  EXPECT_EQ(registry_->Get(scope)->GetString({"metadata", "resourceVersion"}), rv);
  // The Deployment's image changes: the status follows.
  cluster.sources = Heyuan("acs/migrate-controller:v1.8.4");
  SetNow("2026-12-07T10:00:04Z");
  controller.Sync(Now());
  read = registry_->Get(scope);
  EXPECT_NE(read->GetString({"metadata", "resourceVersion"}), rv);
  EXPECT_EQ(read->GetString({"status", "componentVersion"}), "v1.8.4");
  EXPECT_TRUE(read->FindPath({"status", "capabilities", "cloudBackup"})->as_bool());
}

// Cluster changes re-judge what is stored: a schedule that backs up with Cloud Backup in
// cn-heyuan, admitted while migrate-controller ran v1.8.4, is named with CSDR-BK-005 in the
// profile's StoredObjectsSupported and gets ClusterSupported False once migrate-controller is
// v1.8.3 (whatever the spec declares); a schedule without volumes and a vault are untouched;
// back to v1.8.4, both conditions say True again.
TEST_F(DiscoveryTest, ObservedChangesReJudgeStoredObjects) {
  SetNow("2026-12-07T10:00:00Z");
  apiserver::Scope profile_scope = ScopeOf("clusterprofiles", "cluster");
  profile_scope.namespace_.clear();
  ASSERT_TRUE(registry_
                  ->Create(profile_scope, Profile(R"({"clusterType":"ACKManaged",
      "regionID":"cn-heyuan","componentVersion":"v1.8.4"})"),
                           {})
                  .ok());
  auto vault = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault",
      "metadata":{"name":"v1","namespace":"csdr"},
      "spec":{"bucket":"cnfs-oss-heyuan","region":"cn-heyuan"}})");
  ASSERT_TRUE(registry_->Create(ScopeOf("backupvaults"), *vault, {}).ok());
  CreateSchedule("nightly", R"({"schedule":"1 4 * * *","paused":true,"template":{
      "vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
      "volumeBackup":{"method":"CloudBackup"}}})");
  CreateSchedule("apps-only", R"({"schedule":"1 4 * * *","paused":true,"template":{
      "vaultName":"v1","backupType":"AppBackup","includedNamespaces":["shop"]}})");
  Refresh();
  FakeCluster cluster;
  cluster.sources = Heyuan("acs/migrate-controller:v1.8.4");
  webhook::StoreFacts facts(store_.get(), &cluster);
  DiscoveryController controller(Context(), &cluster, &facts);

  auto stored_condition = [&] {
    auto p = registry_->Get(profile_scope);
    EXPECT_TRUE(p.ok());
    const json::Value* status = p->Find("status");
    const json::Value* c =
        status != nullptr ? Condition(*status, "StoredObjectsSupported") : nullptr;
    return c != nullptr ? *c : json::Value();
  };
  auto object_condition = [&](const char* resource, const std::string& name) {
    const json::Value o = Get(resource, name);
    const json::Value* status = o.Find("status");
    const json::Value* c = status != nullptr ? Condition(*status, "ClusterSupported") : nullptr;
    return c != nullptr ? *c : json::Value();
  };

  controller.Sync(Now());
  EXPECT_EQ(stored_condition().GetString({"status"}), "True");
  EXPECT_EQ(stored_condition().GetString({"reason"}), "AllSupported");
  // Nothing failed: no object was written.
  EXPECT_TRUE(object_condition("backupschedules", "nightly").is_null());
  EXPECT_TRUE(object_condition("backupvaults", "v1").is_null());

  // migrate-controller goes back to v1.8.3.
  cluster.sources = Heyuan();
  SetNow("2026-12-07T10:00:02Z");
  controller.Sync(Now());
  const json::Value broken = stored_condition();
  EXPECT_EQ(broken.GetString({"status"}), "False");
  EXPECT_EQ(broken.GetString({"reason"}), "Broken");
  const std::string m = broken.GetString({"message"});
  EXPECT_EQ(m.rfind("BackupSchedule csdr/nightly: [CSDR-BK-005] ", 0), 0u) << m;
  EXPECT_EQ(m.find("apps-only"), std::string::npos) << m;
  EXPECT_EQ(m.find("BackupVault"), std::string::npos) << m;
  const json::Value nightly = object_condition("backupschedules", "nightly");
  EXPECT_EQ(nightly.GetString({"status"}), "False");
  EXPECT_EQ(nightly.GetString({"reason"}), "RuleFailed");
  EXPECT_EQ(nightly.GetString({"message"}).rfind("[CSDR-BK-005] ", 0), 0u);
  EXPECT_EQ(nightly.GetString({"lastTransitionTime"}), "2026-12-07T10:00:02Z");
  EXPECT_TRUE(object_condition("backupschedules", "apps-only").is_null());
  EXPECT_TRUE(object_condition("backupvaults", "v1").is_null());
  EXPECT_NE(events_.Take().size(), 0u);

  // Nothing changes: the next passes write nothing.
  Refresh();
  const std::string rv =
      Get("backupschedules", "nightly").GetString({"metadata", "resourceVersion"});
  SetNow("2026-12-07T10:00:04Z");
  controller.Sync(Now());
  SetNow("2026-12-07T10:00:40Z");  // past the 30 s re-judgement too
  controller.Sync(Now());
  EXPECT_EQ(Get("backupschedules", "nightly").GetString({"metadata", "resourceVersion"}), rv);

  // Back to v1.8.4: both conditions True again.
  cluster.sources = Heyuan("acs/migrate-controller:v1.8.4");
  SetNow("2026-12-07T10:00:42Z");
  controller.Sync(Now());
  EXPECT_EQ(stored_condition().GetString({"status"}), "True");
  const json::Value mended = object_condition("backupschedules", "nightly");
  EXPECT_EQ(mended.GetString({"status"}), "True");
  EXPECT_EQ(mended.GetString({"lastTransitionTime"}), "2026-12-07T10:00:42Z");
}

// A vault is re-judged too, through its own status: a bucket in cn-hangzhou reached over OSS's
// internal network is fine while the nodes say cn-hangzhou, and named with CSDR-BV-006 (in the
// profile's condition and the vault's ClusterSupported) once they say cn-heyuan.
TEST_F(DiscoveryTest, AVaultTheObservedRegionBreaksIsNamed) {
  SetNow("2026-12-07T10:00:00Z");
  apiserver::Scope profile_scope = ScopeOf("clusterprofiles", "cluster");
  profile_scope.namespace_.clear();
  ASSERT_TRUE(
      registry_->Create(profile_scope, Profile(R"({"clusterType":"ACKManaged"})"), {}).ok());
  auto vault = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault",
      "metadata":{"name":"hangzhou","namespace":"csdr"},
      "spec":{"bucket":"cnfs-oss-hz","region":"cn-hangzhou","network":"internal"}})");
  ASSERT_TRUE(registry_->Create(ScopeOf("backupvaults"), *vault, {}).ok());
  Refresh();
  FakeCluster cluster;
  cluster.sources = Heyuan("acs/migrate-controller:v1.8.4");
  for (auto& node : cluster.sources.nodes.items) {
    json::Value moved = *node;
    moved["metadata"]["labels"].Set("topology.kubernetes.io/region", "cn-hangzhou");
    node = std::make_shared<const json::Value>(std::move(moved));
  }
  webhook::StoreFacts facts(store_.get(), &cluster);
  DiscoveryController controller(Context(), &cluster, &facts);
  auto conditions = [&](const char* resource, const std::string& name, const char* type) {
    apiserver::Scope scope = ScopeOf(resource, name);
    if (std::string(resource) == "clusterprofiles") scope.namespace_.clear();
    auto o = registry_->Get(scope);
    EXPECT_TRUE(o.ok());
    const json::Value* status = o.ok() ? o->Find("status") : nullptr;
    const json::Value* c = status != nullptr ? Condition(*status, type) : nullptr;
    return c != nullptr ? *c : json::Value();
  };
  controller.Sync(Now());
  EXPECT_EQ(
      conditions("clusterprofiles", "cluster", "StoredObjectsSupported").GetString({"status"}),
      "True");
  EXPECT_TRUE(conditions("backupvaults", "hangzhou", "ClusterSupported").is_null());

  cluster.sources = Heyuan("acs/migrate-controller:v1.8.4");
  SetNow("2026-12-07T10:00:02Z");
  controller.Sync(Now());
  const json::Value stored = conditions("clusterprofiles", "cluster", "StoredObjectsSupported");
  EXPECT_EQ(stored.GetString({"status"}), "False");
  EXPECT_EQ(stored.GetString({"message"}).rfind("BackupVault csdr/hangzhou: [CSDR-BV-006] ", 0), 0u)
      << stored.GetString({"message"});
  const json::Value own = conditions("backupvaults", "hangzhou", "ClusterSupported");
  EXPECT_EQ(own.GetString({"status"}), "False");
  EXPECT_EQ(own.GetString({"message"}).rfind("[CSDR-BV-006] ", 0), 0u);
  const std::vector<std::string> events = events_.Take();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(
      events.back().rfind("Warning ClusterUnsupported BackupVault/hangzhou: [CSDR-BV-006]", 0), 0u)
      << events.back();
}

}  // namespace
}  // namespace csdr::controllers
