// TlsServer: the HTTPS listener, an event loop over OpenSSL of our own.
//
// Why not cpp-httplib's server (which this replaced; docs/benchmarks.md F1): it is blocking,
// one thread per connection, ~12 system calls per request (the response in two TLS writes, a
// poll before every read, the peer's address looked up per request), and its keep-alive wait
// polls every 10 ms. On one core that made the webhook cost as much as a Go one. Here:
//
//   event loops   one epoll loop per CPU the process may run on (at most 8): accept, the TLS
//                 handshake, reading and parsing requests (http_parser.h), and the deadlines
//                 of every connection between requests, all non-blocking;
//   inline        requests the owner marks quick (the webhook's /validate, health) are
//                 served on the loop itself: read, handle, one SSL_write, no thread hop;
//   workers       every other request is handed, with its connection, to a worker thread
//                 (a pool that grows up to `max_workers`, idle threads kept a while): it
//                 may block on a durable write, an authorization webhook or a watch for
//                 minutes. The connection goes back to its loop after the response.
//
// Deadlines, as k8s.io/apiserver's http.Server (ReadHeaderTimeout 32 s, IdleTimeout 90 s):
// from accept (handshake included) or from the first byte after an idle period, a request
// (head and body) must arrive within `header_timeout`; after a response a keep-alive
// connection may wait `idle_timeout` for its next request; a request may send at most
// `max_request_bytes` (413s are answered below that; a client that goes on sending is cut
// off there). While a handler runs or a watch streams there is no deadline.
//
// TLS: TLS 1.2+, modern AEAD suites only. Client certificates are requested but not
// required at the handshake (health endpoints need none); the chain is verified per request
// by the X509Authenticator, so a bad certificate is a 401, not a handshake error, as in
// kube-apiserver.
//
// Certificates: the serving certificate and key and the client CA file are re-read when they
// change (DynamicServingCert, DynamicCaFile: one reloader thread, stopped by Stop()). Every
// handshake takes the pair current at that moment (SSL_CTX_set_cert_cb, per connection, so the
// shared SSL_CTX is never modified while others handshake), and so do the advertised client CA
// names. Open connections keep the certificate they were made with.
//
// Shutdown: Stop() closes the listener (new connections are refused), closes every
// connection that is between requests, and lets the others finish the request they are in
// (watches end when ApiHandler::Shutdown tells them); Serve() returns when all are closed, or
// after 10 s.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/server/dynamic_certs.h"
#include "common/status.h"

namespace csdr::apiserver {

struct ConnectionLimits {
  std::chrono::milliseconds header_timeout{std::chrono::seconds(32)};  // 0: none
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};    // 0: none
  // Bytes of one request, head and body, as read: past this the connection is closed.
  // Above the 3 MiB body limit, so that an oversized body still gets its 413 first.
  uint64_t max_request_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds tick{250};  // how often the loops look at the deadlines
};

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
  // Open connections at most, watches included (more are accepted and closed at once): an
  // open connection costs its socket and its TLS state (a few KiB idle), no thread.
  size_t max_connections = 65536;
  // Worker threads at most: each request that is not served on a loop holds one while its
  // handler runs (a watch only until its headers are written); more wait for a free one.
  size_t max_workers = 1024;
  size_t max_body_bytes = 3 * 1024 * 1024;  // kube-apiserver's limit for JSON bodies
  ConnectionLimits limits;
  int listen_backlog = 4096;
  // --permit-port-sharing: SO_REUSEPORT on the listener, so that other processes of the same
  // user that set it too may listen on the same address and port; the kernel then spreads new
  // connections across all of them. Without it a second listener fails with "address in use".
  bool permit_port_sharing = false;
  int event_loops = 0;  // 0: one per CPU in the process's affinity mask, at most 8
  // HTTP/2 over TLS: ALPN offers "h2" before "http/1.1" (--disable-http2-serving: not at
  // all). A client that offers neither, or no ALPN, speaks HTTP/1.1.
  bool enable_http2 = true;
  // --http2-max-streams-per-connection: SETTINGS_MAX_CONCURRENT_STREAMS. 1000, as for
  // aggregated servers (kube-aggregator multiplexes its proxied requests and watches).
  uint32_t http2_max_streams = 1000;
};

