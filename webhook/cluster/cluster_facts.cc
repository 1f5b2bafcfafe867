#include "webhook/cluster/cluster_facts.h"

#include <glog/logging.h>

#include <algorithm>

namespace csdr::webhook {
namespace {

ObjectFact UnknownObject(const std::string& reason) {
  ObjectFact fact;
  fact.unknown_reason = reason;
  return fact;
}

std::string DescribeReflector(const Reflector& reflector) {
  const ReflectorStatus s = reflector.status();
  std::string line = reflector.spec().Description();
  if (!s.synced) {
    return line + " not synced" + (s.last_error.empty() ? "" : ": " + s.last_error);
  }
  line += " synced (" + std::to_string(s.objects) + " objects, resourceVersion " +
          s.resource_version + ")";
  if (!s.connected) {
    line += ", disconnected for " + std::to_string(s.disconnected_for.count() / 1000) + "s";
    if (!s.last_error.empty()) line += ": " + s.last_error;
  }
  return line;
}

}  // namespace

// ---- NoCluster ----

SecretFact NoCluster::Secret(std::string_view, std::string_view) const {
  SecretFact fact;
  fact.unknown_reason = reason_;
  return fact;
}
ObjectFact NoCluster::Namespace(std::string_view) const { return UnknownObject(reason_); }
ObjectFact NoCluster::StorageClass(std::string_view) const { return UnknownObject(reason_); }
ListFact NoCluster::PersistentVolumeClaims(std::string_view) const {
  return ListFact{false, {}, reason_};
}
ObjectFact NoCluster::ConfigMap(std::string_view, std::string_view) const {
  return UnknownObject(reason_);
}
std::string NoCluster::StatusLine() const {
  return "cluster: none (" + reason_ + "); rules that need cluster objects fail closed";
}

// ---- CachedClusterFacts ----

StatusOr<std::unique_ptr<CachedClusterFacts>> CachedClusterFacts::Create(
    kube::ClusterConfig config, const ClusterOptions& options) {
  StatusOr<std::unique_ptr<kube::KubeClient>> client =
      kube::KubeClient::Create(std::move(config), options.client);
  if (!client.ok()) return client.status();
  std::unique_ptr<CachedClusterFacts> facts(new CachedClusterFacts(std::move(*client)));
  const kube::KubeClient* c = facts->client_.get();
  facts->reflectors_[kSecrets] =
      std::make_unique<Reflector>(c, SecretsSpec(options.csdr_namespace), options.reflector);
  facts->reflectors_[kNamespaces] =
      std::make_unique<Reflector>(c, NamespacesSpec(), options.reflector);
  facts->reflectors_[kStorageClasses] =
      std::make_unique<Reflector>(c, StorageClassesSpec(), options.reflector);
  facts->reflectors_[kPersistentVolumeClaims] =
      std::make_unique<Reflector>(c, PersistentVolumeClaimsSpec(), options.reflector);
  facts->reflectors_[kConfigMaps] =
      std::make_unique<Reflector>(c, ConfigMapsSpec(options.csdr_namespace), options.reflector);
  facts->discovery_[kNodes] = std::make_unique<Reflector>(c, NodesSpec(), options.reflector);
  facts->discovery_[kMigrateController] = std::make_unique<Reflector>(
      c, SystemObjectSpec("Deployment", std::string(kMigrateControllerName)), options.reflector);
  facts->discovery_[kCsiPlugin] = std::make_unique<Reflector>(
      c, SystemObjectSpec("DaemonSet", std::string(kCsiPluginName)), options.reflector);
  facts->discovery_[kFlexVolume] = std::make_unique<Reflector>(
      c, SystemObjectSpec("DaemonSet", std::string(kFlexVolumeName)), options.reflector);
  facts->discovery_[kAckProfile] = std::make_unique<Reflector>(
      c, SystemObjectSpec("ConfigMap", std::string(kAckProfileName)), options.reflector);
  return facts;
}

CachedClusterFacts::~CachedClusterFacts() { Stop(); }

SecretFact CachedClusterFacts::Secret(std::string_view ns, std::string_view name) const {
  const ObjectFact object = reflectors_[kSecrets]->Get(ns, name);
  if (object.present()) return SecretFactOfSummary(*object.object);
  SecretFact fact;
  fact.presence = object.presence;
  fact.unknown_reason = object.unknown_reason;
  return fact;
}

ObjectFact CachedClusterFacts::Namespace(std::string_view name) const {
  return reflectors_[kNamespaces]->Get("", name);
}

ObjectFact CachedClusterFacts::StorageClass(std::string_view name) const {
  return reflectors_[kStorageClasses]->Get("", name);
}

ListFact CachedClusterFacts::PersistentVolumeClaims(std::string_view ns) const {
  return reflectors_[kPersistentVolumeClaims]->List(ns);
}

ObjectFact CachedClusterFacts::ConfigMap(std::string_view ns, std::string_view name) const {
  return reflectors_[kConfigMaps]->Get(ns, name);
}

void CachedClusterFacts::Start() {
  LOG(INFO) << "cluster: watching " << client_->config().Describe();
  for (auto& reflector : reflectors_) reflector->Start();
  for (auto& reflector : discovery_) reflector->Start();
}

void CachedClusterFacts::Stop() {
  // Interrupt all first, then wait: the threads wind down together.
  for (auto& reflector : reflectors_) reflector->RequestStop();
  for (auto& reflector : discovery_) reflector->RequestStop();
  for (auto& reflector : reflectors_) reflector->Stop();
  for (auto& reflector : discovery_) reflector->Stop();
}

ObservedSources CachedClusterFacts::Observe() const {
  ObservedSources s;
  s.nodes = discovery_[kNodes]->List("");
  const std::string ns(kSystemNamespace);
  s.migrate_controller = discovery_[kMigrateController]->Get(ns, kMigrateControllerName);
  s.csi_plugin = discovery_[kCsiPlugin]->Get(ns, kCsiPluginName);
  s.flexvolume = discovery_[kFlexVolume]->Get(ns, kFlexVolumeName);
  s.ack_profile = discovery_[kAckProfile]->Get(ns, kAckProfileName);
  std::lock_guard<std::mutex> lock(version_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (version_.empty() || now - version_read_ >= std::chrono::minutes(1)) {
    StatusOr<json::Value> v = client_->GetJson("/version");
    if (v.ok() && !v->GetString({"gitVersion"}).empty()) {
      version_ = v->GetString({"gitVersion"});
      version_error_.clear();
      version_read_ = now;
    } else {
      version_error_ = v.ok() ? "GET /version: no gitVersion" : v.status().message();
    }
  }
  s.kubernetes_version = version_;
  s.version_error = version_error_;
  return s;
}

bool CachedClusterFacts::HasSynced() const {
  for (const auto& reflector : reflectors_) {
    if (!reflector->HasSynced()) return false;
  }
  return true;
}

bool CachedClusterFacts::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& reflector : reflectors_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!reflector->WaitForSync(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

std::string CachedClusterFacts::StatusLine() const {
  std::string line = "cluster " + client_->config().server + ":";
  for (size_t i = 0; i < reflectors_.size(); ++i) {
    line += (i == 0 ? " " : "; ") + DescribeReflector(*reflectors_[i]);
  }
  return line;
}

ObservedSources NoCluster::Observe() const {
  ObservedSources s;
  s.nodes.unknown_reason = reason_;
  for (ObjectFact* f : {&s.migrate_controller, &s.csi_plugin, &s.flexvolume, &s.ack_profile}) {
    f->unknown_reason = reason_;
  }
  s.version_error = reason_;
  return s;
}

// ---- NewClusterFacts ----

StatusOr<std::unique_ptr<ClusterFacts>> NewClusterFacts(const ClusterOptions& options) {
  StatusOr<kube::ClusterConfig> config = Status(Code::kInternal, "unset");
  if (!options.kubeconfig.empty()) {
    config = kube::LoadKubeconfig(options.kubeconfig, options.kubeconfig_options);
  } else if (options.use_in_cluster && kube::InClusterAvailable(options.in_cluster)) {
    config = kube::LoadInClusterConfig(options.in_cluster);
  } else {
    LOG(WARNING)
        << "cluster: none configured (no --kubeconfig, not running in a pod): rules that need "
           "Secrets, Namespaces, StorageClasses, PersistentVolumeClaims or ConfigMaps fail closed";
    return std::unique_ptr<ClusterFacts>(std::make_unique<NoCluster>());
  }
  if (!config.ok()) return config.status();
  StatusOr<std::unique_ptr<CachedClusterFacts>> facts =
      CachedClusterFacts::Create(std::move(*config), options);
  if (!facts.ok()) return facts.status();
  return std::unique_ptr<ClusterFacts>(std::move(*facts));
}

}  // namespace csdr::webhook
