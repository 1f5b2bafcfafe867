// Observed facts: what the cluster itself says about the facts the rules rest on (the
// ClusterProfile's status), read from objects the cluster cache already holds: the region the
// Nodes carry, whether they are all ECS instances, the versions of migrate-controller and the
// CSI plugin from their images, FlexVolume, and the ack-cluster-profile ConfigMap.
//
// Pure functions over decoded objects: no I/O here. What reads the objects (reflectors,
// cluster_facts.h) and what writes the status (controllers/discovery.h) are elsewhere.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

// Where the facts come from (the seed: "restart the migrate-controller component in the
// kube-system namespace"; domain.md 2.9 for the ConfigMap).
inline constexpr std::string_view kSystemNamespace = "kube-system";
inline constexpr std::string_view kMigrateControllerName = "migrate-controller";
inline constexpr std::string_view kCsiPluginName = "csi-plugin";
inline constexpr std::string_view kFlexVolumeName = "flexvolume";
inline constexpr std::string_view kAckProfileName = "ack-cluster-profile";
inline constexpr std::string_view kRegionLabel = "topology.kubernetes.io/region";
inline constexpr std::string_view kBetaRegionLabel = "failure-domain.beta.kubernetes.io/region";

// The region of an ECS provider ID, "<region-id>.i-<instance>" ("cn-hangzhou.i-bp1abc" ->
// "cn-hangzhou"); "" for any other form.
std::string EcsProviderRegion(std::string_view provider_id);

// The region most Nodes carry in topology.kubernetes.io/region; where no Node has that label,
// the one most carry in failure-domain.beta.kubernetes.io/region; where none has either, the
// one most ECS provider IDs name. A tie goes to the name that sorts first. "" when no Node
// says.
std::string RegionOfNodes(const std::vector<ObjectRef>& nodes);

// Whether there is a Node and every Node's spec.providerID is an ECS one.
bool AllNodesEcs(const std::vector<ObjectRef>& nodes);

// The leading vMAJOR.MINOR.PATCH of an image's tag ("registry:5000/acs/migrate-controller:
// v1.8.4-8bea6b9-aliyun" -> "v1.8.4"; a digest is ignored, a "v" is added when the tag has
// none). "" when the image has no tag or its tag does not start with a version.
std::string VersionOfImage(std::string_view image);

// The image of container `container` of a Deployment's or DaemonSet's pod template (the first
// container when `container` is empty); "" when there is none.
std::string ImageOfWorkload(const json::Value& workload, std::string_view container);

// The zones of ack-cluster-profile's vsw-zone, "vsw-a:cn-beijing-i,vsw-b:cn-beijing-l" ->
// {"cn-beijing-i", "cn-beijing-l"}: sorted, each once; entries without a zone are skipped.
std::vector<std::string> ZonesOfVswZone(std::string_view vsw_zone);

// What discovery read: each source as the cluster cache answers it (present, absent, or
// unknown with the reason), and the cluster's /version.
struct ObservedSources {
  ListFact nodes;
  ObjectFact migrate_controller;   // Deployment kube-system/migrate-controller
  ObjectFact csi_plugin;           // DaemonSet kube-system/csi-plugin
  ObjectFact flexvolume;           // DaemonSet kube-system/flexvolume
  ObjectFact ack_profile;          // ConfigMap kube-system/ack-cluster-profile
  std::string kubernetes_version;  // /version gitVersion; "" when it could not be read
  std::string version_error;       // why not
};

// The ClusterProfile status fields the sources establish (regionID, kubernetesVersion,
// componentVersion, csiVersion, flexVolumeDetected, allNodesECS, clusterID, accountID, vpcID,
// zones): a field is left out when its source does not establish it. `read` and `missing`
// get one line per source for the ProfileDiscovered condition ("nodes (3)", "Deployment
// kube-system/migrate-controller: not found", "... image tag \"latest\" has no version").
json::Value ObservedStatus(const ObservedSources& sources, std::vector<std::string>* read,
                           std::vector<std::string>* missing);

}  // namespace csdr::webhook
