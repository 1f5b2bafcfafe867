// Delegated authentication and authorization: the requestheader algorithm against real
// certificates (made in memory by TestPki), the caches with an injected clock, and the
// TokenReview and SubjectAccessReview bodies, with a fake ReviewClient at our own seam.
#include "apiserver/auth/delegating.h"

#include <gtest/gtest.h>

#include <map>

#include "kube/tls.h"
#include "test/kube/test_pki.h"

namespace csdr::apiserver {
namespace {

using kube::testing::TestPki;
using Headers = std::multimap<std::string, std::string>;

kube::tls::X509Ptr ParseCert(const std::string& pem) {
  auto certs = kube::tls::ParseCertificates(pem, "test certificate");
  EXPECT_TRUE(certs.ok());
  return std::move(certs->front());
}

class RequestHeaderTest : public ::testing::Test {
 protected:
  TestPki front_proxy_ca_{"front-proxy-ca"};
  TestPki other_ca_{"other-ca"};
  RequestHeaderConfig config_;

  void SetUp() override {
    auto ca = CaBundle::FromPem(front_proxy_ca_.ca_pem(), "front-proxy CA");
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    config_.ca = *ca;
    config_.allowed_names = {"front-proxy-client"};
  }

  AuthResult Run(X509* leaf, const Headers& headers) {
    AuthRequest request;
    request.headers = &headers;
    request.peer_leaf = leaf;
    return AuthenticateRequestHeader(config_, request);
  }
};

const Headers kProxied = {
    {"X-Remote-User", "alice"},     {"X-Remote-Group", "dev"},
    {"x-remote-group", "ops,qa"},  // one group per line, no comma split
    {"X-Remote-Uid", "u-1"},        {"X-Remote-Extra-Scopes", "a"},
    {"X-Remote-Extra-Scopes", "b"}, {"X-Remote-Extra-Example.com%2FTeam", "blue"}};

TEST_F(RequestHeaderTest, TrustedFrontProxyGivesUserGroupsExtra) {
  auto cert = ParseCert(front_proxy_ca_.Issue("front-proxy-client", {}, {}, false).cert_pem);
  AuthResult r = Run(cert.get(), kProxied);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "alice");
  EXPECT_EQ(r.user.uid, "u-1");
  EXPECT_EQ(r.user.groups, (std::vector<std::string>{"dev", "ops,qa", "system:authenticated"}));
  EXPECT_EQ(r.user.extra["scopes"], (std::vector<std::string>{"a", "b"}));
  // Lower-cased, then percent-decoded: %2F -> "/".
  EXPECT_EQ(r.user.extra["example.com/team"], (std::vector<std::string>{"blue"}));
  EXPECT_EQ(r.user.extra.size(), 2u);
}

TEST_F(RequestHeaderTest, HeadersIgnoredWithoutATrustedCertificate) {
  auto other_cn = ParseCert(front_proxy_ca_.Issue("someone-else", {}, {}, false).cert_pem);
  auto other_ca = ParseCert(other_ca_.Issue("front-proxy-client", {}, {}, false).cert_pem);
  auto server_usage =
      ParseCert(front_proxy_ca_.Issue("front-proxy-client", {"x"}, {}, true).cert_pem);
  struct Case {
    const char* name;
    X509* leaf;
    AuthOutcome want;
    const char* reason;
  };
  const Case cases[] = {
      {"no certificate", nullptr, AuthOutcome::kNoOpinion, ""},
      {"CN not allowed", other_cn.get(), AuthOutcome::kRejected,
       "cn=someone-else is not in the allowed list"},
      {"other CA", other_ca.get(), AuthOutcome::kRejected, "x509: "},
      {"server-only key usage", server_usage.get(), AuthOutcome::kRejected, "x509: "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    AuthResult r = Run(c.leaf, kProxied);
    EXPECT_EQ(r.outcome, c.want);
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << r.reason;
    EXPECT_TRUE(r.user.name.empty());
  }
}

TEST_F(RequestHeaderTest, EmptyAllowedNamesTrustsAnyCnOfTheCa) {
  config_.allowed_names.clear();
  auto cert = ParseCert(front_proxy_ca_.Issue("any-proxy", {}, {}, false).cert_pem);
  AuthResult r = Run(cert.get(), kProxied);
  EXPECT_EQ(r.outcome, AuthOutcome::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "alice");
}

TEST_F(RequestHeaderTest, NoUsernameHeaderIsNoOpinion) {
  auto cert = ParseCert(front_proxy_ca_.Issue("front-proxy-client", {}, {}, false).cert_pem);
  AuthResult r = Run(cert.get(), Headers{{"X-Remote-Group", "system:masters"}});
  EXPECT_EQ(r.outcome, AuthOutcome::kNoOpinion);
}

TEST_F(RequestHeaderTest, ConfiguredHeaderNames) {
  config_.username_headers = {"X-Proxy-User"};
  config_.group_headers = {"X-Proxy-Group"};
  config_.extra_prefixes = {"X-Proxy-Extra-"};
  auto cert = ParseCert(front_proxy_ca_.Issue("front-proxy-client", {}, {}, false).cert_pem);
  AuthResult r = Run(cert.get(), Headers{{"X-Remote-User", "mallory"},
                                         {"X-Proxy-User", "bob"},
                                         {"X-Proxy-Group", "g"},
                                         {"X-Proxy-Extra-K", "v"}});
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.user.name, "bob");
  EXPECT_EQ(r.user.groups, (std::vector<std::string>{"g", "system:authenticated"}));
  EXPECT_EQ(r.user.extra["k"], (std::vector<std::string>{"v"}));
}

TEST(PathUnescapeTest, Table) {
  EXPECT_EQ(PathUnescape("a%2fb"), "a/b");
  EXPECT_EQ(PathUnescape("plain"), "plain");
  EXPECT_EQ(PathUnescape("%41%42"), "AB");
  EXPECT_EQ(PathUnescape("bad%2"), std::nullopt);
  EXPECT_EQ(PathUnescape("bad%zz"), std::nullopt);
}

TEST(ConfigMapTest, ReadsKubeApiserversConfigMap) {
  TestPki client_ca("cluster-ca"), proxy_ca("front-proxy-ca");
  json::Value cm = json::Value::MakeObject();
  json::Value data = json::Value::MakeObject();
  data.Set("client-ca-file", client_ca.ca_pem());
  data.Set("requestheader-client-ca-file", proxy_ca.ca_pem());
  data.Set("requestheader-allowed-names", "[\"front-proxy-client\"]");
  data.Set("requestheader-username-headers", "[\"X-Remote-User\"]");
  data.Set("requestheader-group-headers", "[\"X-Remote-Group\"]");
  data.Set("requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]");
  data.Set("requestheader-uid-headers", "null");
  cm.Set("data", std::move(data));
  AuthenticationSource source;
  ASSERT_TRUE(ApplyAuthenticationConfigMap(cm, true, true, &source).ok());
  ASSERT_TRUE(source.client_ca());
  EXPECT_EQ(source.client_ca()->pem(), client_ca.ca_pem());
  auto rh = source.request_header();
  ASSERT_TRUE(rh);
  EXPECT_EQ(rh->allowed_names, (std::vector<std::string>{"front-proxy-client"}));
  EXPECT_EQ(rh->uid_headers, (std::vector<std::string>{"X-Remote-Uid"}));  // null: the default

  // The client certificate check reads the ConfigMap's CA.
  DynamicClientCertAuthenticator certs(&source);
  auto leaf = ParseCert(client_ca.Issue("carol", {}, {}, false, "team").cert_pem);
  AuthRequest request;
  request.peer_leaf = leaf.get();
  AuthResult r = certs.Authenticate(request);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "carol");
  EXPECT_EQ(r.user.groups, (std::vector<std::string>{"team", "system:authenticated"}));

