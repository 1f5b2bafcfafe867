#include "controllers/events.h"

#include <glog/logging.h>

#include <cstdio>

#include "apiserver/kinds/validation.h"
#include "common/metrics.h"

namespace csdr::controllers {
namespace {

metrics::Counter* Dropped() {
  static metrics::Counter* c = metrics::Default().Add(std::make_unique<metrics::Counter>(
      "csdr_controller_events_dropped_total",
      "Events the controllers could not post to the cluster (queue full or refused)."));
  return c;
}

}  // namespace

json::Value MakeEvent(const json::Value& object, const std::string& type, const std::string& reason,
                      const std::string& message, const std::string& component,
                      std::chrono::system_clock::time_point now) {
  const std::string ns = object.GetString({"metadata", "namespace"});
  const std::string name = object.GetString({"metadata", "name"});
  char suffix[32];
  std::snprintf(
      suffix, sizeof(suffix), ".%llx",
      static_cast<unsigned long long>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
  json::Value e = json::Value::MakeObject();
  e.Set("apiVersion", "v1");
  e.Set("kind", "Event");
  json::Value meta = json::Value::MakeObject();
  meta.Set("name", name + suffix);
  meta.Set("namespace", ns.empty() ? "default" : ns);
  e.Set("metadata", std::move(meta));
  json::Value involved = json::Value::MakeObject();
  involved.Set("apiVersion", object.GetString({"apiVersion"}));
  involved.Set("kind", object.GetString({"kind"}));
  involved.Set("name", name);
  if (!ns.empty()) involved.Set("namespace", ns);
  involved.Set("uid", object.GetString({"metadata", "uid"}));
  involved.Set("resourceVersion", object.GetString({"metadata", "resourceVersion"}));
  e.Set("involvedObject", std::move(involved));
  e.Set("reason", reason);
  e.Set("message", message.size() > 1024 ? message.substr(0, 1024) : message);
  e.Set("type", type);
  json::Value source = json::Value::MakeObject();
  source.Set("component", component);
  e.Set("source", std::move(source));
  const std::string t = apiserver::FormatRFC3339(now);
  e.Set("firstTimestamp", t);
  e.Set("lastTimestamp", t);
  e.Set("count", int64_t{1});
  return e;
}

ClusterEventRecorder::ClusterEventRecorder(const kube::KubeClient* client, std::string component)
    : client_(client), component_(std::move(component)) {
  thread_ = std::thread([this] { Run(); });
}

ClusterEventRecorder::~ClusterEventRecorder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ClusterEventRecorder::Event(const json::Value& object, const std::string& type,
                                 const std::string& reason, const std::string& message) {
  json::Value e =
      MakeEvent(object, type, reason, message, component_, std::chrono::system_clock::now());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || pending_.size() >= kMaxPending) {
      Dropped()->Inc();
      return;
    }
    pending_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void ClusterEventRecorder::Run() {
  const auto give_up_after_stop = std::chrono::seconds(1);
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  while (true) {
    json::Value e;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_ && deadline == std::chrono::steady_clock::time_point::max()) {
        deadline = std::chrono::steady_clock::now() + give_up_after_stop;
      }
      if (pending_.empty() || std::chrono::steady_clock::now() > deadline) {
        if (stop_) {
          Dropped()->Inc({}, static_cast<double>(pending_.size()));
          return;
        }
        continue;
      }
      e = std::move(pending_.front());
      pending_.pop_front();
    }
    const std::string ns = e.GetString({"metadata", "namespace"});
    auto posted = client_->PostJson("/api/v1/namespaces/" + ns + "/events", e);
    std::lock_guard<std::mutex> lock(mu_);
    if (!posted.ok()) {
      Dropped()->Inc();
      if (!warned_) {
        LOG(WARNING) << "controllers: cannot post events to the cluster (dropped; logged once "
                        "until one succeeds): "
                     << posted.status().message();
      }
      warned_ = true;
    } else if (warned_) {
      LOG(INFO) << "controllers: posting events to the cluster again";
      warned_ = false;
    }
  }
}

}  // namespace csdr::controllers
