#include "kube/client.h"

#include <httplib.h>

#include "kube/tls.h"

namespace csdr::kube {
namespace {

// A non-2xx body is only read to find the metav1.Status message; more than this is not one.
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;

std::string DescribeError(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::BindIPAddress:
      return "cannot bind the local address";
    case httplib::Error::Read:
      return "connection broken or read timed out";
    case httplib::Error::Write:
      return "connection broken while sending";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load CA certificates";
    case httplib::Error::SSLServerVerification:
      return "server certificate refused";
    case httplib::Error::Compression:
      return "cannot decompress the response";
    case httplib::Error::Canceled:
      return "cancelled";
    default:
      return "request failed (" + httplib::to_string(error) + ")";
  }
}

Code CodeOfHttpStatus(int status) {
  switch (status) {
    case 400:
      return Code::kBadRequest;
    case 401:
      return Code::kUnauthorized;
    case 403:
      return Code::kForbidden;
    case 404:
      return Code::kNotFound;
    case 405:
      return Code::kMethodNotAllowed;
    case 406:
      return Code::kNotAcceptable;
    case 409:
      return Code::kConflict;
    case 410:
      return Code::kExpired;
    case 413:
      return Code::kTooLarge;
    case 415:
      return Code::kUnsupportedMediaType;
    case 422:
      return Code::kInvalid;
    case 429:
      return Code::kTooManyRequests;
    case 503:
      return Code::kUnavailable;
    case 504:
      return Code::kTimeout;
    default:
      return status >= 500 ? Code::kInternal : Code::kUnavailable;
  }
}

// The error for a non-2xx answer: "GET <url>: HTTP 403 Forbidden: secrets is forbidden: ..."
// when the body is a metav1.Status, else "GET <url>: HTTP 502 (1234 bytes of text/html)".
// Only a Status's own message is quoted, never an arbitrary body.
Status ErrorFromResponse(const char* method, const std::string& url, int status,
                         const std::string& content_type, const std::string& body,
                         bool incomplete) {
  std::string message = std::string(method) + " " + url + ": HTTP " + std::to_string(status);
  std::string detail;
  Code code = CodeOfHttpStatus(status);
  if (!incomplete) {
    StatusOr<json::Value> parsed = json::Parse(body);
    if (parsed.ok() && parsed->GetString({"kind"}) == "Status") {
      const std::string reason = parsed->GetString({"reason"});
      if (!reason.empty()) message += " " + reason;
      // 409 is both a create that found the name taken and a write on a stale version.
      if (status == 409 && reason == "AlreadyExists") code = Code::kAlreadyExists;
      detail = parsed->GetString({"message"});
    }
  }
  if (!detail.empty()) {
    message += ": " + detail;
  } else if (!body.empty()) {
    message += " (" + std::to_string(body.size()) + (incomplete ? "+" : "") + " bytes of " +
               (content_type.empty() ? "unknown type" : content_type) + ")";
  }
  return Status(code, message);
}

httplib::Headers RequestHeaders(TokenSource* token) {
  httplib::Headers headers{{"Accept", "application/json"}, {"User-Agent", "csdr-apiserver"}};
  const std::string bearer = token->Token();
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  return headers;
}

}  // namespace

// ---- Cancellation ----

void Cancellation::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  // stop() only shuts the socket down (closing is left to the request's thread), which is
  // what cpp-httplib documents as safe while another thread reads from it.
  if (active_ != nullptr) active_->stop();
}

bool Cancellation::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool Cancellation::Begin(httplib::ClientImpl* client) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  active_ = client;
  return true;
}

void Cancellation::End() {
  std::lock_guard<std::mutex> lock(mu_);
  active_ = nullptr;
}

// ---- KubeClient ----

// One request's connection. `failure` is declared before `client` so that it outlives the
// SSL_CTX (owned by the client) whose verify callback writes into it.
struct KubeClient::Connection {
  tls::VerifyFailure failure;
  std::unique_ptr<httplib::SSLClient> client;
};

