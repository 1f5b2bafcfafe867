#include "webhook/cluster/reflector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>

#include "test/kube/fake_apiserver.h"
#include "test/kube/test_pki.h"
#include "test/kube/test_util.h"

namespace csdr::webhook {
namespace {

using kube::testing::Base64;
using kube::testing::FakeApiServer;
using kube::testing::FakeRequest;
using kube::testing::LogCapture;
using kube::testing::TestPki;
using kube::testing::WaitUntil;

constexpr const char* kSecrets = "/api/v1/namespaces/csdr/secrets";
constexpr const char* kConfigMaps = "/api/v1/namespaces/csdr/configmaps";
constexpr const char* kPvcs = "/api/v1/persistentvolumeclaims";
constexpr const char* kStorageClasses = "/apis/storage.k8s.io/v1/storageclasses";

json::Value Object(const std::string& api_version, const std::string& kind, const std::string& ns,
                   const std::string& name) {
  json::Value o = json::Value::MakeObject();
  o.Set("apiVersion", api_version);
  o.Set("kind", kind);
  o["metadata"].Set("name", name);
  if (!ns.empty()) o["metadata"].Set("namespace", ns);
  o["metadata"].Set("uid", "uid-" + name);
  return o;
}

json::Value ConfigMap(const std::string& name, const std::string& value = "v") {
  json::Value cm = Object("v1", "ConfigMap", "csdr", name);
  cm["data"].Set("key", value);
  return cm;
}

json::Value Secret(const std::string& name, const std::map<std::string, std::string>& data) {
  json::Value s = Object("v1", "Secret", "csdr", name);
  s.Set("type", "Opaque");
  for (const auto& [k, v] : data) s["data"].Set(k, Base64(v));
  return s;
}

std::vector<std::string> Names(const ListFact& list) {
  std::vector<std::string> names;
  for (const ObjectRef& o : list.items) {
    const std::string ns = o->GetString({"metadata", "namespace"});
    names.push_back((ns.empty() ? "" : ns + "/") + o->GetString({"metadata", "name"}));
  }
  return names;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ReflectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeApiServer>(FakeApiServer::Options{pki_.Server(), "", {"token"}});
    kube::ClusterConfig config = server_->Config(pki_.ca_pem());
    config.token = "token";
    StatusOr<std::unique_ptr<kube::KubeClient>> client = kube::KubeClient::Create(config);
    ASSERT_TRUE(client.ok()) << client.status().message();
    client_ = std::move(*client);
    options_.backoff_initial = std::chrono::milliseconds(10);
    options_.backoff_max = std::chrono::milliseconds(50);
    options_.clock = [this] {
      return std::chrono::steady_clock::now() + std::chrono::milliseconds(skew_ms_.load());
    };
  }

  std::unique_ptr<Reflector> Make(ResourceSpec spec) {
    return std::make_unique<Reflector>(client_.get(), std::move(spec), options_);
  }
  std::string Url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  FakeRequest LastWatch(const std::string& path) const {
    FakeRequest last;
    for (const FakeRequest& r : server_->Requests(path)) {
      if (r.watch) last = r;
    }
    return last;
  }

  TestPki pki_;
  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<kube::KubeClient> client_;
  ReflectorOptions options_;
  std::atomic<int64_t> skew_ms_{0};  // added to the reflector's clock
};

TEST_F(ReflectorTest, ListsInPagesThenWatchesFromTheListResourceVersion) {
  for (const char* name : {"e", "a", "d", "b", "c"}) server_->Put(kConfigMaps, ConfigMap(name));
  const std::string list_rv = server_->CurrentResourceVersion();
  options_.page_size = 2;
  auto reflector = Make(ConfigMapsSpec("csdr"));

  const ObjectFact before = reflector->Get("csdr", "a");
  EXPECT_TRUE(before.unknown());
  EXPECT_EQ(before.unknown_reason, "cluster cache for configmaps in csdr has not synced yet");
  EXPECT_FALSE(reflector->HasSynced());

  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));

  const std::vector<FakeRequest> requests = server_->Requests(kConfigMaps);
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].params, (std::map<std::string, std::string>{{"limit", "2"}}));
  // The continue token needs escaping ('+', '/', '='); the server got it back intact.
  EXPECT_EQ(requests[1].params,
            (std::map<std::string, std::string>{{"limit", "2"}, {"continue", "tok+/=2"}}));
  EXPECT_EQ(requests[2].params,
            (std::map<std::string, std::string>{{"limit", "2"}, {"continue", "tok+/=4"}}));
  const FakeRequest& watch = requests[3];
  EXPECT_TRUE(watch.watch);
  EXPECT_EQ(watch.params.at("resourceVersion"), list_rv);
  EXPECT_EQ(watch.params.at("allowWatchBookmarks"), "true");
  const int timeout = std::stoi(watch.params.at("timeoutSeconds"));
  EXPECT_GE(timeout, 300);
  EXPECT_LT(timeout, 600);
  EXPECT_EQ(watch.authorization, "Bearer token");

  const ListFact all = reflector->List("csdr");
  ASSERT_TRUE(all.known);
  EXPECT_EQ(Names(all),
            (std::vector<std::string>{"csdr/a", "csdr/b", "csdr/c", "csdr/d", "csdr/e"}));
  const ObjectFact a = reflector->Get("csdr", "a");
  ASSERT_TRUE(a.present());
  // List items come without apiVersion/kind; the cache restores them.
  EXPECT_EQ(a.object->GetString({"apiVersion"}), "v1");
  EXPECT_EQ(a.object->GetString({"kind"}), "ConfigMap");
  EXPECT_EQ(a.object->GetString({"data", "key"}), "v");
  EXPECT_TRUE(reflector->Get("csdr", "zz").absent());
  const ReflectorStatus status = reflector->status();
  EXPECT_TRUE(status.synced);
  EXPECT_TRUE(status.connected);
  EXPECT_EQ(status.objects, 5u);
  EXPECT_EQ(status.resource_version, list_rv);
  EXPECT_EQ(status.lists, 1u);
}

