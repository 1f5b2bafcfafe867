#include "controllers/informer.h"

#include <glog/logging.h>

namespace csdr::controllers {
namespace {

constexpr std::chrono::milliseconds kWatchPoll{1000};
constexpr std::chrono::milliseconds kRetry{1000};

int64_t ParseRv(const std::string& rv) {
  try {
    return rv.empty() ? 0 : std::stoll(rv);
  } catch (...) {
    return 0;
  }
}

}  // namespace

Informer::Informer(apiserver::Registry* registry, const apiserver::KindStrategy* kind,
                   std::function<void()> on_change, Transform transform)
    : registry_(registry),
      kind_(kind),
      on_change_(std::move(on_change)),
      transform_(std::move(transform)) {}

Informer::Object Informer::Keep(json::Value obj) const {
  return std::make_shared<const json::Value>(transform_ ? transform_(std::move(obj))
                                                        : std::move(obj));
}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stream_) stream_->Stop();
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return synced_cv_.wait_for(lock, timeout, [&] { return synced_.load(); });
}

std::vector<Informer::Object> Informer::List(const std::string& ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Object> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) {
    if (ns.empty() || key.compare(0, ns.size() + 1, ns + "/") == 0) out.push_back(obj);
  }
  return out;
}

Informer::Object Informer::Get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(ns + "/" + name);
  if (it == objects_.end()) return nullptr;
  return it->second;
}

int64_t Informer::ResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

std::string Informer::KeyOf(const json::Value& obj) {
  return obj.GetString({"metadata", "namespace"}) + "/" + obj.GetString({"metadata", "name"});
}

Status Informer::Relist() {
  apiserver::Scope scope;
  scope.kind = kind_;
  auto listed = registry_->List(scope, apiserver::ListOptions{});
  if (!listed.ok()) return listed.status();
  std::map<std::string, Object> objects;
  for (const storage::KeyValue& kv : listed->items) {
    auto obj = json::Parse(kv.value);
    if (!obj.ok()) continue;
    std::string key = KeyOf(*obj);
    objects.emplace(std::move(key), Keep(std::move(*obj)));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    objects_ = std::move(objects);
    resource_version_ = listed->resource_version;
    synced_.store(true, std::memory_order_release);
  }
  synced_cv_.notify_all();
  if (on_change_) on_change_();
  return Status::Ok();
}

void Informer::Apply(const apiserver::WatchEvent& e) {
  if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED") return;
  const int64_t rv = ParseRv(e.object.GetString({"metadata", "resourceVersion"}));
  const std::string key = KeyOf(e.object);
  Object kept = e.type == "DELETED" ? nullptr : Keep(e.object);
  std::lock_guard<std::mutex> lock(mu_);
  if (kept == nullptr) {
    objects_.erase(key);
  } else {
    objects_[key] = std::move(kept);
  }
  if (rv > resource_version_) resource_version_ = rv;
}

Informer::WatchEnd Informer::WatchFrom(std::chrono::steady_clock::time_point until) {
  apiserver::Scope scope;
  scope.kind = kind_;
  apiserver::WatchOptions options;
  options.resource_version = std::to_string(ResourceVersion());
  options.allow_bookmarks = true;
  auto stream = registry_->Watch(scope, options);
  if (!stream.ok()) {
    // A start the store no longer holds: list again. Anything else: retry the watch.
    return stream.status().code() == Code::kExpired ? WatchEnd::kRelist : WatchEnd::kRetryLater;
  }
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_.load()) return WatchEnd::kResume;
    stream_ = std::move(*stream);
  }
  bool resumable = true;
  std::vector<apiserver::WatchEvent> events;
  while (!stop_.load() && std::chrono::steady_clock::now() < until) {
    events.clear();
    const bool open = stream_->Next(kWatchPoll, &events);
    bool changed = false;
    for (const apiserver::WatchEvent& e : events) {
      if (e.type == "ERROR") {
        resumable = false;  // 410: the start is gone
        continue;
      }
      if (e.type == "BOOKMARK") {
        const int64_t rv = ParseRv(e.object.GetString({"metadata", "resourceVersion"}));
        std::lock_guard<std::mutex> lock(mu_);
        if (rv > resource_version_) resource_version_ = rv;
        continue;
      }
      Apply(e);
      changed = true;
    }
    if (changed && on_change_) on_change_();
    if (!open || !resumable) break;
  }
  std::lock_guard<std::mutex> lock(stop_mu_);
  stream_->Stop();
  stream_.reset();
  return resumable ? WatchEnd::kResume : WatchEnd::kRelist;
}

Status Informer::SyncOnce(std::chrono::milliseconds watch_for) {
  CSDR_RETURN_IF_ERROR(Relist());
  WatchFrom(std::chrono::steady_clock::now() + watch_for);
  return Status::Ok();
}

void Informer::Run() {
  bool need_list = true;
  bool failing = false;
  while (!stop_.load()) {
    if (need_list) {
      Status s = Relist();
      if (!s.ok()) {
        if (!failing) {
          LOG(WARNING) << "informer " << kind_->info().resource << ": list failed: " << s.message();
        }
        failing = true;
        std::unique_lock<std::mutex> lock(stop_mu_);
        stop_cv_.wait_for(lock, kRetry, [&] { return stop_.load(); });
        continue;
      }
      if (failing) LOG(INFO) << "informer " << kind_->info().resource << ": listing again";
      failing = false;
      need_list = false;
    }
    switch (WatchFrom(std::chrono::steady_clock::time_point::max())) {
      case WatchEnd::kResume: {
        // A stream that ended (the server's watch timeout, a store restart): resume after a
        // breath, so that one ending at once again and again cannot spin.
        std::unique_lock<std::mutex> lock(stop_mu_);
        stop_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_.load(); });
        break;
      }
      case WatchEnd::kRelist:
        need_list = true;
        break;
      case WatchEnd::kRetryLater: {
        std::unique_lock<std::mutex> lock(stop_mu_);
        stop_cv_.wait_for(lock, kRetry, [&] { return stop_.load(); });
        break;
      }
    }
  }
}

}  // namespace csdr::controllers
