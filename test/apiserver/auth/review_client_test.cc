// KubeReviewClient and AuthConfigMapWatcher against a small in-process HTTPS server that plays
// kube-apiserver's two endpoints: POST of a review (echoed back with a scripted status) and GET of
// kube-system/extension-apiserver-authentication (whose content the test changes).
#include "apiserver/auth/review_client.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <mutex>
#include <thread>

#include "kube/tls.h"
#include "test/kube/test_pki.h"

namespace csdr::apiserver {
namespace {

using kube::testing::TestPki;

class FakeKube {
 public:
  explicit FakeKube(const TestPki& pki) {
    signal(SIGPIPE, SIG_IGN);
    auto serving = pki.Server();
    auto cert = kube::tls::ParseCertificates(serving.cert_pem, "serving");
    auto key = kube::tls::ParsePrivateKey(serving.key_pem, "key");
    server_ = std::make_unique<httplib::SSLServer>((*cert)[0].get(), key->get());
    server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      posted_path_ = req.path;
      posted_body_ = req.body;
      authorization_ = req.get_header_value("Authorization");
      auto review = json::Parse(req.body);
      if (!review.ok()) {
        res.status = 400;
        return;
      }
      review->Set("status", review_status_);
      res.status = 201;
      res.set_content(json::Serialize(*review), "application/json");
    });
    server_->Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++gets_;
      if (req.path !=
          "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication") {
        res.status = 404;
        return;
      }
      res.set_content(config_map_, "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeKube() {
    server_->stop();
    thread_.join();
  }

  kube::ClusterConfig Config(const std::string& ca_pem) const {
    kube::ClusterConfig c;
    c.server = "https://127.0.0.1:" + std::to_string(port_);
    c.host = "127.0.0.1";
    c.port = port_;
    c.tls_server_name = "127.0.0.1";
    c.ca_pem = ca_pem;
    c.token = "reviewer-token";
    return c;
  }

  std::mutex mu_;  // guards the fields below
  std::string posted_path_, posted_body_, authorization_, config_map_;
  json::Value review_status_ = json::Value::MakeObject();
  int gets_ = 0;

 private:
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

std::string ConfigMapJson(const std::string& proxy_ca_pem, const std::string& allowed) {
  json::Value data = json::Value::MakeObject();
  data.Set("requestheader-client-ca-file", proxy_ca_pem);
  data.Set("requestheader-allowed-names", allowed);
  json::Value cm = json::Value::MakeObject();
  cm.Set("apiVersion", "v1");
  cm.Set("kind", "ConfigMap");
  cm.Set("data", std::move(data));
  return json::Serialize(cm);
}

TEST(KubeReviewClientTest, PostsTheReviewWithTheTokenAndReturnsTheAnswer) {
  TestPki pki;
  FakeKube kube(pki);
  kube.review_status_.Set("allowed", true);
  auto client = KubeReviewClient::Create(kube.Config(pki.ca_pem()));
  ASSERT_TRUE(client.ok()) << client.status().message();
  json::Value review = json::Value::MakeObject();
  review.Set("kind", "SubjectAccessReview");
  auto answer = (*client)->Create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_TRUE(answer->FindPath({"status", "allowed"})->as_bool());
  std::lock_guard<std::mutex> lock(kube.mu_);
  EXPECT_EQ(kube.posted_path_, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
  EXPECT_EQ(kube.posted_body_, R"({"kind":"SubjectAccessReview"})");
  EXPECT_EQ(kube.authorization_, "Bearer reviewer-token");
}

TEST(KubeReviewClientTest, UntrustedServerIsUnavailable) {
  TestPki pki, other("other-ca");
  FakeKube kube(pki);
  auto client = KubeReviewClient::Create(kube.Config(other.ca_pem()));
  ASSERT_TRUE(client.ok());
  auto answer =
      (*client)->Create("/apis/authentication.k8s.io/v1/tokenreviews", json::Value::MakeObject());
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), Code::kUnavailable);
  EXPECT_EQ(answer.status().message().find("reviewer-token"), std::string::npos);
}

TEST(AuthConfigMapWatcherTest, ReadsAtStartAndFollowsChanges) {
  TestPki pki, proxy_ca("front-proxy-ca");
  FakeKube kube(pki);
  {
    std::lock_guard<std::mutex> lock(kube.mu_);
    kube.config_map_ = ConfigMapJson(proxy_ca.ca_pem(), R"(["front-proxy-client"])");
  }
  auto kube_client = kube::KubeClient::Create(kube.Config(pki.ca_pem()));
  ASSERT_TRUE(kube_client.ok()) << kube_client.status().message();
  AuthenticationSource source;
  AuthConfigMapWatcher watcher(std::move(*kube_client), true, true, &source,
                               std::chrono::seconds(1));
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(source.request_header());
  EXPECT_EQ(source.request_header()->allowed_names,
            (std::vector<std::string>{"front-proxy-client"}));
  EXPECT_FALSE(source.client_ca());  // the ConfigMap has none

  {
    std::lock_guard<std::mutex> lock(kube.mu_);
    kube.config_map_ = ConfigMapJson(proxy_ca.ca_pem(), R"(["aggregator"])");
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (source.request_header()->allowed_names != std::vector<std::string>{"aggregator"} &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(source.request_header()->allowed_names, (std::vector<std::string>{"aggregator"}));

  // A broken ConfigMap keeps the last good configuration.
  {
    std::lock_guard<std::mutex> lock(kube.mu_);
    kube.config_map_ = ConfigMapJson(proxy_ca.ca_pem(), "{broken");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(source.request_header()->allowed_names, (std::vector<std::string>{"aggregator"}));
  watcher.Stop();
}

}  // namespace
}  // namespace csdr::apiserver
