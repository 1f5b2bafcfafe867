// Registry::Watch: storage events turned into API watch events, after k8s.io/apiserver's
// cacher watchers: selector transitions become ADDED/DELETED, initial state is replayed as
// synthetic ADDED events for resourceVersion "" and "0", bookmarks when asked.
#include <deque>
#include <optional>

#include "apiserver/registry/registry.h"

namespace csdr::apiserver {
namespace {

json::Value ExpiredStatus(const std::string& message) {
  json::Value s = json::Value::MakeObject();
  s.Set("kind", "Status");
  s.Set("apiVersion", "v1");
  s.Set("metadata", json::Value::MakeObject());
  s.Set("status", "Failure");
  s.Set("message", message);
  s.Set("reason", "Expired");
  s.Set("code", 410);
  return s;
}

}  // namespace

// A BOOKMARK event's object: only apiVersion, kind and metadata.resourceVersion (and the
// initial-events-end annotation that closes a watch-list's initial events).
json::Value Bookmark(const KindStrategy& kind, int64_t revision, bool initial_events_end) {
  json::Value b = json::Value::MakeObject();
  b.Set("apiVersion", kind.info().api_version());
  b.Set("kind", kind.info().kind);
  json::Value meta = json::Value::MakeObject();
  if (initial_events_end) {
    json::Value annotations = json::Value::MakeObject();
    annotations.Set("k8s.io/initial-events-end", "true");
    meta.Set("annotations", std::move(annotations));
  }
  meta.Set("resourceVersion", std::to_string(revision));
  b.Set("metadata", std::move(meta));
  return b;
}

namespace {

StatusOr<json::Value> ParseStored(std::string_view value) {
  json::ParseOptions po;
  po.max_depth = 200;
  return json::Parse(value, po);
}

// An object event as the caller wants it (WatchOptions::raw_objects): with `raw`, an event
// without `object` to which the caller attaches the stored bytes (`raw` or `source`);
// otherwise the object parsed (`parsed` when a selector already parsed it). Nothing for a
// stored value that is not an object (a damaged row), raw or not.
std::optional<WatchEvent> ObjectEvent(const char* type, std::string_view stored,
                                      std::optional<json::Value> parsed, bool raw) {
  if (raw) {
    // Our own serializer's output: an object starts with '{' and ends with '}'.
    if (stored.size() < 2 || stored.front() != '{' || stored.back() != '}') return std::nullopt;
    return WatchEvent{type, json::Value()};
  }
  if (!parsed) {
    auto obj = ParseStored(stored);
    if (!obj.ok()) return std::nullopt;
    parsed = std::move(obj.value());
  }
  return WatchEvent{type, std::move(*parsed)};
}

class RegistryWatch : public WatchStream {
 public:
  RegistryWatch(const KindStrategy* kind, WatchOptions options,
                std::unique_ptr<storage::Watcher> watcher, std::deque<WatchEvent> initial)
      : kind_(kind),
        options_(std::move(options)),
        watcher_(std::move(watcher)),
        pending_(std::move(initial)),
        last_bookmark_(std::chrono::steady_clock::now()) {}

  // A stream that only reports an error, then ends.
  explicit RegistryWatch(WatchEvent error) : kind_(nullptr) {
    pending_.push_back(std::move(error));
  }

