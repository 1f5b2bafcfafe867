#include "webhook/cluster/observed_facts.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace csdr::webhook {
namespace {

json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? std::move(v).value() : json::Value();
}

ObjectRef Node(const std::string& labels_json, const std::string& provider_id) {
  json::Value n = J(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n"}})");
  n["metadata"].Set("labels", J(labels_json));
  if (!provider_id.empty()) n["spec"].Set("providerID", provider_id);
  return std::make_shared<const json::Value>(std::move(n));
}

TEST(EcsProviderRegionTest, Forms) {
  const struct {
    const char* id;
    const char* region;
  } cases[] = {
      {"cn-hangzhou.i-bp1abc123", "cn-hangzhou"},
      {"ap-southeast-1.i-t4n0xyz", "ap-southeast-1"},
      {"cn-heyuan.i-f8z2", "cn-heyuan"},
      {"", ""},
      {"i-bp1abc", ""},                  // no region
      {"cn-hangzhou.i-", ""},            // no instance
      {"aws:///us-east-1a/i-0abc", ""},  // another cloud
      {"cn-hangzhou.ecs-1", ""},         // not an instance ID
      {"CN-Hangzhou.i-bp1", ""},         // not a region ID
      {"hangzhou.i-bp1", ""},            // one part only
      {"cn-hangzhou.i-bp1/extra", ""},   // trailing junk
      {"kind://docker/kind/node", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(EcsProviderRegion(c.id), c.region) << c.id;
}

TEST(RegionOfNodesTest, MajorityThenFallbacks) {
  // The topology label: the majority wins, a tie goes to the first name.
  EXPECT_EQ(RegionOfNodes({Node(R"({"topology.kubernetes.io/region":"cn-heyuan"})", ""),
                           Node(R"({"topology.kubernetes.io/region":"cn-heyuan"})", ""),
                           Node(R"({"topology.kubernetes.io/region":"cn-hangzhou"})", "")}),
            "cn-heyuan");
  EXPECT_EQ(RegionOfNodes({Node(R"({"topology.kubernetes.io/region":"cn-shanghai"})", ""),
                           Node(R"({"topology.kubernetes.io/region":"cn-beijing"})", "")}),
            "cn-beijing");
  // One node with the new label outweighs two with only the beta one.
  EXPECT_EQ(RegionOfNodes({Node(R"({"failure-domain.beta.kubernetes.io/region":"cn-beijing"})", ""),
                           Node(R"({"failure-domain.beta.kubernetes.io/region":"cn-beijing"})", ""),
                           Node(R"({"topology.kubernetes.io/region":"cn-wulanchabu"})", "")}),
            "cn-wulanchabu");
  // Only the beta label.
  EXPECT_EQ(
      RegionOfNodes({Node(R"({"failure-domain.beta.kubernetes.io/region":"cn-guangzhou"})", "")}),
      "cn-guangzhou");
  // No label: the ECS provider IDs.
  EXPECT_EQ(RegionOfNodes({Node("{}", "cn-heyuan.i-f8z1"), Node("{}", "cn-heyuan.i-f8z2"),
                           Node("{}", "kind://docker/x")}),
            "cn-heyuan");
  EXPECT_EQ(RegionOfNodes({Node("{}", "kind://docker/x")}), "");
  EXPECT_EQ(RegionOfNodes({}), "");
}

TEST(AllNodesEcsTest, EveryNodeOrNone) {
  EXPECT_TRUE(AllNodesEcs({Node("{}", "cn-hangzhou.i-a"), Node("{}", "cn-hangzhou.i-b")}));
  EXPECT_FALSE(AllNodesEcs({Node("{}", "cn-hangzhou.i-a"), Node("{}", "")}));
  EXPECT_FALSE(AllNodesEcs({Node("{}", "cn-hangzhou.i-a"), Node("{}", "kind://docker/x")}));
  EXPECT_FALSE(AllNodesEcs({}));
}

TEST(VersionOfImageTest, TagForms) {
  const struct {
    const char* image;
    const char* version;
  } cases[] = {
      {"registry.cn-hangzhou.aliyuncs.com/acs/migrate-controller:v1.8.4-8bea6b9-aliyun", "v1.8.4"},
      {"migrate-controller:v1.8.3", "v1.8.3"},
      {"acs/csi-plugin:v1.30.1-a2b3c4d-aliyun", "v1.30.1"},
      {"registry.local:5000/acs/migrate-controller:v1.9.0", "v1.9.0"},  // a registry port
      {"registry.local:5000/acs/migrate-controller", ""},               // the port is no tag
      {"migrate-controller:1.8.4", "v1.8.4"},                           // no "v"
      {"migrate-controller:v1.8.4@sha256:0123abcd", "v1.8.4"},          // tag and digest
      {"migrate-controller@sha256:0123abcd", ""},                       // digest only
      {"migrate-controller:latest", ""},
      {"migrate-controller:v1.8", ""},
      {"migrate-controller:v1.8.4.1", ""},
      {"migrate-controller:v1.8.4rc1", ""},
      {"migrate-controller:v1.8.x", ""},
      {"migrate-controller:", ""},
      {"", ""},
      {"migrate-controller:v01.8.4", "v01.8.4"},  // as written; the rules' semver parse judges
  };
  for (const auto& c : cases) EXPECT_EQ(VersionOfImage(c.image), c.version) << c.image;
}

TEST(ImageOfWorkloadTest, NamedContainerOrFirst) {
  const json::Value ds = J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"csi-provisioner","image":"acs/csi-provisioner:v3.0.0"},
      {"name":"csi-plugin","image":"acs/csi-plugin:v1.30.1-abc"}]}}}})");
  EXPECT_EQ(ImageOfWorkload(ds, "csi-plugin"), "acs/csi-plugin:v1.30.1-abc");
  EXPECT_EQ(ImageOfWorkload(ds, ""), "acs/csi-provisioner:v3.0.0");
  EXPECT_EQ(ImageOfWorkload(ds, "missing"), "");
  EXPECT_EQ(ImageOfWorkload(J(R"({"spec":{}})"), ""), "");
  EXPECT_EQ(ImageOfWorkload(J(R"({"spec":{"template":{"spec":{"containers":{}}}}})"), ""), "");
}

