#include "apiserver/endpoints/handler.h"

#include <glog/logging.h>

#include <chrono>
#include <limits>

#include "apiserver/endpoints/encoding.h"
#include "apiserver/endpoints/request_info.h"
#include "apiserver/endpoints/request_metrics.h"
#include "apiserver/server/connection_guard.h"

namespace csdr::apiserver {
namespace {

// kube-apiserver's limit for JSON request bodies (3 MiB).
constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;
// Go's http.DefaultMaxHeaderBytes, which kube-apiserver serves with: the request line and the
// header fields. (The connection guard caps what a request may send at all, so the header
// section has been read whole, within bounds, by the time this is checked.)
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

ApiHandler::ApiHandler(Registry* registry, const Authenticator* authenticator,
                       const Authorizer* authorizer, HandlerOptions options)
    : registry_(registry),
      authenticator_(authenticator),
      authorizer_(authorizer),
      options_(options) {
  RegisterRequestMetrics();
}

void ApiHandler::Install(httplib::Server* server) {
  auto h = [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); };
  server->Get(".*", h);
  server->Post(".*", h);
  server->Put(".*", h);
  server->Patch(".*", h);
  server->Delete(".*", h);
  server->Options(".*", h);
  // Errors cpp-httplib answers itself (413, 400 on a malformed request line, ...) still
  // get a Status body.
  server->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    // cpp-httplib answered the request itself (a malformed request, a body over the limit):
    // the connection is between requests again.
    ConnectionGuard::RequestFinished(false);
    if (!res.body.empty()) return;
    Status s = res.status == 413
                   ? Status(Code::kTooLarge, "Request entity too large: limit is 3145728")
               : res.status == 404
                   ? Status(Code::kNotFound, "the server could not find the requested resource")
               : res.status == 414 ? Status(Code::kBadRequest, "request URI too long")
                                   : Status(Code::kBadRequest, "bad request");
    WriteStatus(res, s, StatusDetails{});
  });
  server->set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                   std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LOG(ERROR) << "internal error serving " << req.method << " " << req.path << ": " << what;
    WriteStatus(res, Status(Code::kInternal, "Internal error occurred: " + what), StatusDetails{});
  });
}

void ApiHandler::Shutdown() {
  ready_.store(false);
  shutting_down_.store(true);
}

void ApiHandler::Serve(const httplib::Request& req, httplib::Response& res) {
  // The request is read: its connection's read deadline no longer runs (ConnectionGuard).
  // When this returns, the connection is idle again, unless a stream (a watch) goes on.
  ConnectionGuard::RequestStarted();
  struct Finished {
    const httplib::Response& res;
    ~Finished() { ConnectionGuard::RequestFinished(res.content_provider_ != nullptr); }
  } finished{res};
  auto start = std::chrono::steady_clock::now();
  // Re-parse the query with Go's rules before anything reads it (see ParseQuery). The
  // request object is the server's, mutable, and used by nobody else during this call.
  auto& mutable_req = const_cast<httplib::Request&>(req);
  mutable_req.params = ParseQuery(req.target);
  // cpp-httplib gzips JSON when the client accepts it (Go clients always do), and its
  // streaming compressor holds watch events back until a buffer fills: a watch event would
  // reach kubectl minutes late. Responses go uncompressed (kube-apiserver, too, compresses
  // only bodies over 128 KiB).
  mutable_req.headers.erase("Accept-Encoding");
  res.set_header("Cache-Control", "no-cache, private");
  const std::string& path = req.path;
  RequestContext ctx{req, res, WantsPretty(req)};

  RequestLabels labels = NonResourceLabels(req);
  auto log = [&](const std::string& user) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    RecordRequest(labels, res.status, std::chrono::duration<double>(elapsed).count());
    VLOG(2) << req.method << " " << path << " " << res.status << " user=" << user << " "
            << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << "us";
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
    bool ok = path != "/readyz" || ready_.load();
    res.status = ok ? 200 : 503;
    std::string body;
    if (req.has_param("verbose")) {
      body = ok ? "[+]ping ok\n[+]storage ok\n" + path.substr(1) + " check passed\n"
                : "[-]storage not ready\n" + path.substr(1) + " check failed\n";
    } else {
      body = ok ? "ok" : "not ready";
    }
    res.set_content(body, "text/plain; charset=utf-8");
    res.set_header("X-Content-Type-Options", "nosniff");
    log("-");
    return;
  }

  // cpp-httplib applies its payload limit to Content-Length bodies only; a chunked body
  // arrives whole. Refuse it here so that no size of body reaches a decoder.
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
