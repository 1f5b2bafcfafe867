#include "kube/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "test/kube/fake_apiserver.h"
#include "test/kube/test_pki.h"
#include "test/kube/test_util.h"

namespace csdr::kube {
namespace {

using testing::FakeApiServer;
using testing::TempDir;
using testing::TestPki;
using testing::WaitUntil;

constexpr const char* kNamespaces = "/api/v1/namespaces";

json::Value Namespace(const std::string& name) {
  json::Value ns = json::Value::MakeObject();
  ns.Set("apiVersion", "v1");
  ns.Set("kind", "Namespace");
  ns["metadata"].Set("name", name);
  return ns;
}

std::unique_ptr<KubeClient> MustCreate(ClusterConfig config, ClientOptions options = {}) {
  StatusOr<std::unique_ptr<KubeClient>> client =
      KubeClient::Create(std::move(config), std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().message();
  return client.ok() ? std::move(*client) : nullptr;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ =
        std::make_unique<FakeApiServer>(FakeApiServer::Options{pki_.Server(), "", {"good-token"}});
    server_->Put(kNamespaces, Namespace("csdr"));
    server_->Put(kNamespaces, Namespace("default"));
  }
  ClusterConfig Config() const {
    ClusterConfig config = server_->Config(pki_.ca_pem());
    config.token = "good-token";
    return config;
  }
  std::string Url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  TestPki pki_;
  std::unique_ptr<FakeApiServer> server_;
};

TEST_F(ClientTest, GetJsonWithBearerTokenOverVerifiedTls) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces?limit=10");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_NE(list->Find("items"), nullptr);
  EXPECT_EQ(list->Find("items")->size(), 2u);
  const std::vector<testing::FakeRequest> requests = server_->Requests(kNamespaces);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].authorization, "Bearer good-token");
  EXPECT_EQ(requests[0].params.at("limit"), "10");
}

TEST_F(ClientTest, ApiErrorsCarryTheStatusMessageAndCode) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  server_->FailLists(
      kNamespaces, 403, "Forbidden",
      "namespaces is forbidden: User \"system:serviceaccount:csdr:csdr-apiserver\" cannot list "
      "resource \"namespaces\" in API group \"\" at the cluster scope");
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces?limit=10");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kForbidden);
  EXPECT_EQ(list.status().message(), "GET " + Url("/api/v1/namespaces?limit=10") +
                                         ": HTTP 403 Forbidden: namespaces is forbidden: User "
                                         "\"system:serviceaccount:csdr:csdr-apiserver\" cannot "
                                         "list resource \"namespaces\" in API group "
                                         "\"\" at the cluster scope");

  StatusOr<json::Value> missing = client->GetJson("/api/v1/nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "GET " + Url("/api/v1/nothing") +
                ": HTTP 404 NotFound: the server could not find the requested resource");
}

TEST_F(ClientTest, WrongTokenIsUnauthorized) {
  ClusterConfig config = Config();
  config.token = "bad-token";
  auto client = MustCreate(config);
  ASSERT_NE(client, nullptr);
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kUnauthorized);
  EXPECT_TRUE(Contains(list.status().message(), "HTTP 401 Unauthorized"))
      << list.status().message();
  EXPECT_FALSE(Contains(list.status().message(), "bad-token"));
}

TEST_F(ClientTest, TokenFileIsRereadAfterA401) {
  TempDir dir;
  const std::string token_file = dir.Write("token", "old-token\n");
  ClusterConfig config = Config();
  config.token = "";
  config.token_file = token_file;
  ClientOptions options;
  options.token_refresh_period = std::chrono::hours(1);  // only the 401 can trigger the re-read
  auto client = MustCreate(config, options);
  ASSERT_NE(client, nullptr);
  server_->SetTokens({"new-token"});
  EXPECT_EQ(client->GetJson("/api/v1/namespaces").status().code(), Code::kUnauthorized);
  dir.Write("token", "new-token\n");
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces");
  EXPECT_TRUE(list.ok()) << list.status().message();
  const std::vector<testing::FakeRequest> requests = server_->Requests(kNamespaces);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].authorization, "Bearer old-token");
  EXPECT_EQ(requests[1].authorization, "Bearer new-token");
}

