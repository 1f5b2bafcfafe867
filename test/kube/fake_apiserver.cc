#include "test/kube/fake_apiserver.h"

#include <httplib.h>
#include <openssl/x509.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace csdr::kube::testing {
namespace {

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  json::Value status = json::Value::MakeObject();
  status.Set("kind", "Status");
  status.Set("apiVersion", "v1");
  status.Set("metadata", json::Value::MakeObject());
  status.Set("status", "Failure");
  status.Set("message", message);
  status.Set("reason", reason);
  status.Set("code", code);
  return json::Serialize(status);
}

void Fail(httplib::Response* res, int code, const std::string& reason, const std::string& message) {
  res->status = code;
  res->set_content(StatusBody(code, reason, message), "application/json");
}

std::string KeyOf(const json::Value& object) {
  const std::string ns = object.GetString({"metadata", "namespace"});
  const std::string name = object.GetString({"metadata", "name"});
  return ns.empty() ? name : ns + "/" + name;
}

std::string EventLine(const std::string& type, const json::Value& object) {
  json::Value event = json::Value::MakeObject();
  event.Set("type", type);
  event.Set("object", object);
  return json::Serialize(event);
}

std::string ExpiredLine(int64_t asked, int64_t oldest) {
  StatusOr<json::Value> parsed = json::Parse(StatusBody(
      410, "Expired",
      "too old resource version: " + std::to_string(asked) + " (" + std::to_string(oldest) + ")"));
  return EventLine("ERROR", *parsed);
}

std::string CommonNameOf(const SSL* ssl) {
  if (ssl == nullptr) return "";
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

constexpr std::string_view kContinuePrefix = "tok+/=";

}  // namespace

struct FakeApiServer::WatchState {
  size_t cursor = 0;
  uint64_t drop_generation = 0;
  uint64_t end_generation = 0;
  uint64_t expire_generation = 0;
};

FakeApiServer::FakeApiServer(Options options) : tokens_(std::move(options.tokens)) {
  // As main does: a peer that hangs up mid-TLS-write must be an EPIPE, not the end of the
  // test process (OpenSSL writes with write(), which raises SIGPIPE).
  signal(SIGPIPE, SIG_IGN);
  StatusOr<std::vector<tls::X509Ptr>> cert =
      tls::ParseCertificates(options.serving.cert_pem, "serving cert");
  StatusOr<tls::EvpPkeyPtr> key = tls::ParsePrivateKey(options.serving.key_pem, "serving key");
  if (!cert.ok() || !key.ok()) throw std::runtime_error("FakeApiServer: bad serving certificate");
  X509_STORE* client_ca = nullptr;
  if (!options.client_ca_pem.empty()) {
    StatusOr<std::vector<tls::X509Ptr>> cas =
        tls::ParseCertificates(options.client_ca_pem, "client CA");
    if (!cas.ok()) throw std::runtime_error("FakeApiServer: bad client CA");
    client_ca = X509_STORE_new();
    for (const tls::X509Ptr& ca : *cas) X509_STORE_add_cert(client_ca, ca.get());
  }
  // The server takes ownership of the store and its own references to cert and key.
  server_ = std::make_unique<httplib::SSLServer>((*cert)[0].get(), key->get(), client_ca);
  if (!server_->is_valid()) throw std::runtime_error("FakeApiServer: TLS setup failed");
  // Each open watch holds a worker; the default pool of 8 is too small for five reflectors
  // plus abandoned watches.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_read_timeout(5, 0);
  const auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req, &res);
  };
  server_->Get(".*", handle);
  server_->Post(".*", handle);
  server_->Put(".*", handle);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("FakeApiServer: cannot bind");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // cpp-httplib's stop() is a no-op until the accept loop runs; a server destroyed right
  // after construction would otherwise never stop.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  thread_.join();
}

ClusterConfig FakeApiServer::Config(const std::string& ca_pem) const {
  ClusterConfig config;
  config.server = "https://127.0.0.1:" + std::to_string(port_);
  config.host = "127.0.0.1";
  config.port = port_;
  config.tls_server_name = "127.0.0.1";
  config.ca_pem = ca_pem;
  config.source = "fake API server";
  return config;
}

void FakeApiServer::AddCollection(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  collections_[path];
}

void FakeApiServer::Append(Collection* c, const std::string& type, const json::Value& object) {
  c->log.push_back({rv_, EventLine(type, object)});
  cv_.notify_all();
}

std::string FakeApiServer::Put(const std::string& path, json::Value object, bool silently) {
  std::lock_guard<std::mutex> lock(mu_);
  Collection& c = collections_[path];
  const std::string rv = std::to_string(++rv_);
  object["metadata"].Set("resourceVersion", rv);
  const std::string key = KeyOf(object);
  const bool existed = c.objects.count(key) != 0;
  c.objects[key] = object;
  if (!silently) Append(&c, existed ? "MODIFIED" : "ADDED", object);
  return rv;
}