  // Flags given: the ConfigMap does not touch what they set.
  AuthenticationSource flags_only;
  ASSERT_TRUE(ApplyAuthenticationConfigMap(cm, false, false, &flags_only).ok());
  EXPECT_FALSE(flags_only.client_ca());
  EXPECT_FALSE(flags_only.request_header());

  json::Value bad = cm;
  bad["data"].Set("requestheader-allowed-names", "{not json");
  EXPECT_FALSE(ApplyAuthenticationConfigMap(bad, true, true, &source).ok());
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  Clock clock() {
    return [this] { return now; };
  }
};

TEST(TtlCacheTest, ExpiresAndStaysBounded) {
  FakeClock t;
  TtlCache<int> cache(2, t.clock());
  cache.Put("a", 1, std::chrono::seconds(10));
  t.now += std::chrono::seconds(9);
  EXPECT_EQ(cache.Get("a"), 1);
  t.now += std::chrono::seconds(1);
  EXPECT_EQ(cache.Get("a"), std::nullopt);
  cache.Put("a", 1, std::chrono::seconds(10));
  cache.Put("b", 2, std::chrono::seconds(10));
  cache.Put("c", 3, std::chrono::seconds(10));
  EXPECT_LE(cache.size(), 2u);
  EXPECT_EQ(cache.Get("c"), 3);
  cache.Put("d", 4, std::chrono::seconds(0));  // TTL 0: not cached
  EXPECT_EQ(cache.Get("d"), std::nullopt);
}

// Records what was POSTed and answers from a script.
class FakeReviewClient : public ReviewClient {
 public:
  StatusOr<json::Value> Create(const std::string& path, const json::Value& review) const override {
    paths.push_back(path);
    bodies.push_back(json::Serialize(review));
    if (!next.ok()) return next.status();
    return *next;
  }
  mutable std::vector<std::string> paths, bodies;
  StatusOr<json::Value> next = json::Value::MakeObject();
};

