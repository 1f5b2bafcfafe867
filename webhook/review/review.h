// The validating webhook: AdmissionReview admission.k8s.io/v1 and v1beta1 in, the policy
// engine's decision out (controller-runtime's webhook/admission shape: decode once, one
// handler, the edge hardened in one place).
//
// kube-apiserver calls POST /validate?timeout=10s with a JSON AdmissionReview and presents
// no client certificate unless its admission config says so; the endpoint is therefore
// served without authentication. That is safe because it only answers a verdict about the
// object sent in the request, reads nothing it would not read for any caller, changes
// nothing, and echoes no stored data (docs/ARCHITECTURE.md, "The webhook endpoint").
#pragma once

#include <httplib.h>

#include <string>

#include "common/json.h"
#include "common/status.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

struct ReviewRequest {
  std::string api_version;  // "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"
  std::string uid;
  AdmissionInput input;
  json::Value object;  // owned copies behind input.object / input.old_object
  json::Value old_object;
};

// Decodes an AdmissionReview. kBadRequest names what is wrong ("request.uid is required").
// The returned value's input.object/old_object point into the returned value itself, so
// they stay valid only while it is not moved: use DecodeReview's result in place.
StatusOr<std::unique_ptr<ReviewRequest>> DecodeReview(std::string_view body);

// The AdmissionReview response for `decision`, in the request's apiVersion, uid echoed.
std::string EncodeReviewResponse(const std::string& api_version, const std::string& uid,
                                 const Decision& decision);

// Serves POST /validate: content type, body limit (the server's), decode, Evaluate, encode.
// A malformed review is a 400 Status; the handler never throws.
void ServeValidate(const httplib::Request& req, httplib::Response& res, const Facts& facts,
                   const EngineOptions& options = {});

}  // namespace csdr::webhook
