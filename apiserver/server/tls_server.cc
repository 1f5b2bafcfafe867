#include "apiserver/server/tls_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>

namespace csdr::apiserver {

// What the connection threads share with the queue. Threads hold a reference, so the state
// outlives the queue object that cpp-httplib deletes when its listen loop ends.
struct QueueState {
  QueueState(size_t max, std::shared_ptr<ConnectionGuard> g)
      : max_threads(max), guard(std::move(g)) {}
  const size_t max_threads;
  const std::shared_ptr<ConnectionGuard> guard;  // deadlines for each connection
  std::mutex mu;                                 // guards running, pending, shutdown
  std::condition_variable idle;
  size_t running = 0;
  std::deque<std::function<void()>> pending;
  bool shutdown = false;
};

namespace {

// Each connection gets its own thread, up to `max_threads` at once; beyond that, new
// connections wait in FIFO order for a thread to finish.
class ThreadPerConnectionQueue : public httplib::TaskQueue {
 public:
  explicit ThreadPerConnectionQueue(std::shared_ptr<QueueState> state) : state_(std::move(state)) {}

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(state_->mu);
    if (state_->shutdown) return;
    if (state_->running >= state_->max_threads) {
      state_->pending.push_back(std::move(fn));
      return;
    }
    ++state_->running;
    lock.unlock();
    Spawn(state_, std::move(fn));
  }

  // Called when the listen loop ends (after Stop): waits for the connections to finish.
  // In-flight requests complete; watches end within a second of ApiHandler::Shutdown; idle
  // keep-alive connections close as the server socket is gone.
  void shutdown() override {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->shutdown = true;
    state_->pending.clear();
    state_->idle.wait_for(lock, std::chrono::seconds(10), [this] { return state_->running == 0; });
  }

 private:
  struct Task {
    std::shared_ptr<QueueState> state;
    std::function<void()> fn;
  };

  static void Spawn(std::shared_ptr<QueueState> state, std::function<void()> fn) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // 256 KiB is plenty: our recursion is bounded by the parser's depth limit (100).
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* task = new Task{std::move(state), std::move(fn)};
    pthread_t thread;
    if (pthread_create(&thread, &attr, &ThreadMain, task) != 0) {
      // No thread available: run on the accepting thread rather than drop the connection.
      std::unique_ptr<Task> owned(task);
      Run(*owned->state, std::move(owned->fn));
    }
    pthread_attr_destroy(&attr);
  }

  static void* ThreadMain(void* arg) {
    std::unique_ptr<Task> task(static_cast<Task*>(arg));
    Run(*task->state, std::move(task->fn));
    return nullptr;
  }

  static void Run(QueueState& state, std::function<void()> fn) {
    for (;;) {
      state.guard->Begin();
      fn();
      state.guard->End();
      std::lock_guard<std::mutex> lock(state.mu);
      if (!state.pending.empty() && !state.shutdown) {
        fn = std::move(state.pending.front());
        state.pending.pop_front();
        continue;
      }
      --state.running;
      if (state.running == 0) state.idle.notify_all();
      return;
    }
  }

  std::shared_ptr<QueueState> state_;
};

bool Readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

int AcceptAnyPeer(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  // Verification happens per request in X509Authenticator so that a bad or missing
  // certificate gets a 401 Status instead of a failed handshake.
  return 1;
}

using CaNames = std::shared_ptr<STACK_OF(X509_NAME)>;

// The subject names of the certificates in `pem`, without duplicates, for the
// CertificateRequest.
CaNames SubjectNames(const std::string& pem) {
  CaNames names(sk_X509_NAME_new_null(),
                [](STACK_OF(X509_NAME) * n) { sk_X509_NAME_pop_free(n, X509_NAME_free); });
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!names || !bio) return nullptr;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert));
    X509_free(cert);
    if (name == nullptr) continue;
    bool seen = false;
    for (int i = 0; i < sk_X509_NAME_num(names.get()); ++i) {
      seen = seen || X509_NAME_cmp(sk_X509_NAME_value(names.get(), i), name) == 0;
    }
    if (seen || sk_X509_NAME_push(names.get(), name) == 0) X509_NAME_free(name);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error at EOF
  return names;
}

}  // namespace

// What the handshake callback gives each connection. Connection threads read it; the
// reloader thread replaces the serving pair (inside DynamicServingCert) and the CA names.
struct HandshakeCertificates {
  std::unique_ptr<DynamicServingCert> serving;
  std::unique_ptr<DynamicCaFile> client_ca;  // null without --client-ca-file
  std::string extra_ca_pem;                  // CAs advertised besides the file's (fixed)
  CertificateReloader reloader;

  explicit HandshakeCertificates(std::chrono::milliseconds interval) : reloader(interval) {}

  void SetClientCa(const std::shared_ptr<const CaBundle>& ca) {
    CaNames names = SubjectNames((ca ? ca->pem() + "\n" : "") + extra_ca_pem);
    std::lock_guard<std::mutex> lock(mu);
    ca_names = std::move(names);
  }

  CaNames Names() const {
    std::lock_guard<std::mutex> lock(mu);
    return ca_names;
  }

  // SSL_CTX_set_cert_cb: runs on the connection's thread after the ClientHello, before the
  // cipher is chosen. Sets this connection's certificate, key, chain and advertised CA names
  // from the current ones; the SSL_CTX stays untouched.
  static int Select(SSL* ssl, void* arg) {
    const auto* self = static_cast<const HandshakeCertificates*>(arg);
    std::shared_ptr<const ServingKeyPair> pair = self->serving->Current();
    if (SSL_use_cert_and_key(ssl, pair->leaf(), pair->key(), pair->chain(), 1) != 1) {
      ERR_clear_error();
      return 0;  // fails this handshake only
    }
    if (CaNames names = self->Names(); names && sk_X509_NAME_num(names.get()) > 0) {
      if (STACK_OF(X509_NAME)* copy = SSL_dup_CA_list(names.get())) {
        SSL_set_client_CA_list(ssl, copy);  // takes ownership
      }
    }
    return 1;
  }

