// The etcd store as the storage tests see it: a fresh one-member etcd per store, and an
// adapter that shifts revisions by etcd's starting revision so that the conformance suite's
// numbers (a fresh store is at 0, its first write is 1) hold on etcd as on the embedded
// backends. The shift is the only thing it does; every call reaches the real etcd store.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "storage/etcd/etcd_store.h"
#include "storage/store.h"
#include "test/storage/etcd_process.h"

namespace csdr::storage::testing {

// Test values are "<body>@<revision>": the stamp replaces what follows the last '@'.
inline std::string StampTestValue(const std::string& value, int64_t revision) {
  const size_t at = value.rfind('@');
  if (at == std::string::npos) return value;
  return value.substr(0, at + 1) + std::to_string(revision);
}

class OffsetStore : public Store {
 public:
  // `offset` is the inner store's revision when it was opened.
  OffsetStore(std::unique_ptr<Store> inner, int64_t offset, std::unique_ptr<EtcdCluster> etcd)
      : etcd_(std::move(etcd)), inner_(std::move(inner)), offset_(offset) {}
  ~OffsetStore() override { inner_->Close(); }

  StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) override {
    return Out(inner_->Create(key, encode));
  }
  StatusOr<KeyValue> Get(const std::string& key) override {
    auto kv = inner_->Get(key);
    if (kv.ok()) Shift(&kv.value());
    return kv;
  }
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, size_t limit,
                            int64_t at_revision) override {
    auto r = inner_->List(prefix, start_after, limit, In(at_revision));
    if (r.ok()) {
      r->revision -= offset_;
      for (auto& kv : r->items) Shift(&kv);
    }
    return r;
  }
  StatusOr<KeyValue> GetRecent(const std::string& key) override {
    auto kv = inner_->GetRecent(key);
    if (kv.ok()) Shift(&kv.value());
    return kv;
  }
  StatusOr<ListResult> ListRecent(const std::string& prefix, const std::string& start_after,
                                  size_t limit) override {
    auto r = inner_->ListRecent(prefix, start_after, limit);
    if (r.ok()) {
      r->revision -= offset_;
      for (auto& kv : r->items) Shift(&kv);
    }
    return r;
  }
  int64_t RecentRevision() override { return inner_->RecentRevision() - offset_; }
  StatusOr<int64_t> Update(const std::string& key, int64_t expected,
                           const Encoder& encode) override {
    return Out(inner_->Update(key, In(expected), encode));
  }
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected,
                           const Encoder& encode) override {
    return Out(inner_->Delete(key, In(expected), encode));
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision() - offset_; }
  int64_t CompactedRevision() override { return inner_->CompactedRevision() - offset_; }
  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix, int64_t after) override {
    auto w = inner_->Watch(prefix, In(after));
    if (!w.ok()) return w.status();
    return std::unique_ptr<Watcher>(new ShiftedWatcher(std::move(w.value()), offset_));
  }
  void Close() override { inner_->Close(); }
  StoreStats Stats() override { return inner_->Stats(); }
  Status CheckHealth() override { return inner_->CheckHealth(); }
  std::string HealthCheckName() const override { return inner_->HealthCheckName(); }

  Store* inner() { return inner_.get(); }
  EtcdCluster* etcd() { return etcd_.get(); }

 private:
  class ShiftedWatcher : public Watcher {
   public:
    ShiftedWatcher(std::unique_ptr<Watcher> inner, int64_t offset)
        : inner_(std::move(inner)), offset_(offset) {}
    bool Next(std::chrono::milliseconds timeout, std::vector<Event>* out, bool* expired) override {
      const size_t before = out->size();
      bool alive = inner_->Next(timeout, out, expired);
      for (size_t i = before; i < out->size(); ++i) {
        Event& e = (*out)[i];
        e.revision -= offset_;
        if (e.create_revision) e.create_revision -= offset_;
        if (e.prev_revision) e.prev_revision -= offset_;
      }
      return alive;
    }
    int64_t ProgressRevision() const override { return inner_->ProgressRevision() - offset_; }
    void Stop() override { inner_->Stop(); }

   private:
    std::unique_ptr<Watcher> inner_;
    int64_t offset_;
  };

  int64_t In(int64_t revision) const { return revision <= 0 ? revision : revision + offset_; }
  StatusOr<int64_t> Out(StatusOr<int64_t> r) const {
    if (!r.ok()) return r;
    return *r - offset_;
  }
  void Shift(KeyValue* kv) const {
    kv->create_revision -= offset_;
    kv->mod_revision -= offset_;
  }

  std::unique_ptr<EtcdCluster> etcd_;  // declared first: destroyed after the store closes
  std::unique_ptr<Store> inner_;
  int64_t offset_;
};

// A store on a fresh one-member etcd started from `binary`, keys taken as they are
// (key_root ""), values stamped as the test encoders write them, no compaction loop.
inline StatusOr<std::unique_ptr<Store>> OpenFreshEtcdStore(const std::string& binary,
                                                           StoreOptions options) {
  auto etcd = std::make_unique<EtcdCluster>(binary, 1);
  if (!etcd->Start()) return Status(Code::kUnavailable, "etcd did not start");
  EtcdConfig config;
  config.servers = etcd->ClientUrls();
  config.key_root = "";
  config.compaction_interval = std::chrono::seconds(0);
  // The stamp sees etcd's revision; the suite sees it shifted, so stamp the shifted one.
  auto offset = std::make_shared<int64_t>(0);
  options.stamp_revision = [offset](const std::string& v, int64_t rev) {
    return StampTestValue(v, rev - *offset);
  };
  auto store = OpenEtcdStore(config, options);
  if (!store.ok()) return store.status();
  *offset = (*store)->CurrentRevision();
  return std::unique_ptr<Store>(
      new OffsetStore(std::move(store.value()), *offset, std::move(etcd)));
}

}  // namespace csdr::storage::testing