TEST_F(ClientTest, ClientCertificateAuthentication) {
  server_ =
      std::make_unique<FakeApiServer>(FakeApiServer::Options{pki_.Server(), pki_.ca_pem(), {}});
  server_->Put(kNamespaces, Namespace("csdr"));
  const testing::IssuedCert cert = pki_.Issue("csdr-webhook", {}, {}, false, "csdr");
  ClusterConfig config = server_->Config(pki_.ca_pem());
  config.client_cert_pem = cert.cert_pem;
  config.client_key_pem = cert.key_pem;
  auto client = MustCreate(config);
  ASSERT_NE(client, nullptr);
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces");
  ASSERT_TRUE(list.ok()) << list.status().message();
  const std::vector<testing::FakeRequest> requests = server_->Requests(kNamespaces);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].client_cn, "csdr-webhook");
  EXPECT_EQ(requests[0].authorization, "");

  // Without the certificate the server refuses the handshake.
  auto anonymous = MustCreate(server_->Config(pki_.ca_pem()));
  ASSERT_NE(anonymous, nullptr);
  StatusOr<json::Value> refused = anonymous->GetJson("/api/v1/namespaces");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  EXPECT_EQ(server_->Requests(kNamespaces).size(), 1u);
}

TEST_F(ClientTest, ServerCertificateIsVerified) {
  TestPki other("some-other-ca");
  struct Case {
    std::string name;
    testing::IssuedCert serving;  // what the server presents
    std::string trusted_ca;       // what the client trusts ("" = system roots)
    std::string server_name;      // tls-server-name ("" = the host, 127.0.0.1)
    std::string error;            // "" = accepted
  };
  const std::vector<Case> cases = {
      {"the cluster CA and an IP SAN", pki_.Server(), pki_.ca_pem(), "", ""},
      {"a certificate from another CA", other.Server(), pki_.ca_pem(), "",
       "TLS handshake failed: certificate verify failed: unable to get local issuer certificate "
       "(depth 0, subject "
       "\"CN=kube-apiserver\")"},
      {"no CA given: system roots only, which do not know the test CA", pki_.Server(), "", "",
       "certificate verify failed: unable to get local issuer certificate"},
      {"a DNS-only certificate reached by IP", pki_.Issue("api", {"localhost"}, {}, true),
       pki_.ca_pem(), "", "certificate verify failed: IP address mismatch"},
      {"a DNS-only certificate with tls-server-name", pki_.Issue("api", {"localhost"}, {}, true),
       pki_.ca_pem(), "localhost", ""},
      {"a DNS name that does not match", pki_.Issue("api", {"kubernetes.default.svc"}, {}, true),
       pki_.ca_pem(), "kubernetes.default", "certificate verify failed: hostname mismatch"},
      {"a client certificate presented as a server's", pki_.Issue("api", {}, {"127.0.0.1"}, false),
       pki_.ca_pem(), "", "certificate verify failed: unsuitable certificate purpose"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeApiServer server(FakeApiServer::Options{c.serving, "", {}});
    server.Put(kNamespaces, Namespace("csdr"));
    ClusterConfig config = server.Config(c.trusted_ca);
    if (!c.server_name.empty()) config.tls_server_name = c.server_name;
    auto client = MustCreate(config);
    ASSERT_NE(client, nullptr);
    StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces");
    if (c.error.empty()) {
      EXPECT_TRUE(list.ok()) << list.status().message();
      continue;
    }
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.status().code(), Code::kUnavailable);
    EXPECT_TRUE(Contains(list.status().message(), c.error)) << list.status().message();
    EXPECT_TRUE(server.Requests(kNamespaces).empty())
        << "nothing may be sent to an unverified server";
  }
}

TEST_F(ClientTest, InsecureSkipVerifyOnlyWhenConfigured) {
  TestPki other("some-other-ca");
  FakeApiServer server(FakeApiServer::Options{other.Server(), "", {}});
  server.Put(kNamespaces, Namespace("csdr"));
  ClusterConfig config = server.Config("");
  config.insecure_skip_tls_verify = true;
  auto client = MustCreate(config);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->GetJson("/api/v1/namespaces").ok());
}

TEST_F(ClientTest, CreateRefusesBadTlsMaterial) {
  ClusterConfig config = Config();
  config.client_cert_pem = "not a certificate";
  config.client_key_pem = pki_.Server().key_pem;
  StatusOr<std::unique_ptr<KubeClient>> client = KubeClient::Create(config);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Code::kBadRequest);
  EXPECT_EQ(client.status().message(), "client certificate: no PEM certificate found");

  config = Config();
  config.client_cert_pem = pki_.Issue("a", {}, {}, false).cert_pem;
  config.client_key_pem = pki_.Issue("b", {}, {}, false).key_pem;
  client = KubeClient::Create(config);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().message(), "the client key does not match the client certificate");
}

