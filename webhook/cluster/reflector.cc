#include "webhook/cluster/reflector.h"

#include <glog/logging.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <random>

namespace csdr::webhook {
namespace {

std::string Seconds(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms < 10'000) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  return std::to_string(ms / 1000) + "s";
}

// A random generator per thread: backoff jitter and watch timeouts only.
std::minstd_rand& Random() {
  thread_local std::minstd_rand rng(std::random_device{}());
  return rng;
}

}  // namespace

// ---- ResourceSpec ----

std::string ResourceSpec::ListPath() const {
  if (namespaced && !watched_namespace.empty()) {
    return group_version_path + "/namespaces/" + watched_namespace + "/" + resource;
  }
  return group_version_path + "/" + resource;
}

std::string ResourceSpec::Description() const {
  std::string d = resource;
  if (namespaced && !watched_namespace.empty()) d += " in " + watched_namespace;
  if (!field_selector.empty()) d += " (" + field_selector + ")";
  return d;
}

ResourceSpec SecretsSpec(std::string ns) {
  ResourceSpec spec{"/api/v1", "v1", "Secret", "secrets", true, std::move(ns), nullptr};
  spec.transform = [](json::Value secret) { return SummarizeSecretObject(secret); };
  return spec;
}

ResourceSpec NamespacesSpec() {
  return {"/api/v1", "v1", "Namespace", "namespaces", false, "", nullptr};
}

ResourceSpec StorageClassesSpec() {
  return {"/apis/storage.k8s.io/v1",
          "storage.k8s.io/v1",
          "StorageClass",
          "storageclasses",
          false,
          "",
          nullptr};
}

ResourceSpec PersistentVolumeClaimsSpec() {
  return {"/api/v1", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, "", nullptr};
}

ResourceSpec ConfigMapsSpec(std::string ns) {
  return {"/api/v1", "v1", "ConfigMap", "configmaps", true, std::move(ns), nullptr};
}

namespace {

// Copies the members of `from` at the given top-level keys into `to`.
void Keep(const json::Value& from, std::initializer_list<std::string_view> keys, json::Value* to) {
  for (std::string_view k : keys) {
    if (const json::Value* v = from.Find(k); v != nullptr) to->Set(k, *v);
  }
}

json::Value ReducedMetadata(const json::Value& object) {
  json::Value meta = json::Value::MakeObject();
  if (const json::Value* m = object.Find("metadata"); m != nullptr) {
    Keep(*m, {"name", "namespace", "uid", "resourceVersion"}, &meta);
  }
  return meta;
}

}  // namespace

ResourceSpec NodesSpec() {
  ResourceSpec spec{"/api/v1", "v1", "Node", "nodes", false, "", nullptr};
  spec.transform = [](json::Value node) {
    json::Value out = json::Value::MakeObject();
    Keep(node, {"apiVersion", "kind"}, &out);
    json::Value meta = ReducedMetadata(node);
    if (const json::Value* labels = node.FindPath({"metadata", "labels"}); labels != nullptr) {
      json::Value kept = json::Value::MakeObject();
      Keep(*labels, {"topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"},
           &kept);
      meta.Set("labels", std::move(kept));
    }
    out.Set("metadata", std::move(meta));
    if (const json::Value* id = node.FindPath({"spec", "providerID"}); id != nullptr) {
      out["spec"].Set("providerID", *id);
    }
    return out;
  };
  return spec;
}

ResourceSpec SystemObjectSpec(std::string_view kind, std::string name) {
  ResourceSpec spec;
  if (kind == "ConfigMap") {
    spec = {"/api/v1", "v1", "ConfigMap", "configmaps", true, "kube-system", nullptr};
    spec.transform = [](json::Value cm) {
      json::Value out = json::Value::MakeObject();
      Keep(cm, {"apiVersion", "kind"}, &out);
      out.Set("metadata", ReducedMetadata(cm));
      json::Value data = json::Value::MakeObject();
      if (const json::Value* d = cm.Find("data"); d != nullptr) {
        Keep(*d, {"clusterid", "uid", "vpcid", "vsw-zone"}, &data);
      }
      out.Set("data", std::move(data));
      return out;
    };
  } else {
    const bool deployment = kind == "Deployment";
    spec = {"/apis/apps/v1",
            "apps/v1",
            deployment ? "Deployment" : "DaemonSet",
            deployment ? "deployments" : "daemonsets",
            true,
            "kube-system",
            nullptr};
    spec.transform = [](json::Value workload) {
      json::Value out = json::Value::MakeObject();
      Keep(workload, {"apiVersion", "kind"}, &out);
      out.Set("metadata", ReducedMetadata(workload));
      json::Value containers = json::Value::MakeArray();
      if (const json::Value* list = workload.FindPath({"spec", "template", "spec", "containers"});
          list != nullptr && list->is_array()) {
        for (const json::Value& c : list->array()) {
          json::Value kept = json::Value::MakeObject();
          Keep(c, {"name", "image"}, &kept);
          containers.PushBack(std::move(kept));
        }
      }
      out["spec"]["template"]["spec"].Set("containers", std::move(containers));
      return out;
    };
  }
  spec.field_selector = "metadata.name=" + name;
  return spec;
}

// ---- Secret summaries ----

json::Value SummarizeSecretObject(const json::Value& secret) {
  json::Value out = json::Value::MakeObject();
  out.Set("apiVersion", "v1");
  out.Set("kind", "Secret");
  json::Value metadata = json::Value::MakeObject();
  if (const json::Value* in = secret.Find("metadata"); in != nullptr && in->is_object()) {
    // Annotations are left out on purpose: kubectl.kubernetes.io/last-applied-configuration
    // holds the whole applied Secret, values included.
    for (std::string_view key : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                                 "deletionTimestamp", "labels"}) {
      if (const json::Value* v = in->Find(key); v != nullptr) metadata.Set(key, *v);
    }
  }
  out.Set("metadata", std::move(metadata));
  if (const json::Value* type = secret.Find("type"); type != nullptr) out.Set("type", *type);
  json::Value keys = json::Value::MakeObject();
  for (const auto& [key, non_empty] : SummarizeSecret(secret).keys) keys.Set(key, non_empty);
  out.Set("keys", std::move(keys));
  return out;
}

