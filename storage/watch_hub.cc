#include "storage/watch_hub.h"

#include <algorithm>
#include <utility>

namespace csdr::storage {

namespace internal {

// One watcher's state, shared by the hub (which queues into it) and the Watcher handle (which
// drains it). Lives as long as either holds it.
struct Subscriber {
  enum class State { kLive, kExpired, kClosed, kStopped };

  Subscriber(std::string p, int64_t skip, size_t cap)
      : prefix(std::move(p)), skip_through(skip), capacity(cap) {}

  const std::string prefix;
  // Events at or below this revision are never queued: the watch starts after it, or the
  // caller's preload already covered them. Immutable, so Publish reads it without `mu`.
  const int64_t skip_through;

  std::mutex mu;  // guards the fields below
  std::condition_variable cv;
  std::deque<std::shared_ptr<const Event>> queue;
  // The queue may hold the initial replay plus watcher_queue_limit live events until the
  // first Next() drains it; from then on only the limit.
  size_t capacity;
  // How many of the queue's first events are that replay (some may come from a log older than
  // the history): the live ones behind them are what the history check looks at.
  size_t replay_waiting = 0;
  int64_t delivered_revision = 0;  // newest revision handed out by Next
  State state = State::kLive;
  // Watcher::SetReadyCallback's: called with `mu` held when the queue stops being empty or
  // the state leaves kLive.
  std::function<void()> on_ready;
};

}  // namespace internal

using internal::Subscriber;

namespace {

// How many of the newest events keep what their readers encoded (EncodingMemo).
constexpr size_t kEncodedEvents = 64;

size_t EventBytes(const Event& e) {
  // The strings dominate; the constant approximates the Event and control block overhead.
  return e.key.size() + e.value.size() + e.prev_value.size() + 128;
}

bool HasPrefix(std::string_view key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

// The Watcher handed to callers. Holds the hub strongly so the hub outlives it.
class HubWatcher : public Watcher {
 public:
  HubWatcher(std::shared_ptr<WatchHub> hub, std::shared_ptr<Subscriber> sub)
      : hub_(std::move(hub)), sub_(std::move(sub)) {}
  ~HubWatcher() override { Stop(); }

  bool Next(std::chrono::milliseconds timeout, std::vector<Event>* out, bool* expired) override {
    return Take(timeout, expired, [out](const std::deque<EventPtr>& queue) {
      out->reserve(out->size() + queue.size());
      for (const auto& e : queue) out->push_back(*e);
    });
  }

  bool NextShared(std::chrono::milliseconds timeout, std::vector<EventPtr>* out,
                  bool* expired) override {
    return Take(timeout, expired, [out](const std::deque<EventPtr>& queue) {
      out->insert(out->end(), queue.begin(), queue.end());
    });
  }

  template <typename Append>
  bool Take(std::chrono::milliseconds timeout, bool* expired, const Append& append) {
    if (expired != nullptr) *expired = false;
    std::unique_lock<std::mutex> lock(sub_->mu);
    if (timeout > std::chrono::milliseconds(0)) {  // a poll (0) never goes near the futex
      sub_->cv.wait_for(lock, timeout, [this] {
        return !sub_->queue.empty() || sub_->state != Subscriber::State::kLive;
      });
    }
    if (sub_->state == Subscriber::State::kExpired) {
      if (expired != nullptr) *expired = true;
      return false;
    }
    if (sub_->state != Subscriber::State::kLive) return false;
    if (!sub_->queue.empty()) {
      append(sub_->queue);
      sub_->delivered_revision = sub_->queue.back()->revision;
      sub_->queue.clear();
      sub_->capacity = hub_->options_.watcher_queue_limit;
      sub_->replay_waiting = 0;
    }
    return true;
  }

  int64_t ProgressRevision() const override {
    // Read the hub's revision before looking at the queue: Publish queues first and then
    // advances it, so an empty queue afterwards means everything up to `last` was handed out.
    const int64_t last = hub_->LastRevision();
    std::lock_guard<std::mutex> lock(sub_->mu);
    int64_t progress = std::max(sub_->skip_through, sub_->delivered_revision);
    if (!sub_->queue.empty()) return std::max(progress, sub_->queue.front()->revision - 1);
    return std::max(progress, last);
  }

  bool SetReadyCallback(std::function<void()> ready) override {
    std::lock_guard<std::mutex> lock(sub_->mu);
    sub_->on_ready = std::move(ready);
    if (sub_->on_ready && (!sub_->queue.empty() || sub_->state != Subscriber::State::kLive)) {
      sub_->on_ready();
    }
    return true;
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    hub_->Unregister(sub_.get());
    std::lock_guard<std::mutex> lock(sub_->mu);
    if (sub_->state == Subscriber::State::kLive) sub_->state = Subscriber::State::kStopped;
    sub_->queue.clear();
    sub_->on_ready = nullptr;  // no call after Stop returns: the callback's owner may go
    sub_->cv.notify_all();
  }

 private:
  const std::shared_ptr<WatchHub> hub_;
  const std::shared_ptr<Subscriber> sub_;
  std::atomic<bool> stopped_{false};
};

std::shared_ptr<WatchHub> WatchHub::Make(const Options& options, int64_t revision) {
  // The constructor is private (callers must hold the hub in a shared_ptr), so no make_shared.
  return std::shared_ptr<WatchHub>(new WatchHub(options, revision));
}

std::shared_ptr<WatchHub> WatchHub::Make(const StoreOptions& options, int64_t revision) {
  Options o;
  o.history_events = options.watch_history_events;
  o.history_bytes = options.watch_history_bytes;
  o.watcher_queue_limit = options.watcher_queue_limit;
  return Make(o, revision);
}

WatchHub::WatchHub(const Options& options, int64_t revision)
    : options_{std::max<size_t>(options.history_events, 1), options.history_bytes,
               std::max<size_t>(options.watcher_queue_limit, 1)},
      start_revision_(revision),
      last_revision_(revision) {}

WatchHub::~WatchHub() { Close(); }

void WatchHub::Warm(int64_t start_revision, std::vector<Event> events) {
  std::lock_guard<std::mutex> lock(mu_);
  history_.clear();
  history_bytes_ = 0;
  start_revision_ = start_revision;
  int64_t last = start_revision;
  for (auto& e : events) {
    last = e.revision;
    AppendLocked(std::make_shared<const Event>(std::move(e)));
  }
  last_revision_.store(last, std::memory_order_release);
}

void WatchHub::AppendLocked(EventPtr event) {
  history_bytes_ += EventBytes(*event);
  history_.push_back(std::move(event));
  // Watchers take an event within moments of its write: its shared encodings are dropped
  // once newer ones have followed, so the history holds them only for the newest few.
  if (history_.size() > kEncodedEvents)
    history_[history_.size() - 1 - kEncodedEvents]->encodings.Clear();
  // Keep at least the newest event so that a watch from LastRevision() - 1 still works.
  while (history_.size() > 1 &&
         (history_.size() > options_.history_events || history_bytes_ > options_.history_bytes)) {
    history_bytes_ -= EventBytes(*history_.front());
    start_revision_ = history_.front()->revision;
    history_.pop_front();
  }
}

size_t WatchHub::FirstAfterLocked(int64_t revision) const {
  auto it = std::upper_bound(history_.begin(), history_.end(), revision,
                             [](int64_t r, const EventPtr& e) { return r < e->revision; });
  return static_cast<size_t>(it - history_.begin());
}

void WatchHub::Publish(std::vector<Event> events) {
  if (events.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;

  // Which groups want which events of this batch. A batch touches few groups, so a small
  // vector beats a map.
  std::vector<std::pair<Group*, std::vector<EventPtr>>> deliveries;
  for (auto& e : events) {
    auto ptr = std::make_shared<const Event>(std::move(e));
    AppendLocked(ptr);
    const std::string_view key = ptr->key;
    for (const auto& [length, count] : prefix_lengths_) {
      if (length > key.size()) break;  // lengths ascend
      auto group = groups_.find(key.substr(0, length));
      if (group == groups_.end()) continue;
      Group* g = &group->second;
      auto slot = std::find_if(deliveries.begin(), deliveries.end(),
                               [g](const auto& d) { return d.first == g; });
      if (slot == deliveries.end()) {
        deliveries.emplace_back(g, std::vector<EventPtr>{});
        slot = deliveries.end() - 1;
      }
      slot->second.push_back(ptr);
    }
  }

  std::vector<Subscriber*> overflowed;
  for (auto& [group, batch] : deliveries) {
    for (auto& [raw, sub] : *group) {
      std::lock_guard<std::mutex> sub_lock(sub->mu);
      if (sub->state != Subscriber::State::kLive) continue;
      const bool was_empty = sub->queue.empty();
      for (const auto& e : batch) {
        if (e->revision <= sub->skip_through) continue;
        if (sub->queue.size() >= sub->capacity ||
            (sub->queue.size() > sub->replay_waiting &&
             sub->queue[sub->replay_waiting]->revision <= start_revision_)) {
          // Too far behind: end it rather than block the writer or grow without bound. Past
          // the queue limit, or behind the history (its oldest waiting live event has left it):
          // a new watch from its revision would be refused with kExpired there, and its
          // queue would otherwise keep alive what the history let go, so that the memory
          // slow watchers hold is bounded by the history's, not by their number.
          sub->state = Subscriber::State::kExpired;
          sub->queue.clear();
          overflowed.push_back(raw);
          break;
        }
        sub->queue.push_back(e);
      }
      // A non-empty queue means the reader was already woken for it.
      if (was_empty || sub->state != Subscriber::State::kLive) {
        sub->cv.notify_all();
        if (sub->on_ready) sub->on_ready();
      }
    }
  }
  for (Subscriber* s : overflowed) {
    RemoveLocked(s);
    expired_watchers_.fetch_add(1, std::memory_order_relaxed);
  }
  last_revision_.store(history_.back()->revision, std::memory_order_release);
  revision_cv_.notify_all();
}

void WatchHub::Advance(int64_t revision) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || revision <= LastRevision()) return;
  last_revision_.store(revision, std::memory_order_release);
  revision_cv_.notify_all();
}

StatusOr<std::unique_ptr<Watcher>> WatchHub::Watch(const std::string& prefix,
                                                   int64_t after_revision) {
  return WatchWithPreload(prefix, after_revision, {}, 0);
}

StatusOr<std::unique_ptr<Watcher>> WatchHub::WatchWithPreload(const std::string& prefix,
                                                              int64_t after_revision,
                                                              std::vector<Event> preload,
                                                              int64_t preload_through) {
  if (after_revision < 0) {
    return Status(Code::kBadRequest, "negative revision " + std::to_string(after_revision));
  }
  std::vector<EventPtr> initial;
  initial.reserve(preload.size());
  for (auto& e : preload) {
    if (e.revision > after_revision && e.revision <= preload_through && HasPrefix(e.key, prefix)) {
      initial.push_back(std::make_shared<const Event>(std::move(e)));
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return Status(Code::kUnavailable, "storage is closed");
  if (after_revision == 0) after_revision = LastRevision();
  // The hub's own history must continue where the caller's (if any) stops.
  const int64_t replay_from = std::max(after_revision, preload_through);
  if (replay_from < start_revision_) {
    return Status(Code::kExpired, "revision " + std::to_string(after_revision) +
                                      " is older than the retained history (it starts after " +
                                      std::to_string(start_revision_) + ")");
  }
  for (size_t i = FirstAfterLocked(replay_from); i < history_.size(); ++i) {
    if (HasPrefix(history_[i]->key, prefix)) initial.push_back(history_[i]);
  }
  return Register(prefix, replay_from, std::move(initial));
}

StatusOr<std::unique_ptr<Watcher>> WatchHub::Register(const std::string& prefix,
                                                      int64_t skip_through,
                                                      std::vector<EventPtr> initial) {
  auto sub = std::make_shared<Subscriber>(prefix, skip_through,
                                          options_.watcher_queue_limit + initial.size());
  sub->replay_waiting = initial.size();
  sub->queue.assign(std::make_move_iterator(initial.begin()),
                    std::make_move_iterator(initial.end()));
  auto [group, inserted] = groups_.try_emplace(prefix);
  if (inserted) ++prefix_lengths_[prefix.size()];
  group->second.emplace(sub.get(), sub);
  ++watchers_;
  return std::unique_ptr<Watcher>(new HubWatcher(shared_from_this(), std::move(sub)));
}

void WatchHub::Unregister(Subscriber* subscriber) {
  std::lock_guard<std::mutex> lock(mu_);
  RemoveLocked(subscriber);
}

void WatchHub::RemoveLocked(Subscriber* subscriber) {
  auto group = groups_.find(subscriber->prefix);
  if (group == groups_.end() || group->second.erase(subscriber) == 0) return;
  --watchers_;
  if (!group->second.empty()) return;
  const size_t length = group->first.size();
  groups_.erase(group);
  auto count = prefix_lengths_.find(length);
  if (--count->second == 0) prefix_lengths_.erase(count);
}

Status WatchHub::EventsAfter(int64_t after_revision, std::string_view prefix,
                             std::vector<std::shared_ptr<const Event>>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (after_revision < start_revision_) {
    return Status(Code::kExpired, "revision " + std::to_string(after_revision) +
                                      " has been compacted (history starts after " +
                                      std::to_string(start_revision_) + ")");
  }
  for (size_t i = FirstAfterLocked(after_revision); i < history_.size(); ++i) {
    if (HasPrefix(history_[i]->key, prefix)) out->push_back(history_[i]);
  }
  return Status::Ok();
}

int64_t WatchHub::StartRevision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return start_revision_;
}

bool WatchHub::WaitForRevision(int64_t revision, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  revision_cv_.wait_for(lock, timeout, [&] { return closed_ || LastRevision() >= revision; });
  return LastRevision() >= revision;
}

void WatchHub::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& [prefix, group] : groups_) {
    for (auto& [raw, sub] : group) {
      std::lock_guard<std::mutex> sub_lock(sub->mu);
      if (sub->state == Subscriber::State::kLive) sub->state = Subscriber::State::kClosed;
      sub->queue.clear();
      sub->cv.notify_all();
      if (sub->on_ready) sub->on_ready();
    }
  }
  groups_.clear();
  prefix_lengths_.clear();
  watchers_ = 0;
  history_.clear();  // nothing can read it any more; free the memory now
  history_bytes_ = 0;
  revision_cv_.notify_all();
}

size_t WatchHub::watcher_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_;
}

size_t WatchHub::history_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_.size();
}

}  // namespace csdr::storage
