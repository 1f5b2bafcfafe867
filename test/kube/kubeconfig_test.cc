#include "kube/kubeconfig.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "test/kube/test_pki.h"
#include "test/kube/test_util.h"

namespace csdr::kube {
namespace {

using testing::Base64;
using testing::TempDir;
using testing::TestPki;

// The token every kubeconfig below carries: it must never show up in a message.
constexpr const char* kToken = "s3cr3t-token-value";

std::string Replace(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [from, to] : values) {
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  }
  return text;
}

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = pki_.Issue("csdr-apiserver", {}, {}, false, "system:masters");
    other_key_ = pki_.Issue("other", {}, {}, false).key_pem;
    dir_.Write("ca.crt", pki_.ca_pem());
    dir_.Write("pki/client.crt", client_.cert_pem);
    dir_.Write("pki/client.key", client_.key_pem);
    dir_.Write("pki/other.key", other_key_);
    dir_.Write("token", std::string("  ") + kToken + "\n");
    dir_.Write("empty-token", "\n");
    dir_.Write("not-a-cert.crt", "hello\n");
  }

  // Fills the placeholders a case may use.
  std::string Fill(const std::string& yaml) const {
    return Replace(yaml, {{"{CA_DATA}", Base64(pki_.ca_pem())},
                          {"{CERT_DATA}", Base64(client_.cert_pem)},
                          {"{KEY_DATA}", Base64(client_.key_pem)},
                          {"{OTHER_KEY_DATA}", Base64(other_key_)},
                          {"{NOT_PEM_DATA}", Base64("hello")},
                          {"{ENCRYPTED_KEY_DATA}",
                           Base64("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED "
                                  "PRIVATE KEY-----\n")},
                          {"{TOKEN}", kToken},
                          {"{DIR}", dir_.path()}});
  }

  // Writes the kubeconfig into the temp dir and loads it from there (relative paths are
  // resolved against the file's directory, not the working directory).
  StatusOr<ClusterConfig> Load(const std::string& yaml,
                               const KubeconfigOptions& options = {}) const {
    return LoadKubeconfig(dir_.Write("config/kubeconfig", Fill(yaml)), options);
  }

  TempDir dir_;
  TestPki pki_;
  testing::IssuedCert client_;
  std::string other_key_;
};

// A complete kubeconfig with the cluster and user bodies given by the case.
std::string Kubeconfig(const std::string& cluster, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
         "contexts:\n- name: main\n  context:\n    cluster: c1\n    user: u1\n"
         "- name: other\n  context:\n    cluster: c2\n    user: u1\n"
         "clusters:\n- name: c1\n  cluster:\n" +
         cluster +
         "- name: c2\n  cluster:\n    server: https://other.example:7443\n"
         "    certificate-authority-data: {CA_DATA}\n"
         "users:\n- name: u1\n  user:\n" +
         user;
}

const char* kCluster =
    "    server: https://127.0.0.1:6443\n    certificate-authority-data: {CA_DATA}\n";
const char* kTokenUser = "    token: {TOKEN}\n";

