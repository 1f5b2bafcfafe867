// Registry: the generic REST storage for the csdr.io kinds, after k8s.io/apiserver's
// registry/generic/registry.Store. One instance serves every kind; per-kind behaviour comes
// from the KindStrategy. It knows nothing of HTTP: the endpoint handlers decode requests
// into these calls and encode results and Status errors.
//
// Error messages are upstream's (`backups.csdr.io "b1" not found`, the optimistic-lock
// text, ...); the caller adds metav1.Status details from the request scope.
//
// Thread safety: all methods are safe for concurrent use; the store serializes writes and
// optimistic concurrency (resourceVersion preconditions) resolves races.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/auth/auth.h"
#include "apiserver/kinds/kind.h"
#include "apiserver/registry/admission.h"
#include "common/json.h"
#include "common/selector.h"
#include "common/status.h"
#include "storage/store.h"

namespace csdr::apiserver {

enum class FieldValidation { kIgnore, kWarn, kStrict };

// Who is asking, about what.
struct Scope {
  const KindStrategy* kind = nullptr;
  std::string namespace_;   // "" for cluster-scoped kinds and all-namespace lists
  std::string name;         // "" for collections
  std::string subresource;  // "" or "status"
  const UserInfo* user = nullptr;
};

struct WriteOptions {
  bool dry_run = false;
  FieldValidation field_validation = FieldValidation::kWarn;  // upstream's default
  std::string field_manager;  // from ?fieldManager= or derived from the User-Agent
  bool force = false;         // server-side apply only
};

struct ListOptions {
  LabelSelector label_selector;
  FieldSelector field_selector;
  int64_t limit = 0;
  std::string continue_token;
  std::string resource_version;        // "", "0" or a number
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
};

struct ListResult {
  // Stored objects in key order: each one's storage key, its serialized JSON (value) and its
  // mod_revision.
  std::vector<storage::KeyValue> items;
  int64_t resource_version = 0;
  std::string continue_token;
  std::optional<int64_t> remaining_item_count;
};

struct DeleteOptions {
  bool dry_run = false;
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;  // "", Background, Foreground, Orphan
};

struct WriteResult {
  json::Value object;
  bool created = false;  // 201 rather than 200
  bool deleted = false;  // delete: the object is gone (answer a Success Status)
  std::vector<std::string> warnings;
};

enum class PatchType { kJson, kMerge, kApply };

// A watch event ready to encode: type and the object.
struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  json::Value object;
  // With WatchOptions::raw_objects, an object event carries the object's JSON as stored here
  // or in `source` (RawObject()) instead of `object` (which is then null); BOOKMARK and
  // ERROR events always use `object`.
  std::string raw = {};
  // The stored event a live object event comes from, shared with every other watcher of it:
  // its value is the object (raw_objects), and its EncodingMemo lets the watchers that write
  // the event the same way encode it once. Null for initial, BOOKMARK and ERROR events.
  storage::EventPtr source = nullptr;

  // The object's JSON as stored (raw_objects); empty when the event carries `object`.
  std::string_view RawObject() const {
    if (!raw.empty()) return raw;
    if (source != nullptr && object.is_null()) return source->value;
    return {};
  }
};

struct WatchOptions {
  LabelSelector label_selector;
  FieldSelector field_selector;
  // The caller writes objects as plain JSON: hand the stored bytes through (WatchEvent::raw)
  // instead of a parsed tree that the caller would serialize back to the same bytes. Every
  // watcher of a write otherwise parses and re-serializes the same object.
  bool raw_objects = false;
  std::string resource_version;  // "", "0" or a number
  bool allow_bookmarks = false;
  // sendInitialEvents (watch-list): true sends the current objects as ADDED events, then a
  // BOOKMARK annotated k8s.io/initial-events-end, then changes; false sends no initial
  // events whatever the resourceVersion; unset follows resource_version as above.
  std::optional<bool> send_initial_events;
  // How often an idle watch that allows bookmarks receives one. Upstream sends them about
  // once a minute; more often costs little and lets clients resume closer to the head.
  std::chrono::milliseconds bookmark_interval{15000};
};