// A response body that the connection's event loop writes instead of a worker (a watch), so
// that an open stream holds no thread: the worker that ran the handler writes the status and
// headers and is free again; the loop pumps the stream when it is woken and once a second.
// What Pump appends goes out as one chunk (chunked framing); a client that stops reading holds
// one pump's output at most (the stream's own queue bounds the rest) and is closed when a
// write has waited 30 s.
class LoopStream {
 public:
  virtual ~LoopStream() = default;
  // Once, before the first Pump: `wake` has Pump called soon; it may be called from any
  // thread (it only queues and signals) and stays harmless after Close. False: this stream
  // cannot tell when it is ready (the worker then pumps it every 50 ms, holding its thread).
  virtual bool Start(std::function<void()> wake) = 0;
  // Appends what is ready to *out (unframed body bytes); false when the body has ended, after
  // its last bytes. Never blocks.
  virtual bool Pump(std::string* out) = 0;
  // The connection is closing (the client left, a write failed or timed out, the server
  // stopped): stop, no Pump follows. Called once, from the thread that closes.
  virtual void Close() = 0;
};

// From a handler run by TlsServer: `res`'s body is `stream`, written by the connection's
// event loop after `res`'s status and headers. False outside TlsServer's workers (a handler
// called directly): then stream it some other way, e.g. a chunked content provider.
bool StreamOnLoop(const httplib::Response& res, std::shared_ptr<LoopStream> stream);

// What the server hands a request to. The handler fills `res`; a chunked content provider
// (a large list) is streamed from the worker thread until it says done.
using RequestHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
// Fills the body of an answer the server gives itself (400 for a malformed request, 413,
// 431, 501, 505): `status` and a one-line message.
using ErrorWriter = std::function<void(int status, const std::string& message, httplib::Response&)>;
// Whether a request is quick and never blocks, so that it is served on the event loop.
using QuickPredicate = std::function<bool(const httplib::Request&)>;

struct ServerState;  // the loops, the worker pool and the connections (tls_server.cc)

class TlsServer {
 public:
  struct Counts {
    uint64_t open = 0;
    uint64_t closed_header_timeout = 0;  // handshake or request not complete in time
    uint64_t closed_idle_timeout = 0;
    uint64_t closed_too_large = 0;
    uint64_t closed_h2_protocol_error = 0;  // HTTP/2: a frame or HPACK error, GOAWAY sent
    uint64_t closed_h2_flood = 0;           // HTTP/2: a flood refused (ENHANCE_YOUR_CALM)
    uint64_t connections_h2 = 0;            // connections that negotiated h2, ever
    uint64_t requests_http1 = 0;            // requests read, by protocol
    uint64_t requests_h2 = 0;
  };

  // Loads and checks the certificate and key; an error names the file and the problem.
  static StatusOr<std::unique_ptr<TlsServer>> Create(const ServingOptions& options);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // Set before Serve().
  void SetHandler(RequestHandler handler, QuickPredicate quick = nullptr);
  void SetErrorWriter(ErrorWriter writer);

  // Binds; kUnavailable with the reason when the address is taken.
  Status Bind();
  // Serves until Stop(); call after Bind().
  void Serve();
  // Stops accepting; Serve() returns once the open connections finished (at most 10 s).
  void Stop();
  // Connections still open (after Serve() returned: ones that did not finish).
  size_t ActiveConnections() const;
  // After Serve() returned: lets the worker threads end and waits up to `timeout` for the
  // last (one may still be in a handler of a connection that is gone: an HTTP/2 stream the
  // client reset, a list body it stopped reading). True when none is left, so that what the
  // handlers use may be destroyed.
  bool WaitForWorkers(std::chrono::milliseconds timeout);
  Counts counts() const;

 private:
  explicit TlsServer(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}
  std::shared_ptr<ServerState> state_;
};

}  // namespace csdr::apiserver