SecretFact SecretFactOfSummary(const json::Value& summary) {
  SecretFact fact;
  fact.presence = Presence::kPresent;
  if (const json::Value* keys = summary.Find("keys"); keys != nullptr && keys->is_object()) {
    for (const auto& [key, non_empty] : keys->object()) {
      fact.keys[key] = non_empty.is_bool() && non_empty.as_bool();
    }
  }
  return fact;
}

// ---- Reflector ----

Reflector::Reflector(const kube::KubeClient* client, ResourceSpec spec, ReflectorOptions options)
    : client_(client), spec_(std::move(spec)), options_(std::move(options)) {}

Reflector::~Reflector() { Stop(); }

std::chrono::steady_clock::time_point Reflector::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void Reflector::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(run_mu_);
    if (stop_requested_) return;
  }
  thread_ = std::thread([this] { Run(); });
}

void Reflector::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(run_mu_);
    stop_requested_ = true;
  }
  run_cv_.notify_all();
  cancel_.Cancel();
}

void Reflector::Stop() {
  RequestStop();
  if (!thread_.joinable()) return;
  // Cancel() interrupts a request whose socket is open; one that is still connecting when
  // the first Cancel() runs would otherwise wait out its timeout, so keep cancelling until
  // the thread is done.
  std::unique_lock<std::mutex> lock(run_mu_);
  while (!done_) {
    run_cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (!done_) {
      lock.unlock();
      cancel_.Cancel();
      lock.lock();
    }
  }
  lock.unlock();
  thread_.join();
}

bool Reflector::stopping() const {
  std::lock_guard<std::mutex> lock(run_mu_);
  return stop_requested_;
}

bool Reflector::SleepUnlessStopped(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(run_mu_);
  return !run_cv_.wait_for(lock, delay, [this] { return stop_requested_; });
}