KubeClient::KubeClient(ClusterConfig config, ClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      token_(std::make_unique<TokenSource>(config_.token, config_.token_file,
                                           options_.token_refresh_period, options_.clock)) {}

KubeClient::~KubeClient() = default;

StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(ClusterConfig config,
                                                         ClientOptions options) {
  if (config.host.empty()) return Status(Code::kBadRequest, "cluster configuration has no server");
  std::unique_ptr<KubeClient> client(new KubeClient(std::move(config), std::move(options)));
  // Build one connection (no network I/O happens before a request) so that TLS material
  // that OpenSSL refuses is reported now.
  StatusOr<std::unique_ptr<Connection>> probe = client->Connect(client->options_.request_timeout);
  if (!probe.ok()) return probe.status();
  return client;
}

StatusOr<std::unique_ptr<KubeClient::Connection>> KubeClient::Connect(
    std::chrono::seconds read_timeout) const {
  auto conn = std::make_unique<Connection>();
  conn->client = std::make_unique<httplib::SSLClient>(config_.host, config_.port);
  tls::ClientTlsSettings settings;
  settings.ca_pem = config_.ca_pem;
  settings.server_name = config_.tls_server_name.empty() ? config_.host : config_.tls_server_name;
  settings.client_cert_pem = config_.client_cert_pem;
  settings.client_key_pem = config_.client_key_pem;
  settings.insecure_skip_verify = config_.insecure_skip_tls_verify;
  CSDR_RETURN_IF_ERROR(
      tls::ConfigureClientContext(conn->client->ssl_context(), settings, &conn->failure));
  // OpenSSL verifies the chain and the name inside the handshake (ConfigureClientContext);
  // cpp-httplib's own check, which this turns off, would add the system roots to the
  // cluster CA's store and then check the name a second time.
  conn->client->enable_server_certificate_verification(false);
  conn->client->set_follow_location(false);
  conn->client->set_keep_alive(false);
  conn->client->set_url_encode(false);  // QueryEscape already did it
  conn->client->set_connection_timeout(options_.connect_timeout);
  conn->client->set_read_timeout(read_timeout);
  conn->client->set_write_timeout(options_.write_timeout);
  return conn;
}

std::string KubeClient::Target(const std::string& path_and_query) const {
  return config_.base_path + path_and_query;
}

std::string KubeClient::Url(const std::string& path_and_query) const {
  const bool v6 = config_.host.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + config_.host + "]" : config_.host) + ":" +
         std::to_string(config_.port) + Target(path_and_query);
}

StatusOr<json::Value> KubeClient::GetJson(const std::string& path_and_query,
                                          Cancellation* cancel) const {
  const std::string url = Url(path_and_query);
  StatusOr<std::unique_ptr<Connection>> conn = Connect(options_.request_timeout);
  if (!conn.ok()) return conn.status();
  httplib::SSLClient& client = *(*conn)->client;

  int status = 0;
  std::string content_type;
  std::string body;
  bool too_large = false;
  auto success = [&] { return status >= 200 && status < 300; };
  if (cancel != nullptr && !cancel->Begin(&client)) {
    return Status(Code::kUnavailable, "GET " + url + ": cancelled");
  }
  httplib::Result result = client.Get(
      Target(path_and_query), RequestHeaders(token_.get()),
      [&](const httplib::Response& response) {
        status = response.status;
        content_type = response.get_header_value("Content-Type");
        return true;
      },
      [&](const char* data, size_t length) {
        if (cancel != nullptr && cancel->cancelled()) return false;
        const size_t limit = success() ? options_.max_response_bytes : kMaxErrorBodyBytes;
        if (body.size() + length > limit) {
          too_large = true;
          return false;
        }
        body.append(data, length);
        return true;
      });
  if (cancel != nullptr) cancel->End();

  if (cancel != nullptr && cancel->cancelled())
    return Status(Code::kUnavailable, "GET " + url + ": cancelled");
  if (status != 0 && !success()) {
    if (status == 401) token_->Invalidate();
    return ErrorFromResponse("GET", url, status, content_type, body, too_large || !result);
  }
  if (too_large) {
    return Status(Code::kTooLarge, "GET " + url + ": response larger than " +
                                       std::to_string(options_.max_response_bytes) + " bytes");
  }
  if (!result) {
    std::string why = DescribeError(result.error());
    if (!(*conn)->failure.reason.empty()) why += ": " + (*conn)->failure.reason;
    return Status(Code::kUnavailable, "GET " + url + ": " + why);
  }
  StatusOr<json::Value> parsed = json::Parse(body);
  if (!parsed.ok()) {
    // The parser's message names an offset, never the content.
    return Status(Code::kInternal, "GET " + url + ": " + parsed.status().message());
  }
  return parsed;
}

StatusOr<json::Value> KubeClient::PostJson(const std::string& path, const json::Value& body) const {
  return SendJson("POST", path, body);
}