TEST_F(ReflectorTest, AppliesAddedModifiedAndDeletedEvents) {
  server_->Put(kConfigMaps, ConfigMap("first"));
  auto reflector = Make(ConfigMapsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));

  server_->Put(kConfigMaps, ConfigMap("second", "one"));
  ASSERT_TRUE(WaitUntil([&] { return reflector->Get("csdr", "second").present(); }));
  server_->Put(kConfigMaps, ConfigMap("second", "two"));
  ASSERT_TRUE(WaitUntil([&] {
    const ObjectFact f = reflector->Get("csdr", "second");
    return f.present() && f.object->GetString({"data", "key"}) == "two";
  }));
  const ObjectRef old_first = reflector->Get("csdr", "first").object;
  server_->Remove(kConfigMaps, "csdr", "first");
  ASSERT_TRUE(WaitUntil([&] { return reflector->Get("csdr", "first").absent(); }));
  // A reader that held the object keeps its snapshot.
  ASSERT_NE(old_first, nullptr);
  EXPECT_EQ(old_first->GetString({"metadata", "name"}), "first");

  const ReflectorStatus status = reflector->status();
  EXPECT_EQ(status.events, 3u);
  EXPECT_EQ(status.objects, 1u);
  EXPECT_EQ(status.resource_version, server_->CurrentResourceVersion());
  EXPECT_EQ(server_->ListCount(kConfigMaps), 1);
}

TEST_F(ReflectorTest, BookmarkMovesTheResourceVersionAndACleanEndRewatchesWithoutRelisting) {
  server_->Put(kConfigMaps, ConfigMap("a"));
  auto reflector = Make(ConfigMapsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));

  server_->Put(kSecrets, Secret("elsewhere", {}));  // moves the global resourceVersion on
  const std::string bookmark_rv = server_->CurrentResourceVersion();
  server_->Bookmark(kConfigMaps);
  ASSERT_TRUE(WaitUntil([&] { return reflector->status().resource_version == bookmark_rv; }));

  server_->EndWatches(kConfigMaps);  // as at timeoutSeconds
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 2; }));
  EXPECT_EQ(LastWatch(kConfigMaps).params.at("resourceVersion"), bookmark_rv);
  EXPECT_EQ(server_->ListCount(kConfigMaps), 1);
  EXPECT_TRUE(reflector->Get("csdr", "a").present());
}