bool Reflector::HasSynced() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return synced_;
}

bool Reflector::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(run_mu_);
  return run_cv_.wait_for(lock, timeout, [this] { return HasSynced(); });
}

std::string Reflector::UnusableReasonLocked(std::string_view ns) const {
  // A namespace outside the watched one cannot be answered, whatever the cache's state.
  if (spec_.namespaced && !spec_.watched_namespace.empty() && ns != spec_.watched_namespace) {
    return spec_.kind + "s are only watched in namespace " + spec_.watched_namespace +
           ", not in \"" + std::string(ns) + "\"";
  }
  const std::string what = "cluster cache for " + spec_.Description();
  if (!synced_) {
    return what + " has not synced" + (last_error_.empty() ? " yet" : ": " + last_error_);
  }
  if (!connected_) {
    const auto away =
        std::chrono::duration_cast<std::chrono::milliseconds>(Now() - disconnected_since_);
    if (away > options_.max_staleness) {
      return what + " is stale: no contact with the API server for " + Seconds(away) +
             (last_error_.empty() ? "" : ": " + last_error_);
    }
  }
  return "";
}

ObjectFact Reflector::Get(std::string_view ns, std::string_view name) const {
  ObjectFact fact;
  std::shared_lock<std::shared_mutex> lock(mu_);
  fact.unknown_reason = UnusableReasonLocked(ns);
  if (!fact.unknown_reason.empty()) return fact;
  const std::string key =
      spec_.namespaced ? std::string(ns) + "/" + std::string(name) : std::string(name);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    fact.presence = Presence::kAbsent;
  } else {
    fact.presence = Presence::kPresent;
    fact.object = it->second;
  }
  return fact;
}

ListFact Reflector::List(std::string_view ns) const {
  ListFact fact;
  std::shared_lock<std::shared_mutex> lock(mu_);
  // "Every namespace" of a resource watched in one namespace is that namespace.
  fact.unknown_reason =
      UnusableReasonLocked(ns.empty() ? std::string_view(spec_.watched_namespace) : ns);
  if (!fact.unknown_reason.empty()) return fact;
  fact.known = true;
  if (ns.empty() || !spec_.namespaced) {
    fact.items.reserve(objects_.size());
    for (const auto& [key, object] : objects_) fact.items.push_back(object);
    return fact;
  }
  // Keys are "ns/name" and names hold no '/': the namespace is one contiguous range.
  const std::string prefix = std::string(ns) + "/";
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.starts_with(prefix); ++it) {
    fact.items.push_back(it->second);
  }
  return fact;
}

ReflectorStatus Reflector::status() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  ReflectorStatus s;
  s.synced = synced_;
  s.connected = connected_;
  if (!connected_ && synced_) {
    s.disconnected_for =
        std::chrono::duration_cast<std::chrono::milliseconds>(Now() - disconnected_since_);
  }
  s.objects = objects_.size();
  s.resource_version = resource_version_;
  s.last_error = last_error_;
  s.lists = lists_;
  s.watches = watches_;
  s.events = events_;
  return s;
}

std::optional<std::pair<std::string, ObjectRef>> Reflector::Prepare(json::Value object) const {
  if (!object.is_object()) return std::nullopt;
  const std::string name = object.GetString({"metadata", "name"});
  if (name.empty()) return std::nullopt;
  std::string key = name;
  if (spec_.namespaced) key = object.GetString({"metadata", "namespace"}) + "/" + name;
  object.Set("apiVersion", spec_.api_version);
  object.Set("kind", spec_.kind);
  if (json::Value* metadata = object.Find("metadata"); metadata != nullptr)
    metadata->Erase("managedFields");
  if (spec_.transform) object = spec_.transform(std::move(object));
  return std::make_pair(std::move(key), std::make_shared<const json::Value>(std::move(object)));
}

void Reflector::MarkFailure(const Status& status) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (connected_) disconnected_since_ = Now();
  connected_ = false;
  last_error_ = status.message();
}

