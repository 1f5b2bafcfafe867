// Informer: one kind's objects kept in memory by list-then-watch through the Registry, as
// client-go's informers keep them for kube-controller-manager. The controllers read it instead
// of the store, and are woken by its changes.
//
// Objects are held as shared immutable values (readers take references, not copies), and an
// optional transform keeps only what the controllers read of each (client-go's
// SetTransform): 10,000 Backups whole, parsed, were tens of MiB and a deep copy per pass.
//
// The thread lists (all namespaces, at the latest revision), then watches from the list's
// resourceVersion; a watch that ends resumes from the last revision seen, and one that is too
// old (410) lists again. `on_change` runs on the informer's thread after each batch of changes
// (and after each list) and must be quick: controllers use it to wake their own loop.
//
// Thread safety: Start/Stop from one thread; the readers from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/registry/registry.h"
#include "common/json.h"

namespace csdr::controllers {

class Informer {
 public:
  using Object = std::shared_ptr<const json::Value>;
  // What is kept of each object (it must keep metadata.name, namespace and resourceVersion).
  using Transform = std::function<json::Value(json::Value)>;

  Informer(apiserver::Registry* registry, const apiserver::KindStrategy* kind,
           std::function<void()> on_change, Transform transform = nullptr);
  ~Informer();  // Stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void Start();
  void Stop();

  // True once the first list is in; WaitForSync waits for it up to `timeout`.
  bool Synced() const { return synced_.load(std::memory_order_acquire); }
  bool WaitForSync(std::chrono::milliseconds timeout);

  // The objects held now: all, one namespace's, or one (nullptr when absent).
  std::vector<Object> List(const std::string& ns = "") const;
  Object Get(const std::string& ns, const std::string& name) const;
  // The resourceVersion the objects held now are current to.
  int64_t ResourceVersion() const;

  // Lists and watches once, then returns (tests: drive the informer without its thread).
  // Applies every event that arrives within `watch_for`.
  Status SyncOnce(std::chrono::milliseconds watch_for);

 private:
  void Run();
  Status Relist();
  enum class WatchEnd { kResume, kRelist, kRetryLater };
  // Watches from resource_version_ until the stream ends, Stop() or `until`: kRelist when the
  // start was too old (410), kRetryLater when the watch could not start.
  WatchEnd WatchFrom(std::chrono::steady_clock::time_point until);
  void Apply(const apiserver::WatchEvent& e);
  Object Keep(json::Value obj) const;
  static std::string KeyOf(const json::Value& obj);

  apiserver::Registry* registry_;
  const apiserver::KindStrategy* kind_;
  std::function<void()> on_change_;
  Transform transform_;

  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;  // "<namespace>/<name>"
  int64_t resource_version_ = 0;
  std::atomic<bool> synced_{false};
  std::condition_variable synced_cv_;

  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::unique_ptr<apiserver::WatchStream> stream_;  // guarded by stop_mu_
  std::thread thread_;
};

}  // namespace csdr::controllers
