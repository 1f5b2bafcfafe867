#include "test/kube/test_pki.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace csdr::kube::testing {
namespace {

// Test setup failures are programming errors: throw, and let GoogleTest report them.
void Check(bool ok, const char* what) {
  if (!ok)
    throw std::runtime_error(std::string("TestPki: ") + what + ": " + tls::TakeOpenSslErrors());
}

tls::EvpPkeyPtr NewKey() {
  tls::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EC key generation");
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  Check(ext != nullptr, "extension");
  Check(X509_add_ext(cert, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

tls::X509Ptr NewCert(EVP_PKEY* subject_key, const std::string& cn, const std::string& org,
                     X509* issuer) {
  static long serial = 1;
  tls::X509Ptr cert(X509_new());
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!org.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  Check(X509_set_pubkey(cert.get(), subject_key) == 1, "set public key");
  return cert;
}

std::string CertPem(X509* cert) {
  tls::BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert) == 1, "write certificate");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string KeyPem(EVP_PKEY* key) {
  tls::BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write key");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

TestPki::TestPki(const std::string& ca_name) {
  ca_key_ = NewKey();
  ca_cert_ = NewCert(ca_key_.get(), ca_name, "", nullptr);
  AddExtension(ca_cert_.get(), ca_cert_.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(ca_cert_.get(), ca_cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(ca_cert_.get(), ca_cert_.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(ca_cert_.get(), ca_key_.get(), EVP_sha256()) > 0, "sign CA");
  ca_pem_ = CertPem(ca_cert_.get());
}

IssuedCert TestPki::Issue(const std::string& common_name, const std::vector<std::string>& dns,
                          const std::vector<std::string>& ips, bool server,
                          const std::string& organization) const {
  tls::EvpPkeyPtr key = NewKey();
  tls::X509Ptr cert = NewCert(key.get(), common_name, organization, ca_cert_.get());
  AddExtension(cert.get(), ca_cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), ca_cert_.get(), NID_key_usage,
               "critical,digitalSignature,keyEncipherment");
  AddExtension(cert.get(), ca_cert_.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  AddExtension(cert.get(), ca_cert_.get(), NID_authority_key_identifier, "keyid");
  std::string sans;
  for (const std::string& d : dns) sans += (sans.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const std::string& ip : ips) sans += (sans.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!sans.empty()) AddExtension(cert.get(), ca_cert_.get(), NID_subject_alt_name, sans);
  Check(X509_sign(cert.get(), ca_key_.get(), EVP_sha256()) > 0, "sign certificate");
  return {CertPem(cert.get()), KeyPem(key.get())};
}

}  // namespace csdr::kube::testing
