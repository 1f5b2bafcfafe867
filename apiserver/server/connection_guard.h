// ConnectionGuard: deadlines and a size cap for the connections that cpp-httplib serves.
//
// cpp-httplib 0.11 bounds each single read by its read timeout, but not a whole request: a
// client that sends one header byte every few seconds (slowloris) holds its connection, and
// a thread, forever; and it buffers a chunked body whole. k8s.io/apiserver's http.Server has
// ReadHeaderTimeout 32 s and IdleTimeout 90 s. The guard gives our server the same:
//
//   awaiting a request  from the TCP accept (TLS handshake included), or from the first TLS
//                       record after an idle period, the request (headers and body) must
//                       arrive within `header_timeout` and be at most `max_request_bytes`;
//   serving             our handler runs, or streams a watch: no deadline here (watches end
//                       by their own timeout);
//   idle                after a response, a keep-alive connection may wait `idle_timeout`
//                       for its next request.
//
// A connection past its deadline or its cap is shut down (shutdown(2) on a duplicate of its
// socket: the thread serving it sees end of file and closes it; the duplicate keeps the
// socket number from being reused until the thread is done, so the guard never shuts
// someone else's connection).
//
// How the guard sees a connection: TlsServer's task queue calls Begin()/End() around each
// connection on the connection's own thread; OpenSSL's info callback (handshake start) gives
// the socket, and its message callback (each TLS record header received) the bytes and the
// end of an idle period; ApiHandler marks the serving phase with RequestStarted() and
// RequestFinished() on the same thread. Everything per connection is thread-local to that
// thread plus an entry the watchdog thread reads.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace csdr::apiserver {

struct ConnectionGuardOptions {
  std::chrono::milliseconds header_timeout{std::chrono::seconds(32)};  // 0: none
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};    // 0: none
  // Bytes of TLS records received for one request, headers and body: past this the
  // connection is shut down. Above the 3 MiB body limit so that an oversized body with a
  // Content-Length still gets its 413 (cpp-httplib reads and discards it first).
  uint64_t max_request_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds tick{250};  // how often the watchdog looks
};

class ConnectionGuard {
 public:
  enum class Phase : int { kAwaitingRequest, kServing, kIdle };
  struct Counts {
    uint64_t open = 0;
    uint64_t closed_header_timeout = 0;  // handshake or request not complete in time
    uint64_t closed_idle_timeout = 0;
    uint64_t closed_too_large = 0;
  };

  explicit ConnectionGuard(ConnectionGuardOptions options);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Starts the watchdog thread; Stop() (or the destructor) ends it.
  void Start();
  void Stop();

  // Graceful shutdown: every connection not inside a request is closed now, and each one
  // that finishes its request is closed then (requests in flight and watches end on their
  // own). Without it, a connection that never sends a whole request would hold the drain.
  void Shutdown();

  // On the connection's thread, around everything done for it.
  void Begin();
  void End();

  // Installed on the SSL_CTX by TlsServer; `this` goes in as the callbacks' argument.
  void Install(SSL_CTX* ctx);

  // On the connection's thread, from the request handler. No-ops on a thread without a
  // guarded connection (unit tests call the handler directly).
  static void RequestStarted();
  // `streaming`: the response is a stream that goes on after the handler returns; its end
  // is reported with StreamFinished().
  static void RequestFinished(bool streaming);
  static void StreamFinished();

  Counts counts() const;

  struct Conn;  // one guarded connection (defined in the .cc)

 private:
  static void InfoCallback(const SSL* ssl, int where, int ret);
  static void MsgCallback(int write_p, int version, int content_type, const void* buf, size_t len,
                          SSL* ssl, void* arg);
  void Watch();
  void Close(Conn* c, std::atomic<uint64_t>* reason);

  const ConnectionGuardOptions options_;
  mutable std::mutex mu_;  // guards conns_, stop_
  std::condition_variable wake_;
  std::unordered_set<Conn*> conns_;
  bool stop_ = false;
  std::atomic<bool> shutting_down_{false};
  std::thread watchdog_;
  std::atomic<uint64_t> closed_header_{0};
  std::atomic<uint64_t> closed_idle_{0};
  std::atomic<uint64_t> closed_large_{0};
};

}  // namespace csdr::apiserver
