#include "storage/etcd/etcd_store.h"

#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "storage/etcd/etcd_client.h"
#include "storage/list_page.h"
#include "storage/watch_hub.h"
#include "storage/write_checks.h"

namespace csdr::storage {
namespace {

using etcd::EtcdClient;
using internal::WriteOp;
using WatchStream =
    grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

// kube-apiserver's key for coordinating compaction across its replicas (etcd3/compact.go).
// Shared on purpose: every server on one etcd that uses it compacts once per interval.
constexpr char kCompactRevKey[] = "compact_rev_key";
// Pages of the initial load and of Lists read from etcd, as upstream's reflector pages.
constexpr int64_t kLoadPage = 10000;
// How long a write waits for the watch cache to reach it before answering anyway.
constexpr std::chrono::milliseconds kCacheWait{2000};

// "3.4.23" -> true when etcd answers progress requests only after every event before the
// revision it names was sent (etcd issues 15220 and 17507, fixed in 3.4.31 and 3.5.13).
bool ProgressRequestsAreSafe(const std::string& version) {
  int major = 0, minor = 0, patch = 0;
  char dot1 = 0, dot2 = 0;
  std::istringstream in(version);
  if (!(in >> major >> dot1 >> minor >> dot2 >> patch)) return false;
  if (major != 3) return major > 3;
  if (minor == 4) return patch >= 31;
  if (minor == 5) return patch >= 13;
  return minor > 5;
}

class EtcdStore : public Store {
 public:
  EtcdStore(const StoreOptions& options, std::unique_ptr<EtcdClient> client)
      : options_(options),
        config_(client->config()),
        client_(std::move(client)),
        root_(config_.prefix + "/"),
        root_end_(*internal::PrefixEnd(root_)) {
    progress_from_cache_ = options_.consistent_list_from_cache.value_or(
        ProgressRequestsAreSafe(client_->server_version()));
  }

  ~EtcdStore() override { Close(); }

  Status Start() {
    auto loaded = Load();
    if (!loaded.ok()) return loaded.status();
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_ = std::move(loaded->first);
      revision_ = loaded->second;
      hub_ = WatchHub::Make(options_, revision_);
    }
    NoteRevision(revision_);
    LOG(INFO) << "etcd " << client_->CurrentEndpoint() << " (version " << client_->server_version()
              << "): " << data_.size() << " objects under " << root_ << " at revision " << revision_
              << "; consistent lists "
              << (progress_from_cache_ ? "from the watch cache" : "from etcd");
    watch_thread_ = std::thread([this] { WatchLoop(); });
    health_thread_ = std::thread([this] { HealthLoop(); });
    if (config_.compaction_interval.count() > 0) {
      compact_thread_ = std::thread([this] { CompactLoop(); });
    }
    return Status();
  }

  StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) override {
    CSDR_RETURN_IF_ERROR(internal::ValidateWrite(WriteOp::kCreate, key, 0, encode));
    auto ekey = ToEtcd(key);
    if (!ekey.ok()) return ekey.status();
    auto value = internal::RunEncoder(encode, 0);
    if (!value.ok()) return Failed(value.status());
    etcdserverpb::TxnRequest txn;
    AddCompareMod(&txn, *ekey, etcdserverpb::Compare::EQUAL, 0);
    AddPut(&txn, *ekey, *value);
    return CommitWrite(WriteOp::kCreate, key, *ekey, 0, std::move(txn), *value);
  }

