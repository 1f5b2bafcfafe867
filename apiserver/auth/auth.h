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

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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
// certificate chain); headers are the request's, multi-valued, with names as the client
// spelled them (compare them case-insensitively). Tests, which have no TLS session, set
// `peer_leaf` and `peer_chain` instead of `ssl` (neither owned).
struct AuthRequest {
  const SSL* ssl = nullptr;
  const std::multimap<std::string, std::string>* headers = nullptr;
  X509* peer_leaf = nullptr;
  STACK_OF(X509) * peer_chain = nullptr;
};

// The peer's leaf certificate and the rest of its chain: from `ssl` when set, else the
// test fields. leaf is null when the client sent no certificate.
struct PeerCertificates {
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;
};
PeerCertificates PeerOf(const AuthRequest& request);

// Verifies `peer` for client authentication (ExtKeyUsageClientAuth) against `store`; the
// chain's other certificates serve as intermediates. Empty on success, else the reason
// ("x509: certificate signed by unknown authority ...").
std::string VerifyClientCertificate(X509_STORE* store, const PeerCertificates& peer);

// The subject's values for `nid` (NID_commonName, NID_organizationName), in order.
std::vector<std::string> SubjectEntries(X509* cert, int nid);

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

// An immutable set of CA certificates for client verification.
class CaBundle {
 public:
  // kBadRequest naming `what` when `pem` holds no certificate or a malformed one (a PEM
  // block cut short, as a half-written file has, is malformed).
  static StatusOr<std::shared_ptr<const CaBundle>> FromPem(std::string_view pem,
                                                           std::string_view what);
  ~CaBundle();
  CaBundle(const CaBundle&) = delete;
  CaBundle& operator=(const CaBundle&) = delete;

  X509_STORE* store() const { return store_; }
  const std::string& pem() const { return pem_; }
  // Unique for the life of the process: tells a verdict cached against this bundle from one
  // cached against a bundle it replaced (whose address may be reused).
  uint64_t id() const { return id_; }

 private:
  CaBundle(X509_STORE* store, std::string pem);
  X509_STORE* store_;  // owned; verification against it is thread-safe
  std::string pem_;
  uint64_t id_;
};

// Trusts a client certificate chain that verifies against a CA bundle for client
// authentication: user = subject CN, groups = subject O values. The bundle can be replaced
// at any time (the --client-ca-file reloader does when the file changes); each request
// verifies against the bundle that was current when it started.
class X509Authenticator : public Authenticator {
 public:
  explicit X509Authenticator(std::shared_ptr<const CaBundle> ca) : ca_(std::move(ca)) {}
  // Loads the PEM bundle; error when unreadable, malformed or holding no certificate.
  static StatusOr<std::unique_ptr<X509Authenticator>> FromFile(const std::string& ca_file);
  AuthResult Authenticate(const AuthRequest& request) const override;

  // Thread-safe; `ca` must not be null.
  void SetCa(std::shared_ptr<const CaBundle> ca);
  std::shared_ptr<const CaBundle> ca() const;

 private:
  mutable std::mutex mu_;  // guards ca_ (the bundle itself is immutable)
  std::shared_ptr<const CaBundle> ca_;
};

// The client-certificate check shared by X509Authenticator and the ConfigMap's client CA:
// no certificate is no opinion, a chain that does not verify is rejected, else user = CN,
// groups = O values plus system:authenticated.
AuthResult AuthenticateClientCertificate(X509_STORE* store, const PeerCertificates& peer);
// The same for a request, with the verification cached on its TLS connection (below).
AuthResult AuthenticateClientCertificate(const CaBundle& ca, const AuthRequest& request);
// User and groups of a leaf whose verification ended with `error` ("" when it verified).
AuthResult UserOfVerifiedCertificate(X509* leaf, const std::string& error);

// VerifyClientCertificate for a request's peer against `ca`, cached on the TLS connection: the
// peer's certificate cannot change on a connection (renegotiation is off), so a keep-alive
// connection verifies its chain once per CA bundle instead of once per request (chain
// verification was the largest single cost of a create). A replaced bundle has a new id, so
// a rotated CA is checked afresh. Without a connection (tests), no cache.
std::string VerifyClientCertificate(const CaBundle& ca, const AuthRequest& request);

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
  virtual AuthzDecision Authorize(const AuthzAttributes& attributes, std::string* reason) const = 0;
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