// The three ways a watch can lose track; each must relist, and the relist must replace the
// cache, so that changes the watch never delivered (made "silently" here) show up.
TEST_F(ReflectorTest, RelistsAndCatchesUpAfterLosingTheWatch) {
  struct Case {
    std::string name;
    std::function<void(FakeApiServer*)> break_watch;
    std::string error;  // in the status' last_error after the break
  };
  const std::vector<Case> cases = {
      {"ERROR event 410 Expired", [](FakeApiServer* s) { s->ExpireWatches(kConfigMaps); },
       "watch configmaps in csdr: ERROR event 410 Expired: too old resource version"},
      {"dropped stream", [](FakeApiServer* s) { s->DropWatches(kConfigMaps); },
       "watch configmaps in csdr: GET https://127.0.0.1:"},
      {"HTTP 410 when re-watching from a compacted resourceVersion",
       [](FakeApiServer* s) {
         s->Compact();
         s->SetWatch410AsHttp(true);
         s->EndWatches(kConfigMaps);
       },
       "HTTP 410 Expired: too old resource version"},
      {"ERROR event when re-watching from a compacted resourceVersion",
       [](FakeApiServer* s) {
         s->Compact();
         s->EndWatches(kConfigMaps);
       },
       "ERROR event 410 Expired"},
      {"undecodable event",
       [](FakeApiServer* s) { s->SendRaw(kConfigMaps, "{\"type\":\"ADDED\",\"object\":"); },
       "watch configmaps in csdr: undecodable event: invalid JSON at offset"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SetUp();  // a fresh server per case
    server_->Put(kConfigMaps, ConfigMap("keep"));
    server_->Put(kConfigMaps, ConfigMap("gone"));
    LogCapture logs;
    auto reflector = Make(ConfigMapsSpec("csdr"));
    reflector->Start();
    ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));

    server_->Remove(kConfigMaps, "csdr", "gone", /*silently=*/true);
    server_->Put(kConfigMaps, ConfigMap("new"), /*silently=*/true);
    server_->Put(kConfigMaps, ConfigMap("keep", "changed"), /*silently=*/true);
    c.break_watch(server_.get());

    ASSERT_TRUE(WaitUntil([&] { return server_->ListCount(kConfigMaps) == 2; }));
    ASSERT_TRUE(WaitUntil([&] { return reflector->status().lists == 2; }));
    EXPECT_EQ(Names(reflector->List("csdr")), (std::vector<std::string>{"csdr/keep", "csdr/new"}));
    EXPECT_EQ(reflector->Get("csdr", "keep").object->GetString({"data", "key"}), "changed");
    EXPECT_TRUE(Contains(logs.all(), c.error)) << logs.all();
    EXPECT_TRUE(Contains(logs.all(), "; relisting in ")) << logs.all();

    // And the new watch works.
    ASSERT_TRUE(WaitUntil([&] {
      return LastWatch(kConfigMaps).params.count("resourceVersion") != 0 &&
             server_->WatchCount(kConfigMaps) >= 2;
    }));
    server_->Put(kConfigMaps, ConfigMap("after"));
    EXPECT_TRUE(WaitUntil([&] { return reflector->Get("csdr", "after").present(); }));
    reflector->Stop();
  }
}

TEST_F(ReflectorTest, ListFailureLeavesTheCacheUnsyncedWithTheReason) {
  server_->Put(kSecrets, Secret("s", {}));
  server_->FailLists(kSecrets, 403, "Forbidden",
                     "secrets is forbidden: User \"system:serviceaccount:csdr:csdr-apiserver\" "
                     "cannot list resource "
                     "\"secrets\" in API group \"\" in the namespace \"csdr\"");
  auto reflector = Make(SecretsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(
      WaitUntil([&] { return server_->ListCount(kSecrets) >= 2; }));  // retried with backoff
  const ObjectFact fact = reflector->Get("csdr", "s");
  ASSERT_TRUE(fact.unknown());
  EXPECT_EQ(fact.unknown_reason,
            "cluster cache for secrets in csdr has not synced: list secrets in csdr: GET " +
                Url("/api/v1/namespaces/csdr/secrets?limit=500") +
                ": HTTP 403 Forbidden: secrets is forbidden: User "
                "\"system:serviceaccount:csdr:csdr-apiserver\" "
                "cannot list resource \"secrets\" in API group \"\" in the namespace \"csdr\"");
  EXPECT_FALSE(reflector->HasSynced());
  EXPECT_FALSE(reflector->List("csdr").known);

  server_->FailLists(kSecrets, 0, "", "");
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  EXPECT_TRUE(reflector->Get("csdr", "s").present());
  EXPECT_EQ(reflector->status().last_error, "");
}

TEST_F(ReflectorTest, KeepsAnsweringThroughAShortOutageAndFailsClosedAfterMaxStaleness) {
  server_->Put(kConfigMaps, ConfigMap("a"));
  options_.max_staleness = std::chrono::seconds(30);
  auto reflector = Make(ConfigMapsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));

  server_->SetUnavailable(true);
  ASSERT_TRUE(WaitUntil([&] { return !reflector->status().connected; }));
  ASSERT_TRUE(WaitUntil([&] { return Contains(reflector->status().last_error, "HTTP 503"); }));
  EXPECT_TRUE(reflector->Get("csdr", "a").present()) << "a short outage keeps the last state";

  skew_ms_ = 31'000;
  const ObjectFact stale = reflector->Get("csdr", "a");
  ASSERT_TRUE(stale.unknown());
  EXPECT_EQ(
      stale.unknown_reason.rfind(
          "cluster cache for configmaps in csdr is stale: no contact with the API server for 31",
          0),
      0u)
      << stale.unknown_reason;
  EXPECT_TRUE(Contains(stale.unknown_reason, "HTTP 503 ServiceUnavailable"))
      << stale.unknown_reason;
  EXPECT_FALSE(reflector->List("csdr").known);
  EXPECT_TRUE(reflector->HasSynced())
      << "synced once stays synced; staleness is reported by lookups";

  server_->SetUnavailable(false);
  server_->Put(kConfigMaps, ConfigMap("b"), /*silently=*/true);
  ASSERT_TRUE(WaitUntil([&] { return reflector->Get("csdr", "b").present(); }));
  EXPECT_TRUE(reflector->status().connected);
}

