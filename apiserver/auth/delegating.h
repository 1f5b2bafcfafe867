// Delegated authentication and authorization, as every aggregated API server does it
// (k8s.io/apiserver's DelegatingAuthenticationOptions and DelegatingAuthorizationOptions):
//
//  - front-proxy identity (requestheader): X-Remote-User / X-Remote-Group / X-Remote-Extra-*
//    trusted only on a connection whose client certificate verifies against the
//    request-header CA and whose CN is allowed;
//  - client certificates against the cluster's client CA;
//  - bearer tokens through TokenReview (authentication.k8s.io/v1), cached briefly;
//  - SubjectAccessReview (authorization.k8s.io/v1) for every request that the local
//    policy (always-allow paths, system:masters, discovery for authenticated users) does
//    not settle, with short allow and deny caches.
//
// The CAs and header names come from flags or from the ConfigMap
// kube-system/extension-apiserver-authentication, which kube-apiserver keeps current;
// AuthenticationSource holds the current values and may be swapped at any time.
//
// Thread safety: every class here is safe for concurrent use by connection threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apiserver/auth/auth.h"
#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

using Clock = std::function<std::chrono::steady_clock::time_point()>;

// k8s.io/apiserver's RequestHeaderConfig.
struct RequestHeaderConfig {
  std::shared_ptr<const CaBundle> ca;      // required: without it nothing is trusted
  std::vector<std::string> allowed_names;  // empty: any CN the CA signed
  std::vector<std::string> username_headers{"X-Remote-User"};
  std::vector<std::string> uid_headers{"X-Remote-Uid"};
  std::vector<std::string> group_headers{"X-Remote-Group"};
  std::vector<std::string> extra_prefixes{"X-Remote-Extra-"};
};

// The requestheader algorithm on one request (AS headerrequest + x509.Verifier):
// - no client certificate, or no username header: no opinion (headers ignored);
// - a certificate that does not verify against config.ca for client auth, or whose CN is not
//   in allowed_names (when non-empty): rejected, the headers are not trusted;
// - else the user is the first non-empty username header, the groups every value of every
//   group header (no comma splitting), extra keys the lower-cased, percent-decoded header
//   suffixes; system:authenticated is added.
AuthResult AuthenticateRequestHeader(const RequestHeaderConfig& config, const AuthRequest& request);

// Go's url.PathUnescape; nullopt on a malformed escape.
std::optional<std::string> PathUnescape(std::string_view s);

// The current authentication configuration. Set by flags at startup and by the ConfigMap
// watcher whenever the ConfigMap changes; readers take a snapshot.
class AuthenticationSource {
 public:
  std::shared_ptr<const RequestHeaderConfig> request_header() const;
  std::shared_ptr<const CaBundle> client_ca() const;
  void set_request_header(std::shared_ptr<const RequestHeaderConfig> config);
  void set_client_ca(std::shared_ptr<const CaBundle> ca);

 private:
  mutable std::mutex mu_;  // guards the two pointers (the objects are immutable)
  std::shared_ptr<const RequestHeaderConfig> request_header_;
  std::shared_ptr<const CaBundle> client_ca_;
};

// Front-proxy authentication from the source's current RequestHeaderConfig (none: no opinion).
class RequestHeaderAuthenticator : public Authenticator {
 public:
  explicit RequestHeaderAuthenticator(const AuthenticationSource* source) : source_(source) {}
  AuthResult Authenticate(const AuthRequest& request) const override;

 private:
  const AuthenticationSource* source_;  // not owned
};

// Client certificates against the source's current client CA (none: no opinion).
class DynamicClientCertAuthenticator : public Authenticator {
 public:
  explicit DynamicClientCertAuthenticator(const AuthenticationSource* source) : source_(source) {}
  AuthResult Authenticate(const AuthRequest& request) const override;

 private:
  const AuthenticationSource* source_;  // not owned
};

// Reads kube-system/extension-apiserver-authentication (a ConfigMap as JSON) into `source`:
// client-ca-file when `client_ca` is set, the requestheader-* keys when `request_header` is
// set (JSON string lists; "", "null" and "[]" are empty lists, and empty header lists fall
// back to the X-Remote-* defaults, which kube-aggregator always sends). A ConfigMap
// without requestheader-client-ca-file leaves front-proxy authentication off.
Status ApplyAuthenticationConfigMap(const json::Value& config_map, bool client_ca,
                                    bool request_header, AuthenticationSource* source);

// A small map whose entries expire. Bounded: when full, expired entries go first and then
// everything (a burst of distinct keys costs a cache refill, never unbounded memory).
template <typename V>
class TtlCache {
 public:
  TtlCache(size_t max_entries, Clock clock) : max_entries_(max_entries), clock_(std::move(clock)) {
    if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  }

