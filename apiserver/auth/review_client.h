// The network side of delegated authentication and authorization: KubeReviewClient POSTs
// TokenReviews and SubjectAccessReviews to kube-apiserver, and AuthConfigMapWatcher keeps an
// AuthenticationSource in step with kube-system/extension-apiserver-authentication.
//
// Both reuse the cluster client's configuration (webhook/cluster: kubeconfig or in-cluster
// service account, TLS that trusts only the cluster CA). Request and response bodies are
// never logged: a TokenReview carries a token.
//
// Thread safety: KubeReviewClient is immutable after Create and safe for concurrent use;
// AuthConfigMapWatcher's Start/Stop are for one owner thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "apiserver/auth/delegating.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"

namespace csdr::apiserver {

// `kubeconfig` empty: the in-cluster service account when running in a pod; nullopt-like
// kNotFound when neither is available (the caller then runs standalone).
StatusOr<kube::ClusterConfig> LoadDelegationConfig(const std::string& kubeconfig, const char* flag);

class KubeReviewClient : public ReviewClient {
 public:
  static StatusOr<std::unique_ptr<KubeReviewClient>> Create(
      kube::ClusterConfig config, std::chrono::seconds timeout = std::chrono::seconds(10));
  StatusOr<json::Value> Create(const std::string& path, const json::Value& review) const override;

 private:
  KubeReviewClient(kube::ClusterConfig config, std::chrono::seconds timeout);
  const kube::ClusterConfig config_;
  const std::chrono::seconds timeout_;
  std::unique_ptr<kube::TokenSource> token_;  // internally locked
};

// Reads the ConfigMap at Start (so that the first requests already see it; an error is
// returned when it cannot be read), then re-reads it every `period` and applies changes.
// A failed re-read keeps the last good configuration and is logged.
class AuthConfigMapWatcher {
 public:
  AuthConfigMapWatcher(std::unique_ptr<kube::KubeClient> client, bool client_ca,
                       bool request_header, AuthenticationSource* source,
                       std::chrono::seconds period = std::chrono::seconds(30));
  ~AuthConfigMapWatcher();
  // The first read; then the background thread. Error: the first read failed (the thread
  // still starts and keeps trying).
  Status Start();
  void Stop();

 private:
  Status ReadOnce();
  void Loop();

  std::unique_ptr<kube::KubeClient> client_;
  const bool client_ca_, request_header_;
  AuthenticationSource* source_;  // not owned
  const std::chrono::seconds period_;
  std::mutex mu_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  kube::Cancellation cancel_;
  std::thread thread_;
};

}  // namespace csdr::apiserver