TEST_F(ReflectorTest, OnlyTheWatchedNamespaceIsAnswered) {
  server_->Put(kConfigMaps, ConfigMap("a"));
  auto reflector = Make(ConfigMapsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  const ObjectFact other = reflector->Get("kube-system", "a");
  ASSERT_TRUE(other.unknown());
  EXPECT_EQ(other.unknown_reason,
            "ConfigMaps are only watched in namespace csdr, not in \"kube-system\"");
  EXPECT_FALSE(reflector->List("kube-system").known);
  EXPECT_EQ(Names(reflector->List("")), std::vector<std::string>{"csdr/a"});
}

TEST_F(ReflectorTest, ClusterWideResourcesListByNamespace) {
  server_->Put(kPvcs, Object("v1", "PersistentVolumeClaim", "b", "z"));
  server_->Put(kPvcs, Object("v1", "PersistentVolumeClaim", "a", "y"));
  server_->Put(kPvcs, Object("v1", "PersistentVolumeClaim", "a", "x"));
  server_->Put(kPvcs,
               Object("v1", "PersistentVolumeClaim", "ab", "w"));  // "a" is not a prefix match
  auto reflector = Make(PersistentVolumeClaimsSpec());
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  EXPECT_EQ(Names(reflector->List("a")), (std::vector<std::string>{"a/x", "a/y"}));
  EXPECT_EQ(Names(reflector->List("")), (std::vector<std::string>{"a/x", "a/y", "ab/w", "b/z"}));
  const ListFact none = reflector->List("c");
  EXPECT_TRUE(none.known);
  EXPECT_TRUE(none.items.empty());
  EXPECT_TRUE(reflector->Get("b", "z").present());
  EXPECT_TRUE(reflector->Get("a", "z").absent());
}

TEST_F(ReflectorTest, ClusterScopedResources) {
  json::Value sc = Object("storage.k8s.io/v1", "StorageClass", "", "alicloud-disk-essd");
  sc.Set("provisioner", "diskplugin.csi.alibabacloud.com");
  sc["metadata"].Set("managedFields", json::Value::MakeArray());
  server_->Put(kStorageClasses, sc);
  auto reflector = Make(StorageClassesSpec());
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  const ObjectFact fact = reflector->Get("", "alicloud-disk-essd");
  ASSERT_TRUE(fact.present()) << fact.unknown_reason;
  EXPECT_EQ(fact.object->GetString({"apiVersion"}), "storage.k8s.io/v1");
  EXPECT_EQ(fact.object->GetString({"kind"}), "StorageClass");
  EXPECT_EQ(fact.object->GetString({"provisioner"}), "diskplugin.csi.alibabacloud.com");
  EXPECT_EQ(fact.object->FindPath({"metadata", "managedFields"}), nullptr);
  EXPECT_TRUE(reflector->Get("whatever", "alicloud-disk-essd").present())
      << "the namespace is ignored";
  EXPECT_TRUE(reflector->Get("", "other").absent());
}

TEST_F(ReflectorTest, StopInterruptsAQuietWatchPromptly) {
  server_->Put(kConfigMaps, ConfigMap("a"));
  auto reflector = Make(ConfigMapsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kConfigMaps) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  reflector->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(reflector->status().connected);
}

TEST_F(ReflectorTest, SecretValuesNeverReachTheCacheOrTheLogs) {
  // Each value in both spellings a leak could take: plain and base64.
  const std::vector<std::string> values = {"AKIDsupersecretKEY1", "supersecretVALUE2",
                                           "rotatedSECRET3"};
  std::vector<std::string> forbidden;
  for (const std::string& v : values) {
    forbidden.push_back(v);
    forbidden.push_back(Base64(v));
  }
  LogCapture logs;

  json::Value secret = Secret("alibaba-addon-secret",
                              {{"access-key-id", values[0]}, {"access-key-secret", values[1]}});
  secret["data"].Set("blank", Base64("  \n"));
  secret["metadata"]["annotations"].Set("kubectl.kubernetes.io/last-applied-configuration",
                                        json::Serialize(secret));
  server_->Put(kSecrets, secret);
  auto reflector = Make(SecretsSpec("csdr"));
  reflector->Start();
  ASSERT_TRUE(reflector->WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kSecrets) == 1; }));
  auto expect_clean_cache = [&] {
    std::string cached;
    for (const ObjectRef& o : reflector->List("csdr").items) cached += json::Serialize(*o);
    ASSERT_TRUE(Contains(cached, "alibaba-addon-secret"));
    for (const std::string& f : forbidden)
      EXPECT_FALSE(Contains(cached, f)) << f << " in the cache: " << cached;
  };
  expect_clean_cache();  // as listed, with the last-applied annotation

  // A rotation through the watch, then an event that does not parse (with a value inside),
  // then an ERROR: each goes through a path that logs.
  json::Value rotated = Secret("alibaba-addon-secret",
                               {{"access-key-id", values[0]}, {"access-key-secret", values[2]}});
  server_->Put(kSecrets, rotated);
  ASSERT_TRUE(WaitUntil([&] { return reflector->status().events == 1; }));
  server_->SendRaw(kSecrets, "{\"type\":\"MODIFIED\",\"object\":{\"data\":{\"k\":\"" +
                                 Base64(values[2]) + "\"}} trailing");
  ASSERT_TRUE(WaitUntil([&] { return server_->ListCount(kSecrets) == 2; }));
  ASSERT_TRUE(WaitUntil([&] { return reflector->status().lists == 2; }));

  const ObjectFact fact = reflector->Get("csdr", "alibaba-addon-secret");
  ASSERT_TRUE(fact.present());
  const SecretFact summary = SecretFactOfSummary(*fact.object);
  EXPECT_TRUE(summary.HasNonEmpty("access-key-id"));
  EXPECT_TRUE(summary.HasNonEmpty("access-key-secret"));
  EXPECT_FALSE(summary.HasNonEmpty("blank"));
  EXPECT_EQ(summary.keys.size(), 2u) << "the rotated Secret has no `blank` key";
  EXPECT_EQ(fact.object->FindPath({"metadata", "annotations"}), nullptr);
  EXPECT_EQ(fact.object->Find("data"), nullptr);
  EXPECT_EQ(fact.object->GetString({"metadata", "uid"}), "uid-alibaba-addon-secret");
  EXPECT_EQ(fact.object->GetString({"type"}), "Opaque");

  expect_clean_cache();
  const std::string logged = logs.all();
  ASSERT_TRUE(Contains(logged, "secrets in csdr synced")) << "the capture works";
  ASSERT_TRUE(Contains(logged, "MODIFIED csdr/alibaba-addon-secret"))
      << "verbose lines are captured too";
  ASSERT_TRUE(Contains(logged, "undecodable event"));
  for (const std::string& f : forbidden)
    EXPECT_FALSE(Contains(logged, f)) << f << " in the logs:\n" << logged;
}