TEST_F(KubeconfigTest, AcceptedConfigurations) {
  struct Case {
    std::string name;
    std::string yaml;
    KubeconfigOptions options;
    std::function<void(const ClusterConfig&)> check;
  };
  const std::vector<Case> cases = {
      {"inline data: CA, client certificate and key",
       Kubeconfig(kCluster,
                  "    client-certificate-data: {CERT_DATA}\n    client-key-data: {KEY_DATA}\n"),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.server, "https://127.0.0.1:6443");
         EXPECT_EQ(c.host, "127.0.0.1");
         EXPECT_EQ(c.port, 6443);
         EXPECT_EQ(c.base_path, "");
         EXPECT_EQ(c.tls_server_name, "127.0.0.1");
         EXPECT_EQ(c.ca_pem, pki_.ca_pem());
         EXPECT_EQ(c.client_cert_pem, client_.cert_pem);
         EXPECT_EQ(c.client_key_pem, client_.key_pem);
         EXPECT_EQ(c.token, "");
         EXPECT_FALSE(c.insecure_skip_tls_verify);
       }},
      {"file paths relative to the kubeconfig's directory",
       Kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority: ../ca.crt\n",
                  "    client-certificate: ../pki/client.crt\n    client-key: ../pki/client.key\n"),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.ca_pem, pki_.ca_pem());
         EXPECT_EQ(c.client_cert_pem, client_.cert_pem);
         EXPECT_EQ(c.client_key_pem, client_.key_pem);
       }},
      {"absolute file paths",
       Kubeconfig(
           "    server: https://127.0.0.1:6443\n    certificate-authority: {DIR}/ca.crt\n",
           "    client-certificate: {DIR}/pki/client.crt\n    client-key: {DIR}/pki/client.key\n"),
       {},
       [&](const ClusterConfig& c) { EXPECT_EQ(c.client_key_pem, client_.key_pem); }},
      {"-data wins over the file (the file is not even read)",
       Kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority: missing.crt\n"
                  "    certificate-authority-data: {CA_DATA}\n",
                  kTokenUser),
       {},
       [&](const ClusterConfig& c) { EXPECT_EQ(c.ca_pem, pki_.ca_pem()); }},
      {"inline token",
       Kubeconfig(kCluster, kTokenUser),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.token, kToken);
         EXPECT_EQ(c.token_file, "");
       }},
      {"tokenFile relative to the kubeconfig, next to a token",
       Kubeconfig(kCluster, "    token: stale\n    tokenFile: ../token\n"),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.token_file, dir_.path() + "/config/../token");
         TokenSource source(c.token, c.token_file);
         EXPECT_EQ(source.Token(), kToken);  // the file wins, trimmed
       }},
      {"token and client certificate together",
       Kubeconfig(kCluster,
                  "    client-certificate-data: {CERT_DATA}\n    client-key-data: {KEY_DATA}\n    "
                  "token: {TOKEN}\n"),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.token, kToken);
         EXPECT_FALSE(c.client_cert_pem.empty());
       }},
      {"--context picks another context", Kubeconfig(kCluster, kTokenUser),
       KubeconfigOptions{false, "other"},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.host, "other.example");
         EXPECT_EQ(c.port, 7443);
         EXPECT_NE(c.source.find("context \"other\""), std::string::npos) << c.source;
       }},
      {"IPv6 server",
       Kubeconfig("    server: https://[fd00::1]:6443\n    certificate-authority-data: {CA_DATA}\n",
                  kTokenUser),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.host, "fd00::1");
         EXPECT_EQ(c.port, 6443);
         EXPECT_EQ(c.tls_server_name, "fd00::1");
       }},
      {"default port and a path prefix",
       Kubeconfig("    server: https://rancher.example/k8s/clusters/c-1/\n    "
                  "certificate-authority-data: {CA_DATA}\n",
                  kTokenUser),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.host, "rancher.example");
         EXPECT_EQ(c.port, 443);
         EXPECT_EQ(c.base_path, "/k8s/clusters/c-1");
       }},
      {"tls-server-name",
       Kubeconfig("    server: https://10.0.0.1:6443\n    tls-server-name: kubernetes.default.svc\n"
                  "    certificate-authority-data: {CA_DATA}\n",
                  kTokenUser),
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.host, "10.0.0.1");
         EXPECT_EQ(c.tls_server_name, "kubernetes.default.svc");
       }},
      {"no CA: the system roots",
       Kubeconfig("    server: https://api.example.com\n", kTokenUser),
       {},
       [&](const ClusterConfig& c) { EXPECT_EQ(c.ca_pem, ""); }},
      {"insecure-skip-tls-verify when explicitly allowed",
       Kubeconfig("    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
                  kTokenUser),
       KubeconfigOptions{true, ""},
       [&](const ClusterConfig& c) { EXPECT_TRUE(c.insecure_skip_tls_verify); }},
      {"insecure-skip-tls-verify: false is fine",
       Kubeconfig(std::string(kCluster) + "    insecure-skip-tls-verify: false\n", kTokenUser),
       {},
       [&](const ClusterConfig& c) { EXPECT_FALSE(c.insecure_skip_tls_verify); }},
      {"anonymous (no user in the context)",
       "current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n"
       "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    "
       "certificate-authority-data: {CA_DATA}\n",
       {},
       [&](const ClusterConfig& c) {
         EXPECT_EQ(c.token, "");
         EXPECT_EQ(c.client_cert_pem, "");
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<ClusterConfig> config = Load(c.yaml, c.options);
    ASSERT_TRUE(config.ok()) << config.status().message();
    c.check(*config);
    EXPECT_EQ(config->Describe().find(kToken), std::string::npos) << config->Describe();
  }
}

