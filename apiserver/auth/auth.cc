#include "apiserver/auth/auth.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

namespace csdr::apiserver {
namespace {

struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

}  // namespace

std::vector<std::string> SubjectEntries(X509* cert, int nid) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, idx);
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) {
      out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  return out;
}

PeerCertificates PeerOf(const AuthRequest& request) {
  PeerCertificates peer;
  if (request.ssl != nullptr) {
    // The session keeps the peer certificate; the chain (for servers) excludes the leaf.
    peer.leaf = SSL_get0_peer_certificate(request.ssl);
    peer.chain = SSL_get_peer_cert_chain(request.ssl);
  } else {
    peer.leaf = request.peer_leaf;
    peer.chain = request.peer_chain;
  }
  return peer;
}

std::string VerifyClientCertificate(X509_STORE* store, const PeerCertificates& peer) {
  if (peer.leaf == nullptr) return "no client certificate";
  std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store, peer.leaf, peer.chain) != 1) {
    ERR_clear_error();
    return "cannot initialise certificate verification";
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1) {
    std::string reason =
        std::string("x509: ") + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return reason;
  }
  return "";
}

bool UserInfo::IsIn(std::string_view group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

// ---- CaBundle

StatusOr<std::shared_ptr<const CaBundle>> CaBundle::FromPem(std::string_view pem,
                                                            std::string_view what) {
  ERR_clear_error();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status(Code::kInternal, "cannot allocate a BIO");
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return Status(Code::kInternal, "cannot allocate an X509_STORE");
  std::shared_ptr<const CaBundle> bundle(new CaBundle(store, std::string(pem)));
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++count;
  }
  // The loop always ends on an error; "no start line" only means the input is used up. Any
  // other error is a damaged block: refuse the whole bundle rather than trust part of it.
  const unsigned long last = ERR_peek_last_error();
  const bool at_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM &&
                                    ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
  ERR_clear_error();
  if (!at_end) return Status(Code::kBadRequest, std::string(what) + " holds a malformed PEM block");
  if (count == 0) return Status(Code::kBadRequest, std::string(what) + " holds no PEM certificate");
  return bundle;
}

CaBundle::CaBundle(X509_STORE* store, std::string pem) : store_(store), pem_(std::move(pem)) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1);
}

CaBundle::~CaBundle() { X509_STORE_free(store_); }

// ---- X509Authenticator

StatusOr<std::unique_ptr<X509Authenticator>> X509Authenticator::FromFile(
    const std::string& ca_file) {
  std::ifstream in(ca_file, std::ios::binary);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in) return Status(Code::kBadRequest, "cannot read client CA file " + ca_file);
  auto ca = CaBundle::FromPem(pem.str(), "client CA file " + ca_file);
  if (!ca.ok()) return ca.status();
  return std::make_unique<X509Authenticator>(std::move(*ca));
}

void X509Authenticator::SetCa(std::shared_ptr<const CaBundle> ca) {
  std::lock_guard<std::mutex> lock(mu_);
  ca_ = std::move(ca);
}

std::shared_ptr<const CaBundle> X509Authenticator::ca() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ca_;
}

AuthResult X509Authenticator::Authenticate(const AuthRequest& request) const {
  std::shared_ptr<const CaBundle> ca = this->ca();  // keeps the bundle alive while verifying
  return AuthenticateClientCertificate(*ca, request);
}

namespace {

// Verdicts cached on an SSL object, one per CA bundle its peer was checked against (the X509
// authenticator's, the ConfigMap's client CA, the front-proxy CA: a few). Freed with the SSL.
struct ConnectionVerdicts {
  struct Entry {
    uint64_t bundle;
    std::string error;  // "" when the chain verified
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu;  // guards entries
  std::vector<Entry> entries;
};

// A verdict is reused for this long at most, so that an intermediate's expiry is seen on a
// long-lived connection too; the leaf's own expiry is checked on every reuse.
constexpr std::chrono::minutes kVerdictTtl{5};

void FreeVerdicts(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<ConnectionVerdicts*>(ptr);
}

int VerdictIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeVerdicts);
  return index;
}

