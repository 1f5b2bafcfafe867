// Reflector: an in-memory copy of one resource of the cluster, kept current by list-then-
// watch on a background thread, so that admission reads it without an API round trip.
//
// The loop, as client-go's reflector runs it:
//   1. LIST the resource in pages (`limit`, then `continue`), with no resourceVersion: a
//      consistent read. Every page answers at the first page's resourceVersion; the whole
//      result replaces the cache at once (objects deleted while we were away disappear).
//   2. WATCH from that resourceVersion (allowWatchBookmarks=true, timeoutSeconds drawn from
//      [watch_timeout, 2 x watch_timeout) so that reflectors do not renew in step), applying
//      ADDED / MODIFIED / DELETED to the map and moving the resourceVersion on every event,
//      BOOKMARK included.
//   3. When the server ends the watch (its timeout), watch again from the last
//      resourceVersion. On 410 Expired (as an HTTP status or an ERROR event), any other ERROR
//      event, an undecodable event or a broken stream: wait (exponential backoff with
//      jitter, reset once a watch is healthy again) and go back to 1.
//
// What is cached: every object gets its apiVersion and kind (LIST items lack them) and loses
// metadata.managedFields (bulk no rule reads). A Secret is reduced at once to a summary (see
// SummarizeSecretObject): its values never enter the cache, and nothing here ever logs an
// object or a response body, only kinds, keys, resourceVersions and error messages.
//
// Usability: lookups answer kUnknown, with a reason fit for a denial message, until the
// first LIST has been applied ("cluster cache for secrets in csdr has not synced: <last
// error>"), and again when the API server has been out of reach for longer than
// max_staleness ("... is stale: ..."): a short outage (a watch renewal, a relist after 410)
// keeps serving the last state, as an informer does; a long one fails closed.
//
// Thread safety: lookups (Get, List, HasSynced, status) may be called from any number of
// threads while the reflector runs; they take a shared lock and hand out shared_ptr
// snapshots of immutable objects. Start and Stop are for one owning thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/json.h"
#include "common/status.h"
#include "kube/client.h"
#include "webhook/policy/facts.h"

namespace csdr::webhook {

// Which resource a reflector mirrors.
struct ResourceSpec {
  std::string group_version_path;  // "/api/v1" or "/apis/storage.k8s.io/v1"
  std::string api_version;         // "v1" or "storage.k8s.io/v1"
  std::string kind;                // "Secret"
  std::string resource;            // "secrets"
  bool namespaced = true;
  // The one namespace watched ("" = all namespaces, or a cluster-scoped resource).
  std::string watched_namespace;
  // What the cache keeps of a decoded object (after apiVersion/kind are set and
  // managedFields dropped); unset keeps the object.
  std::function<json::Value(json::Value)> transform;
  // A fieldSelector for the list and the watch ("metadata.name=csi-plugin"): one object of
  // the resource rather than all, and RBAC that names it (resourceNames).
  std::string field_selector = {};

