#include "webhook/review/review.h"

#include <glog/logging.h>

#include <chrono>

#include "webhook/policy/decision_metrics.h"

namespace csdr::webhook {
namespace {

void WriteError(httplib::Response& res, int code, const char* reason, const std::string& message) {
  json::Value s = json::Value::MakeObject();
  s.Set("kind", "Status");
  s.Set("apiVersion", "v1");
  s.Set("metadata", json::Value::MakeObject());
  s.Set("status", "Failure");
  s.Set("message", message);
  s.Set("reason", reason);
  s.Set("code", code);
  res.status = code;
  res.set_content(json::Serialize(s) + "\n", "application/json");
}

// What DecodeReview reads of an AdmissionReview; the rest (resource, requestKind,
// requestResource, options, ...: a third of a review) is checked as JSON but not built.
const json::Fields kKindFields{{{"group"}, {"kind"}}};
const json::Fields kUserInfoFields{{{"username"}, {"groups"}}};
const json::Fields kRequestFields{{{"uid"},
                                   {"operation"},
                                   {"kind", &kKindFields},
                                   {"namespace"},
                                   {"name"},
                                   {"subResource"},
                                   {"userInfo", &kUserInfoFields},
                                   {"dryRun"},
                                   {"object"},
                                   {"oldObject"}}};
const json::Fields kReviewFields{{{"apiVersion"}, {"kind"}, {"request", &kRequestFields}}};

}  // namespace

StatusOr<std::unique_ptr<ReviewRequest>> DecodeReview(std::string_view body) {
  auto bad = [](const std::string& m) { return Status(Code::kBadRequest, m); };
  json::ParseOptions parse_options;
  parse_options.keep = &kReviewFields;
  parse_options.simd = true;  // kube-apiserver sends compact JSON of a few KiB: the fast path
  auto doc = json::Parse(body, parse_options);
  if (!doc.ok()) return bad("cannot decode AdmissionReview: " + doc.status().message());
  if (!doc->is_object()) return bad("AdmissionReview must be a JSON object");
  std::string api_version = doc->GetString({"apiVersion"});
  if (api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1") {
    return bad("unsupported AdmissionReview apiVersion " + Quote(api_version) +
               ": want admission.k8s.io/v1 or admission.k8s.io/v1beta1");
  }
  if (doc->GetString({"kind"}) != "AdmissionReview") return bad("kind must be AdmissionReview");
  json::Value* request = doc->Find("request");
  if (request == nullptr || !request->is_object()) return bad("request is required");
  auto out = std::make_unique<ReviewRequest>();
  out->api_version = api_version;
  out->uid = request->GetString({"uid"});
  if (out->uid.empty()) return bad("request.uid is required");
  AdmissionInput& in = out->input;
  std::string op = request->GetString({"operation"});
  if (op == "CREATE")
    in.operation = Operation::kCreate;
  else if (op == "UPDATE")
    in.operation = Operation::kUpdate;
  else if (op == "DELETE")
    in.operation = Operation::kDelete;
  else if (op == "CONNECT")
    in.operation = Operation::kConnect;
  else
    return bad("request.operation " + Quote(op) + " is not one of CREATE, UPDATE, DELETE, CONNECT");
  const json::Value* kind = request->Find("kind");
  if (kind == nullptr || !kind->is_object()) return bad("request.kind is required");
  in.group = kind->GetString({"group"});
  in.kind = kind->GetString({"kind"});
  if (in.kind.empty()) return bad("request.kind.kind is required");
  in.namespace_ = request->GetString({"namespace"});
  in.name = request->GetString({"name"});
  in.subresource = request->GetString({"subResource"});
  in.user = request->GetString({"userInfo", "username"});
  if (const json::Value* g = request->FindPath({"userInfo", "groups"}); g && g->is_array()) {
    for (const auto& v : g->array()) {
      if (v.is_string()) in.groups.push_back(v.as_string());
    }
  }
  if (const json::Value* d = request->Find("dryRun"); d && d->is_bool()) in.dry_run = d->as_bool();
  if (json::Value* o = request->Find("object"); o && o->is_object()) {
    out->object = std::move(*o);
    in.object = &out->object;
  }
  if (json::Value* o = request->Find("oldObject"); o && o->is_object()) {
    out->old_object = std::move(*o);
    in.old_object = &out->old_object;
  }
  if (in.name.empty() && in.object) in.name = in.object->GetString({"metadata", "name"});
  return out;
}

std::string EncodeReviewResponse(const std::string& api_version, const std::string& uid,
                                 const Decision& decision) {
  // Written directly in the fixed shape (the same bytes as serializing the Value tree, which
  // a test checks): this runs once per review.
  std::string out;
  out.reserve(160 + uid.size() + decision.message.size() + 64 * decision.warnings.size());
  out += R"({"apiVersion":)";
  json::AppendString(&out, api_version);
  out += R"(,"kind":"AdmissionReview","response":{"uid":)";
  json::AppendString(&out, uid);
  out += decision.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)";
  if (!decision.allowed) {
    out += R"(,"status":{"code":)";
    out += std::to_string(decision.code >= 400 ? decision.code : 403);
    out += R"(,"message":)";
    json::AppendString(&out, decision.message);
    out += R"(,"reason":)";
    json::AppendString(&out, decision.reason.empty() ? "Forbidden" : decision.reason);
    out += '}';
  }
  if (!decision.warnings.empty()) {
    out += R"(,"warnings":[)";
    for (size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i > 0) out += ',';
      json::AppendString(&out, decision.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

void ServeValidate(const httplib::Request& req, httplib::Response& res, const Facts& facts,
                   const EngineOptions& options) {
  if (req.method != "POST") {
    return WriteError(res, 405, "MethodNotAllowed", "only POST is supported on /validate");
  }
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  if (type != "application/json") {
    return WriteError(res, 415, "UnsupportedMediaType",
                      "AdmissionReview must be sent as application/json, got " + Quote(type));
  }
  auto review = DecodeReview(req.body);
  if (!review.ok()) return WriteError(res, 400, "BadRequest", review.status().message());
  const ReviewRequest& r = **review;
  const auto start = std::chrono::steady_clock::now();
  Decision d = Evaluate(r.input, facts, options);
  RecordDecision(r.input, d, AdmissionPath::kWebhook,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!d.allowed) {
    std::string ids;
    for (const auto& id : d.denied_rule_ids) ids += (ids.empty() ? "" : ",") + id;
    VLOG(1) << "webhook denied " << r.input.kind << " " << r.input.namespace_ << "/" << r.input.name
            << ": " << ids;
  }
  res.status = 200;
  res.set_content(EncodeReviewResponse(r.api_version, r.uid, d), "application/json");
}

}  // namespace csdr::webhook
