#include "apiserver/auth/delegating.h"

#include <glog/logging.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

namespace csdr::apiserver {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && Lower(a) == Lower(b);
}

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == Lower(prefix);
}

// Every value of headers named `name` (case-insensitive), in order.
std::vector<std::string> HeaderValues(const AuthRequest& request, std::string_view name) {
  std::vector<std::string> out;
  if (request.headers == nullptr) return out;
  for (const auto& [k, v] : *request.headers) {
    if (IEquals(k, name)) out.push_back(v);
  }
  return out;
}

std::string FirstNonEmpty(const AuthRequest& request, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    for (const auto& v : HeaderValues(request, name)) {
      if (!v.empty()) return v;
    }
  }
  return "";
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

json::Value StringArray(const std::vector<std::string>& values) {
  json::Value a = json::Value::MakeArray();
  for (const auto& v : values) a.PushBack(json::Value(v));
  return a;
}

// A ConfigMap value holding a JSON list of strings ("" and "null" are empty).
StatusOr<std::vector<std::string>> StringList(const json::Value& data, std::string_view key) {
  std::vector<std::string> out;
  const json::Value* v = data.Find(key);
  if (v == nullptr || !v->is_string() || v->as_string().empty()) return out;
  auto parsed = json::Parse(v->as_string());
  if (!parsed.ok())
    return Status(Code::kBadRequest, std::string(key) + ": " + parsed.status().message());
  if (parsed->is_null()) return out;
  if (!parsed->is_array()) return Status(Code::kBadRequest, std::string(key) + ": not a JSON list");
  for (const auto& item : parsed->array()) {
    if (!item.is_string())
      return Status(Code::kBadRequest, std::string(key) + ": not a list of strings");
    out.push_back(item.as_string());
  }
  return out;
}

}  // namespace

// ---- requestheader

std::optional<std::string> PathUnescape(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

AuthResult AuthenticateRequestHeader(const RequestHeaderConfig& config,
                                     const AuthRequest& request) {
  AuthResult result;
  if (!config.ca) return result;
  const PeerCertificates peer = PeerOf(request);
  if (peer.leaf == nullptr) return result;
  const std::string user = FirstNonEmpty(request, config.username_headers);
  if (user.empty()) return result;  // not a proxied request: other authenticators decide

  std::string error = VerifyClientCertificate(*config.ca, request);
  if (error.empty() && !config.allowed_names.empty()) {
    std::vector<std::string> cn = SubjectEntries(peer.leaf, NID_commonName);
    const std::string name = cn.empty() ? "" : cn.front();
    if (std::find(config.allowed_names.begin(), config.allowed_names.end(), name) ==
        config.allowed_names.end()) {
      error = "x509: subject with cn=" + name + " is not in the allowed list";
    }
  }
  if (!error.empty()) {
    result.outcome = AuthOutcome::kRejected;
    result.reason = "request-header client certificate: " + error;
    return result;
  }

  result.outcome = AuthOutcome::kAuthenticated;
  result.user.name = user;
  result.user.uid = FirstNonEmpty(request, config.uid_headers);
  for (const auto& name : config.group_headers) {
    for (auto& v : HeaderValues(request, name)) result.user.groups.push_back(std::move(v));
  }
  if (request.headers != nullptr) {
    for (const auto& [k, v] : *request.headers) {
      for (const auto& prefix : config.extra_prefixes) {
        if (prefix.empty() || !IStartsWith(k, prefix)) continue;
        std::string key = Lower(std::string_view(k).substr(prefix.size()));
        // Upstream keeps the raw key when it does not unescape.
        key = PathUnescape(key).value_or(key);
        if (!key.empty()) result.user.extra[key].push_back(v);
        break;
      }
    }
  }
  if (!result.user.IsIn("system:authenticated"))
    result.user.groups.push_back("system:authenticated");
  return result;
}

std::shared_ptr<const RequestHeaderConfig> AuthenticationSource::request_header() const {
  std::lock_guard<std::mutex> lock(mu_);
  return request_header_;
}

std::shared_ptr<const CaBundle> AuthenticationSource::client_ca() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_ca_;
}

void AuthenticationSource::set_request_header(std::shared_ptr<const RequestHeaderConfig> config) {
  std::lock_guard<std::mutex> lock(mu_);
  request_header_ = std::move(config);
}

void AuthenticationSource::set_client_ca(std::shared_ptr<const CaBundle> ca) {
  std::lock_guard<std::mutex> lock(mu_);
  client_ca_ = std::move(ca);
}

AuthResult RequestHeaderAuthenticator::Authenticate(const AuthRequest& request) const {
  auto config = source_->request_header();
  if (!config) return AuthResult{};
  return AuthenticateRequestHeader(*config, request);
}

AuthResult DynamicClientCertAuthenticator::Authenticate(const AuthRequest& request) const {
  auto ca = source_->client_ca();
  if (!ca) return AuthResult{};
  return AuthenticateClientCertificate(*ca, request);
}