Status Reflector::ListAndReplace(std::string* resource_version) {
  const std::string what = "list " + spec_.Description();
  Objects fresh;
  std::string continue_token;
  std::string list_rv;
  do {
    std::string path = spec_.ListPath() + "?limit=" + std::to_string(options_.page_size);
    if (!spec_.field_selector.empty()) {
      path += "&fieldSelector=" + kube::QueryEscape(spec_.field_selector);
    }
    if (!continue_token.empty()) path += "&continue=" + kube::QueryEscape(continue_token);
    StatusOr<json::Value> page = client_->GetJson(path, &cancel_);
    if (!page.ok()) return Status(page.status().code(), what + ": " + page.status().message());
    json::Value* items = page->Find("items");
    if (!page->is_object() || (items != nullptr && !items->is_array() && !items->is_null())) {
      return Status(Code::kInternal, what + ": the answer is not a list");
    }
    list_rv = page->GetString({"metadata", "resourceVersion"});
    continue_token = page->GetString({"metadata", "continue"});
    if (items != nullptr && items->is_array()) {
      for (json::Value& item : items->array()) {
        auto prepared = Prepare(std::move(item));
        if (prepared)
          fresh.insert_or_assign(std::move(prepared->first), std::move(prepared->second));
      }
    }
  } while (!continue_token.empty() && !stopping());
  if (stopping()) return Status(Code::kUnavailable, what + ": stopping");
  if (list_rv.empty()) return Status(Code::kInternal, what + ": the list has no resourceVersion");

  bool first_sync = false;
  size_t count = fresh.size();
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    objects_.swap(fresh);
    first_sync = !synced_;
    synced_ = true;
    connected_ = true;
    resource_version_ = list_rv;
    last_error_.clear();
    ++lists_;
  }
  *resource_version = list_rv;
  if (first_sync) {
    LOG(INFO) << "cluster cache: " << spec_.Description() << " synced: " << count
              << " objects at resourceVersion " << list_rv;
    std::lock_guard<std::mutex> lock(run_mu_);
    run_cv_.notify_all();
  } else {
    VLOG(1) << "cluster cache: " << spec_.Description() << " relisted: " << count
            << " objects at resourceVersion " << list_rv;
  }
  return Status::Ok();
}

bool Reflector::ApplyEvent(std::string_view line, std::string* resource_version, bool* healthy,
                           Status* error) {
  const std::string what = "watch " + spec_.Description();
  StatusOr<json::Value> event = json::Parse(line);
  if (!event.ok()) {
    // The parser's message names an offset, never the text (which may be a Secret).
    *error = Status(Code::kInternal, what + ": undecodable event: " + event.status().message());
    return false;
  }
  const std::string type = event->GetString({"type"});
  json::Value* object = event->Find("object");
  if (object == nullptr || !object->is_object()) {
    *error = Status(Code::kInternal,
                    what + ": " + (type.empty() ? "an" : type) + " event without an object");
    return false;
  }
  if (type == "ERROR") {
    // The object is a metav1.Status; 410 means our resourceVersion was compacted away.
    const json::Value* code = object->Find("code");
    const int64_t http = code != nullptr && code->is_number() ? code->as_int() : 0;
    const std::string message = object->GetString({"message"});
    *error = Status(
        http == 410 ? Code::kExpired : Code::kUnavailable,
        what + ": ERROR event " + std::to_string(http) +
            (object->GetString({"reason"}).empty() ? "" : " " + object->GetString({"reason"})) +
            (message.empty() ? "" : ": " + message));
    return false;
  }
  const std::string rv = object->GetString({"metadata", "resourceVersion"});
  if (type == "BOOKMARK") {
    if (!rv.empty()) *resource_version = rv;
    std::unique_lock<std::shared_mutex> lock(mu_);
    resource_version_ = *resource_version;
    *healthy = true;
    return true;
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
    LOG(WARNING) << "cluster cache: " << what << ": ignoring an event of unknown type \"" << type
                 << "\"";
    return true;
  }
  auto prepared = Prepare(std::move(*object));
  if (!prepared) {
    LOG(WARNING) << "cluster cache: " << what << ": ignoring a " << type
                 << " event for an object without a name";
    return true;
  }
  VLOG(2) << "cluster cache: " << spec_.Description() << ": " << type << " " << prepared->first
          << " at resourceVersion " << rv;
  if (!rv.empty()) *resource_version = rv;
  *healthy = true;
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (type == "DELETED") {
    objects_.erase(prepared->first);
  } else {
    objects_.insert_or_assign(std::move(prepared->first), std::move(prepared->second));
  }
  resource_version_ = *resource_version;
  ++events_;
  return true;
}

