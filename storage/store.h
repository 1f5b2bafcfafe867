// The Store interface: a versioned key-value store with watch, shaped after
// k8s.io/apiserver's storage.Interface on etcd3.
//
// Keys are opaque byte strings such as "/csdr.io/backups/csdr/nightly-1"; values are the
// serialized objects (the registry stores JSON). Every successful write gets the next value
// of ONE store-wide revision counter (strictly +1, never reused); an object's
// resourceVersion is the revision of its last write (mod_revision), as on etcd.
//
// Values are produced by an Encoder that receives the revision the write will get, so that
// the stored bytes already carry their resourceVersion and reads never re-encode.
//
// Errors (Status codes): kAlreadyExists (create of a present key), kNotFound, kConflict
// (expected revision differs), kExpired (a revision older than the retained event history),
// kUnavailable / kInternal (backend failure; nothing was written).
//
// Durability: when a write returns OK, it is durable (for SQLite: committed and synced).
// A write that returns an error did not happen.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace csdr::storage {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

enum class EventType { kAdded, kModified, kDeleted };

// Encodings of one event that its readers share, as k8s.io/apiserver's cachingObject: every
// watcher of a write that writes it the same way (the same watch line, the same Table row)
// takes the bytes the first one made. Keys are the readers' own ("ADDED json", ...). The
// watch history drops them once the event is no longer among the newest (WatchHub), so they
// cost memory only while fan-out needs them. A copied event starts with none.
class EncodingMemo {
 public:
  EncodingMemo() = default;
  EncodingMemo(const EncodingMemo&) {}
  EncodingMemo& operator=(const EncodingMemo&) { return *this; }

  // The encoding under `key`: made by `make` (under the memo's lock, so once) when absent.
  std::shared_ptr<const std::string> GetOrMake(std::string_view key,
                                               const std::function<std::string()>& make) const;
  void Clear() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> entries_;
};

struct Event {
  EventType type = EventType::kAdded;
  std::string key;
  // kAdded/kModified: the new value. kDeleted: the value as it was when deleted, re-encoded
  // by the delete's Encoder (so it carries the deletion revision).
  std::string value;
  // kModified/kDeleted: the value before this event; empty for kAdded.
  std::string prev_value;
  int64_t revision = 0;  // the revision of this write
  // Added for snapshot reads and watch caches (etcd's kv.create_revision and
  // prev_kv.mod_revision); trailing, so existing aggregate initializers stay valid.
  // The create revision of the object this event is about (for kDeleted: of the deleted one).
  int64_t create_revision = 0;
  // The mod_revision of prev_value; 0 for kAdded.
  int64_t prev_revision = 0;
  // What readers made of this event, shared among them (see EncodingMemo).
  EncodingMemo encodings = {};
};

// An event as the watch history holds it and hands it to watchers: shared, never copied.
using EventPtr = std::shared_ptr<const Event>;

// Builds the bytes to store, given the revision this write will be committed at.
// It runs inside the write (sqlite://: on the writer thread, in the open transaction, so a
// slow encoder delays every write of its batch): keep it cheap and never call the Store from
// it. An exception it throws fails that write alone with kInternal.
using Encoder = std::function<std::string(int64_t revision)>;

// A live watch. Events arrive in revision order, each exactly once, none at or below the
// revision the watch was started after.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Waits up to `timeout` for events and moves the ready ones into *out (appending).
  // Returns false when the watch has ended (store closed, or the watcher fell so far behind
  // that its buffer overflowed: then *expired is set and the client must relist).
  virtual bool Next(std::chrono::milliseconds timeout, std::vector<Event>* out, bool* expired) = 0;
  // Next, with the events as the history holds them (no copy of their values, and their
  // EncodingMemo shared with every other watcher). By default, Next's events wrapped.
  virtual bool NextShared(std::chrono::milliseconds timeout, std::vector<EventPtr>* out,
                          bool* expired);
  // The highest revision this watcher has been told about: every event <= it has been
  // delivered or filtered. Used for bookmarks.
  virtual int64_t ProgressRevision() const = 0;
  // Ends the watch; Next returns false afterwards. Safe from any thread. No ready callback
  // (below) runs after it returns.
  virtual void Stop() = 0;
  // Asks to be told when Next() would return without waiting (events queued, or the watch
  // ended): `ready` is called from the writer's thread with the watcher's lock held, so it
  // must only signal (queue and wake, never call into the watcher), and at once when that is
  // already so. Replaces an earlier callback; nullptr stops the calls. False when this
  // watcher cannot (the caller then waits in Next).
  virtual bool SetReadyCallback(std::function<void()> ready) {
    (void)ready;
    return false;
  }
};

