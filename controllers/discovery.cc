#include "controllers/discovery.h"

#include <glog/logging.h>

#include <string>
#include <utility>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"
#include "webhook/cluster/observed_facts.h"
#include "webhook/policy/capabilities.h"
#include "webhook/policy/cluster.h"

namespace csdr::controllers {

namespace {

constexpr auto kPeriod = std::chrono::seconds(2);

// Which source establishes each observed field: a field is removed when its source was read
// and no longer says it, and kept when the source cannot be read now.
enum class Source { kNodes, kVersion, kMigrate, kCsi, kFlex, kAckProfile };
constexpr std::pair<const char*, Source> kObservedFields[] = {
    {"regionID", Source::kNodes},
    {"allNodesECS", Source::kNodes},
    {"kubernetesVersion", Source::kVersion},
    {"componentVersion", Source::kMigrate},
    {"csiVersion", Source::kCsi},
    {"flexVolumeDetected", Source::kFlex},
    {"clusterID", Source::kAckProfile},
    {"accountID", Source::kAckProfile},
    {"vpcID", Source::kAckProfile},
    {"zones", Source::kAckProfile},
};

bool SourceKnown(const webhook::ObservedSources& s, Source source) {
  switch (source) {
    case Source::kNodes:
      return s.nodes.known;
    case Source::kVersion:
      return !s.kubernetes_version.empty();
    case Source::kMigrate:
      return !s.migrate_controller.unknown();
    case Source::kCsi:
      return !s.csi_plugin.unknown();
    case Source::kFlex:
      return !s.flexvolume.unknown();
    case Source::kAckProfile:
      return !s.ack_profile.unknown();
  }
  return false;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

json::Value DiscoveryController::NextStatus(const json::Value& profile,
                                            const webhook::ObservedSources& sources,
                                            bool have_cluster, const webhook::SecretFact& secret,
                                            std::chrono::system_clock::time_point now) const {
  const json::Value* current = profile.Find("status");
  json::Value status =
      current != nullptr && current->is_object() ? *current : json::Value::MakeObject();
  const json::Value* previous_conditions =
      current != nullptr ? current->Find("conditions") : nullptr;
  const json::Value previous =
      previous_conditions != nullptr ? *previous_conditions : json::Value();
  const int64_t generation = profile.FindPath({"metadata", "generation"}) != nullptr
                                 ? profile.FindPath({"metadata", "generation"})->as_int()
                                 : 0;
  const std::string stamp = apiserver::FormatRFC3339(now);
  json::Value conditions = json::Value::MakeArray();
  if (!have_cluster) {
    SetCondition(&conditions, &previous, "ProfileDiscovered", "False", "NoCluster",
                 "nothing is observed: " + sources.version_error, generation, stamp);
    // The other conditions, as they were.
    if (previous.is_array()) {
      for (const json::Value& c : previous.array()) {
        if (c.GetString({"type"}) != "ProfileDiscovered") conditions.PushBack(c);
      }
    }
    status.Set("conditions", std::move(conditions));
    return status;
  }
  std::vector<std::string> read, missing;
  json::Value observed = webhook::ObservedStatus(sources, &read, &missing);
  for (const auto& [field, source] : kObservedFields) {
    if (const json::Value* v = observed.Find(field); v != nullptr) {
      status.Set(field, *v);
    } else if (SourceKnown(sources, source)) {
      status.Erase(field);
    }
  }
  json::Value effective = profile;
  effective.Set("status", status);
  const json::Value caps = webhook::CapabilitiesOf(effective);
  status.Set("capabilities", caps);

  // Declared values that disagree with observed ones (the rules use the observed).
  std::vector<std::string> disagree;
  for (const char* field : {"regionID", "componentVersion"}) {
    const std::string declared = profile.GetString({"spec", field});
    const std::string seen = status.GetString({field});
    if (!declared.empty() && !seen.empty() && declared != seen) {
      disagree.push_back("spec." + std::string(field) + " " +
                         json::Serialize(json::Value(declared)) + " disagrees with the observed " +
                         json::Serialize(json::Value(seen)) + " (status." + field +
                         ", which the rules use)");
    }
  }
  std::string message = "read: " + (read.empty() ? std::string("nothing") : Join(read, ", "));
  if (!missing.empty()) message += "; missing: " + Join(missing, "; ");
  if (!disagree.empty()) message += "; " + Join(disagree, "; ");
  SetCondition(
      &conditions, &previous, "ProfileDiscovered", missing.empty() ? "True" : "False",
      !disagree.empty() ? "DeclaredDiffers" : (missing.empty() ? "Discovered" : "SourcesMissing"),
      message, generation, stamp);

  const json::Value* center = caps.Find("backupCenter");
  if (center == nullptr) {
    SetCondition(&conditions, &previous, "Supported", "Unknown", "NoClusterType",
                 "spec.clusterType is not set", generation, stamp);
  } else if (center->as_bool()) {
    SetCondition(&conditions, &previous, "Supported", "True", "Supported",
                 "the backup center is supported on this cluster", generation, stamp);
  } else {
    std::string why = "ACK Serverless Basic clusters do not support the backup center";
    std::string reason = "ClusterType";
    if (status.FindPath({"flexVolumeDetected"}) != nullptr &&
        status.FindPath({"flexVolumeDetected"})->as_bool()) {
      why = "FlexVolume was found (DaemonSet kube-system/flexvolume); the backup center needs CSI";
      reason = "FlexVolume";
    } else if (profile.GetString({"spec", "clusterType"}) != "ACKServerlessBasic") {
      why = "Kubernetes " + status.GetString({"kubernetesVersion"}) +
            " is older than 1.18, which the backup center needs";
      reason = "KubernetesVersion";
    }
    SetCondition(&conditions, &previous, "Supported", "False", reason, why, generation, stamp);
  }

  // Whether a Secret is needed and which: the rules' own reading of the profile (CSDR-DEP-004:
  // dedicated and registered clusters need it whatever credentialMode says).
  const webhook::ClusterView view = webhook::ViewOfProfile(profile);
  if (!view.NeedsAccessKeySecret()) {
    SetCondition(&conditions, &previous, "CredentialsReady", "True", "ManagedRole",
                 "the backup center uses the AliyunCSManagedBackupRestoreRole", generation, stamp);
  } else {
    const std::string path = view.SecretPath();
    if (secret.presence == webhook::Presence::kUnknown) {
      SetCondition(&conditions, &previous, "CredentialsReady", "Unknown", "SecretUnknown",
                   "Secret " + path + " cannot be read: " + secret.unknown_reason, generation,
                   stamp);
    } else if (secret.presence == webhook::Presence::kAbsent) {
      SetCondition(&conditions, &previous, "CredentialsReady", "False", "SecretMissing",
                   "Secret " + path + " does not exist", generation, stamp);
    } else if (!secret.HasNonEmpty("access-key-id") || !secret.HasNonEmpty("access-key-secret")) {
      SetCondition(&conditions, &previous, "CredentialsReady", "False", "SecretIncomplete",
                   "Secret " + path + " needs non-empty access-key-id and access-key-secret",
                   generation, stamp);
    } else {
      SetCondition(&conditions, &previous, "CredentialsReady", "True", "SecretPresent",
                   "Secret " + path + " holds an AccessKey pair", generation, stamp);
    }
  }
  status.Set("conditions", std::move(conditions));
  status.Set("observedGeneration", generation);
  return status;
}

std::optional<std::chrono::system_clock::time_point> DiscoveryController::Sync(
    std::chrono::system_clock::time_point now) {
  const apiserver::KindStrategy* kind = apiserver::FindKindByResource("clusterprofiles");
  apiserver::Scope scope;
  scope.kind = kind;
  scope.name = "cluster";
  scope.user = &ControllerUser();
  auto profile = ctx_.registry->Get(scope);
  if (!profile.ok()) return now + kPeriod;  // none yet (or the store is away): look again
  const bool have_cluster = cluster_ != nullptr && cluster_->Configured();
  webhook::ObservedSources sources;
  if (cluster_ != nullptr) sources = cluster_->Observe();
  webhook::SecretFact secret;
  if (const webhook::ClusterView view = webhook::ViewOfProfile(*profile);
      have_cluster && view.NeedsAccessKeySecret()) {
    secret = cluster_->Secret(view.secret_namespace, view.secret_name);
  }
  json::Value status = NextStatus(*profile, sources, have_cluster, secret, now);
  const json::Value* current = profile->Find("status");
  if (current != nullptr && *current == status) return now + kPeriod;
  json::Value next = std::move(*profile);
  next.Set("status", std::move(status));
  scope.subresource = "status";
  apiserver::WriteOptions options;
  options.field_manager = "csdr-discovery-controller";
  auto written = ctx_.registry->Update(scope, std::move(next), options);
  if (!written.ok() && written.status().code() != Code::kConflict) {
    LOG(WARNING) << "discovery: cannot write ClusterProfile \"cluster\" status: "
                 << written.status().message();
  }
  return now + kPeriod;
}

}  // namespace csdr::controllers
