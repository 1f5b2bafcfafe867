#include "apiserver/endpoints/request_metrics.h"

#include <algorithm>
#include <cctype>

#include "apiserver/kinds/kind.h"
#include "common/metrics.h"

namespace csdr::apiserver {
namespace {

struct Families {
  metrics::Counter* total;
  metrics::Histogram* duration;
  metrics::Gauge* inflight;
  metrics::Counter* dropped;
  metrics::Gauge* longrunning;
};

const Families& M() {
  static const Families f = [] {
    auto& r = metrics::Default();
    Families f;
    f.total = r.Add(std::make_unique<metrics::Counter>(
        "apiserver_request_total",
        "Counter of apiserver requests broken out for each verb, dry run value, group, version, "
        "resource, scope, component, and HTTP response code.",
        std::vector<std::string>{"verb", "dry_run", "group", "version", "resource", "subresource",
                                 "scope", "component", "code"}));
    f.duration = r.Add(std::make_unique<metrics::Histogram>(
        "apiserver_request_duration_seconds",
        "Response latency distribution in seconds for each verb, dry run value, group, version, "
        "resource, subresource, scope and component.",
        std::vector<std::string>{"verb", "dry_run", "group", "version", "resource", "subresource",
                                 "scope", "component"},
        metrics::RequestLatencyBuckets()));
    f.inflight = r.Add(std::make_unique<metrics::Gauge>(
        "apiserver_current_inflight_requests",
        "Number of requests in flight now, per request kind (readOnly, mutating); watches are "
        "not counted.",
        std::vector<std::string>{"request_kind"}));
    f.inflight->Set({"readOnly"}, 0);
    f.inflight->Set({"mutating"}, 0);
    f.dropped = r.Add(std::make_unique<metrics::Counter>(
        "apiserver_dropped_requests_total",
        "Number of requests dropped with 'Try again later' response.",
        std::vector<std::string>{"request_kind"}));
    f.longrunning = r.Add(std::make_unique<metrics::Gauge>(
        "apiserver_longrunning_requests",
        "Gauge of all active long-running apiserver requests broken out by verb, group, version, "
        "resource, scope and component.",
        std::vector<std::string>{"verb", "group", "version", "resource", "subresource", "scope",
                                 "component"}));
    return f;
  }();
  return f;
}

constexpr std::string_view kComponent = "apiserver";

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string CanonicalMethod(const std::string& method) {
  static constexpr std::string_view kMethods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                  "PATCH", "DELETE", "OPTIONS"};
  for (std::string_view m : kMethods) {
    if (method == m) return std::string(m);
  }
  return "other";
}

}  // namespace

RequestLabels NonResourceLabels(const httplib::Request& req) {
  RequestLabels l;
  l.verb = CanonicalMethod(req.method);
  return l;
}

RequestLabels LabelsFor(const RequestInfo& info, const httplib::Request& req) {
  if (!info.is_resource_request) return NonResourceLabels(req);
  RequestLabels l;
  // Upstream's CanonicalVerb and cleanVerb: a GET of a collection is LIST, a watch WATCH, an
  // apply patch APPLY; otherwise the method.
  if (info.verb == "list") {
    l.verb = "LIST";
  } else if (info.verb == "watch") {
    l.verb = "WATCH";
  } else if (info.verb == "patch" &&
             req.get_header_value("Content-Type").rfind("application/apply-patch", 0) == 0) {
    l.verb = "APPLY";
  } else {
    l.verb = CanonicalMethod(Upper(req.method));
  }
  if (req.has_param("dryRun")) l.dry_run = "All";
  // Only what we serve names a series; anything else would let a client make new ones.
  if (info.api_group == "csdr.io" && info.api_version == "v1alpha1" &&
      FindKindByResource(info.resource) != nullptr &&
      (info.subresource.empty() || info.subresource == "status")) {
    l.group = info.api_group;
    l.version = info.api_version;
    l.resource = info.resource;
    l.subresource = info.subresource;
  }
  if (!info.name.empty() || info.verb == "create") {
    l.scope = "resource";
  } else if (!info.namespace_.empty()) {
    l.scope = "namespace";
  } else {
    l.scope = "cluster";
  }
  return l;
}

void RecordRequest(const RequestLabels& l, int code, double seconds) {
  const Families& f = M();
  const std::string code_text = code >= 100 && code <= 599 ? std::to_string(code) : "0";
  f.total->Inc({l.verb, l.dry_run, l.group, l.version, l.resource, l.subresource, l.scope,
                kComponent, code_text});
  f.duration->Observe(
      {l.verb, l.dry_run, l.group, l.version, l.resource, l.subresource, l.scope, kComponent},
      seconds);
}

void AddInflight(bool mutating, int delta) {
  M().inflight->Add({mutating ? "mutating" : "readOnly"}, delta);
}

void RecordDropped(bool mutating) { M().dropped->Inc({mutating ? "mutating" : "readOnly"}); }

void AddLongRunning(const RequestLabels& l, int delta) {
  M().longrunning->Add({l.verb, l.group, l.version, l.resource, l.subresource, l.scope, kComponent},
                       delta);
}

void RegisterRequestMetrics() { (void)M(); }

}  // namespace csdr::apiserver
