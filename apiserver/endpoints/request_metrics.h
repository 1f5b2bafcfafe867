// The request metrics of the HTTP edge, with kube-apiserver's names and labels
// (k8s.io/apiserver/pkg/endpoints/metrics): apiserver_request_total,
// apiserver_request_duration_seconds, apiserver_current_inflight_requests,
// apiserver_longrunning_requests, apiserver_dropped_requests_total.
//
// Label values are normalised so that a client cannot grow the number of series: the verb is
// one of upstream's canonical verbs, and group, version, resource and subresource are filled
// only for what we serve (a request for an unknown resource is recorded with them empty).
#pragma once

#include <httplib.h>

#include <string>

#include "apiserver/endpoints/request_info.h"

namespace csdr::apiserver {

struct RequestLabels {
  std::string verb;  // GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, ...
  std::string dry_run;
  std::string group, version, resource, subresource;
  std::string scope;  // resource, namespace, cluster or ""
};

RequestLabels LabelsFor(const RequestInfo& info, const httplib::Request& req);
// Labels for requests outside the API paths (health, /validate).
RequestLabels NonResourceLabels(const httplib::Request& req);

// apiserver_request_total and apiserver_request_duration_seconds.
void RecordRequest(const RequestLabels& labels, int code, double seconds);
// apiserver_current_inflight_requests{request_kind="readOnly"|"mutating"}.
void AddInflight(bool mutating, int delta);
// apiserver_dropped_requests_total{request_kind}: a request answered 429 by the limits.
void RecordDropped(bool mutating);
// apiserver_longrunning_requests: watches open now.
void AddLongRunning(const RequestLabels& labels, int delta);
// Registers every family, so that /metrics lists them before the first request.
void RegisterRequestMetrics();

}  // namespace csdr::apiserver
