#include "apiserver/auth/review_client.h"

#include <glog/logging.h>
#include <httplib.h>

#include "kube/tls.h"

namespace csdr::apiserver {

StatusOr<kube::ClusterConfig> LoadDelegationConfig(const std::string& kubeconfig,
                                                   const char* flag) {
  if (!kubeconfig.empty()) {
    auto config = kube::LoadKubeconfig(kubeconfig);
    if (!config.ok())
      return Status(config.status().code(), std::string(flag) + ": " + config.status().message());
    return config;
  }
  if (kube::InClusterAvailable()) return kube::LoadInClusterConfig();
  return Status(Code::kNotFound, std::string("no ") + flag + " and not running in a cluster");
}

KubeReviewClient::KubeReviewClient(kube::ClusterConfig config, std::chrono::seconds timeout)
    : config_(std::move(config)),
      timeout_(timeout),
      token_(std::make_unique<kube::TokenSource>(config_.token, config_.token_file)) {}

StatusOr<std::unique_ptr<KubeReviewClient>> KubeReviewClient::Create(kube::ClusterConfig config,
                                                                     std::chrono::seconds timeout) {
  if (config.host.empty()) return Status(Code::kBadRequest, "cluster configuration has no server");
  return std::unique_ptr<KubeReviewClient>(new KubeReviewClient(std::move(config), timeout));
}

StatusOr<json::Value> KubeReviewClient::Create(const std::string& path,
                                               const json::Value& review) const {
  const std::string what = "POST " + config_.server + path;
  httplib::SSLClient client(config_.host, config_.port);
  kube::tls::ClientTlsSettings settings;
  settings.ca_pem = config_.ca_pem;
  settings.server_name = config_.tls_server_name.empty() ? config_.host : config_.tls_server_name;
  settings.client_cert_pem = config_.client_cert_pem;
  settings.client_key_pem = config_.client_key_pem;
  settings.insecure_skip_verify = config_.insecure_skip_tls_verify;
  kube::tls::VerifyFailure failure;
  CSDR_RETURN_IF_ERROR(kube::tls::ConfigureClientContext(client.ssl_context(), settings, &failure));
  // OpenSSL verifies chain and name in the handshake (see webhook/cluster/client.cc).
  client.enable_server_certificate_verification(false);
  client.set_follow_location(false);
  client.set_keep_alive(false);
  client.set_connection_timeout(timeout_);
  client.set_read_timeout(timeout_);
  client.set_write_timeout(timeout_);
  httplib::Headers headers{{"Accept", "application/json"}, {"User-Agent", "csdr-apiserver"}};
  const std::string bearer = token_->Token();
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  auto result =
      client.Post(config_.base_path + path, headers, json::Serialize(review), "application/json");
  if (!result) {
    std::string reason =
        failure.reason.empty() ? httplib::to_string(result.error()) : failure.reason;
    return Status(Code::kUnavailable, what + ": " + reason);
  }
  if (result->status == 401) token_->Invalidate();
  if (result->status < 200 || result->status >= 300) {
    std::string message;
    if (auto body = json::Parse(result->body); body.ok()) message = body->GetString({"message"});
    Code code = result->status == 403   ? Code::kForbidden
                : result->status == 401 ? Code::kUnauthorized
                                        : Code::kUnavailable;
    return Status(code, what + ": HTTP " + std::to_string(result->status) +
                            (message.empty() ? "" : ": " + message));
  }
  auto body = json::Parse(result->body);
  if (!body.ok()) return Status(Code::kUnavailable, what + ": response is not JSON");
  return std::move(*body);
}

AuthConfigMapWatcher::AuthConfigMapWatcher(std::unique_ptr<kube::KubeClient> client, bool client_ca,
                                           bool request_header, AuthenticationSource* source,
                                           std::chrono::seconds period)
    : client_(std::move(client)),
      client_ca_(client_ca),
      request_header_(request_header),
      source_(source),
      period_(period) {}

AuthConfigMapWatcher::~AuthConfigMapWatcher() { Stop(); }

Status AuthConfigMapWatcher::ReadOnce() {
  auto cm = client_->GetJson(
      "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication", &cancel_);
  if (!cm.ok()) return cm.status();
  return ApplyAuthenticationConfigMap(*cm, client_ca_, request_header_, source_);
}

Status AuthConfigMapWatcher::Start() {
  Status first = ReadOnce();
  thread_ = std::thread([this] { Loop(); });
  return first;
}

void AuthConfigMapWatcher::Loop() {
  bool failing = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, period_, [this] { return stopping_; })) return;
    }
    Status s = ReadOnce();
    if (!s.ok() && !failing) {
      LOG(WARNING) << "kube-system/extension-apiserver-authentication: " << s.message()
                   << " (keeping the last configuration)";
    } else if (s.ok() && failing) {
      LOG(INFO) << "kube-system/extension-apiserver-authentication read again";
    }
    failing = !s.ok();
  }
}

void AuthConfigMapWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

}  // namespace csdr::apiserver