// The verdicts of a connection, made on its first request. An HTTP/2 connection's requests
// run on several workers at once, so the slot is found under a lock (striped by connection)
// and the verdicts have their own.
ConnectionVerdicts* VerdictsOf(SSL* ssl) {
  static std::mutex stripes[16];
  std::lock_guard<std::mutex> lock(stripes[std::hash<const void*>()(ssl) % 16]);
  auto* verdicts = static_cast<ConnectionVerdicts*>(SSL_get_ex_data(ssl, VerdictIndex()));
  if (verdicts != nullptr) return verdicts;
  verdicts = new ConnectionVerdicts;
  if (SSL_set_ex_data(ssl, VerdictIndex(), verdicts) != 1) {
    delete verdicts;
    return nullptr;
  }
  return verdicts;
}

}  // namespace

std::string VerifyClientCertificate(const CaBundle& ca, const AuthRequest& request) {
  const PeerCertificates peer = PeerOf(request);
  if (request.ssl == nullptr || peer.leaf == nullptr || VerdictIndex() < 0) {
    return VerifyClientCertificate(ca.store(), peer);
  }
  ConnectionVerdicts* verdicts = VerdictsOf(const_cast<SSL*>(request.ssl));
  if (verdicts == nullptr) return VerifyClientCertificate(ca.store(), peer);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(verdicts->mu);
    for (auto it = verdicts->entries.begin(); it != verdicts->entries.end(); ++it) {
      if (it->bundle != ca.id()) continue;
      if (now - it->at < kVerdictTtl && X509_cmp_current_time(X509_get0_notAfter(peer.leaf)) > 0) {
        return it->error;
      }
      verdicts->entries.erase(it);
      break;
    }
  }
  std::string error = VerifyClientCertificate(ca.store(), peer);
  std::lock_guard<std::mutex> lock(verdicts->mu);
  if (verdicts->entries.size() >= 4) verdicts->entries.erase(verdicts->entries.begin());
  verdicts->entries.push_back({ca.id(), error, now});
  return error;
}

AuthResult AuthenticateClientCertificate(const CaBundle& ca, const AuthRequest& request) {
  const PeerCertificates peer = PeerOf(request);
  if (peer.leaf == nullptr) return AuthResult{};
  return UserOfVerifiedCertificate(peer.leaf, VerifyClientCertificate(ca, request));
}

AuthResult AuthenticateClientCertificate(X509_STORE* store, const PeerCertificates& peer) {
  if (peer.leaf == nullptr) return AuthResult{};
  return UserOfVerifiedCertificate(peer.leaf, VerifyClientCertificate(store, peer));
}

AuthResult UserOfVerifiedCertificate(X509* leaf, const std::string& error) {
  AuthResult result;
  if (!error.empty()) {
    result.outcome = AuthOutcome::kRejected;
    result.reason = error;
    return result;
  }
  std::vector<std::string> cn = SubjectEntries(leaf, NID_commonName);
  if (cn.empty() || cn.front().empty()) {
    result.outcome = AuthOutcome::kRejected;
    result.reason = "x509: certificate has no common name";
    return result;
  }
  result.outcome = AuthOutcome::kAuthenticated;
  result.user.name = cn.front();
  result.user.groups = SubjectEntries(leaf, NID_organizationName);
  result.user.groups.push_back("system:authenticated");
  return result;
}

AuthResult UnionAuthenticator::Authenticate(const AuthRequest& request) const {
  AuthResult last;
  for (const auto& a : chain_) {
    AuthResult r = a->Authenticate(request);
    if (r.outcome == AuthOutcome::kAuthenticated) return r;
    if (r.outcome == AuthOutcome::kRejected) last = r;
  }
  return last;
}

AuthzDecision AuthenticatedAllowAuthorizer::Authorize(const AuthzAttributes& attributes,
                                                      std::string* reason) const {
  if (attributes.user != nullptr && attributes.user->IsIn("system:authenticated")) {
    return AuthzDecision::kAllow;
  }
  if (reason) *reason = "";
  return AuthzDecision::kNoOpinion;
}

std::string ForbiddenMessage(const AuthzAttributes& a, const std::string& reason) {
  std::string user = a.user ? a.user->name : "system:anonymous";
  std::string msg = "User \"" + user + "\" cannot " + a.verb;
  if (a.is_resource_request) {
    std::string res = a.resource;
    if (!a.subresource.empty()) res += "/" + a.subresource;
    msg += " resource \"" + res + "\" in API group \"" + a.api_group + "\"";
    if (!a.namespace_.empty())
      msg += " in the namespace \"" + a.namespace_ + "\"";
    else
      msg += " at the cluster scope";
  } else {
    msg += " path \"" + a.path + "\"";
  }
  if (!reason.empty()) msg += ": " + reason;
  return msg;
}

}  // namespace csdr::apiserver