TEST_F(ClientTest, ConnectionRefusedIsUnavailable) {
  ClusterConfig config = Config();
  {
    FakeApiServer gone(FakeApiServer::Options{pki_.Server(), "", {}});
    config.port = gone.port();
  }
  auto client = MustCreate(config);
  ASSERT_NE(client, nullptr);
  StatusOr<json::Value> list = client->GetJson("/api/v1/namespaces");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kUnavailable);
  EXPECT_EQ(list.status().message(), "GET https://127.0.0.1:" + std::to_string(config.port) +
                                         "/api/v1/namespaces: cannot connect");
}

TEST_F(ClientTest, StreamDeliversLinesAndEndsCleanly) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  std::vector<std::string> lines;
  std::mutex mu;
  Status result;
  std::thread reader([&] {
    result = client->Stream(
        "/api/v1/namespaces?watch=true&resourceVersion=" + server_->CurrentResourceVersion(),
        std::chrono::seconds(30), [&](std::string_view line) {
          std::lock_guard<std::mutex> lock(mu);
          lines.emplace_back(line);
          return true;
        });
  });
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kNamespaces) == 1; }));
  server_->SendRaw(kNamespaces, "first");
  server_->SendRaw(kNamespaces, std::string(100'000, 'x'));  // spans many TLS records
  server_->SendRaw(kNamespaces, "third\r");
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return lines.size() == 3;
  }));
  server_->EndWatches(kNamespaces);
  reader.join();
  EXPECT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(lines[0], "first");
  EXPECT_EQ(lines[1], std::string(100'000, 'x'));
  EXPECT_EQ(lines[2], "third");
}

TEST_F(ClientTest, StreamReportsABrokenConnection) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  Status result;
  int lines = 0;
  std::thread reader([&] {
    result = client->Stream("/api/v1/namespaces?watch=true", std::chrono::seconds(30),
                            [&](std::string_view) {
                              ++lines;
                              return true;
                            });
  });
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kNamespaces) == 1; }));
  server_->DropWatches(kNamespaces);
  reader.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(result.message(), "connection broken or read timed out"))
      << result.message();
}

TEST_F(ClientTest, StreamRefusesAnOverlongLine) {
  ClientOptions options;
  options.max_line_bytes = 1000;
  auto client = MustCreate(Config(), options);
  ASSERT_NE(client, nullptr);
  Status result;
  std::thread reader([&] {
    result = client->Stream("/api/v1/namespaces?watch=true", std::chrono::seconds(30),
                            [&](std::string_view) { return true; });
  });
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kNamespaces) == 1; }));
  server_->SendRaw(kNamespaces, std::string(5000, 'y'));
  reader.join();
  EXPECT_EQ(result.code(), Code::kTooLarge) << result.message();
}

TEST_F(ClientTest, StreamErrorStatusIsDecoded) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  server_->Compact();
  server_->SetWatch410AsHttp(true);
  Status result = client->Stream("/api/v1/namespaces?watch=true&resourceVersion=1",
                                 std::chrono::seconds(30), [&](std::string_view) { return true; });
  EXPECT_EQ(result.code(), Code::kExpired);
  EXPECT_TRUE(Contains(result.message(), "HTTP 410 Expired: too old resource version: 1"))
      << result.message();
}

TEST_F(ClientTest, CancelInterruptsAQuietStream) {
  auto client = MustCreate(Config());
  ASSERT_NE(client, nullptr);
  Cancellation cancel;
  Status result;
  std::thread reader([&] {
    result = client->Stream(
        "/api/v1/namespaces?watch=true", std::chrono::seconds(300),
        [&](std::string_view) { return true; }, &cancel);
  });
  ASSERT_TRUE(WaitUntil([&] { return server_->WatchCount(kNamespaces) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the client is blocked reading
  const auto start = std::chrono::steady_clock::now();
  cancel.Cancel();
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(result.code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(result.message(), "cancelled")) << result.message();
  // A cancelled Cancellation refuses new requests at once.
  EXPECT_TRUE(
      Contains(client->GetJson("/api/v1/namespaces", &cancel).status().message(), "cancelled"));
}

TEST(QueryEscapeTest, EscapesEverythingButUnreservedCharacters) {
  EXPECT_EQ(QueryEscape("tok+/= x&y"), "tok%2B%2F%3D%20x%26y");
  EXPECT_EQ(QueryEscape("AZaz09-_.~"), "AZaz09-_.~");
}

}  // namespace
}  // namespace csdr::kube
