// TestPki: a throwaway certificate authority for the cluster client's tests, made in memory
// with OpenSSL (no openssl CLI, no files unless a test writes them): a CA, a server
// certificate for 127.0.0.1 and localhost, and client certificates. ECDSA P-256, valid from
// an hour ago for a day.
//
// Thread safety: none; build it in the test's setup.
#pragma once

#include <string>
#include <vector>

#include "kube/tls.h"

namespace csdr::kube::testing {

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

class TestPki {
 public:
  // A fresh CA whose subject CN is `ca_name`.
  explicit TestPki(const std::string& ca_name = "csdr-test-ca");

  const std::string& ca_pem() const { return ca_pem_; }

  // A certificate signed by this CA. `dns` and `ips` become subjectAltNames; `server`
  // selects the serverAuth extended key usage, else clientAuth. `organization` sets O
  // (Kubernetes reads groups from it).
  IssuedCert Issue(const std::string& common_name, const std::vector<std::string>& dns,
                   const std::vector<std::string>& ips, bool server,
                   const std::string& organization = "") const;

  // The usual server certificate: SANs DNS:localhost and IP:127.0.0.1.
  IssuedCert Server() const { return Issue("kube-apiserver", {"localhost"}, {"127.0.0.1"}, true); }

  X509* ca_cert() const { return ca_cert_.get(); }

 private:
  tls::X509Ptr ca_cert_;
  tls::EvpPkeyPtr ca_key_;
  std::string ca_pem_;
};

}  // namespace csdr::kube::testing