TEST(ZonesOfVswZoneTest, Entries) {
  EXPECT_EQ(ZonesOfVswZone("vsw-xxx:cn-beijing-i,vsw-yyy:cn-beijing-l"),
            (std::vector<std::string>{"cn-beijing-i", "cn-beijing-l"}));
  EXPECT_EQ(ZonesOfVswZone("vsw-b:cn-beijing-l, vsw-a:cn-beijing-i,vsw-c:cn-beijing-l"),
            (std::vector<std::string>{"cn-beijing-i", "cn-beijing-l"}));
  EXPECT_EQ(ZonesOfVswZone("vsw-a,:,vsw-b:,vsw-c:Bad Zone,vsw-d:cn-heyuan-a"),
            (std::vector<std::string>{"cn-heyuan-a"}));
  EXPECT_TRUE(ZonesOfVswZone("").empty());
}

ObjectFact Present(json::Value v) {
  ObjectFact f;
  f.presence = Presence::kPresent;
  f.object = std::make_shared<const json::Value>(std::move(v));
  return f;
}

ObjectFact Absent() {
  ObjectFact f;
  f.presence = Presence::kAbsent;
  return f;
}

TEST(ObservedStatusTest, EverySourceRead) {
  ObservedSources s;
  s.nodes.known = true;
  s.nodes.items = {Node(R"({"topology.kubernetes.io/region":"cn-heyuan"})", "cn-heyuan.i-a"),
                   Node(R"({"topology.kubernetes.io/region":"cn-heyuan"})", "cn-heyuan.i-b")};
  s.kubernetes_version = "v1.33.1";
  s.migrate_controller = Present(J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"migrate-controller","image":"acs/migrate-controller:v1.8.3-1a2b-aliyun"}]}}}})"));
  s.csi_plugin = Present(J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"csi-plugin","image":"acs/csi-plugin:v1.30.4-9f8e"}]}}}})"));
  s.flexvolume = Absent();
  s.ack_profile = Present(J(R"({"data":{"clusterid":"c123","uid":"1234567890","vpcid":"vpc-1",
      "vsw-zone":"vsw-1:cn-heyuan-a,vsw-2:cn-heyuan-b"}})"));
  std::vector<std::string> read, missing;
  const json::Value status = ObservedStatus(s, &read, &missing);
  EXPECT_EQ(status, J(R"({"regionID":"cn-heyuan","allNodesECS":true,
      "kubernetesVersion":"v1.33.1","componentVersion":"v1.8.3","csiVersion":"v1.30.4",
      "flexVolumeDetected":false,"clusterID":"c123","accountID":"1234567890","vpcID":"vpc-1",
      "zones":["cn-heyuan-a","cn-heyuan-b"]})"))
      << json::Serialize(status);
  EXPECT_TRUE(missing.empty()) << missing.front();
  EXPECT_EQ(read.size(), 6u);
}

TEST(ObservedStatusTest, WhatIsMissingIsLeftOutAndSaid) {
  ObservedSources s;
  s.nodes.known = false;
  s.nodes.unknown_reason = "cluster cache for nodes has not synced: HTTP 403 Forbidden";
  s.version_error = "GET /version: connection refused";
  s.migrate_controller = Present(J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"m","image":"acs/migrate-controller:latest"}]}}}})"));
  s.csi_plugin = Absent();
  s.flexvolume.unknown_reason = "not synced";
  s.ack_profile = Absent();
  std::vector<std::string> read, missing;
  const json::Value status = ObservedStatus(s, &read, &missing);
  EXPECT_EQ(status, json::Value::MakeObject()) << json::Serialize(status);
  EXPECT_TRUE(read.empty());
  const std::vector<std::string> want = {
      "nodes: cluster cache for nodes has not synced: HTTP 403 Forbidden",
      "/version: GET /version: connection refused",
      "Deployment kube-system/migrate-controller: image \"acs/migrate-controller:latest\" has no "
      "version tag",
      "DaemonSet kube-system/csi-plugin: not found",
      "DaemonSet kube-system/flexvolume: not synced",
      "ConfigMap kube-system/ack-cluster-profile: not found"};
  EXPECT_EQ(missing, want);
}

}  // namespace
}  // namespace csdr::webhook