TEST_F(KubeconfigTest, RefusedConfigurations) {
  struct Case {
    std::string name;
    std::string yaml;
    Code code;
    std::string message;  // a substring of the error
    KubeconfigOptions options = {};
  };
  const std::string key_user =
      "    client-certificate-data: {CERT_DATA}\n    client-key-data: {KEY_DATA}\n";
  const std::vector<Case> cases = {
      {"no current-context", "clusters: []\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n",
       Code::kBadRequest, "no current-context is set"},
      {"unknown context", Kubeconfig(kCluster, kTokenUser), Code::kBadRequest,
       "context \"nope\" not found", KubeconfigOptions{false, "nope"}},
      {"unknown cluster",
       "current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: gone\n    user: "
       "u\nusers: []\n",
       Code::kBadRequest, "cluster \"gone\" not found"},
      {"unknown user",
       "current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: gone\n"
       "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n",
       Code::kBadRequest, "user \"gone\" not found"},
      {"no server", Kubeconfig("    certificate-authority-data: {CA_DATA}\n", kTokenUser),
       Code::kBadRequest, "cluster \"c1\" has no server"},
      {"plain HTTP", Kubeconfig("    server: http://127.0.0.1:8080\n", kTokenUser),
       Code::kBadRequest, "is plain HTTP; the cluster is only reached over TLS"},
      {"no scheme", Kubeconfig("    server: 127.0.0.1:6443\n", kTokenUser), Code::kBadRequest,
       "is not an https:// URL"},
      {"bad port", Kubeconfig("    server: https://127.0.0.1:99999\n", kTokenUser),
       Code::kBadRequest, "has an invalid port"},
      {"user information in the URL",
       Kubeconfig("    server: https://admin@127.0.0.1:6443\n", kTokenUser), Code::kBadRequest,
       "carries user information"},
      {"insecure-skip-tls-verify without permission",
       Kubeconfig("    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
                  kTokenUser),
       Code::kBadRequest, "sets insecure-skip-tls-verify; certificate checks cannot be turned off"},
      {"insecure-skip-tls-verify with a CA",
       Kubeconfig(std::string(kCluster) + "    insecure-skip-tls-verify: true\n", kTokenUser),
       Code::kBadRequest, "a certificate authority and insecure-skip-tls-verify cannot both be set",
       KubeconfigOptions{true, ""}},
      {"proxy-url",
       Kubeconfig(std::string(kCluster) + "    proxy-url: http://proxy:3128\n", kTokenUser),
       Code::kBadRequest, "proxy-url is not supported"},
      {"CA data not base64",
       Kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority-data: '%%%'\n",
                  kTokenUser),
       Code::kBadRequest, "certificate-authority-data is not valid base64"},
      {"CA data not PEM",
       Kubeconfig(
           "    server: https://127.0.0.1:6443\n    certificate-authority-data: {NOT_PEM_DATA}\n",
           kTokenUser),
       Code::kBadRequest, "certificate-authority: no PEM certificate found"},
      {"CA file not PEM",
       Kubeconfig(
           "    server: https://127.0.0.1:6443\n    certificate-authority: ../not-a-cert.crt\n",
           kTokenUser),
       Code::kBadRequest, "no PEM certificate found"},
      {"CA file missing",
       Kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority: missing.crt\n",
                  kTokenUser),
       Code::kNotFound,
       "certificate-authority: cannot read {DIR}/config/missing.crt: No such file or directory"},
      {"client certificate without key",
       Kubeconfig(kCluster, "    client-certificate-data: {CERT_DATA}\n"), Code::kBadRequest,
       "user \"u1\" has a client-certificate but no client-key"},
      {"client key without certificate", Kubeconfig(kCluster, "    client-key-data: {KEY_DATA}\n"),
       Code::kBadRequest, "user \"u1\" has a client-key but no client-certificate"},
      {"client key of another certificate",
       Kubeconfig(
           kCluster,
           "    client-certificate-data: {CERT_DATA}\n    client-key-data: {OTHER_KEY_DATA}\n"),
       Code::kBadRequest, "client-key does not match client-certificate"},
      {"encrypted client key",
       Kubeconfig(
           kCluster,
           "    client-certificate-data: {CERT_DATA}\n    client-key-data: {ENCRYPTED_KEY_DATA}\n"),
       Code::kBadRequest, "the private key is encrypted"},
      {"client key file missing",
       Kubeconfig(kCluster,
                  "    client-certificate: ../pki/client.crt\n    client-key: ../pki/nope.key\n"),
       Code::kNotFound, "client-key: cannot read"},
      {"exec plugin",
       Kubeconfig(
           kCluster,
           "    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1\n"),
       Code::kBadRequest, "uses an exec credential plugin, which is not supported"},
      {"auth-provider", Kubeconfig(kCluster, "    auth-provider:\n      name: gcp\n"),
       Code::kBadRequest, "uses an auth-provider, which is not supported"},
      {"basic authentication", Kubeconfig(kCluster, "    username: admin\n    password: {TOKEN}\n"),
       Code::kBadRequest, "uses basic authentication"},
      {"tokenFile missing", Kubeconfig(kCluster, "    tokenFile: /nonexistent/token\n"),
       Code::kNotFound, "user \"u1\": tokenFile: token file: cannot read /nonexistent/token"},
      {"tokenFile empty", Kubeconfig(kCluster, "    tokenFile: ../empty-token\n"),
       Code::kBadRequest, "is empty"},
      {"malformed YAML",
       "current-context: main\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n  - [unclosed\n",
       Code::kBadRequest, "invalid kubeconfig: yaml-cpp: error at line"},
      {"not a mapping", "- just\n- a list\n", Code::kBadRequest,
       "not a kubeconfig (expected a YAML mapping)"},
      {"server of the wrong type", Kubeconfig("    server: [a, b]\n", kTokenUser),
       Code::kBadRequest, "invalid kubeconfig"},
      {"insecure-skip-tls-verify not a boolean",
       Kubeconfig("    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: maybe\n",
                  kTokenUser),
       Code::kBadRequest, "invalid kubeconfig"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<ClusterConfig> config = Load(c.yaml, c.options);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), c.code) << config.status().message();
    EXPECT_NE(config.status().message().find(Fill(c.message)), std::string::npos)
        << config.status().message();
    EXPECT_EQ(config.status().message().find(kToken), std::string::npos)
        << config.status().message();
    // Every message names the file it is about.
    EXPECT_EQ(config.status().message().rfind(dir_.path() + "/config/kubeconfig: ", 0), 0u)
        << config.status().message();
  }
}

