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

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

bool Readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

int AcceptAnyPeer(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  // Verification happens per request in X509Authenticator so that a bad or missing
  // certificate gets a 401 Status instead of a failed handshake.
  return 1;
}

}  // namespace

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
  std::string error;
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
    if (SSL_CTX_use_certificate_chain_file(&ctx, options.cert_file.c_str()) != 1) {
      error = "cannot load --tls-cert-file " + options.cert_file + ": " + OpenSslError();
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = "cannot load --tls-private-key-file " + options.key_file + ": " + OpenSslError();
      return false;
    }
    if (SSL_CTX_check_private_key(&ctx) != 1) {
      error = "--tls-private-key-file does not match --tls-cert-file: " + OpenSslError();
      return false;
    }
    static const unsigned char kSessionContext[] = "csdr-apiserver";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof(kSessionContext) - 1);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, &AcceptAnyPeer);
    if (!options.client_ca_file.empty()) {
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
      if (names == nullptr) {
        error = "cannot load --client-ca-file " + options.client_ca_file + ": " + OpenSslError();
        return false;
      }
      SSL_CTX_set_client_CA_list(&ctx, names);
    }
    if (!options.extra_client_ca_pem.empty()) {
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(
          BIO_new_mem_buf(options.extra_client_ca_pem.data(),
                          static_cast<int>(options.extra_client_ca_pem.size())),
          &BIO_free);
      while (X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr) {
        SSL_CTX_add_client_CA(&ctx, cert);  // copies the subject name
        X509_free(cert);
      }
      ERR_clear_error();  // the loop ends on a "no start line" error at EOF
    }
    return true;
  });
  if (!server->is_valid()) {
    return Status(Code::kBadRequest, error.empty() ? "cannot set up TLS" : error);
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
  server->set_keep_alive_timeout(90);
  server->set_read_timeout(30, 0);
  server->set_write_timeout(30, 0);
  guard->Start();
  return std::unique_ptr<TlsServer>(new TlsServer(options, std::move(server), std::move(state),
                                                  std::move(guard), std::move(listen_fd)));
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
  if (guard_) guard_->Shutdown();
  if (server_) server_->stop();
}

}  // namespace csdr::apiserver
