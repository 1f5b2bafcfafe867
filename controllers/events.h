// Events about csdr.io objects in the cluster, as kube-controller-manager's controllers record
// them (client-go's record.EventRecorder, core/v1 Events): `kubectl describe backupschedule`
// and `kubectl get events` show the controllers' runs, denials, prunes and expiries.
//
// ClusterEventRecorder posts them from a thread of its own, so a controller never waits for
// the cluster; its queue is bounded (past 1,000 pending events new ones are dropped and
// counted), and one that the cluster refuses is logged once and dropped (events are best
// effort, as upstream's). Without a cluster there are no events (NoEvents): the log and the
// metrics still say what happened.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/json.h"
#include "kube/client.h"

namespace csdr::controllers {

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // `object` is the csdr.io object the event is about (its apiVersion, kind and metadata are
  // read); `type` "Normal" or "Warning"; `reason` CamelCase ("SuccessfulCreate").
  virtual void Event(const json::Value& object, const std::string& type, const std::string& reason,
                     const std::string& message) = 0;
};

class NoEvents : public EventRecorder {
 public:
  void Event(const json::Value&, const std::string&, const std::string&,
             const std::string&) override {}
};

// The core/v1 Event client-go's recorder would post for this (name "<object>.<hex nanos>").
json::Value MakeEvent(const json::Value& object, const std::string& type, const std::string& reason,
                      const std::string& message, const std::string& component,
                      std::chrono::system_clock::time_point now);

class ClusterEventRecorder : public EventRecorder {
 public:
  static constexpr size_t kMaxPending = 1000;

  // `client` must outlive the recorder.
  ClusterEventRecorder(const kube::KubeClient* client, std::string component);
  ~ClusterEventRecorder() override;  // posts what is pending for at most a second, then stops

  void Event(const json::Value& object, const std::string& type, const std::string& reason,
             const std::string& message) override;

 private:
  void Run();

  const kube::KubeClient* client_;
  const std::string component_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<json::Value> pending_;
  bool stop_ = false;
  bool warned_ = false;
  std::thread thread_;
};

}  // namespace csdr::controllers