json::Value MustParse(const std::string& text) {
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}

TEST(TokenReviewTest, RequestShapeResultAndCache) {
  FakeReviewClient client;
  client.next =
      MustParse(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{
      "authenticated":true,"user":{"username":"system:serviceaccount:csdr:bot","uid":"42",
      "groups":["system:serviceaccounts","system:authenticated"],"extra":{"k":["v"]}}}})");
  FakeClock t;
  TokenReviewOptions options;
  options.clock = t.clock();
  TokenReviewAuthenticator authn(&client, options);
  Headers headers{{"authorization", "Bearer tok-123"}};
  AuthRequest request;
  request.headers = &headers;

  AuthResult r = authn.Authenticate(request);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "system:serviceaccount:csdr:bot");
  EXPECT_EQ(r.user.uid, "42");
  EXPECT_EQ(r.user.groups,
            (std::vector<std::string>{"system:serviceaccounts", "system:authenticated"}));
  EXPECT_EQ(r.user.extra["k"], (std::vector<std::string>{"v"}));
  ASSERT_EQ(client.bodies.size(), 1u);
  EXPECT_EQ(client.paths[0], "/apis/authentication.k8s.io/v1/tokenreviews");
  EXPECT_EQ(
      client.bodies[0],
      R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"tok-123"}})");

  t.now += std::chrono::seconds(9);
  EXPECT_EQ(authn.Authenticate(request).user.name, "system:serviceaccount:csdr:bot");
  EXPECT_EQ(client.bodies.size(), 1u);  // cached
  t.now += std::chrono::seconds(1);
  client.next = MustParse(R"({"status":{"authenticated":false,"error":"token expired"}})");
  r = authn.Authenticate(request);
  EXPECT_EQ(client.bodies.size(), 2u);  // expired after 10 s
  EXPECT_EQ(r.outcome, AuthOutcome::kRejected);
  EXPECT_NE(r.reason.find("token expired"), std::string::npos);
  EXPECT_EQ(r.reason.find("tok-123"), std::string::npos);  // never the token

  // A review that could not be made is not cached.
  Headers other{{"Authorization", "Bearer other"}};
  request.headers = &other;
  client.next = Status(Code::kUnavailable, "down");
  EXPECT_EQ(authn.Authenticate(request).outcome, AuthOutcome::kRejected);
  client.next = MustParse(R"({"status":{"authenticated":true,"user":{"username":"x"}}})");
  r = authn.Authenticate(request);
  EXPECT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.user.groups, (std::vector<std::string>{"system:authenticated"}));

  Headers none{{"Authorization", "Basic abc"}};
  request.headers = &none;
  EXPECT_EQ(authn.Authenticate(request).outcome, AuthOutcome::kNoOpinion);
}

TEST(SubjectAccessReviewTest, RequestShape) {
  UserInfo user{"alice", "", {"dev", "system:authenticated"}, {{"scopes", {"a"}}}};
  AuthzAttributes a;
  a.user = &user;
  a.verb = "create";
  a.is_resource_request = true;
  a.api_group = "csdr.io";
  a.api_version = "v1alpha1";
  a.namespace_ = "csdr";
  a.resource = "backupvaults";
  a.subresource = "status";
  a.name = "v1";
  EXPECT_EQ(
      json::Serialize(SubjectAccessReviewFor(a)),
      R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{)"
      R"("resourceAttributes":{"namespace":"csdr","verb":"create","group":"csdr.io","version":"v1alpha1",)"
      R"("resource":"backupvaults","subresource":"status","name":"v1"},)"
      R"("user":"alice","groups":["dev","system:authenticated"],"extra":{"scopes":["a"]}}})");
  AuthzAttributes n;
  n.user = &user;
  n.verb = "get";
  n.path = "/metrics";
  EXPECT_EQ(json::Serialize(SubjectAccessReviewFor(n)),
            R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{)"
            R"("nonResourceAttributes":{"path":"/metrics","verb":"get"},)"
            R"("user":"alice","groups":["dev","system:authenticated"],"extra":{"scopes":["a"]}}})");
}