struct ListResult {
  std::vector<KeyValue> items;  // ordered by key
  int64_t revision = 0;         // the revision the list reflects
  bool more = false;            // true when `limit` cut the result short
};

// Counters a backend may expose for metrics and tests. All are totals since open.
struct StoreStats {
  int64_t writes = 0;            // writes that committed (each consumed one revision)
  int64_t failed_writes = 0;     // writes refused (precondition, encoder or backend error)
  int64_t transactions = 0;      // backend commits carrying writes (SQLite: group commits)
  int64_t pending_writes = 0;    // gauge: writes queued for the writer right now
  int64_t compacted_events = 0;  // history entries dropped by compaction
  int64_t watchers = 0;          // gauge: open watchers
  int64_t expired_watchers = 0;  // watchers ended because their buffer overflowed
  // Backends with a watch cache (etcd://): Lists served from it, and Lists sent to the
  // backend itself (consistent lists without a fresh cache, revisions it does not hold).
  int64_t lists_from_cache = 0;
  int64_t lists_from_backend = 0;
  // GetRecent answered from the watch cache (the others went to the backend).
  int64_t gets_from_cache = 0;
};

// Tuning knobs; the defaults are what production uses, tests shrink them.
struct StoreOptions {
  // Events the in-memory watch history (the ring buffer every Watch replays from) keeps, and
  // the bytes it may hold (keys + values + prev_values). 100,000 events is the upper bound of
  // k8s.io/apiserver's watch cache (100 x 1024): at 1,000 writes/s that is 100 s, more than
  // its 75 s freshness window. The byte cap keeps resident size within the design's "a few
  // tens of MiB with 10,000 objects" whatever the objects weigh: 16 MiB is 4,000 updates of
  // 2 KiB objects (value + prev_value). sqlite:// replays older retained history from its
  // event log, so the cap only decides what is served from memory; for memory:// it IS the
  // retention: older revisions are kExpired.
  size_t watch_history_events = 100000;
  size_t watch_history_bytes = size_t{16} << 20;
  // Events one watcher may have waiting (beyond its initial replay) before it is ended with
  // expired=true. Next() hands over everything ready at once, so a reader that keeps up
  // never holds more than one burst; 4,096 is eight full SQLite write batches. A watcher
  // whose oldest waiting event has left the watch history (watch_history_*) is ended too.
  size_t watcher_queue_limit = 4096;
  // How long List waits for a revision above the current one before kTimeout (upstream's
  // watch cache waits 3 s, then answers 504 "Too large resource version").
  std::chrono::milliseconds future_revision_wait{3000};

  // sqlite:// only. The event log keeps at least this many newest revisions...
  int64_t log_retention_events = 100000;
  // ...and drops entries older than this even within that count (0: no age limit). An hour
  // is far beyond the 5-10 minutes kube-apiserver keeps on etcd; clients resuming from
  // older revisions relist on 410 anyway, and a quiet cluster's file stays small.
  std::chrono::milliseconds log_retention_age{std::chrono::hours(1)};
  // How often the writer thread looks for log entries to compact when it is idle, and how
  // many it deletes per transaction (small, so a compaction step never delays writes long).
  std::chrono::milliseconds compaction_interval{1000};
  int64_t compaction_batch = 1000;
  // Most writes one transaction carries: bounds the latency a batch adds to its first write.
  size_t max_batch_writes = 512;
  // One process may own a database file (its writer allocates revisions in memory). A
  // second opener waits this long for the first to let go (a rolling update's old pod
  // exiting), then fails with kUnavailable.
  std::chrono::milliseconds open_lock_wait{10000};

