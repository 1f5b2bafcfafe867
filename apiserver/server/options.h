// Command-line options, named as kube-apiserver names them.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "storage/etcd/etcd_store.h"

namespace csdr::apiserver {

struct Options {
  std::string bind_address = "0.0.0.0";
  int secure_port = 8443;
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string client_ca_file;

  // Front-proxy (requestheader) authentication, as kube-apiserver names the flags. With
  // --requestheader-client-ca-file set, these win over the ConfigMap's requestheader-* keys.
  std::string requestheader_client_ca_file;
  std::vector<std::string> requestheader_allowed_names;  // empty: any CN from that CA
  std::vector<std::string> requestheader_username_headers{"X-Remote-User"};
  std::vector<std::string> requestheader_group_headers{"X-Remote-Group"};
  std::vector<std::string> requestheader_extra_headers_prefix{"X-Remote-Extra-"};
  std::vector<std::string> requestheader_uid_headers{"X-Remote-Uid"};

  // Delegated authentication: the cluster that answers TokenReviews and holds
  // kube-system/extension-apiserver-authentication. Empty: in-cluster, else none.
  std::string authentication_kubeconfig;
  int authentication_token_webhook_cache_ttl_seconds = 10;
  // Delegated authorization: the cluster that answers SubjectAccessReviews. Empty:
  // in-cluster, else none (standalone: every authenticated user may do everything).
  std::string authorization_kubeconfig;
  int authorization_webhook_cache_authorized_ttl_seconds = 10;
  int authorization_webhook_cache_unauthorized_ttl_seconds = 10;
  std::vector<std::string> authorization_always_allow_paths{"/healthz", "/readyz", "/livez"};
  // The cluster whose Secrets, Namespaces, StorageClasses, PVCs and ConfigMaps the rules
  // read; empty: the in-cluster service account inside a pod, else none.
  std::string kubeconfig;
  std::string storage = "sqlite://./data/csdr.db";
  // etcd, as kube-apiserver's --etcd-* flags. Servers given select etcd storage and override
  // --storage; `--storage etcd://host:port[,host:port...][/prefix]` is the short form (its
  // prefix, when it has one, wins over --etcd-prefix; the files below apply to it too).
  std::vector<std::string> etcd_servers;  // "http(s)://host:port", checked by ParseOptions
  std::string etcd_prefix = "/csdr";
  std::string etcd_cafile;
  std::string etcd_certfile;  // with etcd_keyfile: the client certificate etcd verifies
  std::string etcd_keyfile;
  // One compaction of etcd's history per interval across all replicas; 0: none from here.
  // kube-apiserver's default, 5m.
  int etcd_compaction_interval_seconds = 300;
  // kube-apiserver's --permit-port-sharing: SO_REUSEPORT on the listener, so that several
  // processes (replicas on one machine, an old and a new binary) listen on one address:port.
  bool permit_port_sharing = false;
  int verbosity = 0;
  int max_connections = 65536;
  int max_worker_threads = 1024;
  int http2_max_streams_per_connection = 1000;  // 0: 100, as Go's server
  bool disable_http2_serving = false;
  int min_request_timeout = 1800;
  // kube-apiserver's defaults; 0 turns a limit off.
  int max_requests_inflight = 400;
  int max_mutating_requests_inflight = 200;
  // k8s.io/apiserver's http.Server: ReadHeaderTimeout 32 s, IdleTimeout 90 s.
  int read_header_timeout_seconds = 32;
  int idle_connection_timeout_seconds = 90;
  // kube-apiserver's --shutdown-delay-duration: on SIGTERM, /readyz is 503 for this long while
  // requests are still served; then the server stops accepting and drains.
  int shutdown_delay_seconds = 0;
  // Admission plugins to turn off, as kube-apiserver's --disable-admission-plugins. The one
  // plugin is "CSDRPolicy" (the backup center's rules); turning it off is for tests of
  // the REST machinery alone.
  std::vector<std::string> disable_admission_plugins;
  // kube-controller-manager's --controllers: the built-in controllers to run ("*": all;
  // "name" on; "-name" off), checked by the controllers component (controllers/manager.h).
  std::vector<std::string> controllers = {"*"};
  // kube-controller-manager's --leader-elect-resource-{lock,name,namespace}: where the
  // controllers' lease is kept. "leases" is a coordination.k8s.io/v1 Lease in the cluster
  // (needs --kubeconfig or the in-cluster service account), "store" a record in our own
  // storage; "" picks leases when the server has a cluster, else store.
  std::string leader_elect_resource_lock;
  std::string leader_elect_resource_name = "csdr-controllers";
  std::string leader_elect_resource_namespace = "csdr";
  // kube-controller-manager's --leader-elect-{lease-duration,renew-deadline,retry-period}
  // and defaults; the controllers check lease > renew > retry > 0 at start.
  int leader_elect_lease_duration_seconds = 15;
  int leader_elect_renew_deadline_seconds = 10;
  int leader_elect_retry_period_seconds = 2;
  bool help = false;
};

// Parses argv (without argv[0]). Accepts --flag=value and --flag value. An unknown flag or
// a bad value is kBadRequest with one line naming it.
// Parses a Go-style duration made of whole units ("10s", "1m30s", "2h") or plain seconds
// ("10") into seconds; -1 when malformed.
int ParseDurationSeconds(const std::string& value);

StatusOr<Options> ParseOptions(const std::vector<std::string>& args);
std::string Usage();

// Whether the options select etcd storage: --etcd-servers, or --storage etcd://...
bool SelectsEtcd(const Options& options);
// The etcd client configuration the options describe (call when SelectsEtcd). ParseOptions
// has already checked it, so after a successful parse this fails only for hand-made Options;
// kBadRequest with one line naming what is wrong.
StatusOr<storage::EtcdConfig> EtcdConfigFromOptions(const Options& options);

}  // namespace csdr::apiserver