 private:
  mutable std::mutex mu;  // guards ca_names (the stack itself is not modified once built)
  CaNames ca_names;
};

StatusOr<std::unique_ptr<TlsServer>> TlsServer::Create(const ServingOptions& options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return Status(Code::kBadRequest, "--tls-cert-file and --tls-private-key-file are required");
  }
  const std::pair<const char*, const std::string*> files[] = {
      {"--tls-cert-file", &options.cert_file},
      {"--tls-private-key-file", &options.key_file},
      {"--client-ca-file", &options.client_ca_file}};
  for (const auto& [flag, path] : files) {
    if (!path->empty() && !Readable(*path)) {
      return Status(Code::kBadRequest, std::string(flag) + " " + *path + ": cannot read the file");
    }
  }
  auto certs = std::make_shared<HandshakeCertificates>(options.certificate_poll_interval);
  certs->extra_ca_pem = options.extra_client_ca_pem;
  auto serving = DynamicServingCert::FromFiles(options.cert_file, options.key_file);
  if (!serving.ok()) return serving.status();
  certs->serving = std::move(*serving);
  certs->reloader.Add(certs->serving.get());
  if (!options.client_ca_file.empty()) {
    auto client_ca = DynamicCaFile::FromFile(options.client_ca_file, "--client-ca-file");
    if (!client_ca.ok()) return client_ca.status();
    certs->client_ca = std::move(*client_ca);
    HandshakeCertificates* raw = certs.get();  // certs owns client_ca: no cycle through it
    certs->client_ca->AddListener(
        [raw](std::shared_ptr<const CaBundle> ca) { raw->SetClientCa(ca); });
    if (options.on_client_ca_change) certs->client_ca->AddListener(options.on_client_ca_change);
    certs->reloader.Add(certs->client_ca.get());
  } else {
    certs->SetClientCa(nullptr);
  }

  auto guard = std::make_shared<ConnectionGuard>(options.guard);
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) -> bool {
    guard->Install(&ctx);
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    // TLS 1.2: ECDHE with AEAD only (TLS 1.3 suites are all AEAD already).
    SSL_CTX_set_cipher_list(&ctx,
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    SSL_CTX_set_options(
        &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // The certificate, key and client CA names are set per connection from the current files.
    SSL_CTX_set_cert_cb(&ctx, &HandshakeCertificates::Select, certs.get());
    static const unsigned char kSessionContext[] = "csdr-apiserver";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof(kSessionContext) - 1);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, &AcceptAnyPeer);
    return true;
  });
  if (!server->is_valid()) {
    const char* reason = ERR_reason_error_string(ERR_peek_last_error());
    ERR_clear_error();
    return Status(Code::kBadRequest,
                  std::string("cannot set up TLS: ") + (reason ? reason : "unknown error"));
  }
  auto state = std::make_shared<QueueState>(options.max_connections, guard);
  server->new_task_queue = [state] { return new ThreadPerConnectionQueue(state); };
  // cpp-httplib's default socket options add SO_REUSEPORT, which lets a second server bind
  // the same port and steal half the connections; keep SO_REUSEADDR only.
  auto listen_fd = std::make_shared<int>(-1);
  server->set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *listen_fd = sock;
  });
  // Responses go out as a header write and a body write: with Nagle's algorithm the body
  // waits for the client's delayed ACK, 40 ms per request on Linux.
  server->set_tcp_nodelay(true);
  server->set_payload_max_length(options.max_body_bytes);
  // Upstream keeps connections open for many requests; cpp-httplib's default of 5 would
  // make clients reconnect (a TLS handshake) every 5 requests.
  server->set_keep_alive_max_count(100000);
  // The guard closes idle connections (--idle-connection-timeout, counted in its metrics);
  // cpp-httplib's own keep-alive limit is only a backstop a second later (a day with none).
  const auto idle = std::chrono::duration_cast<std::chrono::seconds>(options.guard.idle_timeout);
  server->set_keep_alive_timeout(idle.count() > 0 ? idle.count() + 1 : 86400);
  server->set_read_timeout(30, 0);
  server->set_write_timeout(30, 0);
  guard->Start();
  certs->reloader.Start();
  return std::unique_ptr<TlsServer>(new TlsServer(options, std::move(certs), std::move(server),
                                                  std::move(state), std::move(guard),
                                                  std::move(listen_fd)));
}

TlsServer::~TlsServer() { Stop(); }

Status TlsServer::Bind() {
  if (!server_->bind_to_port(options_.bind_address.c_str(), options_.port)) {
    return Status(Code::kUnavailable, "cannot listen on " + options_.bind_address + ":" +
                                          std::to_string(options_.port));
  }
  // cpp-httplib listens with a backlog of 5: a burst of connections (a thousand watchers
  // reconnecting) would overflow it and wait for SYN retransmits. Linux lets listen(2) be
  // called again on a listening socket to change it.
  if (*listen_fd_ >= 0) ::listen(*listen_fd_, options_.listen_backlog);
  return Status::Ok();
}

void TlsServer::Serve() { server_->listen_after_bind(); }

size_t TlsServer::ActiveConnections() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->running;
}

void TlsServer::Stop() {
  if (certs_) certs_->reloader.Stop();
  if (guard_) guard_->Shutdown();
  if (server_) server_->stop();
}

}  // namespace csdr::apiserver
