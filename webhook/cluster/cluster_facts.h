// ClusterFacts: the cluster half of the policy engine's Facts (webhook/policy/facts.h) -
// Secrets, Namespaces, StorageClasses, PersistentVolumeClaims and ConfigMaps - answered from
// memory, with no API round trip on the admission path.
//
// Two implementations:
//   - CachedClusterFacts: one Reflector (list-then-watch, reflector.h) per resource, over a
//     KubeClient built from --kubeconfig or the in-cluster service account. Secrets and
//     ConfigMaps are watched in namespace `csdr` only; asking about another namespace
//     answers kUnknown saying so. Until a resource has synced, or once the API server has
//     been out of reach for longer than ReflectorOptions::max_staleness, its lookups answer
//     kUnknown with the reason ("cluster cache for secrets in csdr has not synced: GET
//     https://...: HTTP 403 Forbidden: ..."), so that rules fail closed and say why.
//   - NoCluster: standalone mode; every lookup is kUnknown with kNoClusterReason.
//
// Wiring from main (a sketch):
//
//   csdr::webhook::ClusterOptions cluster_options;
//   cluster_options.kubeconfig = flags.kubeconfig;  // "" -> in-cluster if in a pod, else none
//   auto cluster = csdr::webhook::NewClusterFacts(cluster_options);
//   if (!cluster.ok()) { LOG(ERROR) << cluster.status().message(); return 1; }
//   (*cluster)->Start();
//   if (!(*cluster)->WaitForSync(std::chrono::seconds(10))) LOG(WARNING) <<
//   (*cluster)->StatusLine();
//   ... a Facts implementation forwards its five cluster methods to **cluster ...
//   (*cluster)->Stop();  // before the process exits
//
// Thread safety: the five lookups, HasSynced, WaitForSync and StatusLine may be called from
// any number of threads at any time (before Start they answer "not synced"). Start and Stop
// are called by one owning thread; Stop is idempotent and also runs on destruction.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "webhook/cluster/observed_facts.h"
#include "webhook/cluster/reflector.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

// What every lookup answers when no cluster is configured.
inline constexpr std::string_view kNoClusterReason =
    "no cluster configured (--kubeconfig or in-cluster)";

class ClusterFacts {
 public:
  virtual ~ClusterFacts() = default;

  // As Facts::Secret etc. (facts.h). A Secret is never held whole: only which keys exist
  // and whether each is non-empty.
  virtual SecretFact Secret(std::string_view ns, std::string_view name) const = 0;
  virtual ObjectFact Namespace(std::string_view name) const = 0;
  virtual ObjectFact StorageClass(std::string_view name) const = 0;
  // ns == "" lists all namespaces.
  virtual ListFact PersistentVolumeClaims(std::string_view ns) const = 0;
  virtual ObjectFact ConfigMap(std::string_view ns, std::string_view name) const = 0;

  // Starts the background watches (no-op for NoCluster).
  virtual void Start() = 0;
  // Stops them and waits for their threads; idempotent.
  virtual void Stop() = 0;
  // False for NoCluster; a readiness check wants `!Configured() || HasSynced()`.
  virtual bool Configured() const = 0;
  // Every watched resource has been listed once (stays true through later outages; the
  // lookups themselves report staleness).
  virtual bool HasSynced() const = 0;
  // Waits up to `timeout` for HasSynced; false on timeout (and always for NoCluster).
  virtual bool WaitForSync(std::chrono::milliseconds timeout) const = 0;
  // One line for logs and /readyz: the server and each resource's state, e.g.
  // "cluster https://10.0.0.1:443: secrets in csdr synced (2 objects, resourceVersion 9);
  // namespaces not synced: GET ...: HTTP 403 Forbidden: ...". No object content.
  virtual std::string StatusLine() const = 0;
  // The client to the cluster (for writes such as Events); nullptr without a cluster.
  virtual const kube::KubeClient* Client() const { return nullptr; }
  // What discovery reads (observed_facts.h), as the cache holds it now: the Nodes, the
  // kube-system objects and the cluster's /version (fetched at most once a minute). Those
  // caches are not part of HasSynced: admission does not wait for them.
  virtual ObservedSources Observe() const = 0;
};