  std::optional<V> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (clock_() >= it->second.expires) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  void Put(const std::string& key, V value, std::chrono::steady_clock::duration ttl) {
    if (ttl <= std::chrono::steady_clock::duration::zero() || max_entries_ == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = clock_();
    if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = now >= it->second.expires ? entries_.erase(it) : std::next(it);
      }
      if (entries_.size() >= max_entries_) entries_.clear();
    }
    entries_[key] = Entry{std::move(value), now + ttl};
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    V value;
    std::chrono::steady_clock::time_point expires;
  };
  const size_t max_entries_;
  Clock clock_;
  mutable std::mutex mu_;  // guards entries_
  std::unordered_map<std::string, Entry> entries_;
};

// The seam to kube-apiserver's review APIs: POST a review object to a create-only
// collection and return the answered object. KubeReviewClient (review_client.h) is the
// real one; tests substitute a fake.
class ReviewClient {
 public:
  virtual ~ReviewClient() = default;
  // `path` is e.g. "/apis/authentication.k8s.io/v1/tokenreviews". Errors: kUnavailable for
  // transport failures, the API's code for a non-2xx answer.
  virtual StatusOr<json::Value> Create(const std::string& path,
                                       const json::Value& review) const = 0;
};

// The TokenReview body for `token` (spec.audiences only when given).
json::Value TokenReviewFor(const std::string& token, const std::vector<std::string>& audiences);

struct TokenReviewOptions {
  std::chrono::seconds cache_ttl{10};  // --authentication-token-webhook-cache-ttl; 0: no cache
  size_t max_cache_entries = 4096;
  std::vector<std::string> audiences;
  Clock clock;  // unset: steady_clock
};

// Authorization: Bearer <token> -> TokenReview. Success and failure are both cached for
// cache_ttl under the token's SHA-256 (the token itself is neither kept nor logged); a
// review that could not be made is not cached.
class TokenReviewAuthenticator : public Authenticator {
 public:
  TokenReviewAuthenticator(const ReviewClient* client, TokenReviewOptions options);
  AuthResult Authenticate(const AuthRequest& request) const override;

 private:
  const ReviewClient* client_;  // not owned
  TokenReviewOptions options_;
  mutable TtlCache<AuthResult> cache_;
};

// The SubjectAccessReview for `attributes` (AS plugin/pkg/authorizer/webhook: omitempty
// fields left out; resourceAttributes or nonResourceAttributes).
json::Value SubjectAccessReviewFor(const AuthzAttributes& attributes);

struct DelegatingAuthorizerOptions {
  // --authorization-always-allow-paths: exact paths, or prefixes ending in '*'.
  std::vector<std::string> always_allow_paths{"/healthz", "/readyz", "/livez"};
  std::chrono::seconds authorized_ttl{10};
  std::chrono::seconds unauthorized_ttl{10};
  size_t max_cache_entries = 4096;
  Clock clock;  // unset: steady_clock
};

// The local policy of k8s.io/apiserver's delegating authorizer, then SubjectAccessReview:
//  1. an always-allow path (non-resource requests only): allow;
//  2. a user in system:masters: allow;
//  3. get on /api, /api/*, /apis, /apis/*, /openapi, /openapi/*, /version, /version/ by an
//     authenticated user: allow. This is what RBAC's system:discovery ClusterRole (bound to
//     system:authenticated in every cluster) answers, decided here without a round trip,
//     which also keeps kube-aggregator's discovery and OpenAPI fetches (sent without groups
//     besides the ones we add) fast;
//  4. else SubjectAccessReview (cached by its spec): allowed -> allow; denied or no opinion
//     -> deny with the review's reason; a failed review -> deny naming the failure (not cached).
// `client` null: steps 1-3 only, everything else allowed for authenticated users
// (standalone mode).
class DelegatingAuthorizer : public Authorizer {
 public:
  DelegatingAuthorizer(const ReviewClient* client, DelegatingAuthorizerOptions options);
  AuthzDecision Authorize(const AuthzAttributes& attributes, std::string* reason) const override;

 private:
  struct Cached {
    bool allowed;
    std::string reason;
  };
  const ReviewClient* client_;  // not owned; may be null
  DelegatingAuthorizerOptions options_;
  mutable TtlCache<Cached> cache_;
};

// True when `path` matches one of `patterns` (exact, or prefix for a pattern ending in '*').
bool PathMatches(const std::vector<std::string>& patterns, const std::string& path);

}  // namespace csdr::apiserver