  // "/api/v1/namespaces/csdr/secrets", "/apis/storage.k8s.io/v1/storageclasses".
  std::string ListPath() const;
  // "secrets in csdr", "persistentvolumeclaims", for messages.
  std::string Description() const;
};

// The five resources the policy engine reads from the cluster.
ResourceSpec SecretsSpec(std::string ns);  // summarized, see SummarizeSecretObject
ResourceSpec NamespacesSpec();
ResourceSpec StorageClassesSpec();
ResourceSpec PersistentVolumeClaimsSpec();  // all namespaces
ResourceSpec ConfigMapsSpec(std::string ns);

// What discovery reads (observed_facts.h), each reduced by its transform to what it reads:
// Nodes (name, the two region labels, spec.providerID: a large cluster's Nodes are big),
// and one named Deployment, DaemonSet or ConfigMap in kube-system (its containers' names and
// images; the ConfigMap's clusterid, uid, vpcid and vsw-zone).
ResourceSpec NodesSpec();
ResourceSpec SystemObjectSpec(std::string_view kind, std::string name);

// What the Secret cache keeps: apiVersion, kind, type, metadata reduced to name, namespace,
// uid, resourceVersion, creationTimestamp, deletionTimestamp and labels (annotations go:
// kubectl apply copies the whole Secret, data included, into one), and `keys`, an object
// mapping each key of data/stringData to whether its value is non-empty, as
// SummarizeSecret (facts.h) decides. No value, encoded or not, survives.
json::Value SummarizeSecretObject(const json::Value& secret);
// The SecretFact of such a summary (kPresent).
SecretFact SecretFactOfSummary(const json::Value& summary);

struct ReflectorOptions {
  // Objects per LIST page.
  int page_size = 500;
  // The watch's timeoutSeconds is drawn from [watch_timeout, 2 x watch_timeout).
  std::chrono::seconds watch_timeout{300};
  // Extra read timeout on top of timeoutSeconds before a silent watch counts as broken.
  std::chrono::seconds watch_read_slack{30};
  // Backoff between failed attempts: doubles from initial up to max, plus up to 20 % jitter.
  std::chrono::milliseconds backoff_initial{800};
  std::chrono::milliseconds backoff_max{30'000};
  // How long the cache keeps answering after contact with the API server is lost.
  std::chrono::milliseconds max_staleness{30'000};
  // Time source for staleness (tests inject one); unset: steady_clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// A snapshot of a reflector's state, for the status line and tests.
struct ReflectorStatus {
  bool synced = false;                            // a full LIST has been applied
  bool connected = false;                         // listing or watching without a failure since
  std::chrono::milliseconds disconnected_for{0};  // when !connected
  size_t objects = 0;
  std::string resource_version;
  std::string last_error;  // the latest failure ("" if none since the last healthy watch)
  uint64_t lists = 0;      // successful full LISTs
  uint64_t watches = 0;    // WATCH requests made
  uint64_t events = 0;     // watch events applied
};

class Reflector {
 public:
  // `client` must outlive the reflector.
  Reflector(const kube::KubeClient* client, ResourceSpec spec, ReflectorOptions options = {});
  ~Reflector();  // stops
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the background thread (once).
  void Start();
  // Asks the thread to end and interrupts its request; returns at once.
  void RequestStop();
  // RequestStop, then waits for the thread (a quiet watch is interrupted, not waited out).
  void Stop();

  // True once the first LIST has been applied (stays true across relists).
  bool HasSynced() const;
  // Waits up to `timeout` for HasSynced.
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // The object ns/name (`ns` ignored for a cluster-scoped resource). kUnknown with the
  // reason when the cache is unusable or `ns` is not the watched namespace.
  ObjectFact Get(std::string_view ns, std::string_view name) const;
  // The objects in `ns` ("" = every watched namespace), ordered by namespace and name.
  ListFact List(std::string_view ns) const;

  ReflectorStatus status() const;
  const ResourceSpec& spec() const { return spec_; }

 private:
  using Objects = std::map<std::string, ObjectRef, std::less<>>;  // "ns/name" or "name"

  void Run();
  // One full paginated LIST; on success replaces the cache and sets *resource_version.
  Status ListAndReplace(std::string* resource_version);
  // One WATCH; Ok when the server ended it. *healthy is set once an event other than
  // ERROR arrived (the connection works: reset the backoff).
  Status Watch(std::string* resource_version, bool* healthy);
  // Applies one event line; false (with *error) ends the watch.
  bool ApplyEvent(std::string_view line, std::string* resource_version, bool* healthy,
                  Status* error);
  // Turns a decoded object into the cached one; nullopt when it has no name.
  std::optional<std::pair<std::string, ObjectRef>> Prepare(json::Value object) const;
  void MarkFailure(const Status& status);
  // Sleeps for `delay` unless a stop is requested; false when stopping.
  bool SleepUnlessStopped(std::chrono::milliseconds delay);
  bool stopping() const;
  std::string UnusableReasonLocked(std::string_view ns) const;
  std::chrono::steady_clock::time_point Now() const;

  const kube::KubeClient* const client_;
  const ResourceSpec spec_;
  const ReflectorOptions options_;
  kube::Cancellation cancel_;  // interrupts the thread's request on stop

  mutable std::shared_mutex mu_;  // guards the cache state below
  Objects objects_;
  bool synced_ = false;
  bool connected_ = false;
  std::chrono::steady_clock::time_point disconnected_since_;
  std::string resource_version_;
  std::string last_error_;
  uint64_t lists_ = 0;
  uint64_t watches_ = 0;
  uint64_t events_ = 0;

  mutable std::mutex run_mu_;               // guards stop_requested_, done_ (with run_cv_)
  mutable std::condition_variable run_cv_;  // wakes backoff sleeps and Stop; sync waiters
  bool stop_requested_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace csdr::webhook