void FakeApiServer::Remove(const std::string& path, const std::string& ns, const std::string& name,
                           bool silently) {
  std::lock_guard<std::mutex> lock(mu_);
  Collection& c = collections_[path];
  auto it = c.objects.find(ns.empty() ? name : ns + "/" + name);
  if (it == c.objects.end()) return;
  json::Value last = it->second;
  c.objects.erase(it);
  last["metadata"].Set("resourceVersion", std::to_string(++rv_));
  if (!silently) Append(&c, "DELETED", last);
}

void FakeApiServer::Bookmark(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  json::Value object = json::Value::MakeObject();
  object["metadata"].Set("resourceVersion", std::to_string(rv_));
  Append(&collections_[path], "BOOKMARK", object);
}

void FakeApiServer::SendRaw(const std::string& path, const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  collections_[path].log.push_back({rv_, line});
  cv_.notify_all();
}

void FakeApiServer::ExpireWatches(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  ++collections_[path].expire_generation;
  cv_.notify_all();
}

void FakeApiServer::EndWatches(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  ++collections_[path].end_generation;
  cv_.notify_all();
}

void FakeApiServer::DropWatches(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  ++collections_[path].drop_generation;
  cv_.notify_all();
}

void FakeApiServer::Compact() {
  std::lock_guard<std::mutex> lock(mu_);
  compacted_rv_ = rv_;
}

void FakeApiServer::SetWatch410AsHttp(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  watch_410_as_http_ = on;
}

void FakeApiServer::FailLists(const std::string& path, int code, const std::string& reason,
                              const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  Collection& c = collections_[path];
  c.fail_code = code;
  c.fail_reason = reason;
  c.fail_message = message;
}

void FakeApiServer::SetTokens(std::vector<std::string> tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = std::move(tokens);
}

void FakeApiServer::SetUnavailable(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  unavailable_ = on;
  if (on) {
    for (auto& [path, c] : collections_) ++c.drop_generation;
  }
  cv_.notify_all();
}

std::vector<FakeRequest> FakeApiServer::Requests(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = collections_.find(path);
  return it == collections_.end() ? std::vector<FakeRequest>() : it->second.requests;
}

int FakeApiServer::ListCount(const std::string& path) const {
  int n = 0;
  for (const FakeRequest& r : Requests(path)) n += r.watch ? 0 : 1;
  return n;
}

int FakeApiServer::WatchCount(const std::string& path) const {
  int n = 0;
  for (const FakeRequest& r : Requests(path)) n += r.watch ? 1 : 0;
  return n;
}

std::string FakeApiServer::CurrentResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::to_string(rv_);
}

void FakeApiServer::HandleObject(Collection* c, const std::string& name,
                                 const httplib::Request& req, httplib::Response* res) {
  auto it = std::find_if(c->objects.begin(), c->objects.end(), [&](const auto& entry) {
    return entry.second.GetString({"metadata", "name"}) == name;
  });
  if (req.method == "GET") {
    if (it == c->objects.end()) {
      Fail(res, 404, "NotFound", "\"" + name + "\" not found");
      return;
    }
    res->set_content(json::Serialize(it->second), "application/json");
    return;
  }
  StatusOr<json::Value> body = json::Parse(req.body);
  if (!body.ok() || !body->is_object()) {
    Fail(res, 400, "BadRequest", "the body is not a JSON object");
    return;
  }
  json::Value object = std::move(*body);
  if (req.method == "POST") {
    const std::string key = KeyOf(object);
    if (c->objects.count(key) != 0) {
      Fail(res, 409, "AlreadyExists", "\"" + key + "\" already exists");
      return;
    }
    object["metadata"].Set("resourceVersion", std::to_string(++rv_));
    c->objects[key] = object;
    Append(c, "ADDED", object);
    res->status = 201;
    res->set_content(json::Serialize(object), "application/json");
    return;
  }
  // PUT: a stale metadata.resourceVersion is a conflict, as kube-apiserver's update.
  if (it == c->objects.end()) {
    Fail(res, 404, "NotFound", "\"" + name + "\" not found");
    return;
  }
  const std::string asked = object.GetString({"metadata", "resourceVersion"});
  if (!asked.empty() && asked != it->second.GetString({"metadata", "resourceVersion"})) {
    Fail(res, 409, "Conflict",
         "Operation cannot be fulfilled: the object has been modified; please apply your "
         "changes to the latest version and try again");
    return;
  }
  object["metadata"].Set("resourceVersion", std::to_string(++rv_));
  it->second = object;
  Append(c, "MODIFIED", object);
  res->set_content(json::Serialize(object), "application/json");
}

