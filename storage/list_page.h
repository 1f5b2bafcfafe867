// Helpers shared by the backends' List: key ranges and snapshot pages rebuilt from history.
//
// A snapshot at revision R is the current state with every event newer than R undone: an
// undone kAdded removes the key, an undone kModified/kDeleted restores prev_value with its
// prev_revision. Undoing newest-first leaves, per key, the state before the oldest event
// newer than R, which is the state at R. The backend then merges its current items with
// these overrides in key order.
//
// Internal to csdr_storage; not thread-safe (one instance per List call).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"
#include "storage/watch_hub.h"

namespace csdr::storage::internal {

inline bool HasPrefix(std::string_view key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0;
}

// The smallest key that sorts after every key starting with `prefix`, or nullopt when there
// is none (empty prefix or all 0xff bytes). Byte order, as SQLite compares BLOBs.
std::optional<std::string> PrefixEnd(std::string_view prefix);

// The smallest key a List(prefix, start_after) may return: max(prefix, start_after + "\0").
std::string ListLowerBound(std::string_view prefix, std::string_view start_after);

inline bool InListRange(std::string_view key, std::string_view prefix,
                        std::string_view start_after) {
  return HasPrefix(key, prefix) && key > start_after;
}

// The state at an older revision of the keys that changed since, built by undoing events.
class SnapshotOverlay {
 public:
  // Undo one event; call in descending revision order for every event newer than the
  // snapshot under the listed prefix.
  void Undo(const Event& e);

  // Merges `next_current` (yields current items in ascending key order, starting at
  // ListLowerBound(prefix, start_after), stopping when the prefix ends; returns false when
  // done) with the overrides into `out->items`, honouring `limit` (0: none) and setting
  // out->more.
  template <typename NextCurrent>
  void Merge(NextCurrent&& next_current, std::string_view prefix, std::string_view start_after,
             size_t limit, ListResult* out) const;

 private:
  // key -> the key's state at the snapshot revision (nullopt: absent then).
  std::map<std::string, std::optional<KeyValue>, std::less<>> state_;
};

template <typename NextCurrent>
void SnapshotOverlay::Merge(NextCurrent&& next_current, std::string_view prefix,
                            std::string_view start_after, size_t limit, ListResult* out) const {
  auto ov = state_.lower_bound(ListLowerBound(prefix, start_after));
  auto ov_done = [&] { return ov == state_.end() || !HasPrefix(ov->first, prefix); };
  KeyValue cur;
  bool has_cur = next_current(&cur);
  // Returns false once the page is full (and more is known).
  auto emit = [&](KeyValue kv) {
    if (limit != 0 && out->items.size() == limit) {
      out->more = true;
      return false;
    }
    out->items.push_back(std::move(kv));
    return true;
  };
  while (has_cur || !ov_done()) {
    if (!ov_done() && (!has_cur || ov->first <= cur.key)) {
      // The override decides this key, whether or not it is present now.
      if (has_cur && ov->first == cur.key) has_cur = next_current(&cur);
      if (ov->second.has_value() && !emit(*ov->second)) return;
      ++ov;
    } else {
      if (!emit(std::move(cur))) return;
      has_cur = next_current(&cur);
    }
  }
}

// A List page from an in-memory map of the current objects (key -> KeyValue, at revision
// `current`) and the hub's history (memory:// and etcd://'s watch cache): the current state
// item by item, one copy each; an older revision by undoing the events after it (kExpired when
// the hub no longer has them). The caller holds whatever guards `data`.
template <typename Map>
StatusOr<ListResult> ListFromMemory(const Map& data, int64_t current, const WatchHub& hub,
                                    const std::string& prefix, const std::string& start_after,
                                    size_t limit, int64_t at_revision) {
  ListResult result;
  result.revision = at_revision == 0 ? current : at_revision;
  auto it = data.lower_bound(ListLowerBound(prefix, start_after));
  if (result.revision >= current) {
    for (; it != data.end() && HasPrefix(it->first, prefix); ++it) {
      if (limit != 0 && result.items.size() == limit) {
        result.more = true;
        break;
      }
      result.items.push_back(it->second);
    }
    return result;
  }
  std::vector<std::shared_ptr<const Event>> newer;
  if (Status s = hub.EventsAfter(result.revision, prefix, &newer); !s.ok()) {
    return Status(s.code(), "list at revision " + std::to_string(result.revision) +
                                " is too old: " + s.message());
  }
  SnapshotOverlay overlay;
  for (auto e = newer.rbegin(); e != newer.rend(); ++e) overlay.Undo(**e);
  auto next_current = [&](KeyValue* kv) {
    if (it == data.end() || !HasPrefix(it->first, prefix)) return false;
    *kv = it->second;
    ++it;
    return true;
  };
  overlay.Merge(next_current, prefix, start_after, limit, &result);
  return result;
}

}  // namespace csdr::storage::internal