Status ApplyAuthenticationConfigMap(const json::Value& config_map, bool client_ca,
                                    bool request_header, AuthenticationSource* source) {
  const json::Value* data = config_map.Find("data");
  if (data == nullptr || !data->is_object()) {
    return Status(Code::kBadRequest, "ConfigMap extension-apiserver-authentication has no data");
  }
  // Everything is parsed before anything is set: a bad value changes nothing.
  std::shared_ptr<const CaBundle> new_client_ca;
  if (client_ca) {
    std::string pem = data->GetString({"client-ca-file"});
    if (!pem.empty()) {
      auto current = source->client_ca();
      if (current && current->pem() == pem) {
        new_client_ca = current;
      } else {
        auto ca = CaBundle::FromPem(pem, "client-ca-file");
        if (!ca.ok()) return ca.status();
        new_client_ca = *ca;
      }
    }
  }
  std::shared_ptr<RequestHeaderConfig> config;
  if (request_header) {
    std::string pem = data->GetString({"requestheader-client-ca-file"});
    if (!pem.empty()) {
      config = std::make_shared<RequestHeaderConfig>();
      auto ca = CaBundle::FromPem(pem, "requestheader-client-ca-file");
      if (!ca.ok()) return ca.status();
      config->ca = *ca;
      struct ListKey {
        const char* key;
        std::vector<std::string>* field;
      };
      const ListKey keys[] = {{"requestheader-allowed-names", &config->allowed_names},
                              {"requestheader-username-headers", &config->username_headers},
                              {"requestheader-uid-headers", &config->uid_headers},
                              {"requestheader-group-headers", &config->group_headers},
                              {"requestheader-extra-headers-prefix", &config->extra_prefixes}};
      for (const auto& [key, field] : keys) {
        auto list = StringList(*data, key);
        if (!list.ok()) return list.status();
        // Empty header lists keep the defaults (kube-aggregator always sends X-Remote-*).
        if (!list->empty() || field == &config->allowed_names) *field = std::move(*list);
      }
    }
  }
  if (client_ca) source->set_client_ca(std::move(new_client_ca));
  if (request_header) source->set_request_header(std::move(config));
  return Status::Ok();
}

// ---- TokenReview

json::Value TokenReviewFor(const std::string& token, const std::vector<std::string>& audiences) {
  json::Value review = json::Value::MakeObject();
  review.Set("apiVersion", "authentication.k8s.io/v1");
  review.Set("kind", "TokenReview");
  json::Value spec = json::Value::MakeObject();
  spec.Set("token", token);
  if (!audiences.empty()) spec.Set("audiences", StringArray(audiences));
  review.Set("spec", std::move(spec));
  return review;
}

TokenReviewAuthenticator::TokenReviewAuthenticator(const ReviewClient* client,
                                                   TokenReviewOptions options)
    : client_(client),
      options_(std::move(options)),
      cache_(options_.max_cache_entries, options_.clock) {}

AuthResult TokenReviewAuthenticator::Authenticate(const AuthRequest& request) const {
  AuthResult result;
  std::string token;
  for (const auto& v : HeaderValues(request, "Authorization")) {
    // RFC 7235: the scheme is case-insensitive.
    if (v.size() > 7 && IStartsWith(v, "bearer ")) {
      token = v.substr(7);
      while (!token.empty() && token.front() == ' ') token.erase(0, 1);
      while (!token.empty() && token.back() == ' ') token.pop_back();
      break;
    }
  }
  if (token.empty()) return result;
  const std::string key = Sha256Hex(token);
  if (auto cached = cache_.Get(key)) return *cached;

  auto answer = client_->Create("/apis/authentication.k8s.io/v1/tokenreviews",
                                TokenReviewFor(token, options_.audiences));
  if (!answer.ok()) {
    result.outcome = AuthOutcome::kRejected;
    result.reason = "TokenReview failed: " + answer.status().message();
    return result;
  }
  const json::Value* status = answer->Find("status");
  const json::Value* authenticated = status ? status->Find("authenticated") : nullptr;
  if (authenticated == nullptr || !authenticated->is_bool() || !authenticated->as_bool()) {
    result.outcome = AuthOutcome::kRejected;
    std::string error = status ? status->GetString({"error"}) : "";
    result.reason = "token not authenticated" + (error.empty() ? "" : ": " + error);
  } else {
    result.outcome = AuthOutcome::kAuthenticated;
    result.user.name = status->GetString({"user", "username"});
    result.user.uid = status->GetString({"user", "uid"});
    if (const json::Value* groups = status->FindPath({"user", "groups"});
        groups && groups->is_array()) {
      for (const auto& g : groups->array()) {
        if (g.is_string()) result.user.groups.push_back(g.as_string());
      }
    }
    if (const json::Value* extra = status->FindPath({"user", "extra"});
        extra && extra->is_object()) {
      for (const auto& [k, values] : extra->object()) {
        if (!values.is_array()) continue;
        for (const auto& v : values.array()) {
          if (v.is_string()) result.user.extra[k].push_back(v.as_string());
        }
      }
    }
    if (result.user.name.empty()) {
      result.outcome = AuthOutcome::kRejected;
      result.reason = "TokenReview answered no username";
    } else if (!result.user.IsIn("system:authenticated")) {
      result.user.groups.push_back("system:authenticated");
    }
  }
  cache_.Put(key, result, options_.cache_ttl);
  return result;
}

