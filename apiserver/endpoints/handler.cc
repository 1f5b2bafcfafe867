#include "apiserver/endpoints/handler.h"

#include <glog/logging.h>

#include <chrono>
#include <limits>
#include <set>

#include "apiserver/endpoints/encoding.h"
#include "apiserver/endpoints/request_info.h"
#include "apiserver/endpoints/request_metrics.h"
#include "apiserver/server/tls_server.h"

namespace csdr::apiserver {
namespace {

// kube-apiserver's limit for JSON request bodies (3 MiB).
constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;
// Go's http.DefaultMaxHeaderBytes, which kube-apiserver serves with: the request line and the
// header fields. The server's parser answers 431 past it already; this check keeps the rule
// for requests that reach Serve by another way (tests).
constexpr size_t kMaxHeaderBytes = 1 << 20;

size_t HeaderBytes(const httplib::Request& req) {
  size_t n = req.method.size() + req.target.size() + 12;  // " ", " HTTP/1.1\r\n"
  for (const auto& [name, value] : req.headers) n += name.size() + value.size() + 4;
  return n;
}

// strconv.ParseBool's true spellings (the Python client sends "True").
bool ParseBool(const std::string& s) {
  return s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True";
}

// One slot of an in-flight limit, held for the life of a request.
class InflightSlot {
 public:
  // Takes a slot unless `limit` (> 0) are taken; false when none is free. The counter is
  // raised first and lowered again on failure, so that concurrent requests never exceed it.
  bool Acquire(std::atomic<int>* counter, int limit, bool mutating) {
    if (counter->fetch_add(1) >= limit) {
      counter->fetch_sub(1);
      return false;
    }
    counter_ = counter;
    mutating_ = mutating;
    AddInflight(mutating_, 1);
    return true;
  }
  InflightSlot() = default;
  ~InflightSlot() {
    if (counter_ == nullptr) return;
    counter_->fetch_sub(1);
    AddInflight(mutating_, -1);
  }
  InflightSlot(const InflightSlot&) = delete;
  InflightSlot& operator=(const InflightSlot&) = delete;

