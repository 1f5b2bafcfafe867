// TlsServer: the HTTPS listener.
//
// cpp-httplib 0.11 serves each connection on a task of its TaskQueue, and its default queue
// is a fixed pool of a few threads: a handful of open watches (each holds its connection's
// task for minutes) would starve every other request. We replace it with a queue that
// gives each connection its own thread (small stacks; up to `max_connections`, further
// connections wait for a free slot), so a watch costs one mostly idle thread and never
// blocks a get. See docs/ARCHITECTURE.md.
//
// TLS: TLS 1.2+, modern AEAD suites only. Client certificates are requested but not
// required at the handshake (health endpoints need none); the chain is verified per
// request by the X509Authenticator, so a bad certificate is a 401, not a handshake error,
// as in kube-apiserver.
//
// Certificates: the serving certificate and key and the client CA file are re-read when they
// change (DynamicServingCert, DynamicCaFile: one reloader thread, stopped by Stop()). Every
// handshake takes the pair current at that moment (SSL_CTX_set_cert_cb, per connection, so the
// shared SSL_CTX is never modified while others handshake), and so do the advertised client CA
// names. Open connections keep the certificate they were made with.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/server/connection_guard.h"
#include "apiserver/server/dynamic_certs.h"
#include "common/status.h"

namespace csdr::apiserver {

struct ServingOptions {
  std::string bind_address = "0.0.0.0";
  int port = 8443;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // CA names advertised in the CertificateRequest; optional
  // More CAs (PEM) whose names are advertised too: the front-proxy CA and the cluster's
  // client CA from the authentication ConfigMap, as read at startup. Advertising is a hint
  // (client-go presents its certificate whatever is advertised); verification is per request.
  std::string extra_client_ca_pem;
  // Called with the --client-ca-file bundle loaded by Create, then (on the reloader thread)
  // with each new one: X509Authenticator::SetCa, so that verification follows the file.
  std::function<void(std::shared_ptr<const CaBundle>)> on_client_ca_change;
  std::chrono::milliseconds certificate_poll_interval{1000};  // how often the files are checked
  size_t max_connections = 4096;
  size_t max_body_bytes = 3 * 1024 * 1024;  // kube-apiserver's limit for JSON bodies
  ConnectionGuardOptions guard;             // request and idle deadlines, request size cap
  int listen_backlog = 4096;                // cpp-httplib's own is 5
};

struct QueueState;
struct HandshakeCertificates;

class TlsServer {
 public:
  // Loads and checks the certificate and key; an error names the file and the problem.
  static StatusOr<std::unique_ptr<TlsServer>> Create(const ServingOptions& options);
  ~TlsServer();

  httplib::Server& http() { return *server_; }
  // Binds; kUnavailable with the reason when the address is taken.
  Status Bind();
  // Serves until Stop(); call after Bind().
  void Serve();
  // Stops accepting; Serve() returns once the open connections finished (at most 10 s).
  void Stop();
  // Connection threads still running (after Serve() returned: ones that did not finish).
  size_t ActiveConnections() const;
  const ConnectionGuard& guard() const { return *guard_; }

 private:
  TlsServer(ServingOptions options, std::shared_ptr<HandshakeCertificates> certs,
            std::unique_ptr<httplib::SSLServer> server, std::shared_ptr<QueueState> state,
            std::shared_ptr<ConnectionGuard> guard, std::shared_ptr<int> listen_fd)
      : options_(std::move(options)),
        certs_(std::move(certs)),
        server_(std::move(server)),
        state_(std::move(state)),
        guard_(std::move(guard)),
        listen_fd_(std::move(listen_fd)) {}
  ServingOptions options_;
  // The SSL_CTX's certificate callback reads it: declared before server_, so destroyed after.
  std::shared_ptr<HandshakeCertificates> certs_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::shared_ptr<QueueState> state_;
  std::shared_ptr<ConnectionGuard> guard_;
  std::shared_ptr<int> listen_fd_;  // the listening socket, as cpp-httplib created it
};

}  // namespace csdr::apiserver