Status Reflector::Watch(std::string* resource_version, bool* healthy) {
  // timeoutSeconds=0 would mean "the server's default", so at least one second.
  const long long base = std::max<long long>(1, options_.watch_timeout.count());
  const auto timeout =
      std::chrono::seconds(base + std::uniform_int_distribution<long long>(0, base - 1)(Random()));
  const std::string path =
      spec_.ListPath() + "?watch=true&resourceVersion=" + kube::QueryEscape(*resource_version) +
      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout.count()) +
      (spec_.field_selector.empty() ? ""
                                    : "&fieldSelector=" + kube::QueryEscape(spec_.field_selector));
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    ++watches_;
  }
  VLOG(1) << "cluster cache: watching " << spec_.Description() << " from resourceVersion "
          << *resource_version;
  Status event_error;
  Status streamed = client_->Stream(
      path, timeout + options_.watch_read_slack,
      [&](std::string_view line) {
        return ApplyEvent(line, resource_version, healthy, &event_error);
      },
      &cancel_);
  if (!event_error.ok()) return event_error;
  if (!streamed.ok())
    return Status(streamed.code(), "watch " + spec_.Description() + ": " + streamed.message());
  return Status::Ok();
}

void Reflector::Run() {
  // OpenSSL writes to the socket with write(), so a peer that closed the connection raises
  // SIGPIPE, whose default action ends the process. main ignores it process-wide; blocking
  // it on this thread as well keeps the library safe in any host (the write then fails with
  // EPIPE, which is handled as a broken connection).
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);

  std::chrono::milliseconds backoff = options_.backoff_initial;
  auto wait_backoff = [&](const Status& failure) {
    std::chrono::milliseconds delay = backoff;
    if (backoff.count() > 0) {
      delay += std::chrono::milliseconds(
          std::uniform_int_distribution<long long>(0, backoff.count() / 5)(Random()));
    }
    backoff = std::min(options_.backoff_max, backoff * 2);
    if (!stopping()) {
      LOG(WARNING) << "cluster cache: " << failure.message() << "; relisting in " << Seconds(delay);
    }
    return SleepUnlessStopped(delay);
  };

  while (!stopping()) {
    std::string resource_version;
    Status listed = ListAndReplace(&resource_version);
    if (!listed.ok()) {
      MarkFailure(listed);
      if (!wait_backoff(listed)) break;
      continue;
    }
    while (!stopping()) {
      bool healthy = false;
      const auto started = std::chrono::steady_clock::now();
      Status watched = Watch(&resource_version, &healthy);
      if (healthy) backoff = options_.backoff_initial;
      if (watched.ok()) {
        {
          std::unique_lock<std::shared_mutex> lock(mu_);
          last_error_.clear();
        }
        // The server ended the watch (its timeout): renew it from where it stopped. A server
        // that ends every watch at once, without an event, is not left to spin us.
        if (!healthy && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
          const std::chrono::milliseconds delay = backoff;
          backoff = std::min(options_.backoff_max, backoff * 2);
          if (!SleepUnlessStopped(delay)) break;
        } else {
          backoff = options_.backoff_initial;
        }
        continue;
      }
      MarkFailure(watched);
      wait_backoff(watched);
      break;  // relist
    }
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    connected_ = false;
    disconnected_since_ = Now();
  }
  std::lock_guard<std::mutex> lock(run_mu_);
  done_ = true;
  run_cv_.notify_all();
}

}  // namespace csdr::webhook