TEST_F(KubeconfigTest, MissingKubeconfigFile) {
  StatusOr<ClusterConfig> config = LoadKubeconfig(dir_.path() + "/nope");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), Code::kNotFound);
  EXPECT_EQ(config.status().message(),
            "kubeconfig: cannot read " + dir_.path() + "/nope: No such file or directory");
}

TEST_F(KubeconfigTest, ParseKubeconfigResolvesAgainstTheGivenDirectory) {
  StatusOr<ClusterConfig> config = ParseKubeconfig(
      Fill(Kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority: ca.crt\n",
                      kTokenUser)),
      dir_.path(), "inline");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->ca_pem, pki_.ca_pem());
  EXPECT_EQ(config->source, "kubeconfig inline, context \"main\"");
}

TEST_F(KubeconfigTest, InClusterConfiguration) {
  const std::string token_file = dir_.Write("sa/token", std::string(kToken) + "\n");
  const std::string ca_file = dir_.Write("sa/ca.crt", pki_.ca_pem());
  struct Case {
    std::string name;
    std::map<std::string, std::string> env;
    std::string token_file;
    std::string ca_file;
    std::string error;  // "" = accepted
    std::string server;
  };
  const std::vector<Case> cases = {
      {"service environment and files",
       {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       token_file,
       ca_file,
       "",
       "https://10.96.0.1:443"},
      {"IPv6 service address",
       {{"KUBERNETES_SERVICE_HOST", "fd00:10:96::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}},
       token_file,
       ca_file,
       "",
       "https://[fd00:10:96::1]:6443"},
      {"not in a pod",
       {},
       token_file,
       ca_file,
       "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT",
       ""},
      {"no port",
       {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}},
       token_file,
       ca_file,
       "needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT",
       ""},
      {"no token",
       {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       dir_.path() + "/sa/none",
       ca_file,
       "in-cluster service account token: token file: cannot read",
       ""},
      {"no CA",
       {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       token_file,
       dir_.path() + "/sa/none.crt",
       "in-cluster CA certificate: cannot read " + dir_.path() + "/sa/none.crt",
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    InClusterEnvironment env;
    env.getenv = [&](const char* name) {
      auto it = c.env.find(name);
      return it == c.env.end() ? std::string() : it->second;
    };
    env.token_file = c.token_file;
    env.ca_file = c.ca_file;
    EXPECT_EQ(InClusterAvailable(env), c.env.count("KUBERNETES_SERVICE_HOST") != 0);
    StatusOr<ClusterConfig> config = LoadInClusterConfig(env);
    if (!c.error.empty()) {
      ASSERT_FALSE(config.ok());
      EXPECT_NE(config.status().message().find(c.error), std::string::npos)
          << config.status().message();
      continue;
    }
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_EQ(config->server, c.server);
    EXPECT_EQ(config->ca_pem, pki_.ca_pem());
    EXPECT_EQ(config->token_file, token_file);
    EXPECT_EQ(config->token, "");
    EXPECT_EQ(config->source, "in-cluster service account");
    EXPECT_EQ(config->Describe().find(kToken), std::string::npos);
  }
}

TEST_F(KubeconfigTest, TokenFileIsRereadAsItRotates) {
  const std::string path = dir_.Write("rotating", "first\n");
  auto now = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  TokenSource source("", path, std::chrono::seconds(60), [&] { return now; });
  EXPECT_EQ(source.Token(), "first");

  dir_.Write("rotating", "second\n");
  now += std::chrono::seconds(59);
  EXPECT_EQ(source.Token(), "first") << "re-read before the refresh period";
  now += std::chrono::seconds(1);
  EXPECT_EQ(source.Token(), "second");

  dir_.Write("rotating", "third\n");
  source.Invalidate();  // the server said 401
  EXPECT_EQ(source.Token(), "third") << "Invalidate forces a re-read";

  std::filesystem::remove(path);
  now += std::chrono::seconds(120);
  EXPECT_EQ(source.Token(), "third") << "a failed re-read keeps the last good token";
  dir_.Write("rotating", "fourth\n");
  now += std::chrono::seconds(60);
  EXPECT_EQ(source.Token(), "fourth");
}

TEST_F(KubeconfigTest, StaticTokenSource) {
  TokenSource source(kToken, "");
  EXPECT_EQ(source.Token(), kToken);
  source.Invalidate();
  EXPECT_EQ(source.Token(), kToken);
  TokenSource none("", "");
  EXPECT_EQ(none.Token(), "");
}

}  // namespace
}  // namespace csdr::kube
