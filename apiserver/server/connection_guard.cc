#include "apiserver/server/connection_guard.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace csdr::apiserver {

struct ConnectionGuard::Conn {
  ConnectionGuard* guard = nullptr;
  std::atomic<int> fd{-1};  // our duplicate of the connection's socket
  std::atomic<int> phase{static_cast<int>(Phase::kAwaitingRequest)};
  std::atomic<int64_t> since_ns{0};  // steady_clock, when the phase began
  std::atomic<bool> closed{false};
  uint64_t bytes = 0;  // record bytes of the request being read: connection thread only
};

namespace {

thread_local ConnectionGuard::Conn* tl_conn = nullptr;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ConnectionGuard::ConnectionGuard(ConnectionGuardOptions options) : options_(options) {}

ConnectionGuard::~ConnectionGuard() { Stop(); }

void ConnectionGuard::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (watchdog_.joinable()) return;
  stop_ = false;
  watchdog_ = std::thread([this] { Watch(); });
}

void ConnectionGuard::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void ConnectionGuard::Shutdown() {
  shutting_down_.store(true);
  wake_.notify_all();
}

void ConnectionGuard::Begin() {
  auto* c = new Conn;
  c->guard = this;
  c->since_ns.store(NowNs());
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns_.insert(c);
  }
  tl_conn = c;
}

void ConnectionGuard::End() {
  Conn* c = tl_conn;
  if (c == nullptr || c->guard != this) return;
  tl_conn = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns_.erase(c);
  }
  // The watchdog no longer sees the entry: the duplicate can go, and the socket number with it.
  if (int fd = c->fd.load(); fd >= 0) ::close(fd);
  delete c;
}

void ConnectionGuard::Install(SSL_CTX* ctx) {
  SSL_CTX_set_info_callback(ctx, &ConnectionGuard::InfoCallback);
  SSL_CTX_set_msg_callback(ctx, &ConnectionGuard::MsgCallback);
  SSL_CTX_set_msg_callback_arg(ctx, this);
}

void ConnectionGuard::InfoCallback(const SSL* ssl, int where, int /*ret*/) {
  Conn* c = tl_conn;
  if (c == nullptr || (where & SSL_CB_HANDSHAKE_START) == 0 || c->fd.load() >= 0) return;
  int sock = SSL_get_fd(ssl);
  if (sock < 0) return;
  c->fd.store(::fcntl(sock, F_DUPFD_CLOEXEC, 0));
}

void ConnectionGuard::MsgCallback(int write_p, int /*version*/, int content_type, const void* buf,
                                  size_t len, SSL* /*ssl*/, void* arg) {
  Conn* c = tl_conn;
  if (write_p != 0 || content_type != SSL3_RT_HEADER || len < 5 || c == nullptr ||
      c->guard != arg) {
    return;
  }
  const auto* header = static_cast<const unsigned char*>(buf);
  const uint64_t record = (static_cast<uint64_t>(header[3]) << 8) | header[4];
  Phase phase = static_cast<Phase>(c->phase.load());
  if (phase == Phase::kIdle) {
    // The first record after an idle period starts the next request's deadline.
    c->bytes = 0;
    c->since_ns.store(NowNs());
    c->phase.store(static_cast<int>(Phase::kAwaitingRequest));
    phase = Phase::kAwaitingRequest;
  }
  if (phase != Phase::kAwaitingRequest) return;
  c->bytes += 5 + record;
  if (c->bytes > c->guard->options_.max_request_bytes) {
    c->guard->Close(c, &c->guard->closed_large_);
  }
}

void ConnectionGuard::RequestStarted() {
  if (Conn* c = tl_conn) c->phase.store(static_cast<int>(Phase::kServing));
}

void ConnectionGuard::RequestFinished(bool streaming) {
  if (streaming) return;
  StreamFinished();
}

void ConnectionGuard::StreamFinished() {
  Conn* c = tl_conn;
  if (c == nullptr) return;
  c->bytes = 0;
  c->since_ns.store(NowNs());
  c->phase.store(static_cast<int>(Phase::kIdle));
}

ConnectionGuard::Counts ConnectionGuard::counts() const {
  Counts counts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts.open = conns_.size();
  }
  counts.closed_header_timeout = closed_header_.load();
  counts.closed_idle_timeout = closed_idle_.load();
  counts.closed_too_large = closed_large_.load();
  return counts;
}

void ConnectionGuard::Close(Conn* c, std::atomic<uint64_t>* reason) {
  // Called with mu_ held (watchdog) or on the connection's own thread (size cap): either way
  // the entry, and so the duplicate descriptor, outlives this call.
  int fd = c->fd.load();
  if (fd < 0 || c->closed.exchange(true)) return;
  ::shutdown(fd, SHUT_RDWR);
  reason->fetch_add(1);
}

void ConnectionGuard::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.tick, [this] { return stop_; });
    if (stop_) break;
    const int64_t now = NowNs();
    const bool shutting_down = shutting_down_.load();
    for (Conn* c : conns_) {
      if (c->closed.load()) continue;
      const Phase phase = static_cast<Phase>(c->phase.load());
      if (shutting_down && phase != Phase::kServing) {
        Close(c, phase == Phase::kIdle ? &closed_idle_ : &closed_header_);
        continue;
      }
      const std::chrono::milliseconds limit =
          phase == Phase::kAwaitingRequest ? options_.header_timeout
          : phase == Phase::kIdle          ? options_.idle_timeout
                                           : std::chrono::milliseconds(0);
      if (limit.count() <= 0) continue;
      if (now - c->since_ns.load() > std::chrono::nanoseconds(limit).count()) {
        Close(c, phase == Phase::kIdle ? &closed_idle_ : &closed_header_);
      }
    }
  }
}

}  // namespace csdr::apiserver