TEST(SecretSummaryTest, KeepsKeysAndMetadataOnly) {
  StatusOr<json::Value> secret = json::Parse(R"({
    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
    "metadata": {"name": "s", "namespace": "csdr", "uid": "u", "resourceVersion": "7",
                 "labels": {"app": "x"}, "annotations": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
    "data": {"id": "QUtJRA==", "empty": "", "blank": "ICA=", "broken": "%%%"},
    "stringData": {"plain": "value", "id": ""}
  })");
  ASSERT_TRUE(secret.ok());
  const json::Value summary = SummarizeSecretObject(*secret);
  StatusOr<json::Value> expected = json::Parse(R"({
    "apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "s", "namespace": "csdr", "uid": "u", "resourceVersion": "7", "labels": {"app": "x"}},
    "type": "Opaque",
    "keys": {"blank": false, "broken": false, "empty": false, "id": false, "plain": true}
  })");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(summary, *expected) << json::Serialize(summary, true);
  // stringData overrides data for the same key, as the API server merges them.
  const SecretFact fact = SecretFactOfSummary(summary);
  EXPECT_EQ(fact.presence, Presence::kPresent);
  EXPECT_FALSE(fact.HasNonEmpty("id"));
  EXPECT_TRUE(fact.HasNonEmpty("plain"));
}

}  // namespace
}  // namespace csdr::webhook
