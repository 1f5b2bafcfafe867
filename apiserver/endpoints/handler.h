// ApiHandler: the HTTP edge of the API server. It turns an HTTP request into a call on the
// Registry and the result into bytes: authentication, authorization, RequestInfo, content
// negotiation (JSON, YAML, Table, PartialObjectMetadata), decoding of bodies and query
// options, watch streaming, discovery, OpenAPI, health, and the translation of every
// Status error into a metav1.Status at one place.
//
// Thread safety: one ApiHandler serves every connection thread; it holds no mutable state
// besides atomics (the readiness flag, in-flight counts, the health checks' last outcome).
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/auth/auth.h"
#include "apiserver/endpoints/encoding.h"
#include "apiserver/endpoints/request_info.h"
#include "apiserver/endpoints/table.h"
#include "apiserver/registry/registry.h"
#include "apiserver/server/tls_server.h"

namespace csdr::apiserver {

// A named health check, as k8s.io/apiserver's healthz.HealthChecker: /readyz and /healthz list
// it as "[+]name ok" or "[-]name failed: reason withheld" (the reason goes to the log only:
// these endpoints answer anyone). It runs on the server's event loop, so it must answer from
// memory and never block.
struct HealthCheck {
  std::string name;
  std::function<Status()> check;
};

// The store's own check (Store::HealthCheckName, CheckHealth: "etcd" for etcd://), or none
// when the backend has no name for one (the embedded backends). `store` must outlive the
// handler.
std::vector<HealthCheck> StoreHealthChecks(storage::Store* store);

struct HandlerOptions {
  // Longest watch when the client gives no timeoutSeconds (upstream: random in
  // [min-request-timeout, 2*min-request-timeout], default 1800 s).
  int min_request_timeout_seconds = 1800;
  // --max-requests-inflight and --max-mutating-requests-inflight: requests past these get
  // 429 with Retry-After: 1. 0 turns a limit off.
  int max_requests_inflight = 400;
  int max_mutating_requests_inflight = 200;
  // Checks of /readyz and /healthz besides "ping" (/readyz adds "shutdown", false once
  // SetReady(false) or Shutdown() is called). A failing one makes the endpoint 503. /livez
  // runs none of them: restarting a replica cannot repair its store, and would throw away
  // its watch cache too.
  std::vector<HealthCheck> health_checks;
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
  // /healthz, /livez, /readyz with k8s.io/apiserver's ?verbose and ?exclude=NAME.
  void ServeHealth(const httplib::Request& req, httplib::Response& res);

  Registry* registry_;
  const Authenticator* authenticator_;
  const Authorizer* authorizer_;
  HandlerOptions options_;
  std::atomic<bool> ready_{false};
  // Per check in options_.health_checks: whether its last run failed, so that the log says
  // when a check starts failing (with the reason) and when it recovers, not on every probe.
  std::unique_ptr<std::atomic<bool>[]> check_failing_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> inflight_readonly_{0};
  std::atomic<int> inflight_mutating_{0};
  std::function<void(const httplib::Request&, httplib::Response&)> webhook_;
  // Table rows of listed objects, kept per stored revision (table.h).
  TableRowCache table_rows_;
};

}  // namespace csdr::apiserver
