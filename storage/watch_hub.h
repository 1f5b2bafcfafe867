// WatchHub: the in-process watch fan-out every backend publishes its committed writes to.
//
// It keeps a bounded history of recent events (a ring buffer, the same role as
// k8s.io/apiserver's watchCacheHistory) and the open watchers grouped by key prefix. A watch
// started after revision R first replays the retained events > R, then receives live events;
// both happen under the hub's lock, so there is no gap and no duplicate between the two.
//
// Cost model (the design asks for 1,000+ open watches that do not starve anything else):
//  * Publish is O(events x distinct prefix lengths x log(prefixes) + deliveries): a key is
//    matched by looking up each registered prefix length, never by scanning watchers, and
//    each interested watcher's mutex is taken once per batch.
//  * Each watcher has its own mutex, condition variable and queue of shared event pointers
//    (an event is stored once however many watchers hold it). Next() sleeps on the condition
//    variable; nothing polls.
//  * A watcher whose queue exceeds its limit is ended with expired=true (the client relists),
//    so a stuck reader never blocks writers and never grows memory without bound.
//
// Revisions: the history holds every event with revision in (StartRevision(), LastRevision()].
// Watch(after) with after < StartRevision() is kExpired. Events are published in ascending
// revision order by one caller at a time (the backend's writer).
//
// Thread safety: every method may be called from any thread. Lock order: hub mutex, then a
// watcher's mutex; Next() takes only its watcher's mutex, so readers never contend with each
// other. Ownership: create with Make(); each Watcher holds a strong reference to the hub, so
// a Watcher may outlive its store (after Close it just returns false).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace csdr::storage {

namespace internal {
struct Subscriber;
}  // namespace internal

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  struct Options {
    size_t history_events = 100000;  // see StoreOptions::watch_history_events
    size_t history_bytes = size_t{16} << 20;
    size_t watcher_queue_limit = 4096;
  };

  // A hub whose history starts (empty) after `revision`: the backend's current revision.
  static std::shared_ptr<WatchHub> Make(const Options& options, int64_t revision);
  static std::shared_ptr<WatchHub> Make(const StoreOptions& options, int64_t revision);

  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;
  ~WatchHub();

  // Seeds the history with already committed events (ascending, contiguous, the first one
  // being start_revision + 1) before the hub is used: the SQLite backend warms it from its
  // event log on open so that watches resumed after a restart replay from memory.
  void Warm(int64_t start_revision, std::vector<Event> events);

  // Appends committed events (ascending, each above LastRevision()) to the history and hands
  // them to the matching watchers. The caller serializes Publish calls.
  void Publish(std::vector<Event> events);

  // Records that every event up to `revision` has been published although none arrived
  // (an etcd progress notification: other keys took those revisions). Watchers' progress
  // and WaitForRevision move with it. A revision at or below LastRevision() is ignored.
  void Advance(int64_t revision);

  // Starts a watch of keys under `prefix` for events with revision > after_revision
  // (0: from LastRevision()). kExpired when after_revision < StartRevision(); kUnavailable
  // after Close. A revision above LastRevision() is accepted: events up to it are skipped.
  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix, int64_t after_revision);

  // Like Watch, when the history needed is older than this hub's and the caller read it
  // elsewhere (the SQLite event log): `preload` holds the events under `prefix` in
  // (after_revision, preload_through], ascending. The hub continues after preload_through.
  // kExpired when the hub's history no longer reaches back to preload_through (the caller
  // reads again). Events <= preload_through published later are not delivered twice.
  StatusOr<std::unique_ptr<Watcher>> WatchWithPreload(const std::string& prefix,
                                                      int64_t after_revision,
                                                      std::vector<Event> preload,
                                                      int64_t preload_through);

  // Appends the retained events under `prefix` with revision > after_revision (ascending) to
  // *out; kExpired when after_revision < StartRevision(). Used for snapshot reads.
  Status EventsAfter(int64_t after_revision, std::string_view prefix,
                     std::vector<std::shared_ptr<const Event>>* out) const;

  int64_t StartRevision() const;
  int64_t LastRevision() const { return last_revision_.load(std::memory_order_acquire); }

  // Blocks until LastRevision() >= revision (true), the timeout passes or the hub closes
  // (false). Used by List for a revision that is not there yet.
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout);

  // Ends every watcher (Next returns false) and refuses new ones. Idempotent.
  void Close();

  size_t watcher_count() const;
  int64_t expired_watcher_count() const {
    return expired_watchers_.load(std::memory_order_relaxed);
  }
  size_t history_size() const;

 private:
  friend class HubWatcher;
  using SubscriberPtr = std::shared_ptr<internal::Subscriber>;
  // Watchers that share one prefix, keyed by identity for O(1) removal.
  using Group = std::unordered_map<internal::Subscriber*, SubscriberPtr>;

  explicit WatchHub(const Options& options, int64_t revision);

  StatusOr<std::unique_ptr<Watcher>> Register(const std::string& prefix, int64_t skip_through,
                                              std::vector<EventPtr> initial);
  void Unregister(internal::Subscriber* subscriber);
  void RemoveLocked(internal::Subscriber* subscriber);
  void AppendLocked(EventPtr event);
  // Index of the first retained event with revision > `revision`.
  size_t FirstAfterLocked(int64_t revision) const;

  const Options options_;

  mutable std::mutex mu_;         // guards everything below except the atomics
  std::deque<EventPtr> history_;  // ascending revisions, all > start_revision_
  size_t history_bytes_ = 0;
  int64_t start_revision_ = 0;
  std::map<std::string, Group, std::less<>> groups_;  // prefix -> its watchers
  std::map<size_t, size_t> prefix_lengths_;           // length -> groups with that length
  size_t watchers_ = 0;
  bool closed_ = false;
  std::condition_variable revision_cv_;  // signalled on Publish and Close (WaitForRevision)

  // Written under mu_ after the events of a Publish were queued to every watcher, so a
  // watcher that sees it and an empty queue knows it has been told everything up to it.
  std::atomic<int64_t> last_revision_{0};
  std::atomic<int64_t> expired_watchers_{0};
};

}  // namespace csdr::storage