TEST(DelegatingAuthorizerTest, LocalPolicyThenReviewsWithCaches) {
  FakeReviewClient client;
  FakeClock t;
  DelegatingAuthorizerOptions options;
  options.clock = t.clock();
  options.authorized_ttl = std::chrono::seconds(10);
  options.unauthorized_ttl = std::chrono::seconds(5);
  DelegatingAuthorizer authz(&client, options);

  UserInfo alice{"alice", "", {"system:authenticated"}, {}};
  UserInfo admin{"admin", "", {"system:masters", "system:authenticated"}, {}};
  UserInfo no_groups{"system:anonymous-ish", "", {}, {}};
  auto resource = [](const UserInfo* u, const char* verb) {
    AuthzAttributes a;
    a.user = u;
    a.verb = verb;
    a.is_resource_request = true;
    a.api_group = "csdr.io";
    a.api_version = "v1alpha1";
    a.namespace_ = "csdr";
    a.resource = "backups";
    return a;
  };
  auto path = [](const UserInfo* u, const char* p) {
    AuthzAttributes a;
    a.user = u;
    a.verb = "get";
    a.path = p;
    return a;
  };
  std::string reason;
  struct Case {
    const char* name;
    AuthzAttributes attrs;
    AuthzDecision want;
  };
  const Case local[] = {
      {"masters", resource(&admin, "delete"), AuthzDecision::kAllow},
      {"healthz", path(&no_groups, "/healthz"), AuthzDecision::kAllow},
      {"discovery /apis", path(&alice, "/apis"), AuthzDecision::kAllow},
      {"discovery group version", path(&alice, "/apis/csdr.io/v1alpha1"), AuthzDecision::kAllow},
      {"openapi", path(&alice, "/openapi/v3/apis/csdr.io/v1alpha1"), AuthzDecision::kAllow},
      {"version", path(&alice, "/version"), AuthzDecision::kAllow},
  };
  for (const auto& c : local) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(authz.Authorize(c.attrs, &reason), c.want);
  }
  EXPECT_TRUE(client.bodies.empty());  // none of those asked kube-apiserver

  client.next = MustParse(R"({"status":{"allowed":false,"reason":"no RBAC policy matched"}})");
  AuthzAttributes create = resource(&alice, "create");
  EXPECT_NE(authz.Authorize(create, &reason), AuthzDecision::kAllow);
  EXPECT_EQ(reason, "no RBAC policy matched");
  EXPECT_EQ(client.paths.back(), "/apis/authorization.k8s.io/v1/subjectaccessreviews");
  t.now += std::chrono::seconds(4);
  EXPECT_NE(authz.Authorize(create, &reason), AuthzDecision::kAllow);
  EXPECT_EQ(client.bodies.size(), 1u);  // deny cached for 5 s
  t.now += std::chrono::seconds(1);
  client.next = MustParse(R"({"status":{"allowed":true}})");
  EXPECT_EQ(authz.Authorize(create, &reason), AuthzDecision::kAllow);
  EXPECT_EQ(client.bodies.size(), 2u);
  t.now += std::chrono::seconds(9);
  EXPECT_EQ(authz.Authorize(create, &reason), AuthzDecision::kAllow);
  EXPECT_EQ(client.bodies.size(), 2u);  // allow cached for 10 s
  t.now += std::chrono::seconds(1);
  client.next = MustParse(R"({"status":{"allowed":true,"denied":true}})");
  EXPECT_NE(authz.Authorize(create, &reason), AuthzDecision::kAllow);  // both: deny
  EXPECT_EQ(client.bodies.size(), 3u);

  // A different verb is a different question.
  client.next = MustParse(R"({"status":{"denied":true,"reason":"nope"}})");
  EXPECT_EQ(authz.Authorize(resource(&alice, "list"), &reason), AuthzDecision::kDeny);
  EXPECT_EQ(client.bodies.size(), 4u);

  // Non-resource paths outside discovery go to the review too; unreachable: not allowed.
  client.next = Status(Code::kUnavailable, "connection refused");
  EXPECT_NE(authz.Authorize(path(&alice, "/metrics"), &reason), AuthzDecision::kAllow);
  EXPECT_EQ(client.bodies.size(), 5u);
  // Discovery needs an authenticated user.
  client.next = MustParse(R"({"status":{"allowed":false}})");
  EXPECT_NE(authz.Authorize(path(&no_groups, "/apis"), &reason), AuthzDecision::kAllow);
}

TEST(ForbiddenMessageTest, KubeApiserverWording) {
  UserInfo alice{"alice", "", {}, {}};
  AuthzAttributes a;
  a.user = &alice;
  a.verb = "create";
  a.is_resource_request = true;
  a.api_group = "csdr.io";
  a.namespace_ = "csdr";
  a.resource = "backups";
  EXPECT_EQ(ForbiddenMessage(a, ""),
            "User \"alice\" cannot create resource \"backups\" in API group \"csdr.io\" in the "
            "namespace \"csdr\"");
}

TEST(PathMatchesTest, ExactAndPrefix) {
  EXPECT_TRUE(PathMatches({"/healthz", "/debug/*"}, "/debug/pprof"));
  EXPECT_TRUE(PathMatches({"/healthz"}, "/healthz"));
  EXPECT_FALSE(PathMatches({"/healthz"}, "/healthz/x"));
}

}  // namespace
}  // namespace csdr::apiserver