 private:
  std::atomic<int>* counter_ = nullptr;
  bool mutating_ = false;
};

// Upstream pretty-prints for curl, wget and browsers, and on ?pretty=true.
bool WantsPretty(const httplib::Request& req) {
  if (req.has_param("pretty")) return ParseBool(req.get_param_value("pretty"));
  std::string ua = req.get_header_value("User-Agent");
  return ua.find("curl") != std::string::npos || ua.find("Wget") != std::string::npos ||
         ua.rfind("Mozilla/", 0) == 0;
}

}  // namespace

std::vector<HealthCheck> StoreHealthChecks(storage::Store* store) {
  std::string name = store->HealthCheckName();
  if (name.empty()) return {};
  return {HealthCheck{std::move(name), [store] { return store->CheckHealth(); }}};
}

ApiHandler::ApiHandler(Registry* registry, const Authenticator* authenticator,
                       const Authorizer* authorizer, HandlerOptions options)
    : registry_(registry),
      authenticator_(authenticator),
      authorizer_(authorizer),
      options_(std::move(options)),
      check_failing_(new std::atomic<bool>[options_.health_checks.size()]) {
  for (size_t i = 0; i < options_.health_checks.size(); ++i) check_failing_[i].store(false);
  RegisterRequestMetrics();
}

void ApiHandler::ServeHealth(const httplib::Request& req, httplib::Response& res) {
  // k8s.io/apiserver's healthz handler: every check as "[+]name ok" or "[-]name failed:
  // reason withheld", "?exclude=name" skips one, the list is shown on ?verbose and always on
  // failure. (Upstream fails with 500; 503 here, what load balancers read as "not now".)
  const std::string endpoint = req.path.substr(1);  // "readyz"
  std::set<std::string> excluded;
  for (auto [it, end] = req.params.equal_range("exclude"); it != end; ++it) {
    excluded.insert(it->second);
  }
  std::string lines;
  bool failed = false;
  auto report = [&](const std::string& name, const std::function<Status()>& check,
                    std::atomic<bool>* failing) {
    if (excluded.erase(name) > 0) {
      lines += "[+]" + name + " excluded: ok\n";
      return;
    }
    const Status status = check();
    if (status.ok()) {
      lines += "[+]" + name + " ok\n";
      if (failing != nullptr && failing->exchange(false)) {
        LOG(INFO) << "health check " << name << " passes again";
      }
      return;
    }
    // The reason is for the log only: these endpoints answer without authentication.
    lines += "[-]" + name + " failed: reason withheld\n";
    failed = true;
    if (failing != nullptr && !failing->exchange(true)) {
      LOG(WARNING) << "health check " << name << " failed: " << status.message();
    } else {
      VLOG(1) << endpoint << ": [-]" << name << " failed: " << status.message();
    }
  };

  const std::function<Status()> ping = [] { return Status::Ok(); };
  report("ping", ping, nullptr);
  if (endpoint != "livez") {
    for (size_t i = 0; i < options_.health_checks.size(); ++i) {
      report(options_.health_checks[i].name, options_.health_checks[i].check, &check_failing_[i]);
    }
  }
  if (endpoint == "readyz") {
    // Before the server is ready nothing is served at all (the event loops start after
    // SetReady(true)), so a false flag means a shutdown is under way: upstream's "shutdown".
    const std::function<Status()> shutdown = [this] {
      return ready_.load() ? Status::Ok()
                           : Status(Code::kUnavailable, "the server is shutting down");
    };
    report("shutdown", shutdown, nullptr);
  }
  if (!excluded.empty()) {
    std::string names;
    for (const std::string& name : excluded) names += (names.empty() ? "\"" : ",\"") + name + "\"";
    lines += "warn: some health checks cannot be excluded: no matches for " + names + "\n";
  }

  res.set_header("X-Content-Type-Options", "nosniff");
  if (failed) {
    res.status = 503;
    res.set_content(lines + endpoint + " check failed\n", "text/plain; charset=utf-8");
    return;
  }
  res.status = 200;
  res.set_content(req.has_param("verbose") ? lines + endpoint + " check passed\n" : "ok",
                  "text/plain; charset=utf-8");
}

void ApiHandler::Install(TlsServer* server) {
  server->SetHandler(
      [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); },
      [this](const httplib::Request& req) { return IsQuick(req); });
  // Requests the server cannot read (malformed, over a limit) still get a Status body.
  server->SetErrorWriter([](int status, const std::string& message, httplib::Response& res) {
    const Code code = status == 413   ? Code::kTooLarge
                      : status == 431 ? Code::kHeaderTooLarge
                      : status == 404 ? Code::kNotFound
                      : status == 405 ? Code::kMethodNotAllowed
                      : status >= 500 ? Code::kInternal
                                      : Code::kBadRequest;
    WriteStatus(res, Status(code, message), StatusDetails{});
    // 501 and 505 keep their own codes: the Status body says what was not supported.
    res.status = status;
  });
}

bool ApiHandler::IsQuick(const httplib::Request& req) const {
  // Served on the event loop: no storage, no network, no waiting. The webhook reads the
  // rules' facts from memory (StoreFacts caches them per store revision).
  const std::string& path = req.path;
  if (path == "/healthz" || path == "/livez" || path == "/readyz") return true;
  return webhook_ && path == "/validate";
}

void ApiHandler::Shutdown() {
  ready_.store(false);
  shutting_down_.store(true);
}