  bool Next(std::chrono::milliseconds timeout, std::vector<WatchEvent>* out) override {
    if (!pending_.empty()) {
      while (!pending_.empty()) {
        out->push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      return true;
    }
    if (!watcher_ || ended_) return false;
    std::vector<storage::EventPtr> events;
    bool expired = false;
    bool alive = watcher_->NextShared(timeout, &events, &expired);
    for (auto& e : events) Translate(std::move(e), out);
    if (!alive) {
      ended_ = true;
      if (expired) {
        out->push_back(
            {"ERROR", ExpiredStatus("The resourceVersion for the provided watch is too "
                                    "old; the watch fell behind and must be restarted")});
      }
      return !out->empty();
    }
    auto now = std::chrono::steady_clock::now();
    if (!events.empty()) {
      last_bookmark_ = now;
    } else if (options_.allow_bookmarks && now - last_bookmark_ >= options_.bookmark_interval) {
      last_bookmark_ = now;
      out->push_back({"BOOKMARK", Bookmark(*kind_, watcher_->ProgressRevision(), false)});
    }
    return true;
  }

  void Stop() override {
    if (watcher_) watcher_->Stop();
  }

  bool SetReadyCallback(std::function<void()> ready) override {
    if (!watcher_) {  // an error-only stream: ready now
      if (ready) ready();
      return true;
    }
    const bool pending = !pending_.empty();
    if (!watcher_->SetReadyCallback(ready)) return false;
    if (pending && ready) ready();  // the initial events
    return true;
  }

 private:
  bool Selects(const json::Value& obj) const {
    return Registry::Matches(*kind_, obj, options_.label_selector, options_.field_selector);
  }

  void Translate(storage::EventPtr event, std::vector<WatchEvent>* out) {
    const storage::Event& e = *event;
    const bool filtered = !options_.label_selector.empty() || !options_.field_selector.empty();
    const char* type = e.type == storage::EventType::kAdded      ? "ADDED"
                       : e.type == storage::EventType::kModified ? "MODIFIED"
                                                                 : "DELETED";
    std::optional<json::Value> parsed;
    if (filtered) {
      // Selector transitions, as upstream's cacher: an object that starts matching is ADDED,
      // one that stops matching is DELETED.
      auto obj = ParseStored(e.value);
      if (!obj.ok()) return;
      const bool now_match = Selects(*obj);
      bool was_match = false;
      if (e.type != storage::EventType::kAdded && !e.prev_value.empty()) {
        auto prev = ParseStored(e.prev_value);
        was_match = prev.ok() && Selects(*prev);
      }
      switch (e.type) {
        case storage::EventType::kAdded:
          if (!now_match) return;
          break;
        case storage::EventType::kModified:
          if (!now_match && !was_match) return;
          if (now_match != was_match) type = now_match ? "ADDED" : "DELETED";
          break;
        case storage::EventType::kDeleted:
          if (!now_match && !was_match) return;
          break;
      }
      parsed = std::move(obj.value());
    }
    if (auto ev = ObjectEvent(type, e.value, std::move(parsed), options_.raw_objects)) {
      ev->source = std::move(event);  // the stored bytes, shared rather than copied
      out->push_back(std::move(*ev));
    }
  }

  const KindStrategy* kind_;
  WatchOptions options_;
  std::unique_ptr<storage::Watcher> watcher_;
  std::deque<WatchEvent> pending_;
  std::chrono::steady_clock::time_point last_bookmark_;
  bool ended_ = false;
};

}  // namespace

StatusOr<std::unique_ptr<WatchStream>> Registry::Watch(const Scope& scope,
                                                       const WatchOptions& options) {
  const KindStrategy& kind = *scope.kind;
  CSDR_RETURN_IF_ERROR(ValidateFieldSelector(kind, options.field_selector));
  const std::string prefix = Prefix(kind, scope.namespace_);

  std::deque<WatchEvent> initial;
  int64_t after = 0;
  bool initial_events = options.send_initial_events.value_or(options.resource_version.empty() ||
                                                             options.resource_version == "0");
  if (options.send_initial_events.has_value() && !*options.send_initial_events &&
      (options.resource_version.empty() || options.resource_version == "0")) {
    after = 0;  // from now, nothing replayed
  } else if (initial_events) {
    // "Get state and start at most recent": the current objects as synthetic ADDED events,
    // then every change after the revision they were read at.
    auto page = store_->List(prefix, "", 0, 0);
    if (!page.ok()) return page.status();
    after = page->revision;
    const bool filtered = !options.label_selector.empty() || !options.field_selector.empty();
    for (auto& kv : page->items) {
      std::optional<json::Value> parsed;
      if (filtered) {
        auto obj = ParseStored(kv.value);
        if (!obj.ok() || !Matches(kind, *obj, options.label_selector, options.field_selector)) {
          continue;
        }
        parsed = std::move(obj.value());
      }
      if (auto ev = ObjectEvent("ADDED", kv.value, std::move(parsed), options.raw_objects)) {
        if (options.raw_objects) ev->raw = std::move(kv.value);
        initial.push_back(std::move(*ev));
      }
    }
    if (options.send_initial_events.value_or(false)) {
      initial.push_back({"BOOKMARK", Bookmark(kind, after, true)});
    }
  } else {
    after = -1;
    const std::string& s = options.resource_version;
    if (s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos)
      after = std::stoll(s);
    if (after < 0) {
      return Status(Code::kBadRequest, "invalid resource version \"" + s + "\"");
    }
  }
  auto watcher = store_->Watch(prefix, after);
  if (!watcher.ok()) {
    if (watcher.status().code() == Code::kExpired) {
      // Upstream answers 200 and one ERROR event; clients relist on it.
      return std::unique_ptr<WatchStream>(new RegistryWatch(WatchEvent{
          "ERROR", ExpiredStatus("too old resource version: " + std::to_string(after) + " (" +
                                 std::to_string(store_->CompactedRevision()) + ")")}));
    }
    return watcher.status();
  }
  return std::unique_ptr<WatchStream>(
      new RegistryWatch(&kind, options, std::move(watcher.value()), std::move(initial)));
}

}  // namespace csdr::apiserver
