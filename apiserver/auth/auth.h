// Authentication and authorization seams, after k8s.io/apiserver's
// authenticator.Request and authorizer.Authorizer.
//
// A request is authenticated by a chain of Authenticators (today: client certificates
// against --client-ca-file; front-proxy headers and TokenReview plug in as further
// links), then authorized by an Authorizer (today: every authenticated user in standalone
// mode; SubjectAccessReview plugs in behind the same interface).
//
// Thread safety: implementations are shared by all connection threads and must be safe for
// concurrent use.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/status.h"

namespace csdr::apiserver {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
  bool IsIn(std::string_view group) const;
};

// What an authenticator may look at. `ssl` is the connection's TLS session (peer
// certificate chain); headers are the request's, multi-valued.
struct AuthRequest {
  const SSL* ssl = nullptr;
  const std::multimap<std::string, std::string>* headers = nullptr;
};

enum class AuthOutcome { kNoOpinion, kAuthenticated, kRejected };

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::kNoOpinion;
  UserInfo user;
  std::string reason;  // why a credential was rejected (logged, not sent)
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual AuthResult Authenticate(const AuthRequest& request) const = 0;
};

// Trusts a client certificate chain that verifies against a CA bundle for client
// authentication: user = subject CN, groups = subject O values.
class X509Authenticator : public Authenticator {
 public:
  // Loads the PEM bundle; error when unreadable or holding no certificate.
  static StatusOr<std::unique_ptr<X509Authenticator>> FromFile(const std::string& ca_file);
  ~X509Authenticator() override;
  AuthResult Authenticate(const AuthRequest& request) const override;

 private:
  explicit X509Authenticator(X509_STORE* store) : store_(store) {}
  X509_STORE* store_;  // owned; X509_STORE verification is thread-safe for concurrent use
};

// Tries each authenticator in order; the first that authenticates or rejects wins.
class UnionAuthenticator : public Authenticator {
 public:
  void Add(std::unique_ptr<Authenticator> a) { chain_.push_back(std::move(a)); }
  AuthResult Authenticate(const AuthRequest& request) const override;

 private:
  std::vector<std::unique_ptr<Authenticator>> chain_;
};

// The attributes of a request that an authorizer decides on (authorizer.Attributes).
struct AuthzAttributes {
  const UserInfo* user = nullptr;
  std::string verb;
  bool is_resource_request = false;
  std::string path;
  std::string api_group, api_version, namespace_, resource, subresource, name;
};

enum class AuthzDecision { kAllow, kDeny, kNoOpinion };

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual AuthzDecision Authorize(const AuthzAttributes& attributes,
                                  std::string* reason) const = 0;
};

// Standalone mode: every authenticated user may do everything; system:masters always may.
class AuthenticatedAllowAuthorizer : public Authorizer {
 public:
  AuthzDecision Authorize(const AuthzAttributes& attributes, std::string* reason) const override;
};

// The 403 message kube-apiserver writes: `User "alice" cannot list resource "backups" in
// API group "csdr.io" in the namespace "csdr"`.
std::string ForbiddenMessage(const AuthzAttributes& attributes, const std::string& reason);

}  // namespace csdr::apiserver