  StatusOr<int64_t> Update(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override {
    CSDR_RETURN_IF_ERROR(internal::ValidateWrite(WriteOp::kUpdate, key, expected_revision, encode));
    auto ekey = ToEtcd(key);
    if (!ekey.ok()) return ekey.status();
    auto value = internal::RunEncoder(encode, 0);
    if (!value.ok()) return Failed(value.status());
    etcdserverpb::TxnRequest txn;
    AddPrecondition(&txn, *ekey, expected_revision);
    AddPut(&txn, *ekey, *value);
    return CommitWrite(WriteOp::kUpdate, key, *ekey, expected_revision, std::move(txn), *value);
  }

  StatusOr<int64_t> Delete(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override {
    CSDR_RETURN_IF_ERROR(internal::ValidateWrite(WriteOp::kDelete, key, expected_revision, encode));
    auto ekey = ToEtcd(key);
    if (!ekey.ok()) return ekey.status();
    std::string tombstone;
    if (encode) {
      auto value = internal::RunEncoder(encode, 0);
      if (!value.ok()) return Failed(value.status());
      tombstone = std::move(*value);
    }
    etcdserverpb::TxnRequest txn;
    AddPrecondition(&txn, *ekey, expected_revision);
    if (encode) {
      // The tombstone is the stored value (with the deletion revision) unless the encoder
      // changed the object: then it is written first, as upstream updates an object whose
      // last finalizer went away and then deletes it (two events, MODIFIED then DELETED).
      auto* same = txn.add_compare();
      same->set_key(*ekey);
      same->set_target(etcdserverpb::Compare::VALUE);
      same->set_result(etcdserverpb::Compare::EQUAL);
      same->set_value(tombstone);
    }
    txn.add_success()->mutable_request_delete_range()->set_key(*ekey);
    bool value_differs = false;
    auto rev = CommitWrite(WriteOp::kDelete, key, *ekey, expected_revision, txn, tombstone,
                           &value_differs);
    if (rev.ok() || !value_differs) return rev;
    // The value differs: write the tombstone, then delete exactly that revision.
    etcdserverpb::TxnRequest put;
    AddPrecondition(&put, *ekey, expected_revision);
    AddPut(&put, *ekey, tombstone);
    auto written = CommitWrite(WriteOp::kUpdate, key, *ekey, expected_revision, put, tombstone);
    if (!written.ok()) return written.status();
    etcdserverpb::TxnRequest del;
    AddCompareMod(&del, *ekey, etcdserverpb::Compare::EQUAL, *written);
    del.add_success()->mutable_request_delete_range()->set_key(*ekey);
    return CommitWrite(WriteOp::kDelete, key, *ekey, *written, del, tombstone);
  }

  StatusOr<KeyValue> Get(const std::string& key) override {
    if (closed_.load()) return internal::ClosedStatus();
    auto ekey = ToEtcd(key);
    if (!ekey.ok()) return ekey.status();
    etcdserverpb::RangeRequest req;
    req.set_key(*ekey);
    etcdserverpb::RangeResponse resp;
    CSDR_RETURN_IF_ERROR(client_->Range(req, &resp));
    NoteRevision(resp.header().revision());
    if (resp.kvs_size() == 0) return Status(Code::kNotFound, key + " not found");
    return FromEtcdKv(resp.kvs(0));
  }

  StatusOr<KeyValue> GetRecent(const std::string& key) override {
    if (closed_.load()) return internal::ClosedStatus();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = data_.find(key);
      if (it != data_.end()) {
        gets_from_cache_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
    return Get(key);  // absent here: etcd decides (it may be newer than this cache)
  }

  int64_t RecentRevision() override { return CacheRevision(); }

  StatusOr<ListResult> ListRecent(const std::string& prefix, const std::string& start_after,
                                  size_t limit) override {
    if (closed_.load()) return internal::ClosedStatus();
    return ListFromCache(prefix, start_after, limit, 0);
  }

  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, size_t limit,
                            int64_t at_revision) override {
    if (closed_.load()) return internal::ClosedStatus();
    if (at_revision < 0) {
      return Status(Code::kBadRequest, "negative revision " + std::to_string(at_revision));
    }
    if (at_revision == 0) {
      // The latest state, consistently: never older than etcd's revision right now.
      if (!progress_from_cache_) return ListFromEtcd(prefix, start_after, limit, 0);
      auto current = EtcdRevision();
      if (!current.ok()) return current.status();
      if (CacheRevision() < *current) {
        RequestProgress();
        if (!Hub()->WaitForRevision(*current, options_.future_revision_wait)) {
          lists_from_etcd_.fetch_add(1, std::memory_order_relaxed);
          return ListFromEtcd(prefix, start_after, limit, 0);
        }
      }
      return ListFromCache(prefix, start_after, limit, 0);
    }
    if (at_revision > CacheRevision()) {
      // Not in the cache yet: etcd may have it (a write through another replica).
      auto from_etcd = ListFromEtcd(prefix, start_after, limit, at_revision);
      if (from_etcd.ok() || from_etcd.status().code() != Code::kTimeout) return from_etcd;
      if (!Hub()->WaitForRevision(at_revision, options_.future_revision_wait)) {
        return Status(Code::kTimeout,
                      "Too large resource version: " + std::to_string(at_revision) +
                          ", current resource version: " + std::to_string(CacheRevision()));
      }
    }
    auto cached = ListFromCache(prefix, start_after, limit, at_revision);
    if (cached.ok() || cached.status().code() != Code::kExpired) return cached;
    // Older than the cache's history: etcd keeps more until it compacts.
    return ListFromEtcd(prefix, start_after, limit, at_revision);
  }

  int64_t CurrentRevision() override {
    return std::max(CacheRevision(), known_revision_.load(std::memory_order_acquire));
  }

  int64_t CompactedRevision() override { return Hub()->StartRevision(); }

  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                           int64_t after_revision) override {
    if (closed_.load()) return internal::ClosedStatus();
    return Hub()->Watch(prefix, after_revision);
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      if (stream_context_) stream_context_->TryCancel();
    }
    if (watch_thread_.joinable()) watch_thread_.join();
    if (health_thread_.joinable()) health_thread_.join();
    if (compact_thread_.joinable()) compact_thread_.join();
    std::shared_ptr<WatchHub> hub;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hub = hub_;
      data_.clear();
    }
    if (hub) hub->Close();
  }

  StoreStats Stats() override {
    StoreStats s;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      s = stats_;
    }
    auto hub = Hub();
    s.watchers = static_cast<int64_t>(hub->watcher_count());
    s.expired_watchers = hub->expired_watcher_count();
    s.compacted_events = hub->StartRevision();
    s.lists_from_cache = lists_from_cache_.load(std::memory_order_relaxed);
    s.lists_from_backend = lists_from_etcd_.load(std::memory_order_relaxed);
    s.gets_from_cache = gets_from_cache_.load(std::memory_order_relaxed);
    return s;
  }

  // Answers from memory (/readyz asks from the server's event loop): the last probe of the
  // health thread, and whether the watch cache has its watch.
  Status CheckHealth() override {
    if (closed_.load()) return internal::ClosedStatus();
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      if (!health_.ok()) return health_;
    }
    if (!watch_healthy_.load()) {
      return Status(Code::kUnavailable, "the watch cache has no watch on etcd");
    }
    return Status();
  }

  std::string HealthCheckName() const override { return "etcd"; }

 private:
  using Data = std::map<std::string, KeyValue, std::less<>>;

  // --- keys and values ---

  // "/registry/csdr.io/backups/ns/a" -> "<prefix>/csdr.io/backups/ns/a". With an empty
  // key_root (tests) every key is taken as it is, under "<prefix>/".
  StatusOr<std::string> ToEtcd(std::string_view key) const {
    const std::string& root = config_.key_root;
    if (root.empty()) return root_ + std::string(key);
    if (!internal::HasPrefix(key, root) || key.size() == root.size() || key[root.size()] != '/') {
      return Status(Code::kBadRequest,
                    "key \"" + std::string(key) + "\" is not under \"" + root + "/\"");
    }
    return config_.prefix + std::string(key.substr(root.size()));
  }

  // Where a key range bound falls in etcd: ToEtcd for our keys; the start or the end of
  // our space for a key that sorts before or after all of it.
  std::string EtcdBound(std::string_view key) const {
    auto mapped = ToEtcd(key);
    if (mapped.ok()) return *mapped;
    return key < std::string_view(config_.key_root + "/") ? root_ : root_end_;
  }

  std::optional<std::string> FromEtcd(std::string_view ekey) const {
    if (!internal::HasPrefix(ekey, root_)) return std::nullopt;
    if (config_.key_root.empty()) return std::string(ekey.substr(root_.size()));
    return config_.key_root + std::string(ekey.substr(config_.prefix.size()));
  }

  std::string Stamp(const std::string& value, int64_t revision) const {
    return options_.stamp_revision ? options_.stamp_revision(value, revision) : value;
  }

  KeyValue FromEtcdKv(const etcdserverpb::KeyValue& kv) const {
    return KeyValue{*FromEtcd(kv.key()), Stamp(kv.value(), kv.mod_revision()), kv.create_revision(),
                    kv.mod_revision()};
  }

  // --- writes ---

  static void AddCompareMod(etcdserverpb::TxnRequest* txn, const std::string& ekey,
                            etcdserverpb::Compare::CompareResult result, int64_t revision) {
    auto* c = txn->add_compare();
    c->set_key(ekey);
    c->set_target(etcdserverpb::Compare::MOD);
    c->set_result(result);
    c->set_mod_revision(revision);
  }

  // expected 0: the key must exist (any revision); else its mod_revision must be `expected`.
  static void AddPrecondition(etcdserverpb::TxnRequest* txn, const std::string& ekey,
                              int64_t expected) {
    if (expected == 0) {
      AddCompareMod(txn, ekey, etcdserverpb::Compare::GREATER, 0);
    } else {
      AddCompareMod(txn, ekey, etcdserverpb::Compare::EQUAL, expected);
    }
    // On failure, read the key so the caller learns why (absent or moved on).
    txn->add_failure()->mutable_request_range()->set_key(ekey);
  }

  static void AddPut(etcdserverpb::TxnRequest* txn, const std::string& ekey,
                     const std::string& value) {
    auto* put = txn->add_success()->mutable_request_put();
    put->set_key(ekey);
    put->set_value(value);
  }

  // A write etcd applied at `revision`. Returns once this process's watch cache has it too,
  // so that a client reads its own write from this replica's cache and watches (lists at
  // revision 0 go to etcd or wait anyway; this keeps Lists at the revision just answered,
  // watch progress and the rules' facts in step). A cache that does not get there in time
  // (its watch is reconnecting) does not fail the write: it is durable in etcd.
  int64_t Committed(int64_t revision) {
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++stats_.writes;
      ++stats_.transactions;
    }
    Hub()->WaitForRevision(revision, std::min(config_.request_timeout, kCacheWait));
    return revision;
  }

  Status Failed(Status s) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.failed_writes;
    return s;
  }

  // Sends `txn` and maps its outcome. When the outcome is unknown (the connection or the
  // leader went away mid-flight), reads the key back: our bytes there mean it was applied;
  // the precondition still holding means it was not, and it is sent again (the compare
  // makes a second apply impossible); anything else is kUnavailable. A refused compare
  // whose key still matches `expected` but whose value differs is kConflict
  // (Delete's tombstone compare).
  StatusOr<int64_t> CommitWrite(WriteOp op, const std::string& key, const std::string& ekey,
                                int64_t expected, etcdserverpb::TxnRequest txn,
                                const std::string& value, bool* value_differs = nullptr) {
    if (closed_.load()) return internal::ClosedStatus();
    const auto give_up = std::chrono::steady_clock::now() + 3 * config_.request_timeout;
    while (true) {
      etcdserverpb::TxnResponse resp;
      bool ambiguous = false;
      Status s = client_->Txn(txn, &resp, &ambiguous);
      if (s.ok()) {
        NoteRevision(resp.header().revision());
        if (resp.succeeded()) return Committed(resp.header().revision());
        int64_t current = 0;
        if (resp.responses_size() > 0 && resp.responses(0).has_response_range() &&
            resp.responses(0).response_range().kvs_size() > 0) {
          current = resp.responses(0).response_range().kvs(0).mod_revision();
        }
        if (op == WriteOp::kCreate) current = 1;  // a create's compare fails only if present
        Status refused = internal::CheckPrecondition(op, key, expected, current);
        if (refused.ok()) {
          if (value_differs) *value_differs = true;
          refused = Status(Code::kConflict, key + ": the stored value differs");
        }
        return Failed(refused);
      }
      if (!ambiguous) return Failed(s);
      LOG(WARNING) << "etcd write of " << key << " has an unknown outcome (" << s.message()
                   << "); reading it back";
      // Read until etcd answers (a new leader takes an election timeout or two).
      etcdserverpb::RangeResponse read;
      Status r;
      do {
        etcdserverpb::RangeRequest req;
        req.set_key(ekey);
        read.Clear();
        r = client_->Range(req, &read);
        if (r.ok()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      } while (std::chrono::steady_clock::now() < give_up && !closed_.load());
      if (!r.ok()) return Failed(Status(Code::kUnavailable, s.message()));
      const bool present = read.kvs_size() > 0;
      const int64_t mod = present ? read.kvs(0).mod_revision() : 0;
      if (op != WriteOp::kDelete && present && read.kvs(0).value() == value && mod > expected) {
        return Committed(mod);  // it was applied
      }
      const bool still_possible = op == WriteOp::kCreate ? !present
                                  : expected == 0        ? present
                                                         : mod == expected;
      if (!still_possible || std::chrono::steady_clock::now() >= give_up) {
        if (op == WriteOp::kDelete && !present) {
          // Gone: ours or another's delete; either way the key is deleted now.
          return read.header().revision();
        }
        return Failed(Status(Code::kUnavailable,
                             "etcd write of " + key + " has an unknown outcome: " + s.message()));
      }
    }
  }

  // --- reads ---

  int64_t CacheRevision() {
    std::lock_guard<std::mutex> lock(mu_);
    return revision_;
  }

  std::shared_ptr<WatchHub> Hub() {
    std::lock_guard<std::mutex> lock(mu_);
    return hub_;
  }

  void NoteRevision(int64_t revision) {
    int64_t seen = known_revision_.load(std::memory_order_relaxed);
    while (revision > seen && !known_revision_.compare_exchange_weak(seen, revision)) {
    }
  }

  // etcd's current revision, by the cheapest read that needs a quorum: every response's
  // header carries the store's revision, so one key (our root, which no object uses)
  // serves; a count over the whole prefix, as upstream's GetCurrentResourceVersion does,
  // costs etcd a walk of every key in it.
  StatusOr<int64_t> EtcdRevision() {
    etcdserverpb::RangeRequest req;
    req.set_key(root_);
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    CSDR_RETURN_IF_ERROR(client_->Range(req, &resp));
    NoteRevision(resp.header().revision());
    return resp.header().revision();
  }

  StatusOr<ListResult> ListFromCache(const std::string& prefix, const std::string& start_after,
                                     size_t limit, int64_t at_revision) {
    lists_from_cache_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    return internal::ListFromMemory(data_, revision_, *hub_, prefix, start_after, limit,
                                    at_revision);
  }

  StatusOr<ListResult> ListFromEtcd(const std::string& prefix, const std::string& start_after,
                                    size_t limit, int64_t at_revision) {
    lists_from_etcd_.fetch_add(1, std::memory_order_relaxed);
    // The range: [bound of the lower key, bound of the prefix's end), within our space.
    const std::string from = EtcdBound(internal::ListLowerBound(prefix, start_after));
    auto prefix_end = internal::PrefixEnd(prefix);
    std::string to = prefix_end ? EtcdBound(*prefix_end) : root_end_;
    if (to > root_end_) to = root_end_;
    ListResult result;
    if (from >= to) {
      result.revision = at_revision == 0 ? CurrentRevision() : at_revision;
      return result;
    }
    etcdserverpb::RangeRequest req;
    req.set_key(from);
    req.set_range_end(to);
    req.set_limit(static_cast<int64_t>(limit));
    req.set_revision(at_revision);
    etcdserverpb::RangeResponse resp;
    CSDR_RETURN_IF_ERROR(client_->Range(req, &resp));
    NoteRevision(resp.header().revision());
    result.revision = at_revision == 0 ? resp.header().revision() : at_revision;
    result.more = resp.more();
    result.items.reserve(static_cast<size_t>(resp.kvs_size()));
    for (const auto& kv : resp.kvs()) result.items.push_back(FromEtcdKv(kv));
    return result;
  }

  // Every object under the prefix at one revision, paged.
  StatusOr<std::pair<Data, int64_t>> Load() {
    Data data;
    int64_t revision = 0;
    std::string from = root_;
    while (true) {
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end(root_end_);
      req.set_limit(kLoadPage);
      req.set_revision(revision);
      etcdserverpb::RangeResponse resp;
      CSDR_RETURN_IF_ERROR(client_->Range(req, &resp));
      if (revision == 0) revision = resp.header().revision();
      for (const auto& kv : resp.kvs()) {
        KeyValue v = FromEtcdKv(kv);
        data.emplace(v.key, std::move(v));
      }
      if (!resp.more() || resp.kvs_size() == 0) break;
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
    return std::make_pair(std::move(data), revision);
  }

  // --- the watch cache ---

  void WatchLoop() {
    int failures = 0;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(stop_mu_);
        if (stopping_) return;
      }
      grpc::ClientContext context;
      std::unique_ptr<WatchStream> stream = client_->OpenWatch(&context);
      {
        std::lock_guard<std::mutex> lock(stream_mu_);
        if (stopping_) return;
        stream_context_ = &context;
        stream_ = stream.get();
        etcdserverpb::WatchRequest req;
        auto* create = req.mutable_create_request();
        create->set_key(root_);
        create->set_range_end(root_end_);
        create->set_start_revision(CacheRevision() + 1);
        create->set_prev_kv(true);
        create->set_progress_notify(progress_from_cache_);
        stream->Write(req);
      }
      const std::string endpoint = client_->CurrentEndpoint();
      bool relist = false;
      etcdserverpb::WatchResponse resp;
      while (stream->Read(&resp)) {
        if (resp.canceled()) {
          LOG(WARNING) << "etcd " << endpoint << " canceled the watch cache's watch"
                       << (resp.compact_revision() > 0
                               ? " (compacted at " + std::to_string(resp.compact_revision()) + ")"
                               : "")
                       << ": " << resp.cancel_reason();
          relist = resp.compact_revision() > 0;
          break;
        }
        if (resp.created()) {
          watch_healthy_ = true;
          failures = 0;
          continue;
        }
        if (resp.events_size() == 0) {
          if (progress_from_cache_) Progress(resp.header().revision());
          continue;
        }
        Apply(resp);
      }
      watch_healthy_ = false;
      {
        std::lock_guard<std::mutex> lock(stream_mu_);
        stream_ = nullptr;
        stream_context_ = nullptr;
      }
      context.TryCancel();
      grpc::Status finished = stream->Finish();
      {
        std::lock_guard<std::mutex> lock(stop_mu_);
        if (stopping_) return;
      }
      if (relist) {
        Relist();
      } else {
        LOG(WARNING) << "etcd " << endpoint << ": the watch cache's watch broke ("
                     << finished.error_message() << "); resuming after revision "
                     << CacheRevision();
        client_->NextEndpoint();
      }
      failures = std::min(failures + 1, 5);
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(50 << failures),
                        [this] { return stopping_.load(); });
    }
  }

  void RequestProgress() {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (!stream_) return;
    etcdserverpb::WatchRequest req;
    req.mutable_progress_request();
    stream_->Write(req);
  }

  void Progress(int64_t revision) {
    std::lock_guard<std::mutex> lock(mu_);
    if (revision <= revision_) return;
    revision_ = revision;
    hub_->Advance(revision);
  }

  // Turns one response's events into Store events, applies them to the cache and
  // publishes them, under mu_ so that Lists see the cache and the hub agree.
  void Apply(const etcdserverpb::WatchResponse& resp) {
    std::vector<Event> events;
    events.reserve(static_cast<size_t>(resp.events_size()));
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& ev : resp.events()) {
      const auto& kv = ev.kv();
      auto key = FromEtcd(kv.key());
      if (!key) continue;
      if (kv.mod_revision() <= revision_) continue;  // already applied (a resumed watch)
      Event e;
      e.key = *key;
      e.revision = kv.mod_revision();
      auto cur = data_.find(e.key);
      const bool have_prev = cur != data_.end();
      if (have_prev) {
        e.prev_value = cur->second.value;
        e.prev_revision = cur->second.mod_revision;
      } else if (ev.has_prev_kv()) {
        e.prev_value = Stamp(ev.prev_kv().value(), ev.prev_kv().mod_revision());
        e.prev_revision = ev.prev_kv().mod_revision();
      }
      if (ev.type() == etcdserverpb::Event::PUT) {
        e.type =
            kv.create_revision() == kv.mod_revision() ? EventType::kAdded : EventType::kModified;
        if (e.type == EventType::kAdded) {
          e.prev_value.clear();
          e.prev_revision = 0;
        }
        e.value = Stamp(kv.value(), kv.mod_revision());
        e.create_revision = kv.create_revision();
        KeyValue& slot = data_[e.key];
        slot = KeyValue{e.key, e.value, kv.create_revision(), kv.mod_revision()};
      } else {
        e.type = EventType::kDeleted;
        // The tombstone: the last value with the deletion revision.
        const std::string& last = ev.has_prev_kv() ? ev.prev_kv().value() : std::string();
        e.value = ev.has_prev_kv() ? Stamp(last, e.revision)
                                   : (have_prev ? cur->second.value : std::string());
        e.create_revision = ev.has_prev_kv() ? ev.prev_kv().create_revision()
                                             : (have_prev ? cur->second.create_revision : 0);
        if (have_prev) data_.erase(cur);
      }
      events.push_back(std::move(e));
    }
    const int64_t last = resp.events(resp.events_size() - 1).kv().mod_revision();
    if (last > revision_) revision_ = last;
    if (!events.empty()) hub_->Publish(std::move(events));
  }

  // The watch fell behind a compaction: start over from the current state. Watchers of the
  // old hub end (their clients resume, or relist on 410), as upstream's cacher restarts.
  void Relist() {
    auto loaded = Load();
    if (!loaded.ok()) {
      LOG(WARNING) << "etcd: relisting the watch cache failed: " << loaded.status().message();
      return;  // the loop retries the watch; a compacted start relists again
    }
    std::shared_ptr<WatchHub> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_ = std::move(loaded->first);
      revision_ = loaded->second;
      old = std::move(hub_);
      hub_ = WatchHub::Make(options_, revision_);
    }
    old->Close();
    LOG(INFO) << "etcd: watch cache relisted at revision " << loaded->second;
  }

  // --- health: kube-apiserver's etcd check, a read that needs a quorum, every second ---

  void HealthLoop() {
    while (true) {
      etcdserverpb::RangeRequest req;
      req.set_key("health");
      etcdserverpb::RangeResponse resp;
      Status s = client_->Range(req, &resp, std::chrono::milliseconds(2000));
      // gRPC's reconnect backoff grows to seconds while a member is down; probing each
      // second keeps the time from its return to our first request near a second.
      if (!s.ok()) client_->ResetBackoff();
      {
        std::lock_guard<std::mutex> lock(health_mu_);
        if (s.ok() != health_.ok()) {
          if (s.ok()) {
            LOG(INFO) << "etcd health: ok";
          } else {
            LOG(WARNING) << "etcd health: " << s.message();
          }
        }
        health_ = s;
      }
      std::unique_lock<std::mutex> lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); }))
        return;
    }
  }

  // --- compaction, as upstream's etcd3/compact.go: one per interval across replicas ---

  void CompactLoop() {
    int64_t version = 0;   // the compact key's version this replica last saw
    int64_t revision = 0;  // etcd's revision at the previous interval
    while (true) {
      {
        std::unique_lock<std::mutex> lock(stop_mu_);
        if (stop_cv_.wait_for(lock, config_.compaction_interval,
                              [this] { return stopping_.load(); })) {
          return;
        }
      }
      etcdserverpb::TxnRequest txn;
      auto* c = txn.add_compare();
      c->set_key(kCompactRevKey);
      c->set_target(etcdserverpb::Compare::VERSION);
      c->set_result(etcdserverpb::Compare::EQUAL);
      c->set_version(version);
      AddPut(&txn, kCompactRevKey, std::to_string(revision));
      txn.add_failure()->mutable_request_range()->set_key(kCompactRevKey);
      etcdserverpb::TxnResponse resp;
      bool ambiguous = false;
      Status s = client_->Txn(txn, &resp, &ambiguous);
      if (!s.ok()) {
        LOG(WARNING) << "etcd compaction: " << s.message();
        continue;
      }
      const int64_t current = resp.header().revision();
      if (!resp.succeeded()) {
        // Another server compacted in this interval; follow its count.
        const auto& range = resp.responses(0).response_range();
        version = range.kvs_size() > 0 ? range.kvs(0).version() : 0;
      } else {
        ++version;
        if (revision > 0) {
          if (Status cs = client_->Compact(revision); cs.ok()) {
            VLOG(1) << "etcd: compacted at revision " << revision;
          } else {
            LOG(WARNING) << "etcd compaction at " << revision << ": " << cs.message();
          }
        }
      }
      revision = current;
    }
  }

  const StoreOptions options_;
  const EtcdConfig config_;
  const std::unique_ptr<EtcdClient> client_;
  const std::string root_;      // "<prefix>/": everything of ours in etcd
  const std::string root_end_;  // its range end
  bool progress_from_cache_ = false;

  std::mutex mu_;  // guards the cache: data_, revision_, hub_
  Data data_;
  int64_t revision_ = 0;
  std::shared_ptr<WatchHub> hub_;

  std::atomic<int64_t> known_revision_{0};  // the highest etcd revision any answer named
  std::atomic<bool> closed_{false};
  std::atomic<bool> watch_healthy_{false};
  std::atomic<int64_t> lists_from_cache_{0};
  std::atomic<int64_t> lists_from_etcd_{0};
  std::atomic<int64_t> gets_from_cache_{0};

  std::mutex stats_mu_;
  StoreStats stats_;

  std::mutex stream_mu_;  // guards the two below: Writes on the stream and its cancellation
  WatchStream* stream_ = nullptr;
  grpc::ClientContext* stream_context_ = nullptr;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};  // set under stop_mu_ (the condition variable's)
  std::thread watch_thread_;
  std::thread compact_thread_;
  std::thread health_thread_;

  std::mutex health_mu_;
  Status health_;  // the last probe's outcome
};

}  // namespace

