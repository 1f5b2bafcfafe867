// csdr-apiserver: wires options, storage, authentication, the registry and the HTTPS
// server together. Everything else lives in the component libraries.
#include <glog/logging.h>
#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "apiserver/auth/auth.h"
#include "apiserver/auth/delegating.h"
#include "apiserver/auth/review_client.h"
#include "apiserver/endpoints/handler.h"
#include "apiserver/registry/registry.h"
#include "apiserver/server/options.h"
#include "apiserver/server/tls_server.h"
#include "apiserver/tools/commands.h"
#include "common/allocator.h"
#include "common/metrics.h"
#include "controllers/lease_lock.h"
#include "controllers/manager.h"
#include "storage/etcd/etcd_store.h"
#include "storage/instrumented_store.h"
#include "storage/store.h"
#include "webhook/admission/policy_admission.h"
#include "webhook/policy/decision_metrics.h"
#include "webhook/review/review.h"

namespace {

// Series read at scrape time from objects main owns: the connections the server sees, and the
// process itself. Request, storage and admission families register themselves.
void RegisterMetrics(const csdr::apiserver::TlsServer& server) {
  using csdr::metrics::GaugeFunc;
  auto& r = csdr::metrics::Default();
  const csdr::apiserver::TlsServer* srv = &server;
  r.Add(std::make_unique<GaugeFunc>(
      "csdr_connections", "Open client connections (TLS), watches included.",
      std::vector<std::string>{}, [srv](std::vector<GaugeFunc::Sample>* out) {
        out->push_back({{}, static_cast<double>(srv->counts().open)});
      }));
  r.Add(std::make_unique<GaugeFunc>(
      "csdr_connections_closed_total",
      "Connections the server closed: a handshake or request not complete within "
      "--read-header-timeout (header_timeout), idle past --idle-connection-timeout "
      "(idle_timeout), a request over the size cap (too_large), or an HTTP/2 connection "
      "ended for a protocol error (h2_protocol_error) or a flood (h2_flood).",
      std::vector<std::string>{"reason"},
      [srv](std::vector<GaugeFunc::Sample>* out) {
        auto c = srv->counts();
        out->push_back({{"header_timeout"}, static_cast<double>(c.closed_header_timeout)});
        out->push_back({{"idle_timeout"}, static_cast<double>(c.closed_idle_timeout)});
        out->push_back({{"too_large"}, static_cast<double>(c.closed_too_large)});
        out->push_back({{"h2_protocol_error"}, static_cast<double>(c.closed_h2_protocol_error)});
        out->push_back({{"h2_flood"}, static_cast<double>(c.closed_h2_flood)});
      },
      csdr::metrics::Type::kCounter));
  r.Add(std::make_unique<GaugeFunc>(
      "csdr_http_requests_total",
      "Requests read, by the protocol they came in (HTTP/1.1 or HTTP/2).",
      std::vector<std::string>{"protocol"},
      [srv](std::vector<GaugeFunc::Sample>* out) {
        auto c = srv->counts();
        out->push_back({{"HTTP/1.1"}, static_cast<double>(c.requests_http1)});
        out->push_back({{"HTTP/2"}, static_cast<double>(c.requests_h2)});
      },
      csdr::metrics::Type::kCounter));
  r.Add(std::make_unique<GaugeFunc>(
      "csdr_http2_connections_total", "Connections that negotiated HTTP/2 (ALPN h2).",
      std::vector<std::string>{},
      [srv](std::vector<GaugeFunc::Sample>* out) {
        out->push_back({{}, static_cast<double>(srv->counts().connections_h2)});
      },
      csdr::metrics::Type::kCounter));
  csdr::metrics::RegisterProcessMetrics();
  csdr::webhook::RegisterDecisionMetrics();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace csdr;
  using namespace csdr::apiserver;
  if (argc > 1 && IsToolCommand(argv[1])) {  // migrate, backup: apiserver/tools/commands.h
    return RunToolCommand(argv[1], std::vector<std::string>(argv + 2, argv + argc), std::cout,
                          std::cerr);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = ParseOptions(args);
  if (!opts.ok()) {
    std::cerr << "csdr-apiserver: " << opts.status().message() << " (see --help)\n";
    return 2;
  }
  if (opts->help) {
    std::cout << Usage();
    return 0;
  }
  // Before any thread starts: how this process allocates (common/allocator.h).
  const std::string allocator = TuneAllocator();
  FLAGS_logtostderr = true;
  FLAGS_v = opts->verbosity;
  google::InitGoogleLogging(argv[0]);
  LOG(INFO) << allocator;

  // The soft limit on open files up to the hard one, as Go programs do (since Go 1.19): a
  // shell's 1,024 would cap connections and watches far below --max-connections. The
  // server's sockets are polled with epoll, which has no FD_SETSIZE bound.
  if (struct rlimit files;
      getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) PLOG(WARNING) << "cannot raise RLIMIT_NOFILE";
  }

  // Signals are taken by a dedicated thread (sigwait), so block them everywhere first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The cluster the rules read Secrets, Namespaces, ... from: --kubeconfig, the in-cluster
  // service account, or none (standalone: rules that need it fail closed and say so). Its
  // first lists run while the rest starts (the store's open above all); readiness waits for
  // them below.
  webhook::ClusterOptions cluster_options;
  cluster_options.kubeconfig = opts->kubeconfig;
  auto cluster = webhook::NewClusterFacts(cluster_options);
  if (!cluster.ok()) {
    std::cerr << "csdr-apiserver: --kubeconfig " << opts->kubeconfig << ": "
              << cluster.status().message() << "\n";
    return 1;
  }
  (*cluster)->Start();

  // Authentication: front-proxy headers (flags or the ConfigMap), client certificates
  // (--client-ca-file and the ConfigMap's client-ca-file), bearer tokens (TokenReview).
  AuthenticationSource auth_source;
  UnionAuthenticator authenticator;
  std::string advertised_cas;  // CA names offered in the TLS handshake besides --client-ca-file
  if (!opts->requestheader_client_ca_file.empty()) {
    std::ifstream in(opts->requestheader_client_ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    auto ca = CaBundle::FromPem(
        pem.str(), "--requestheader-client-ca-file " + opts->requestheader_client_ca_file);
    if (!in || !ca.ok()) {
      std::cerr << "csdr-apiserver: --requestheader-client-ca-file "
                << opts->requestheader_client_ca_file << ": "
                << (in ? ca.status().message() : "cannot read the file") << "\n";
      return 1;
    }
    auto config = std::make_shared<RequestHeaderConfig>();
    config->ca = *ca;
    config->allowed_names = opts->requestheader_allowed_names;
    config->username_headers = opts->requestheader_username_headers;
    config->group_headers = opts->requestheader_group_headers;
    config->extra_prefixes = opts->requestheader_extra_headers_prefix;
    config->uid_headers = opts->requestheader_uid_headers;
    auth_source.set_request_header(std::move(config));
  }
  authenticator.Add(std::make_unique<RequestHeaderAuthenticator>(&auth_source));
  X509Authenticator* client_ca_authenticator = nullptr;
  if (!opts->client_ca_file.empty()) {
    auto x509 = X509Authenticator::FromFile(opts->client_ca_file);
    if (!x509.ok()) {
      std::cerr << "csdr-apiserver: --client-ca-file: " << x509.status().message() << "\n";
      return 1;
    }
    client_ca_authenticator = x509->get();  // follows the file: see serving.on_client_ca_change
    authenticator.Add(std::move(x509.value()));
  }
  authenticator.Add(std::make_unique<DynamicClientCertAuthenticator>(&auth_source));

  std::unique_ptr<AuthConfigMapWatcher> configmap_watcher;
  std::unique_ptr<KubeReviewClient> token_reviews;
  auto authn_cluster =
      LoadDelegationConfig(opts->authentication_kubeconfig, "--authentication-kubeconfig");
  if (authn_cluster.ok()) {
    auto kube = kube::KubeClient::Create(*authn_cluster);
    auto reviews = KubeReviewClient::Create(*authn_cluster);
    if (!kube.ok() || !reviews.ok()) {
      std::cerr << "csdr-apiserver: --authentication-kubeconfig: "
                << (!kube.ok() ? kube.status() : reviews.status()).message() << "\n";
      return 1;
    }
    token_reviews = std::move(*reviews);
    // The ConfigMap fills what the flags left unset (as k8s.io/apiserver does).
    configmap_watcher = std::make_unique<AuthConfigMapWatcher>(
        std::move(*kube), opts->client_ca_file.empty(), opts->requestheader_client_ca_file.empty(),
        &auth_source);
    Status read = configmap_watcher->Start();
    if (!read.ok()) {
      std::cerr << "csdr-apiserver: cannot read kube-system/extension-apiserver-authentication: "
                << read.message() << "\n";
      return 1;
    }
    TokenReviewOptions token_options;
    token_options.cache_ttl =
        std::chrono::seconds(opts->authentication_token_webhook_cache_ttl_seconds);
    authenticator.Add(
        std::make_unique<TokenReviewAuthenticator>(token_reviews.get(), token_options));
    LOG(INFO) << "delegated authentication through " << authn_cluster->Describe();
  } else if (authn_cluster.status().code() != Code::kNotFound ||
             !opts->authentication_kubeconfig.empty()) {
    std::cerr << "csdr-apiserver: " << authn_cluster.status().message() << "\n";
    return 1;
  }
  if (auto rh = auth_source.request_header(); rh && rh->ca) advertised_cas += rh->ca->pem();
  if (auto ca = auth_source.client_ca()) advertised_cas += ca->pem();

  // Authorization: SubjectAccessReview when a cluster is configured, else standalone.
  std::unique_ptr<Authorizer> authorizer;
  std::unique_ptr<KubeReviewClient> access_reviews;
  auto authz_cluster =
      LoadDelegationConfig(opts->authorization_kubeconfig, "--authorization-kubeconfig");
  if (authz_cluster.ok()) {
    auto reviews = KubeReviewClient::Create(*authz_cluster);
    if (!reviews.ok()) {
      std::cerr << "csdr-apiserver: --authorization-kubeconfig: " << reviews.status().message()
                << "\n";
      return 1;
    }
    access_reviews = std::move(*reviews);
    DelegatingAuthorizerOptions authz_options;
    authz_options.always_allow_paths = opts->authorization_always_allow_paths;
    authz_options.authorized_ttl =
        std::chrono::seconds(opts->authorization_webhook_cache_authorized_ttl_seconds);
    authz_options.unauthorized_ttl =
        std::chrono::seconds(opts->authorization_webhook_cache_unauthorized_ttl_seconds);
    authorizer = std::make_unique<DelegatingAuthorizer>(access_reviews.get(), authz_options);
    LOG(INFO) << "delegated authorization (SubjectAccessReview) through "
              << authz_cluster->Describe();
  } else if (authz_cluster.status().code() != Code::kNotFound ||
             !opts->authorization_kubeconfig.empty()) {
    std::cerr << "csdr-apiserver: " << authz_cluster.status().message() << "\n";
    return 1;
  } else {
    authorizer = std::make_unique<AuthenticatedAllowAuthorizer>();
  }

  ServingOptions serving;
  serving.bind_address = opts->bind_address;
  serving.port = opts->secure_port;
  serving.cert_file = opts->tls_cert_file;
  serving.key_file = opts->tls_private_key_file;
  serving.client_ca_file = opts->client_ca_file;
  serving.extra_client_ca_pem = advertised_cas;
  serving.on_client_ca_change = [client_ca_authenticator](std::shared_ptr<const CaBundle> ca) {
    if (client_ca_authenticator) client_ca_authenticator->SetCa(std::move(ca));
  };
  serving.max_connections = static_cast<size_t>(opts->max_connections);
  serving.max_workers = static_cast<size_t>(opts->max_worker_threads);
  serving.limits.header_timeout = std::chrono::seconds(opts->read_header_timeout_seconds);
  serving.limits.idle_timeout = std::chrono::seconds(opts->idle_connection_timeout_seconds);
  serving.permit_port_sharing = opts->permit_port_sharing;
  serving.enable_http2 = !opts->disable_http2_serving;
  serving.http2_max_streams = opts->http2_max_streams_per_connection > 0
                                  ? static_cast<uint32_t>(opts->http2_max_streams_per_connection)
                                  : 100;
  auto server = TlsServer::Create(serving);
  if (!server.ok()) {
    std::cerr << "csdr-apiserver: " << server.status().message() << "\n";
    return 1;
  }

  // Storage: etcd when --etcd-servers or --storage etcd://... selects it, else the URL.
  std::string storage_name = opts->storage;  // for the log line and the metrics' backend label
  std::string backend = opts->storage.substr(0, opts->storage.find(':'));
  StatusOr<std::unique_ptr<storage::Store>> store = Status(Code::kInternal, "not opened");
  if (SelectsEtcd(*opts)) {
    auto etcd = EtcdConfigFromOptions(*opts);  // ParseOptions checked it
    if (!etcd.ok()) {
      std::cerr << "csdr-apiserver: " << etcd.status().message() << "\n";
      return 1;
    }
    storage_name.clear();
    for (const std::string& endpoint : etcd->servers) {
      storage_name += (storage_name.empty() ? "" : ",") + endpoint;
    }
    if (!opts->etcd_servers.empty() && opts->storage != Options().storage) {
      LOG(WARNING) << "--etcd-servers given: --storage " << opts->storage << " is not used";
    }
    storage::StoreOptions store_options;
    // etcd learns a write's revision when it commits: the registry stamps it into
    // metadata.resourceVersion of every value the store hands out.
    store_options.stamp_revision = StampResourceVersion;
    store = storage::OpenEtcdStore(*etcd, store_options);
    if (!store.ok()) {
      std::cerr << "csdr-apiserver: etcd " << storage_name << ": " << store.status().message()
                << "\n";
      return 1;
    }
    storage_name = "etcd " + storage_name + " prefix " + etcd->prefix;
    backend = "etcd";
  } else {
    store = storage::OpenStore(opts->storage);
    if (!store.ok()) {
      std::cerr << "csdr-apiserver: --storage " << opts->storage << ": " << store.status().message()
                << "\n";
      return 1;
    }
  }
  *store = storage::Instrument(std::move(*store), backend);
  RegisterMetrics(**server);

  webhook::PolicyAdmission admission(store->get(), cluster->get());
  AdmitAll admit_all;
  bool policy_off = !opts->disable_admission_plugins.empty();
  if (policy_off)
    LOG(WARNING)
        << "admission plugin CSDRPolicy is disabled: the backup center's rules are not enforced";
  Registry registry(store->get(),
                    policy_off ? static_cast<AdmissionController*>(&admit_all) : &admission);
  HandlerOptions handler_options;
  handler_options.min_request_timeout_seconds = opts->min_request_timeout;
  handler_options.max_requests_inflight = opts->max_requests_inflight;
  handler_options.max_mutating_requests_inflight = opts->max_mutating_requests_inflight;
  // /readyz and /healthz list the store's own check by name ("[+]etcd ok"), as kube-apiserver.
  handler_options.health_checks = StoreHealthChecks(store->get());
  ApiHandler handler(&registry, &authenticator, authorizer.get(), handler_options);
  handler.SetWebhook([&admission](const httplib::Request& req, httplib::Response& res) {
    webhook::ServeValidate(req, res, admission.facts());
  });
  handler.Install(server->get());

  Status bound = (*server)->Bind();
  if (!bound.ok()) {
    std::cerr << "csdr-apiserver: " << bound.message() << "\n";
    return 1;
  }
  // The built-in controllers, one replica at a time (the holder of a lease).
  auto enabled_controllers = controllers::ParseControllers(opts->controllers);
  if (!enabled_controllers.ok()) {
    std::cerr << "csdr-apiserver: " << enabled_controllers.status().message() << "\n";
    return 1;
  }
  controllers::ControllerManagerOptions controller_options;
  controller_options.controllers = *enabled_controllers;
  controller_options.election.name = opts->leader_elect_resource_name;
  controller_options.election.lease_duration =
      std::chrono::seconds(opts->leader_elect_lease_duration_seconds);
  controller_options.election.renew_deadline =
      std::chrono::seconds(opts->leader_elect_renew_deadline_seconds);
  controller_options.election.retry_period =
      std::chrono::seconds(opts->leader_elect_retry_period_seconds);
  // The lease: a Lease in the cluster when there is one (kubectl get lease shows the
  // holder), else a record in the store.
  std::unique_ptr<controllers::LeaseLock> lease_lock;
  const kube::KubeClient* kube_client = (*cluster)->Client();
  std::string lock_kind = opts->leader_elect_resource_lock;
  if (lock_kind.empty()) lock_kind = kube_client != nullptr ? "leases" : "store";
  if (lock_kind == "leases") {
    if (kube_client == nullptr) {
      std::cerr << "csdr-apiserver: --leader-elect-resource-lock=leases needs a cluster "
                   "(--kubeconfig or the in-cluster service account)\n";
      return 1;
    }
    lease_lock = std::make_unique<controllers::KubeLeaseLock>(
        kube_client, opts->leader_elect_resource_namespace, opts->leader_elect_resource_name);
  } else {
    lease_lock = std::make_unique<controllers::StoreLeaseLock>(store->get(),
                                                               opts->leader_elect_resource_name);
  }
  controller_options.lease_lock = lease_lock.get();
  // Their Events go to the cluster when there is one (kubectl describe shows them).
  std::unique_ptr<controllers::EventRecorder> events;
  if ((*cluster)->Client() != nullptr) {
    events = std::make_unique<controllers::ClusterEventRecorder>((*cluster)->Client(),
                                                                 "csdr-controllers");
  } else {
    events = std::make_unique<controllers::NoEvents>();
  }
  controller_options.events = events.get();
  controller_options.cluster = cluster->get();
  controller_options.facts = &admission.facts();
  controllers::ControllerManager controller_manager(&registry, store->get(), controller_options);

  TlsServer* srv = server->get();
  const int shutdown_delay = opts->shutdown_delay_seconds;
  std::thread signal_thread([&handler, &controller_manager, srv, signals, shutdown_delay] {
    int sig = 0;
    sigwait(&signals, &sig);
    LOG(INFO) << "received signal " << sig << ", shutting down";
    // First the controllers, releasing their lease: another replica takes over at once.
    controller_manager.Stop();
    if (shutdown_delay > 0) {
      // kube-apiserver's --shutdown-delay-duration: /readyz answers 503 while requests are
      // still served, so that load balancers and endpoints stop sending new ones first.
      handler.SetReady(false);
      std::this_thread::sleep_for(std::chrono::seconds(shutdown_delay));
    }
    handler.Shutdown();  // readiness false, watches end
    srv->Stop();         // no new connections; Serve() returns when the open ones drained
  });
  if ((*cluster)->Configured()) {
    // Admission decisions before the first list would all fail closed: wait a little for it.
    bool synced = (*cluster)->WaitForSync(std::chrono::seconds(10));
    LOG(INFO) << (synced ? "" : "not yet synced: ") << (*cluster)->StatusLine();
  }
  handler.SetReady(true);
  controller_manager.Start();
  LOG(INFO) << "serving csdr.io/v1alpha1 on https://" << opts->bind_address << ":"
            << opts->secure_port << " with storage " << storage_name;
  srv->Serve();
  // Serve() returns only after Stop(), which the signal thread called last.
  if (signal_thread.joinable()) signal_thread.join();
  // A connection that did not drain in time, or a worker still in a handler (of a stream the
  // client reset, say), uses the objects below, which are destroyed on return: then close the
  // store (everything acknowledged is already durable) and leave without destructors.
  const size_t left = srv->ActiveConnections();
  if (left > 0 || !srv->WaitForWorkers(std::chrono::seconds(5))) {
    LOG(WARNING) << (left > 0 ? std::to_string(left) + " connections still open"
                              : std::string("a worker still busy"))
                 << " after the drain period; exiting";
    (*store)->Close();
    std::_Exit(0);
  }
  controller_manager.Stop();
  (*cluster)->Stop();
  if (configmap_watcher) configmap_watcher->Stop();
  (*store)->Close();
  LOG(INFO) << "stopped";
  return 0;
}
