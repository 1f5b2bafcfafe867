#include "kube/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace csdr::kube::tls {
namespace {

BioPtr MemoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// The SSL_CTX ex_data slot that points at the context's VerifyFailure.
int VerifyFailureIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string SubjectOf(X509* cert) {
  if (cert == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "";
}

// OpenSSL calls this for every certificate of the chain. We do not change its verdict; we
// only keep the first failure in words, because cpp-httplib reports any handshake failure as
// "SSL connection failed" and a user needs to know which certificate was refused and why.
int RecordVerifyFailure(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (preverify_ok == 1) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return 0;
  auto* failure =
      static_cast<VerifyFailure*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), VerifyFailureIndex()));
  if (failure != nullptr && failure->reason.empty()) {
    const int error = X509_STORE_CTX_get_error(store_ctx);
    failure->reason = std::string("certificate verify failed: ") +
                      X509_verify_cert_error_string(error) + " (depth " +
                      std::to_string(X509_STORE_CTX_get_error_depth(store_ctx));
    const std::string subject = SubjectOf(X509_STORE_CTX_get_current_cert(store_ctx));
    if (!subject.empty()) failure->reason += ", subject \"" + subject + "\"";
    failure->reason += ")";
  }
  return 0;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::string TakeOpenSslErrors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  if (!bio) return Status(Code::kInternal, "out of memory reading " + std::string(what));
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop always ends on an error; "no start line" only means the input is used up.
  const unsigned long last = ERR_peek_last_error();
  const bool at_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM &&
                                    ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
  if (!at_end) {
    return Status(Code::kBadRequest,
                  std::string(what) + ": malformed PEM certificate: " + TakeOpenSslErrors());
  }
  ERR_clear_error();
  if (certs.empty()) {
    return Status(Code::kBadRequest, std::string(what) + ": no PEM certificate found");
  }
  return certs;
}

StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem, std::string_view what) {
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return Status(Code::kBadRequest,
                  std::string(what) + ": the private key is encrypted; give an unencrypted key");
  }
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  if (!bio) return Status(Code::kInternal, "out of memory reading " + std::string(what));
  // A null password callback would prompt on the terminal for an encrypted key; this one
  // refuses instead.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    const std::string detail = TakeOpenSslErrors();
    return Status(Code::kBadRequest, std::string(what) + ": no PEM private key found" +
                                         (detail.empty() ? "" : ": " + detail));
  }
  return key;
}

Status ConfigureClientContext(SSL_CTX* ctx, const ClientTlsSettings& settings,
                              VerifyFailure* failure) {
  if (ctx == nullptr) return Status(Code::kInternal, "no TLS context: " + TakeOpenSslErrors());
  ERR_clear_error();
  // Kubernetes API servers speak TLS 1.2 and 1.3; anything older is a downgrade.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Status(Code::kInternal, "cannot require TLS 1.2: " + TakeOpenSslErrors());
  }

  if (settings.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    if (settings.server_name.empty()) {
      return Status(Code::kInternal, "no server name to verify the API server's certificate");
    }
    if (settings.ca_pem.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return Status(Code::kInternal,
                      "cannot load the system's CA certificates: " + TakeOpenSslErrors());
      }
    } else {
      // A fresh store with the cluster CA alone: a certificate from any other CA, public
      // roots included, must not pass for the cluster's API server.
      StatusOr<std::vector<X509Ptr>> cas = ParseCertificates(settings.ca_pem, "CA certificates");
      if (!cas.ok()) return cas.status();
      X509StorePtr store(X509_STORE_new());
      if (!store) return Status(Code::kInternal, "out of memory building the CA store");
      for (const X509Ptr& ca : *cas) {
        if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
          return Status(Code::kInternal, "cannot add a CA certificate: " + TakeOpenSslErrors());
        }
      }
      SSL_CTX_set_cert_store(ctx, store.release());  // the context owns it from here
    }
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    // An IP address must match an IP SAN exactly (not a DNS SAN spelling the same digits),
    // as Go's crypto/tls does; a DNS name matches DNS SANs, wildcards only whole labels.
    int set = 0;
    if (IsIpAddress(settings.server_name)) {
      set = X509_VERIFY_PARAM_set1_ip_asc(param, settings.server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      set = X509_VERIFY_PARAM_set1_host(param, settings.server_name.c_str(),
                                        settings.server_name.size());
    }
    if (set != 1) {
      return Status(Code::kInternal, "cannot set the expected server name \"" +
                                         settings.server_name + "\": " + TakeOpenSslErrors());
    }
    if (failure != nullptr) SSL_CTX_set_ex_data(ctx, VerifyFailureIndex(), failure);
    // Verification happens inside the handshake and a failure aborts it.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, RecordVerifyFailure);
  }

  if (settings.client_cert_pem.empty() != settings.client_key_pem.empty()) {
    return Status(Code::kBadRequest,
                  "a client certificate needs its key and a key its certificate");
  }
  if (!settings.client_cert_pem.empty()) {
    StatusOr<std::vector<X509Ptr>> chain =
        ParseCertificates(settings.client_cert_pem, "client certificate");
    if (!chain.ok()) return chain.status();
    StatusOr<EvpPkeyPtr> key = ParsePrivateKey(settings.client_key_pem, "client key");
    if (!key.ok()) return key.status();
    // SSL_CTX_use_* and add1 take their own references; ours are freed on return.
    if (SSL_CTX_use_certificate(ctx, (*chain)[0].get()) != 1) {
      return Status(Code::kBadRequest, "client certificate refused: " + TakeOpenSslErrors());
    }
    for (size_t i = 1; i < chain->size(); ++i) {
      if (SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get()) != 1) {
        return Status(Code::kInternal,
                      "cannot add an intermediate client certificate: " + TakeOpenSslErrors());
      }
    }
    if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      TakeOpenSslErrors();
      return Status(Code::kBadRequest, "the client key does not match the client certificate");
    }
  }
  return Status::Ok();
}

}  // namespace csdr::kube::tls
