// Registry::Watch: storage events turned into API watch events, after k8s.io/apiserver's
// cacher watchers: selector transitions become ADDED/DELETED, initial state is replayed as
// synthetic ADDED events for resourceVersion "" and "0", bookmarks when asked.
#include <deque>

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

// Stored objects are our own serializer's output, so a JSON object starts with '{' and ends
// with '}'; anything else (a damaged row) is skipped as an unparsable one would be.
bool IsObject(std::string_view value) {
  return value.size() >= 2 && value.front() == '{' && value.back() == '}';
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
    std::vector<storage::Event> events;
    bool expired = false;
    bool alive = watcher_->Next(timeout, &events, &expired);
    for (auto& e : events) Translate(e, out);
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

 private:
  bool Selects(const json::Value& obj) const {
    return Registry::Matches(*kind_, obj, options_.label_selector, options_.field_selector);
  }

  void Translate(storage::Event& e, std::vector<WatchEvent>* out) {
    const bool filtered = !options_.label_selector.empty() || !options_.field_selector.empty();
    // The event as the caller wants it: the stored bytes, or the object parsed.
    auto emit = [&](const char* type, StatusOr<json::Value>* parsed) {
      if (options_.raw_objects) {
        out->push_back({type, json::Value(), std::move(e.value)});
        return;
      }
      if (!parsed->ok()) *parsed = ParseStored(e.value);
      if (parsed->ok()) out->push_back({type, std::move(parsed->value()), {}});
    };
    StatusOr<json::Value> obj = Status(Code::kInternal, "not parsed");
    if (!filtered) {
      const char* type = e.type == storage::EventType::kAdded      ? "ADDED"
                         : e.type == storage::EventType::kModified ? "MODIFIED"
                                                                   : "DELETED";
      if (options_.raw_objects && !IsObject(e.value)) return;  // as a failed parse below
      emit(type, &obj);
      return;
    }
    obj = ParseStored(e.value);
    if (!obj.ok()) return;
    bool now_match = Selects(*obj);
    bool was_match = false;
    if (e.type != storage::EventType::kAdded && !e.prev_value.empty()) {
      auto prev = ParseStored(e.prev_value);
      was_match = prev.ok() && Selects(*prev);
    }
    switch (e.type) {
      case storage::EventType::kAdded:
        if (now_match) emit("ADDED", &obj);
        break;
      case storage::EventType::kModified:
        if (now_match && was_match)
          emit("MODIFIED", &obj);
        else if (now_match)
          emit("ADDED", &obj);
        else if (was_match)
          emit("DELETED", &obj);
        break;
      case storage::EventType::kDeleted:
        if (was_match || now_match) emit("DELETED", &obj);
        break;
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
      if (options.raw_objects && !filtered) {
        if (IsObject(kv.value)) initial.push_back({"ADDED", json::Value(), std::move(kv.value)});
        continue;
      }
      auto obj = ParseStored(kv.value);
      if (!obj.ok()) continue;
      if (!Matches(kind, *obj, options.label_selector, options.field_selector)) continue;
      if (options.raw_objects) {
        initial.push_back({"ADDED", json::Value(), std::move(kv.value)});
      } else {
        initial.push_back({"ADDED", std::move(obj.value()), {}});
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
