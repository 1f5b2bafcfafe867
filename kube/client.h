// KubeClient: the few HTTP calls the server makes to its cluster's Kubernetes API server (GET,
// POST and PUT of a JSON document, GET of a newline-delimited stream), over TLS with
// certificate verification and a bearer token and/or a client certificate.
//
// Built on cpp-httplib 0.11's SSLClient, with the TLS context configured by us (tls.h):
// cpp-httplib's own verification would trust the system roots next to the cluster CA, so we
// switch it off and let OpenSSL verify in the handshake against the cluster CA alone, with
// the server's name or IP checked by OpenSSL. Redirects are never followed (a 3xx is an
// error: kube-apiserver never redirects an API call, and following one would send our
// token elsewhere). Each request uses its own connection: the cache makes a LIST when it
// (re)syncs and holds one WATCH per resource, the leader election writes its Lease every 2 s
// and events are rare, so there is little to pool.
//
// Errors: a transport failure (DNS, connect, TLS, timeout, a broken stream) is kUnavailable
// with the reason, e.g. "GET https://10.0.0.1:6443/api/v1/namespaces: SSL connection failed:
// certificate verify failed: self-signed certificate in certificate chain (depth 1, ...)".
// A non-2xx answer maps its HTTP code onto our Code (410 -> kExpired, 403 -> kForbidden,
// ...) with the metav1.Status message when the body is one. Response bodies are never put
// into messages or logs: a Secret list is one.
//
// Thread safety: a KubeClient is immutable after Create and safe for concurrent requests
// from many threads. A Cancellation interrupts the requests of one caller.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "kube/kubeconfig.h"

namespace httplib {
class ClientImpl;
}

namespace csdr::kube {

// Lets one thread interrupt another's request: Cancel() shuts down the socket of the
// request in flight (a blocked read returns at once) and makes later requests through this
// object fail immediately with kUnavailable "cancelled". A request whose connection is not
// open yet when Cancel() runs notices at its next read; callers that must stop promptly call
// Cancel() again until their thread is done (Reflector::Stop does).
// Thread safety: all methods may be called from any thread.
class Cancellation {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class KubeClient;
  // Registers the client of a request about to start; false when already cancelled.
  bool Begin(httplib::ClientImpl* client);
  void End();

  mutable std::mutex mu_;  // guards cancelled_ and active_
  bool cancelled_ = false;
  httplib::ClientImpl* active_ = nullptr;  // not owned; set between Begin and End
};

struct ClientOptions {
  // TCP connect plus TLS handshake.
  std::chrono::seconds connect_timeout{10};
  // Read timeout of a plain GET (a LIST page); a stream has its own, see Stream().
  std::chrono::seconds request_timeout{60};
  std::chrono::seconds write_timeout{10};
  // A LIST page larger than this is refused (bounded memory); 500 objects of a few KiB
  // each are far below it, 250 ConfigMaps of the 1 MiB maximum are not.
  size_t max_response_bytes = 256u << 20;
  // One watch event (one line) larger than this breaks the stream; etcd's request limit
  // keeps objects under 1.5 MiB.
  size_t max_line_bytes = 16u << 20;
  // How often a token file is re-read (client-go: one minute).
  std::chrono::seconds token_refresh_period{60};
  TokenSource::Clock clock;  // for the token refresh; unset: steady_clock
};

class KubeClient {
 public:
  // Checks the TLS material by building a context once, so that a bad certificate or key
  // is an error at startup.
  static StatusOr<std::unique_ptr<KubeClient>> Create(ClusterConfig config,
                                                      ClientOptions options = {});
  ~KubeClient();

  // GET `path_and_query` (e.g. "/api/v1/namespaces?limit=500", appended to the server's
  // base path) and parses the JSON body.
  StatusOr<json::Value> GetJson(const std::string& path_and_query,
                                Cancellation* cancel = nullptr) const;

  // POST `body` (JSON) to `path` and parses the JSON answer (a create: the object made). A
  // 409 whose Status reason is AlreadyExists is kAlreadyExists; other 409s are kConflict.
  StatusOr<json::Value> PostJson(const std::string& path, const json::Value& body) const;
  // PUT `body` (JSON, an update: with metadata.resourceVersion it is a compare-and-swap, a
  // stale one is kConflict) to `path` and parses the JSON answer (the object written).
  StatusOr<json::Value> PutJson(const std::string& path, const json::Value& body) const;

  // Returns false to stop reading the stream.
  using LineHandler = std::function<bool(std::string_view line)>;

  // GET a streaming body (a WATCH) and hands each newline-terminated line to `on_line` as it
  // arrives. `read_timeout` bounds the silence between two reads (a watch is quiet while
  // nothing changes: give more than its timeoutSeconds). Ok when the server ended the body
  // or `on_line` returned false; kUnavailable when the connection broke or timed out (the
  // stream may be incomplete); the API's error for a non-200 answer.
  Status Stream(const std::string& path_and_query, std::chrono::seconds read_timeout,
                const LineHandler& on_line, Cancellation* cancel = nullptr) const;

  const ClusterConfig& config() const { return config_; }

 private:
  struct Connection;
  KubeClient(ClusterConfig config, ClientOptions options);
  StatusOr<std::unique_ptr<Connection>> Connect(std::chrono::seconds read_timeout) const;
  StatusOr<json::Value> SendJson(const char* method, const std::string& path,
                                 const json::Value& body) const;
  // base_path + path_and_query, and the full URL for messages.
  std::string Target(const std::string& path_and_query) const;
  std::string Url(const std::string& path_and_query) const;

  const ClusterConfig config_;
  const ClientOptions options_;
  // Shared by all requests; internally locked.
  std::unique_ptr<TokenSource> token_;
};

// "%XX"-escapes `value` for use in a query string (continue tokens are base64 with '+',
// '/' and '=').
std::string QueryEscape(std::string_view value);

}  // namespace csdr::kube
