#include "apiserver/server/tls_server.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace csdr::apiserver {
namespace {

// Each connection gets its own thread, up to `max_threads` at once; beyond that, new
// connections wait in FIFO order for a thread to finish.
class ThreadPerConnectionQueue : public httplib::TaskQueue {
 public:
  explicit ThreadPerConnectionQueue(size_t max_threads) : max_threads_(max_threads) {}

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (shutdown_) return;
    if (running_ >= max_threads_) {
      pending_.push_back(std::move(fn));
      return;
    }
    ++running_;
    lock.unlock();
    Spawn(std::move(fn));
  }

  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    shutdown_ = true;
    pending_.clear();
    // Connection threads end when their sockets close (the server closes them on stop).
    idle_.wait_for(lock, std::chrono::seconds(5), [this] { return running_ == 0; });
  }

 private:
  struct Task {
    ThreadPerConnectionQueue* queue;
    std::function<void()> fn;
  };

  void Spawn(std::function<void()> fn) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // 256 KiB is plenty: our recursion is bounded by the parser's depth limit (100).
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* task = new Task{this, std::move(fn)};
    pthread_t thread;
    if (pthread_create(&thread, &attr, &ThreadMain, task) != 0) {
      // No thread available: run on the accepting thread rather than drop the connection.
      std::function<void()> f = std::move(task->fn);
      delete task;
      Run(std::move(f));
    }
    pthread_attr_destroy(&attr);
  }

  static void* ThreadMain(void* arg) {
    std::unique_ptr<Task> task(static_cast<Task*>(arg));
    task->queue->Run(std::move(task->fn));
    return nullptr;
  }

  void Run(std::function<void()> fn) {
    for (;;) {
      fn();
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_.empty() && !shutdown_) {
        fn = std::move(pending_.front());
        pending_.pop_front();
        continue;
      }
      --running_;
      if (running_ == 0) idle_.notify_all();
      return;
    }
  }

  const size_t max_threads_;
  std::mutex mu_;  // guards running_, pending_, shutdown_
  std::condition_variable idle_;
  size_t running_ = 0;
  std::deque<std::function<void()>> pending_;
  bool shutdown_ = false;
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
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) -> bool {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    // TLS 1.2: ECDHE with AEAD only (TLS 1.3 suites are all AEAD already).
    SSL_CTX_set_cipher_list(&ctx,
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
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
  const size_t max_connections = options.max_connections;
  server->new_task_queue = [max_connections] {
    return new ThreadPerConnectionQueue(max_connections);
  };
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
  return std::unique_ptr<TlsServer>(new TlsServer(options, std::move(server)));
}

TlsServer::~TlsServer() { Stop(); }

Status TlsServer::Bind() {
  if (!server_->bind_to_port(options_.bind_address.c_str(), options_.port)) {
    return Status(Code::kUnavailable, "cannot listen on " + options_.bind_address + ":" +
                                          std::to_string(options_.port));
  }
  return Status::Ok();
}

void TlsServer::Serve() { server_->listen_after_bind(); }

void TlsServer::Stop() {
  if (server_) server_->stop();
}

}  // namespace csdr::apiserver