// Standalone mode: no cluster, every lookup kUnknown with `reason`.
class NoCluster final : public ClusterFacts {
 public:
  explicit NoCluster(std::string reason = std::string(kNoClusterReason))
      : reason_(std::move(reason)) {}

  SecretFact Secret(std::string_view ns, std::string_view name) const override;
  ObjectFact Namespace(std::string_view name) const override;
  ObjectFact StorageClass(std::string_view name) const override;
  ListFact PersistentVolumeClaims(std::string_view ns) const override;
  ObjectFact ConfigMap(std::string_view ns, std::string_view name) const override;
  void Start() override {}
  void Stop() override {}
  bool Configured() const override { return false; }
  bool HasSynced() const override { return false; }
  bool WaitForSync(std::chrono::milliseconds) const override { return false; }
  std::string StatusLine() const override;
  ObservedSources Observe() const override;

 private:
  const std::string reason_;
};

struct ClusterOptions {
  // --kubeconfig. Empty: the in-cluster service account when running in a pod (and
  // use_in_cluster), else NoCluster.
  std::string kubeconfig;
  kube::KubeconfigOptions kubeconfig_options;  // context, allow_insecure_skip_tls_verify
  bool use_in_cluster = true;
  kube::InClusterEnvironment in_cluster;
  // Where Secrets and ConfigMaps are watched.
  std::string csdr_namespace = "csdr";
  kube::ClientOptions client;
  ReflectorOptions reflector;
};

// The five reflectors over one client.
class CachedClusterFacts final : public ClusterFacts {
 public:
  static StatusOr<std::unique_ptr<CachedClusterFacts>> Create(kube::ClusterConfig config,
                                                              const ClusterOptions& options);
  ~CachedClusterFacts() override;

  SecretFact Secret(std::string_view ns, std::string_view name) const override;
  ObjectFact Namespace(std::string_view name) const override;
  ObjectFact StorageClass(std::string_view name) const override;
  ListFact PersistentVolumeClaims(std::string_view ns) const override;
  ObjectFact ConfigMap(std::string_view ns, std::string_view name) const override;
  void Start() override;
  void Stop() override;
  bool Configured() const override { return true; }
  bool HasSynced() const override;
  bool WaitForSync(std::chrono::milliseconds timeout) const override;
  std::string StatusLine() const override;

  const kube::KubeClient& client() const { return *client_; }
  const kube::KubeClient* Client() const override { return client_.get(); }
  ObservedSources Observe() const override;

 private:
  enum Index {
    kSecrets,
    kNamespaces,
    kStorageClasses,
    kPersistentVolumeClaims,
    kConfigMaps,
    kCount
  };
  explicit CachedClusterFacts(std::unique_ptr<kube::KubeClient> client)
      : client_(std::move(client)) {}

  // Discovery's: not part of HasSynced.
  enum DiscoveryIndex {
    kNodes,
    kMigrateController,
    kCsiPlugin,
    kFlexVolume,
    kAckProfile,
    kDiscoveryCount
  };

  std::unique_ptr<kube::KubeClient> client_;
  std::array<std::unique_ptr<Reflector>, kCount> reflectors_;  // destroyed before client_
  std::array<std::unique_ptr<Reflector>, kDiscoveryCount> discovery_;
  mutable std::mutex version_mu_;  // guards the two below
  mutable std::chrono::steady_clock::time_point version_read_{};
  mutable std::string version_, version_error_;
};

// Builds the cluster facts the options ask for: from the kubeconfig when one is given, else
// from the in-cluster service account when in a pod, else NoCluster (logged). An unreadable
// or invalid configuration is an error (the caller should exit: a half-configured cluster
// connection is a mistake, not standalone mode). Not started.
StatusOr<std::unique_ptr<ClusterFacts>> NewClusterFacts(const ClusterOptions& options);

}  // namespace csdr::webhook