StatusOr<EtcdConfig> ParseEtcdUrl(const std::string& url) {
  EtcdConfig config;
  std::string_view u = url;
  std::string scheme;
  if (u.rfind("etcd://", 0) == 0) {
    scheme = "http://";
    u.remove_prefix(7);
  } else if (u.rfind("etcds://", 0) == 0) {
    scheme = "https://";
    u.remove_prefix(8);
  } else {
    return Status(Code::kBadRequest, "\"" + url + "\" is not an etcd:// or etcds:// URL");
  }
  // Query parameters: the TLS files, named as the flags (cafile, certfile, keyfile).
  if (const size_t q = u.find('?'); q != std::string_view::npos) {
    std::string_view query = u.substr(q + 1);
    u = u.substr(0, q);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view param = query.substr(0, amp);
      const size_t eq = param.find('=');
      const std::string_view name = param.substr(0, eq);
      const std::string value(eq == std::string_view::npos ? "" : param.substr(eq + 1));
      if (value.empty()) {
        return Status(Code::kBadRequest,
                      "\"" + url + "\": parameter \"" + std::string(name) + "\" needs a value");
      }
      if (name == "cafile") {
        config.ca_file = value;
      } else if (name == "certfile") {
        config.cert_file = value;
      } else if (name == "keyfile") {
        config.key_file = value;
      } else {
        return Status(Code::kBadRequest, "\"" + url + "\": unknown parameter \"" +
                                             std::string(name) +
                                             "\" (cafile, certfile and keyfile are known)");
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  const size_t slash = u.find('/');
  std::string_view hosts = u.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string prefix(u.substr(slash));
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix != "/") config.prefix = prefix;
  }
  if (hosts.empty()) return Status(Code::kBadRequest, "\"" + url + "\" names no etcd server");
  config.servers.clear();
  while (!hosts.empty()) {
    const size_t comma = hosts.find(',');
    std::string_view host = hosts.substr(0, comma);
    if (host.empty() || host.find(':') == std::string_view::npos) {
      return Status(Code::kBadRequest,
                    "\"" + url + "\": etcd server \"" + std::string(host) + "\" must be host:port");
    }
    config.servers.push_back(scheme + std::string(host));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  return config;
}

StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdConfig& config,
                                               const StoreOptions& options) {
  if (config.prefix.empty() || config.prefix[0] != '/' || config.prefix.back() == '/') {
    return Status(Code::kBadRequest,
                  "etcd prefix \"" + config.prefix + "\" must start with / and not end with /");
  }
  if (config.cert_file.empty() != config.key_file.empty()) {
    return Status(Code::kBadRequest, "etcd client certificate and key must be given together");
  }
  auto client = etcd::EtcdClient::Connect(config);
  if (!client.ok()) return client.status();
  auto store = std::make_unique<EtcdStore>(options, std::move(client.value()));
  if (Status s = store->Start(); !s.ok()) {
    return Status(Code::kUnavailable, "loading " + config.prefix + " from etcd: " + s.message());
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace csdr::storage
