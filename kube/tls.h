// TLS plumbing for the cluster client: RAII owners for OpenSSL handles, PEM parsing with
// errors worded for a kubeconfig user, and the client SSL_CTX setup (trust only the cluster's
// CA, check the server's name, present a client certificate from memory).
//
// Internal to csdr_cluster (the tests use it too, to build their fake API server's PKI).
//
// Thread safety: the functions share no state; a configured SSL_CTX is read-only afterwards
// except through OpenSSL's own locking.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace csdr::kube::tls {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Drains this thread's OpenSSL error queue into one line ("" when it is empty), so that an
// error from one call is not reported by the next.
std::string TakeOpenSslErrors();

// Every PEM certificate in `pem`, in order. kBadRequest naming `what` (e.g.
// "certificate-authority-data of cluster \"kind\"") when there is none or one is malformed.
StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem, std::string_view what);

// The first PEM private key in `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC). kBadRequest naming
// `what` otherwise. Encrypted keys are refused (there is nobody to type a passphrase).
StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem, std::string_view what);

// What a client connection must trust and present.
struct ClientTlsSettings {
  // PEM CA certificates the server's chain must lead to. Empty: the system's default roots
  // (what client-go does when a kubeconfig names no CA).
  std::string ca_pem;
  // The name the server's certificate must carry: a DNS name, or an IP address, which must
  // then be an IP SAN. Required unless insecure_skip_verify.
  std::string server_name;
  // PEM client certificate (leaf first, then any intermediates) and its key; both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // No verification at all: only when the operator explicitly allowed
  // insecure-skip-tls-verify. Never the default.
  bool insecure_skip_verify = false;
};

// Where the verify callback leaves the reason a handshake failed (OpenSSL's verify error,
// the depth and subject of the certificate), so that the caller can report "certificate
// verify failed: ..." instead of a bare "SSL connection failed". One per SSL_CTX; it must
// outlive the context. Written by the handshaking thread, read by the same thread after
// the handshake: no lock needed as long as one context serves one request at a time.
struct VerifyFailure {
  std::string reason;
};

// Configures a client SSL_CTX (made by cpp-httplib or by us): TLS 1.2 or later; peer
// verification in the handshake (SSL_VERIFY_PEER) against a store holding only the CA
// certificates of `settings` (or the default roots), with the host name or IP checked by
// OpenSSL's X509_VERIFY_PARAM; the client certificate, its chain and its key. `failure`
// receives the reason a verification fails. kBadRequest on unparsable PEM or a key that
// does not match its certificate; kInternal when OpenSSL refuses a setting.
Status ConfigureClientContext(SSL_CTX* ctx, const ClientTlsSettings& settings,
                              VerifyFailure* failure);

}  // namespace csdr::kube::tls