void FakeApiServer::Handle(const httplib::Request& req, httplib::Response* res) {
  FakeRequest record;
  const std::string watch = req.get_param_value("watch");
  record.watch = watch == "true" || watch == "1";
  for (const auto& [k, v] : req.params) record.params[k] = v;
  record.authorization = req.get_header_value("Authorization");
  record.client_cn = CommonNameOf(req.ssl);

  std::unique_lock<std::mutex> lock(mu_);
  // <collection>/<name>: an object's GET or PUT.
  std::string collection_path = req.path;
  std::string object_name;
  if (req.method == "PUT" || (req.method == "GET" && collections_.count(req.path) == 0)) {
    const size_t slash = req.path.rfind('/');
    collection_path = req.path.substr(0, slash);
    object_name = req.path.substr(slash + 1);
  }
  auto found = collections_.find(collection_path);
  if (found == collections_.end()) {
    Fail(res, 404, "NotFound", "the server could not find the requested resource");
    return;
  }
  Collection& c = found->second;
  c.requests.push_back(record);
  if (unavailable_) {
    Fail(res, 503, "ServiceUnavailable", "the server is currently unable to handle the request");
    return;
  }
  if (!tokens_.empty() && std::none_of(tokens_.begin(), tokens_.end(), [&](const std::string& t) {
        return record.authorization == "Bearer " + t;
      })) {
    Fail(res, 401, "Unauthorized", "Unauthorized");
    return;
  }
  if (req.method != "GET" || !object_name.empty()) {
    HandleObject(&c, object_name, req, res);
    return;
  }

  if (!record.watch) {
    if (c.fail_code != 0) {
      Fail(res, c.fail_code, c.fail_reason, c.fail_message);
      return;
    }
    size_t start = 0;
    if (const std::string token = req.get_param_value("continue"); !token.empty()) {
      if (token.rfind(kContinuePrefix, 0) != 0) {
        Fail(res, 400, "BadRequest", "invalid continue token");
        return;
      }
      start = std::stoul(token.substr(kContinuePrefix.size()));
    }
    const std::string limit_param = req.get_param_value("limit");
    const size_t limit = limit_param.empty() ? 0 : std::stoul(limit_param);
    json::Value list = json::Value::MakeObject();
    list.Set("kind", "List");
    list.Set("apiVersion", "v1");
    json::Value items = json::Value::MakeArray();
    size_t index = 0;
    for (const auto& [key, object] : c.objects) {
      if (index++ < start) continue;
      if (limit != 0 && items.size() == limit) {
        list["metadata"].Set("continue", std::string(kContinuePrefix) + std::to_string(index - 1));
        break;
      }
      json::Value item = object;
      item.Erase("apiVersion");
      item.Erase("kind");
      items.PushBack(std::move(item));
    }
    list["metadata"].Set("resourceVersion", std::to_string(rv_));
    list.Set("items", std::move(items));
    res->set_content(json::Serialize(list), "application/json");
    return;
  }

  const std::string rv_param = req.get_param_value("resourceVersion");
  const int64_t from = rv_param.empty() ? rv_ : std::stoll(rv_param);
  auto state = std::make_shared<WatchState>();
  state->drop_generation = c.drop_generation;
  state->end_generation = c.end_generation;
  state->expire_generation = c.expire_generation;
  bool expired_at_start = from < compacted_rv_;
  if (expired_at_start && watch_410_as_http_) {
    Fail(res, 410, "Expired", "too old resource version: " + rv_param);
    return;
  }
  while (state->cursor < c.log.size() && c.log[state->cursor].rv <= from) ++state->cursor;
  const std::string path = req.path;
  const int64_t compacted = compacted_rv_;
  res->set_chunked_content_provider(
      "application/json",
      [this, path, state, expired_at_start, from, compacted](size_t, httplib::DataSink& sink) {
        if (expired_at_start) {
          const std::string line = ExpiredLine(from, compacted) + "\n";
          sink.write(line.data(), line.size());
          sink.done();
          return true;
        }
        std::unique_lock<std::mutex> lock(mu_);
        Collection& c = collections_[path];
        cv_.wait_for(lock, std::chrono::milliseconds(100), [&] {
          return stopping_ || state->cursor < c.log.size() ||
                 c.drop_generation != state->drop_generation ||
                 c.end_generation != state->end_generation ||
                 c.expire_generation != state->expire_generation;
        });
        if (stopping_ || c.drop_generation != state->drop_generation)
          return false;  // cut mid-stream
        std::string out;
        for (; state->cursor < c.log.size(); ++state->cursor)
          out += c.log[state->cursor].line + "\n";
        const bool expire = c.expire_generation != state->expire_generation;
        const bool end = c.end_generation != state->end_generation;
        const int64_t now = rv_;
        lock.unlock();
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (expire) {
          const std::string line = ExpiredLine(from, now) + "\n";
          sink.write(line.data(), line.size());
          sink.done();
        } else if (end) {
          sink.done();
        }
        return true;
      });
}

}  // namespace csdr::kube::testing