StatusOr<json::Value> KubeClient::PutJson(const std::string& path, const json::Value& body) const {
  return SendJson("PUT", path, body);
}

StatusOr<json::Value> KubeClient::SendJson(const char* method, const std::string& path,
                                           const json::Value& body) const {
  const std::string url = Url(path);
  StatusOr<std::unique_ptr<Connection>> conn = Connect(options_.request_timeout);
  if (!conn.ok()) return conn.status();
  httplib::SSLClient& client = *(*conn)->client;
  const std::string payload = json::Serialize(body);
  const httplib::Headers headers = RequestHeaders(token_.get());
  httplib::Result result = std::string_view(method) == "PUT"
                               ? client.Put(Target(path), headers, payload, "application/json")
                               : client.Post(Target(path), headers, payload, "application/json");
  if (!result) {
    std::string why = DescribeError(result.error());
    if (!(*conn)->failure.reason.empty()) why += ": " + (*conn)->failure.reason;
    return Status(Code::kUnavailable, std::string(method) + " " + url + ": " + why);
  }
  const int status = result->status;
  if (status < 200 || status >= 300) {
    if (status == 401) token_->Invalidate();
    const bool truncated = result->body.size() > kMaxErrorBodyBytes;
    return ErrorFromResponse(method, url, status, result->get_header_value("Content-Type"),
                             truncated ? result->body.substr(0, kMaxErrorBodyBytes) : result->body,
                             truncated);
  }
  StatusOr<json::Value> parsed = json::Parse(result->body);
  if (!parsed.ok()) {
    return Status(Code::kInternal,
                  std::string(method) + " " + url + ": " + parsed.status().message());
  }
  return parsed;
}

Status KubeClient::Stream(const std::string& path_and_query, std::chrono::seconds read_timeout,
                          const LineHandler& on_line, Cancellation* cancel) const {
  const std::string url = Url(path_and_query);
  StatusOr<std::unique_ptr<Connection>> conn = Connect(read_timeout);
  if (!conn.ok()) return conn.status();
  httplib::SSLClient& client = *(*conn)->client;

  int status = 0;
  std::string content_type;
  std::string pending;  // bytes after the last newline (a partial line), or an error body
  bool handler_stopped = false;
  bool line_too_long = false;
  bool error_truncated = false;
  // Hands every complete line in `pending` to on_line and keeps the partial rest.
  auto deliver_lines = [&]() -> bool {
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (!on_line(line)) {
        handler_stopped = true;
        pending.clear();
        return false;
      }
    }
    pending.erase(0, start);
    return true;
  };
  if (cancel != nullptr && !cancel->Begin(&client)) {
    return Status(Code::kUnavailable, "GET " + url + ": cancelled");
  }
  httplib::Result result = client.Get(
      Target(path_and_query), RequestHeaders(token_.get()),
      [&](const httplib::Response& response) {
        status = response.status;
        content_type = response.get_header_value("Content-Type");
        return true;
      },
      [&](const char* data, size_t length) {
        if (cancel != nullptr && cancel->cancelled()) return false;
        if (status != 200) {
          if (pending.size() + length > kMaxErrorBodyBytes) {
            error_truncated = true;
            return false;
          }
          pending.append(data, length);
          return true;
        }
        pending.append(data, length);
        if (!deliver_lines()) return false;
        if (pending.size() > options_.max_line_bytes) {
          line_too_long = true;
          return false;
        }
        return true;
      });
  if (cancel != nullptr) cancel->End();

  if (handler_stopped) return Status::Ok();
  if (cancel != nullptr && cancel->cancelled())
    return Status(Code::kUnavailable, "GET " + url + ": cancelled");
  if (line_too_long) {
    return Status(Code::kTooLarge, "GET " + url + ": a stream line is longer than " +
                                       std::to_string(options_.max_line_bytes) + " bytes");
  }
  if (status != 0 && status != 200) {
    if (status == 401) token_->Invalidate();
    return ErrorFromResponse("GET", url, status, content_type, pending, error_truncated || !result);
  }
  if (!result) {
    std::string why = DescribeError(result.error());
    if (!(*conn)->failure.reason.empty()) why += ": " + (*conn)->failure.reason;
    return Status(Code::kUnavailable, "GET " + url + ": " + why);
  }
  // The server ended the body; a last line without its newline still counts.
  if (!pending.empty()) {
    pending.push_back('\n');
    deliver_lines();
  }
  return Status::Ok();
}

std::string QueryEscape(std::string_view value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace csdr::kube