// ---- SubjectAccessReview

json::Value SubjectAccessReviewFor(const AuthzAttributes& a) {
  json::Value spec = json::Value::MakeObject();
  if (a.is_resource_request) {
    json::Value r = json::Value::MakeObject();
    const std::pair<const char*, const std::string*> fields[] = {{"namespace", &a.namespace_},
                                                                 {"verb", &a.verb},
                                                                 {"group", &a.api_group},
                                                                 {"version", &a.api_version},
                                                                 {"resource", &a.resource},
                                                                 {"subresource", &a.subresource},
                                                                 {"name", &a.name}};
    for (const auto& [k, v] : fields) {
      if (!v->empty()) r.Set(k, *v);
    }
    spec.Set("resourceAttributes", std::move(r));
  } else {
    json::Value n = json::Value::MakeObject();
    n.Set("path", a.path);
    n.Set("verb", a.verb);
    spec.Set("nonResourceAttributes", std::move(n));
  }
  if (a.user != nullptr) {
    if (!a.user->name.empty()) spec.Set("user", a.user->name);
    if (!a.user->groups.empty()) spec.Set("groups", StringArray(a.user->groups));
    if (!a.user->extra.empty()) {
      json::Value extra = json::Value::MakeObject();
      for (const auto& [k, v] : a.user->extra) extra.Set(k, StringArray(v));
      spec.Set("extra", std::move(extra));
    }
    if (!a.user->uid.empty()) spec.Set("uid", a.user->uid);
  }
  json::Value review = json::Value::MakeObject();
  review.Set("apiVersion", "authorization.k8s.io/v1");
  review.Set("kind", "SubjectAccessReview");
  review.Set("spec", std::move(spec));
  return review;
}

bool PathMatches(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (path.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == path) {
      return true;
    }
  }
  return false;
}

DelegatingAuthorizer::DelegatingAuthorizer(const ReviewClient* client,
                                           DelegatingAuthorizerOptions options)
    : client_(client),
      options_(std::move(options)),
      cache_(options_.max_cache_entries, options_.clock) {}

AuthzDecision DelegatingAuthorizer::Authorize(const AuthzAttributes& a, std::string* reason) const {
  if (reason) reason->clear();
  if (!a.is_resource_request && PathMatches(options_.always_allow_paths, a.path))
    return AuthzDecision::kAllow;
  if (a.user == nullptr) return AuthzDecision::kNoOpinion;
  if (a.user->IsIn("system:masters")) return AuthzDecision::kAllow;
  // RBAC's system:discovery, bound to system:authenticated by the bootstrap policy.
  static const std::vector<std::string> kDiscovery = {
      "/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/"};
  const bool authenticated = a.user->IsIn("system:authenticated");
  if (!a.is_resource_request && a.verb == "get" && authenticated &&
      PathMatches(kDiscovery, a.path)) {
    return AuthzDecision::kAllow;
  }
  if (client_ == nullptr) return authenticated ? AuthzDecision::kAllow : AuthzDecision::kNoOpinion;

  json::Value review = SubjectAccessReviewFor(a);
  const std::string key = json::Serialize(*review.Find("spec"));
  if (auto cached = cache_.Get(key)) {
    if (reason) *reason = cached->reason;
    return cached->allowed ? AuthzDecision::kAllow : AuthzDecision::kDeny;
  }
  auto answer = client_->Create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review);
  if (!answer.ok()) {
    LOG(WARNING) << "SubjectAccessReview failed: " << answer.status().message();
    if (reason) *reason = "the authorization webhook could not be reached";
    return AuthzDecision::kNoOpinion;
  }
  const json::Value* status = answer->Find("status");
  auto flag = [&](const char* k) {
    const json::Value* v = status ? status->Find(k) : nullptr;
    return v != nullptr && v->is_bool() && v->as_bool();
  };
  const bool allowed = flag("allowed"), denied = flag("denied");
  Cached decision{allowed && !denied, status ? status->GetString({"reason"}) : ""};
  if (allowed && denied) decision.reason = "the authorizer answered both allowed and denied";
  cache_.Put(key, decision, decision.allowed ? options_.authorized_ttl : options_.unauthorized_ttl);
  if (reason) *reason = decision.reason;
  return decision.allowed ? AuthzDecision::kAllow
                          : (denied ? AuthzDecision::kDeny : AuthzDecision::kNoOpinion);
}

}  // namespace csdr::apiserver
