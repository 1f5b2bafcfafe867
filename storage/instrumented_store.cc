#include "storage/instrumented_store.h"

#include <chrono>

#include "common/metrics.h"

namespace csdr::storage {
namespace {

// "/registry/csdr.io/backups/ns/name" -> "backups"; anything else "other", so that keys never
// make new series.
std::string TypeOf(const std::string& key) {
  static constexpr std::string_view kPrefix = "/registry/csdr.io/";
  if (key.rfind(kPrefix, 0) != 0) return "other";
  size_t start = kPrefix.size();
  size_t end = key.find('/', start);
  std::string_view type = std::string_view(key).substr(start, end - start);
  for (std::string_view known : {"backups", "restores", "backupschedules", "backupvaults",
                                 "clusterprofiles", "_backupvault_tombstones"}) {
    if (type == known) return std::string(type);
  }
  return "other";
}

class InstrumentedStore : public Store {
 public:
  InstrumentedStore(std::unique_ptr<Store> inner, std::string backend)
      : inner_(std::move(inner)), backend_(std::move(backend)) {
    auto& r = metrics::Default();
    latency_ = r.Add(std::make_unique<metrics::Histogram>(
        "csdr_storage_request_duration_seconds",
        "Storage request latency in seconds for each operation and object type.",
        std::vector<std::string>{"operation", "type", "backend"}, metrics::FastLatencyBuckets()));
    Store* s = inner_.get();
    auto stat = [s](int64_t StoreStats::*field) {
      return [s, field](std::vector<metrics::GaugeFunc::Sample>* out) {
        out->push_back({{}, static_cast<double>(s->Stats().*field)});
      };
    };
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_writes_total", "Writes the store committed.", std::vector<std::string>{},
        stat(&StoreStats::writes), metrics::Type::kCounter));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_failed_writes_total",
        "Writes the store refused (precondition, encoder or backend error).",
        std::vector<std::string>{}, stat(&StoreStats::failed_writes), metrics::Type::kCounter));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_transactions_total",
        "Backend commits carrying writes (SQLite: group commits, one fsync each).",
        std::vector<std::string>{}, stat(&StoreStats::transactions), metrics::Type::kCounter));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_pending_writes", "Writes queued for the writer now.",
        std::vector<std::string>{}, stat(&StoreStats::pending_writes)));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_watchers", "Open storage watchers (one per API watch).",
        std::vector<std::string>{}, stat(&StoreStats::watchers)));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_expired_watchers_total", "Watchers ended because they fell too far behind.",
        std::vector<std::string>{}, stat(&StoreStats::expired_watchers), metrics::Type::kCounter));
    r.Add(std::make_unique<metrics::GaugeFunc>(
        "csdr_storage_current_revision", "The revision of the latest committed write.",
        std::vector<std::string>{}, [s](std::vector<metrics::GaugeFunc::Sample>* out) {
          out->push_back({{}, static_cast<double>(s->CurrentRevision())});
        }));
  }

  StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) override {
    Timer t(this, "create", key);
    return inner_->Create(key, encode);
  }
  StatusOr<KeyValue> Get(const std::string& key) override {
    Timer t(this, "get", key);
    return inner_->Get(key);
  }
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, size_t limit,
                            int64_t at_revision) override {
    Timer t(this, "list", prefix);
    return inner_->List(prefix, start_after, limit, at_revision);
  }
  StatusOr<int64_t> Update(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override {
    Timer t(this, "update", key);
    return inner_->Update(key, expected_revision, encode);
  }
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override {
    Timer t(this, "delete", key);
    return inner_->Delete(key, expected_revision, encode);
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_->CompactedRevision(); }
  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                           int64_t after_revision) override {
    Timer t(this, "watch", prefix);
    return inner_->Watch(prefix, after_revision);
  }
  void Close() override { inner_->Close(); }
  StoreStats Stats() override { return inner_->Stats(); }
  // Not timed: /readyz asks from the event loop, and the backend answers from memory.
  Status CheckHealth() override { return inner_->CheckHealth(); }
  std::string HealthCheckName() const override { return inner_->HealthCheckName(); }

 private:
  struct Timer {
    Timer(InstrumentedStore* s, const char* op, const std::string& key)
        : store(s), operation(op), type(TypeOf(key)), start(std::chrono::steady_clock::now()) {}
    ~Timer() {
      std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
      store->latency_->Observe({operation, type, store->backend_}, d.count());
    }
    InstrumentedStore* store;
    const char* operation;
    std::string type;
    std::chrono::steady_clock::time_point start;
  };

  std::unique_ptr<Store> inner_;
  const std::string backend_;
  metrics::Histogram* latency_ = nullptr;
};

}  // namespace

std::unique_ptr<Store> Instrument(std::unique_ptr<Store> inner, std::string backend) {
  return std::make_unique<InstrumentedStore>(std::move(inner), std::move(backend));
}

}  // namespace csdr::storage
