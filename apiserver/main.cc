// csdr-apiserver: wires options, storage, authentication, the registry and the HTTPS
// server together. Everything else lives in the component libraries.
#include <signal.h>

#include <iostream>
#include <thread>

#include <glog/logging.h>

#include "apiserver/auth/auth.h"
#include "apiserver/endpoints/handler.h"
#include "apiserver/registry/registry.h"
#include "apiserver/server/options.h"
#include "apiserver/server/tls_server.h"
#include "storage/store.h"
#include "webhook/admission/policy_admission.h"
#include "webhook/review/review.h"

int main(int argc, char** argv) {
  using namespace csdr;
  using namespace csdr::apiserver;
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
  FLAGS_logtostderr = true;
  FLAGS_v = opts->verbosity;
  google::InitGoogleLogging(argv[0]);

  // Signals are taken by a dedicated thread (sigwait), so block them everywhere first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  UnionAuthenticator authenticator;
  if (!opts->client_ca_file.empty()) {
    auto x509 = X509Authenticator::FromFile(opts->client_ca_file);
    if (!x509.ok()) {
      std::cerr << "csdr-apiserver: --client-ca-file: " << x509.status().message() << "\n";
      return 1;
    }
    authenticator.Add(std::move(x509.value()));
  }
  AuthenticatedAllowAuthorizer authorizer;

  ServingOptions serving;
  serving.bind_address = opts->bind_address;
  serving.port = opts->secure_port;
  serving.cert_file = opts->tls_cert_file;
  serving.key_file = opts->tls_private_key_file;
  serving.client_ca_file = opts->client_ca_file;
  serving.max_connections = static_cast<size_t>(opts->max_connections);
  auto server = TlsServer::Create(serving);
  if (!server.ok()) {
    std::cerr << "csdr-apiserver: " << server.status().message() << "\n";
    return 1;
  }

  auto store = storage::OpenStore(opts->storage);
  if (!store.ok()) {
    std::cerr << "csdr-apiserver: --storage " << opts->storage << ": " << store.status().message() << "\n";
    return 1;
  }

  // The cluster the rules read Secrets, Namespaces, ... from: --kubeconfig, the in-cluster
  // service account, or none (standalone: rules that need it fail closed and say so).
  webhook::ClusterOptions cluster_options;
  cluster_options.kubeconfig = opts->kubeconfig;
  auto cluster = webhook::NewClusterFacts(cluster_options);
  if (!cluster.ok()) {
    std::cerr << "csdr-apiserver: --kubeconfig " << opts->kubeconfig << ": " << cluster.status().message() << "\n";
    return 1;
  }
  (*cluster)->Start();
  webhook::PolicyAdmission admission(store->get(), cluster->get());
  AdmitAll admit_all;
  bool policy_off = !opts->disable_admission_plugins.empty();
  if (policy_off) LOG(WARNING) << "admission plugin CSDRPolicy is disabled: the backup center's rules are not enforced";
  Registry registry(store->get(), policy_off ? static_cast<AdmissionController*>(&admit_all) : &admission);
  HandlerOptions handler_options;
  handler_options.min_request_timeout_seconds = opts->min_request_timeout;
  ApiHandler handler(&registry, &authenticator, &authorizer, handler_options);
  handler.SetWebhook([&admission](const httplib::Request& req, httplib::Response& res) {
    webhook::ServeValidate(req, res, admission.facts());
  });
  handler.Install(&(*server)->http());

  Status bound = (*server)->Bind();
  if (!bound.ok()) {
    std::cerr << "csdr-apiserver: " << bound.message() << "\n";
    return 1;
  }
  TlsServer* srv = server->get();
  std::thread signal_thread([&handler, srv, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    LOG(INFO) << "received signal " << sig << ", shutting down";
    handler.SetReady(false);
    srv->Stop();
  });
  if ((*cluster)->Configured()) {
    // Admission decisions before the first list would all fail closed: wait a little for it.
    bool synced = (*cluster)->WaitForSync(std::chrono::seconds(10));
    LOG(INFO) << (synced ? "" : "not yet synced: ") << (*cluster)->StatusLine();
  }
  handler.SetReady(true);
  LOG(INFO) << "serving csdr.io/v1alpha1 on https://" << opts->bind_address << ":" << opts->secure_port
            << " with storage " << opts->storage;
  srv->Serve();
  (*cluster)->Stop();
  (*store)->Close();
  if (signal_thread.joinable()) {
    // Serve() returns only after Stop(), which the signal thread called.
    signal_thread.join();
  }
  LOG(INFO) << "stopped";
  return 0;
}