class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Waits up to `timeout`; appends ready events. false when the stream ended (the last
  // event may be an ERROR).
  virtual bool Next(std::chrono::milliseconds timeout, std::vector<WatchEvent>* out) = 0;
  virtual void Stop() = 0;
  // storage::Watcher::SetReadyCallback for the stream: `ready` says Next(0) has something
  // (or the stream ended). Next stays single-consumer. False when the stream cannot.
  virtual bool SetReadyCallback(std::function<void()> ready) {
    (void)ready;
    return false;
  }
};

class Registry {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  Registry(storage::Store* store, AdmissionController* admission, Clock clock = nullptr);

  StatusOr<WriteResult> Create(const Scope& scope, json::Value object, const WriteOptions& options);
  StatusOr<json::Value> Get(const Scope& scope);
  // Validates options (selectors against the kind's selectable fields) and lists.
  StatusOr<ListResult> List(const Scope& scope, const ListOptions& options);
  StatusOr<WriteResult> Update(const Scope& scope, json::Value object, const WriteOptions& options);
  StatusOr<WriteResult> Patch(const Scope& scope, PatchType type, const json::Value& patch,
                              const WriteOptions& options);
  StatusOr<WriteResult> Delete(const Scope& scope, const DeleteOptions& options);
  // Deletes every matching object; returns the deleted (or finalizing) objects.
  StatusOr<std::vector<json::Value>> DeleteCollection(const Scope& scope, const ListOptions& list,
                                                      const DeleteOptions& options);
  StatusOr<std::unique_ptr<WatchStream>> Watch(const Scope& scope, const WatchOptions& options);

  // Checks a field selector's fields against the kind (400 for an unknown field).
  static Status ValidateFieldSelector(const KindStrategy& kind, const FieldSelector& selector);
  // Whether an object (parsed) matches the selectors.
  static bool Matches(const KindStrategy& kind, const json::Value& object,
                      const LabelSelector& labels, const FieldSelector& fields);

  // The storage key of an object, and the prefix of a collection.
  static std::string Key(const KindStrategy& kind, const std::string& ns, const std::string& name);
  static std::string Prefix(const KindStrategy& kind, const std::string& ns);

  std::string Now() const;  // RFC3339 UTC, seconds

 private:
  StatusOr<WriteResult> UpdateLoop(
      const Scope& scope, const WriteOptions& options,
      const std::function<StatusOr<json::Value>(const json::Value& current, bool* precondition_rv)>&
          transform,
      bool allow_create_via_apply, const json::Value* apply_patch);
  StatusOr<WriteResult> CreatePrepared(const Scope& scope, json::Value object,
                                       const WriteOptions& options,
                                       std::vector<std::string> warnings, bool from_apply);

  storage::Store* store_;
  AdmissionController* admission_;
  Clock clock_;
};

// "backups.csdr.io" (resource.group), as upstream's qualified resource.
std::string QualifiedResource(const KindInfo& info);
// "Backup.csdr.io" (kind.group), used in Invalid messages.
std::string QualifiedKind(const KindInfo& info);
// Sorts object keys recursively (Go's unstructured encoding order), in place.
void SortKeys(json::Value* value);
// Encodes/decodes the continue token (upstream's base64 JSON {"v","rv","start"}).
std::string EncodeContinue(int64_t rv, const std::string& start_key);

// Sets metadata.resourceVersion of a stored object to `revision`: the
// StoreOptions::stamp_revision of backends that learn a write's revision only when it
// commits (etcd://). A value that is not a JSON object is returned unchanged.
std::string StampResourceVersion(const std::string& stored, int64_t revision);
StatusOr<std::pair<int64_t, std::string>> DecodeContinue(const std::string& token);

}  // namespace csdr::apiserver