void ApiHandler::Serve(const httplib::Request& req, httplib::Response& res) {
  auto start = std::chrono::steady_clock::now();
  // Re-parse the query with Go's rules before anything reads it (see ParseQuery). The
  // request object is the server's, mutable, and used by nobody else during this call.
  auto& mutable_req = const_cast<httplib::Request&>(req);
  mutable_req.params = ParseQuery(req.target);
  res.set_header("Cache-Control", "no-cache, private");
  const std::string& path = req.path;
  RequestContext ctx{req, res, WantsPretty(req)};

  RequestLabels labels = NonResourceLabels(req);
  auto log = [&](const std::string& user) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    RecordRequest(labels, res.status, std::chrono::duration<double>(elapsed).count());
    VLOG(2) << req.method << " " << path << " " << res.status << " user=" << user << " "
            << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()
            << "us protocol=" << req.version;
  };

  if (HeaderBytes(req) > kMaxHeaderBytes) {
    WriteStatus(
        res,
        Status(Code::kHeaderTooLarge, "request header fields too large: limit is 1048576 bytes"),
        {}, ctx.pretty);
    res.set_header("Connection", "close");
    log("-");
    return;
  }

  // Health endpoints need no identity (kubelet probes, load balancers).
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    ServeHealth(req, res);
    log("-");
    return;
  }

  // The server's parser refuses larger bodies (413) before they are read whole; this keeps
  // the limit for requests that reach Serve by another way (tests).
  if (req.body.size() > kMaxBodyBytes) {
    WriteStatus(res, Status(Code::kTooLarge, "Request entity too large: limit is 3145728"), {},
                ctx.pretty);
    log("-");
    return;
  }

  if (path == "/validate" && webhook_) {
    webhook_(req, res);
    log("-");
    return;
  }

  std::multimap<std::string, std::string> headers(req.headers.begin(), req.headers.end());
  AuthRequest auth_req{req.ssl, &headers};
  AuthResult auth = authenticator_->Authenticate(auth_req);
  if (auth.outcome != AuthOutcome::kAuthenticated) {
    if (!auth.reason.empty()) VLOG(1) << "authentication failed: " << auth.reason;
    // No valid identity: 401, with upstream's bare Status.
    WriteStatus(res, Status(Code::kUnauthorized, "Unauthorized"), StatusDetails{}, false);
    log("-");
    return;
  }
  const UserInfo& user = auth.user;

  bool watch = req.has_param("watch") && ParseBool(req.get_param_value("watch"));
  RequestInfo info = ParseRequestInfo(req.method, path, watch);
  labels = LabelsFor(info, req);

  // kube-apiserver's max-in-flight filter: after authentication, before authorization.
  // Watches are long-running and not counted; system:masters is exempt, as upstream exempts
  // its privileged group, so that an administrator can always get in.
  InflightSlot slot;
  if (info.verb != "watch" && !user.IsIn("system:masters")) {
    const bool mutating = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
                          req.method == "DELETE";
    std::atomic<int>& counter = mutating ? inflight_mutating_ : inflight_readonly_;
    const int limit =
        mutating ? options_.max_mutating_requests_inflight : options_.max_requests_inflight;
    if (!slot.Acquire(&counter, limit > 0 ? limit : std::numeric_limits<int>::max(), mutating)) {
      RecordDropped(mutating);
      WriteStatus(res,
                  Status(Code::kTooManyRequests, "Too many requests, please try again later.")
                      .set_retry_after_seconds(1),
                  StatusDetails{}, ctx.pretty);
      log(user.name);
      return;
    }
  }
  AuthzAttributes attrs;
  attrs.user = &user;
  attrs.verb = info.verb;
  attrs.is_resource_request = info.is_resource_request;
  attrs.path = path;
  attrs.api_group = info.api_group;
  attrs.api_version = info.api_version;
  attrs.namespace_ = info.namespace_;
  attrs.resource = info.resource;
  attrs.subresource = info.subresource;
  attrs.name = info.name;
  std::string reason;
  if (authorizer_->Authorize(attrs, &reason) != AuthzDecision::kAllow) {
    std::string prefix;
    if (info.is_resource_request) {
      prefix = info.resource + "." + info.api_group;
      if (!info.name.empty()) prefix += " " + Quote(info.name);
      prefix += " is forbidden: ";
    } else {
      prefix = "forbidden: ";
    }
    StatusDetails d;
    d.name = info.name;
    d.group = info.api_group;
    d.kind = info.resource;
    WriteStatus(res, Status(Code::kForbidden, prefix + ForbiddenMessage(attrs, reason)), d,
                ctx.pretty);
    res.set_header("X-Content-Type-Options", "nosniff");
    log(user.name);
    return;
  }

  if (!info.is_resource_request) {
    ServeNonResource(ctx, info);
  } else {
    ServeResource(ctx, info, user);
  }
  log(user.name);
}

}  // namespace csdr::apiserver
