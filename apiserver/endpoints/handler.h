// ApiHandler: the HTTP edge of the API server. It turns an HTTP request into a call on the
// Registry and the result into bytes: authentication, authorization, RequestInfo, content
// negotiation (JSON, YAML, Table, PartialObjectMetadata), decoding of bodies and query
// options, watch streaming, discovery, OpenAPI, health, and the translation of every
// Status error into a metav1.Status at one place.
//
// Thread safety: one ApiHandler serves every connection thread; it holds no mutable state
// besides the readiness flag.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/auth/auth.h"
#include "apiserver/endpoints/encoding.h"
#include "apiserver/endpoints/request_info.h"
#include "apiserver/registry/registry.h"
#include "apiserver/server/tls_server.h"

namespace csdr::apiserver {

struct HandlerOptions {
  // Longest watch when the client gives no timeoutSeconds (upstream: random in
  // [min-request-timeout, 2*min-request-timeout], default 1800 s).
  int min_request_timeout_seconds = 1800;
  // --max-requests-inflight and --max-mutating-requests-inflight: requests past these get
  // 429 with Retry-After: 1. 0 turns a limit off.
  int max_requests_inflight = 400;
  int max_mutating_requests_inflight = 200;
};

class ApiHandler {
 public:
  ApiHandler(Registry* registry, const Authenticator* authenticator, const Authorizer* authorizer,
             HandlerOptions options = {});

  // Serves every request `server` reads; the quick ones (IsQuick) on its event loops.
  void Install(TlsServer* server);
  // Health checks and the webhook's /validate: they never block, so the server runs them on
  // its event loop instead of handing them to a worker thread.
  bool IsQuick(const httplib::Request& req) const;

  void SetReady(bool ready) { ready_.store(ready); }
  // Graceful shutdown: /readyz turns false and every open watch ends (within a second),
  // so that the server's connections drain. Connections between requests (idle keep-alive
  // ones included) are closed by the TlsServer when it stops.
  void Shutdown();

  // The validating webhook's handler for POST /validate. It runs before authentication:
  // kube-apiserver presents no client certificate to webhooks by default (see
  // webhook/review/review.h for why that is safe).
  void SetWebhook(std::function<void(const httplib::Request&, httplib::Response&)> webhook) {
    webhook_ = std::move(webhook);
  }

  // The whole pipeline for one request (public for tests).
  void Serve(const httplib::Request& req, httplib::Response& res);

 private:
  void ServeNonResource(RequestContext& ctx, const RequestInfo& info);
  void ServeResource(RequestContext& ctx, const RequestInfo& info, const UserInfo& user);
  void ServeWatch(RequestContext& ctx, const Scope& scope, const OutputFormat& format);

  Registry* registry_;
  const Authenticator* authenticator_;
  const Authorizer* authorizer_;
  HandlerOptions options_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> inflight_readonly_{0};
  std::atomic<int> inflight_mutating_{0};
  std::function<void(const httplib::Request&, httplib::Response&)> webhook_;
};

}  // namespace csdr::apiserver
