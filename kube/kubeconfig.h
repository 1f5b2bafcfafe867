// Where the cluster is and how to authenticate to it: a kubeconfig file (--kubeconfig PATH)
// or the in-cluster service account, read the way client-go reads them.
//
// kubeconfig: the current-context's cluster gives `server` (https only),
// `certificate-authority-data` (wins over `certificate-authority`), `tls-server-name` and
// `insecure-skip-tls-verify` (refused unless the caller allows it, and never together with a
// CA, as kubectl refuses it); its user gives `client-certificate(-data)` and
// `client-key(-data)` (the -data form wins) and/or `token` / `tokenFile` (the file wins and
// is re-read as it rotates). Relative paths are relative to the kubeconfig's directory.
// `exec`, `auth-provider` and `username`/`password` users are refused with a message that
// says so: the server has no way to run a plugin or answer a prompt.
//
// In-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the service account's
// token file (re-read periodically: projected tokens rotate hourly) and its ca.crt.
//
// Errors are Status values (kBadRequest for a bad file, kNotFound for a missing one) whose
// message names the file and the field; no yaml-cpp exception escapes. Credentials (token,
// key) are never part of a message or of Describe().
//
// Thread safety: ClusterConfig is a plain value. TokenSource is safe for concurrent use.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"

namespace csdr::kube {

struct ClusterConfig {
  // The server as configured ("https://10.0.0.1:6443"), for messages.
  std::string server;
  // Parsed from `server`: host (an IPv6 address without brackets), port (443 when absent)
  // and a path prefix without trailing slash ("" or e.g. "/k8s/clusters/c-1", for API
  // servers behind a proxy that routes by path).
  std::string host;
  int port = 443;
  std::string base_path;

  // TLS. The name the server's certificate must carry: tls-server-name if set, else host.
  // (The SNI sent stays `host`, as cpp-httplib sets it.)
  std::string tls_server_name;
  std::string ca_pem;  // empty: the system's default roots
  bool insecure_skip_tls_verify = false;

  // Credentials. A client certificate (PEM, leaf first) with its key, and/or a bearer
  // token: `token_file` when set (re-read, see TokenSource), else `token`.
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;
  std::string token_file;

  // Where this came from, for logs: "kubeconfig /etc/k/config, context \"kind\"" or
  // "in-cluster service account".
  std::string source;

  // One line for logs, without credentials: server, source and the authentication used.
  std::string Describe() const;
};

struct KubeconfigOptions {
  // insecure-skip-tls-verify: true is refused unless this is set (a development cluster
  // whose CA the operator cannot get). Never default it on.
  bool allow_insecure_skip_tls_verify = false;
  // Use this context instead of current-context (kubectl's --context); empty: current.
  std::string context;
};

// Reads and parses the kubeconfig at `path`. The files it names are read now (a missing one
// is an error at startup, not at the first request); a tokenFile is read now to check it and
// again by TokenSource later.
StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path,
                                       const KubeconfigOptions& options = {});

// Parses kubeconfig text; relative file paths are resolved against `base_dir`. `origin`
// names the text in messages (the file's path).
StatusOr<ClusterConfig> ParseKubeconfig(std::string_view yaml, std::string_view base_dir,
                                        std::string_view origin,
                                        const KubeconfigOptions& options = {});

// Where in-cluster configuration comes from; the defaults are the real locations, tests
// point them elsewhere.
struct InClusterEnvironment {
  std::function<std::string(const char*)> getenv;  // unset: ::getenv
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
};

// True when KUBERNETES_SERVICE_HOST is set (we run in a pod).
bool InClusterAvailable(const InClusterEnvironment& env = {});

// The in-cluster configuration, or an error naming what is missing (the variables, the
// token or the CA file).
StatusOr<ClusterConfig> LoadInClusterConfig(const InClusterEnvironment& env = {});

// A bearer token that may come from a file which is replaced while we run (bound service
// account tokens rotate; client-go re-reads them every minute). Token() re-reads the file
// when the last read is older than `refresh_period` or Invalidate() was called (after a
// 401); a failed read keeps the last good token and is logged, once per failure streak.
class TokenSource {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // A static token (`token`) or a file; the file wins when both are set. No clock: steady_clock.
  TokenSource(std::string token, std::string token_file,
              std::chrono::seconds refresh_period = std::chrono::seconds(60),
              Clock clock = nullptr);

  // The current token ("" when there is none).
  std::string Token();
  // Forces a re-read at the next Token() (the server said 401: the token may have rotated).
  void Invalidate();

 private:
  const std::string file_;
  const std::chrono::seconds refresh_period_;
  const Clock clock_;

  std::mutex mu_;  // guards the fields below
  std::string token_;
  bool force_read_ = true;  // read at the next Token() whatever the time (start, after a 401)
  bool failing_ = false;    // the last read failed (log only the first failure of a streak)
  std::chrono::steady_clock::time_point last_read_;
};

// Reads a token file: its content with surrounding whitespace removed (as client-go does).
// kNotFound / kBadRequest (empty file) naming the path.
StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace csdr::kube
