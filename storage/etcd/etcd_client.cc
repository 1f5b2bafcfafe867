#include "storage/etcd/etcd_client.h"

#include <chrono>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace csdr::storage::etcd {
namespace {

StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kUnavailable, std::string("cannot read ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "http://host:port" -> ("host:port", false); "https://..." -> (..., true).
StatusOr<std::pair<std::string, bool>> SplitUrl(const std::string& url) {
  bool tls = false;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    tls = true;
  } else {
    return Status(Code::kBadRequest,
                  "etcd server \"" + url + "\" is not an http:// or https:// URL");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return Status(Code::kBadRequest, "etcd server \"" + url + "\" must be scheme://host:port");
  }
  return std::make_pair(rest, tls);
}

// Errors that say the request never reached etcd's apply path: safe to send elsewhere.
bool NotApplied(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    const std::string& m = s.error_message();
    // The connection could not be made, or etcd refused before proposing.
    return m.find("failed to connect") != std::string::npos ||
           m.find("Connection refused") != std::string::npos ||
           m.find("connections to all backends failing") != std::string::npos ||
           m.find("no leader") != std::string::npos || m.find("not capable") != std::string::npos;
  }
  return false;
}

bool Retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

Status FromGrpc(const grpc::Status& status, const std::string& endpoint) {
  const std::string what = "etcd " + endpoint + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OUT_OF_RANGE:
      // etcd's ErrCompacted and ErrFutureRev are both OutOfRange.
      if (status.error_message().find("compacted") != std::string::npos) {
        return Status(Code::kExpired, what);
      }
      return Status(Code::kTimeout, what);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Status(Code::kInternal, what);
    default:
      return Status(Code::kUnavailable, what);
  }
}

StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Connect(const EtcdConfig& config) {
  if (config.servers.empty()) return Status(Code::kBadRequest, "no etcd servers given");
  std::unique_ptr<EtcdClient> client(new EtcdClient(config));
  std::shared_ptr<grpc::ChannelCredentials> tls_creds;
  for (const std::string& url : config.servers) {
    auto split = SplitUrl(url);
    if (!split.ok()) return split.status();
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (split->second) {
      if (!tls_creds) {
        grpc::SslCredentialsOptions ssl;
        if (!config.ca_file.empty()) {
          auto ca = ReadFile(config.ca_file, "--etcd-cafile");
          if (!ca.ok()) return ca.status();
          ssl.pem_root_certs = *ca;
        }
        if (!config.cert_file.empty()) {
          auto cert = ReadFile(config.cert_file, "--etcd-certfile");
          if (!cert.ok()) return cert.status();
          auto key = ReadFile(config.key_file, "--etcd-keyfile");
          if (!key.ok()) return key.status();
          ssl.pem_cert_chain = *cert;
          ssl.pem_private_key = *key;
        }
        tls_creds = grpc::SslCredentials(ssl);
      }
      creds = tls_creds;
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    // etcd's own client limits: values up to etcd's 1.5 MiB request cap, lists far larger.
    args.SetMaxReceiveMessageSize(std::numeric_limits<int>::max());
    args.SetMaxSendMessageSize(2 << 20);
    // Notice a dead peer on an idle connection (etcd's server allows pings every 5 s).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Reconnect quickly after a member restarts (the default backoff grows to 120 s). Not
    // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC takes it as the connect timeout too (20 s
    // by default), and a short one fails every connect on a loaded machine.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    // After every address failed, gRPC resolves the name again before reconnecting, at most
    // once per 30 s by default: a restarted member stayed unreachable for 10-16 s with it.
    args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 500);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    Endpoint e;
    e.url = url;
    e.channel = grpc::CreateCustomChannel(split->first, creds, args);
    e.kv = etcdserverpb::KV::NewStub(e.channel);
    e.watch = etcdserverpb::Watch::NewStub(e.channel);
    e.maintenance = etcdserverpb::Maintenance::NewStub(e.channel);
    client->endpoints_.push_back(std::move(e));
  }

  // The first endpoint to answer wins; report every failure if none does.
  const auto deadline = std::chrono::steady_clock::now() + config.dial_timeout;
  std::string errors;
  while (true) {
    errors.clear();
    for (size_t i = 0; i < client->endpoints_.size(); ++i) {
      etcdserverpb::StatusResponse status;
      Status s = client->MemberStatus(&status, static_cast<int>(i));
      if (s.ok()) {
        client->current_ = i;
        client->server_version_ = status.version();
        return client;
      }
      errors += (errors.empty() ? "" : "; ") + s.message();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status(Code::kUnavailable, "cannot reach etcd: " + errors);
}

void EtcdClient::SetDeadline(grpc::ClientContext* context,
                             std::chrono::milliseconds timeout) const {
  context->set_deadline(std::chrono::system_clock::now() +
                        (timeout.count() > 0 ? timeout : config_.request_timeout));
}

std::string EtcdClient::CurrentEndpoint() const { return endpoints_[Current()].url; }

void EtcdClient::NextEndpoint() { MoveOff(Current()); }

void EtcdClient::ResetBackoff() {
  for (Endpoint& e : endpoints_) grpc::experimental::ChannelResetConnectionBackoff(e.channel.get());
}

void EtcdClient::MoveOff(size_t failed) {
  // Only the first caller to see `failed` fail moves on; the others find it moved already.
  size_t expected = failed;
  current_.compare_exchange_strong(expected, (failed + 1) % endpoints_.size());
}

Status EtcdClient::Range(const etcdserverpb::RangeRequest& request,
                         etcdserverpb::RangeResponse* response, std::chrono::milliseconds timeout) {
  Status last;
  for (size_t attempt = 0; attempt < endpoints_.size() * 2; ++attempt) {
    const size_t i = Current();
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    grpc::Status s = endpoints_[i].kv->Range(&context, request, response);
    if (s.ok()) return Status();
    last = FromGrpc(s, endpoints_[i].url);
    // A read changes nothing: try the next member on anything transient.
    if (!Retryable(s)) return last;
    MoveOff(i);
    if (attempt + 1 == endpoints_.size())
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

Status EtcdClient::Txn(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response,
                       bool* ambiguous) {
  *ambiguous = false;
  Status last;
  for (size_t attempt = 0; attempt < endpoints_.size() * 2; ++attempt) {
    const size_t i = Current();
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = endpoints_[i].kv->Txn(&context, request, response);
    if (s.ok()) return Status();
    last = FromGrpc(s, endpoints_[i].url);
    if (!Retryable(s)) return last;
    MoveOff(i);
    if (!NotApplied(s)) {
      *ambiguous = true;
      return last;
    }
    if (attempt + 1 == endpoints_.size())
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

Status EtcdClient::Compact(int64_t revision) {
  const size_t i = Current();
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  etcdserverpb::CompactionResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status s = endpoints_[i].kv->Compact(&context, request, &response);
  if (!s.ok()) {
    // Another replica compacted past it first: not a failure.
    if (s.error_message().find("compacted") != std::string::npos) return Status();
    if (Retryable(s)) NextEndpoint();
    return FromGrpc(s, endpoints_[i].url);
  }
  return Status();
}

Status EtcdClient::MemberStatus(etcdserverpb::StatusResponse* response, int endpoint) {
  const size_t i = endpoint < 0 ? Current() : static_cast<size_t>(endpoint);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::min(config_.request_timeout, std::chrono::milliseconds(2000)));
  grpc::Status s =
      endpoints_[i].maintenance->Status(&context, etcdserverpb::StatusRequest(), response);
  if (!s.ok()) return FromGrpc(s, endpoints_[i].url);
  return Status();
}

std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
EtcdClient::OpenWatch(grpc::ClientContext* context) {
  // etcd's require-leader metadata (rpctypes.MetadataRequireLeaderKey).
  context->AddMetadata("hasleader", "true");
  return endpoints_[Current()].watch->Watch(context);
}

}  // namespace csdr::storage::etcd