  // etcd:// only. etcd assigns a write's revision when it commits, so that backend calls the
  // Encoder with revision 0 and puts the real one in with this function on every value it
  // hands out (value, mod_revision) -> value. Null: values are handed out as stored.
  std::function<std::string(const std::string& value, int64_t revision)> stamp_revision;
  // etcd:// only: whether a List of the latest state may be served from the watch cache
  // after a progress request proves it fresh. nullopt: decided from etcd's version
  // (3.4.31+, 3.5.13+, as upstream's feature check); tests force either path.
  std::optional<bool> consistent_list_from_cache;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates `key`. kAlreadyExists if it is present. Returns the write's revision.
  virtual StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) = 0;

  // Current value of `key`, or kNotFound.
  virtual StatusOr<KeyValue> Get(const std::string& key) = 0;

  // `key` as this process last saw it, which may lag a write committed elsewhere by the
  // time its watch takes to bring it (kube-apiserver's get at resourceVersion=0): for
  // readers that tolerate that, such as the admission rules' facts. A backend with a watch
  // cache answers from memory and confirms an absent key with Get, so that an object
  // created through another replica a moment ago is never reported missing; the others
  // answer Get.
  virtual StatusOr<KeyValue> GetRecent(const std::string& key) { return Get(key); }

  // The revision GetRecent and ListRecent read at (the watch cache's; CurrentRevision()
  // where there is none): it moves on once their answers may have changed, so a reader may
  // keep what they said until it does.
  virtual int64_t RecentRevision() { return CurrentRevision(); }

  // List(prefix, start_after, limit, 0) with GetRecent's freshness (kube-apiserver's list at
  // resourceVersion=0): from the watch cache where there is one, without asking the backend
  // whether it is current.
  virtual StatusOr<ListResult> ListRecent(const std::string& prefix, const std::string& start_after,
                                          size_t limit) {
    return List(prefix, start_after, limit, 0);
  }

  // Keys that start with `prefix` and sort strictly after `start_after` (empty: from the
  // beginning), at most `limit` of them (0: no limit), as of `at_revision` (0: the latest;
  // otherwise a snapshot at that revision rebuilt from retained history, or kExpired when
  // that history was compacted away; a revision above the current one is kTimeout after a
  // short wait, as etcd does for a future revision).
  virtual StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after,
                                    size_t limit, int64_t at_revision) = 0;

  // Replaces `key` when its mod_revision equals `expected_revision` (0: unconditionally).
  // kNotFound if absent, kConflict on a revision mismatch. Returns the write's revision.
  virtual StatusOr<int64_t> Update(const std::string& key, int64_t expected_revision,
                                   const Encoder& encode) = 0;

  // Deletes `key` under the same precondition as Update. `encode` builds the tombstone
  // value carried by the kDeleted event (the last state with the deletion revision); when
  // null, the last stored value is used. Returns the write's revision.
  virtual StatusOr<int64_t> Delete(const std::string& key, int64_t expected_revision,
                                   const Encoder& encode) = 0;

  // The revision of the latest committed write (0 for an empty new store).
  virtual int64_t CurrentRevision() = 0;

  // The oldest revision a watch or a snapshot List can still start from: Watch(after = r)
  // works for r >= CompactedRevision(); below it is kExpired.
  virtual int64_t CompactedRevision() = 0;

  // Watches keys under `prefix` for writes with revision > `after_revision`.
  // after_revision == 0 means "from now" (the current revision).
  virtual StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                                   int64_t after_revision) = 0;

  // Flushes and closes; every Watcher ends. Further calls fail with kUnavailable.
  virtual void Close() = 0;

  // Counters for metrics; a backend without any returns zeros.
  virtual StoreStats Stats() { return {}; }

  // The backend's own readiness, for /readyz (kube-apiserver's "etcd" check): OK when it can
  // serve now. etcd:// answers from a recent round trip to the cluster; the embedded
  // backends are ready while open.
  virtual Status CheckHealth() { return Status(); }
  // The name /readyz lists that check under ("etcd" for etcd://), empty when there is none.
  virtual std::string HealthCheckName() const { return {}; }
};

// Opens a store from a URL: "memory://", "sqlite:///abs/path/file.db" (relative paths:
// "sqlite://./data/csdr.db" is also accepted). kBadRequest for an unknown scheme,
// kInternal/kUnavailable with a clear message when the backend cannot open (e.g. a damaged
// database file).
StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url);
StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options);

}  // namespace csdr::storage
