// memory://: the Store kept in process memory, for tests and throwaway servers.
//
// A std::map of current objects, a revision counter and a WatchHub. The hub's history is the
// only history: snapshot Lists and Watch reach back StoreOptions::watch_history_events
// (and _bytes) revisions; CompactedRevision() is where that history starts. Nothing
// survives the process.
//
// Thread safety: every method may be called concurrently. One mutex serializes writes and
// reads of the map; the encoder runs under it (so keep encoders cheap) and events are
// published under it, which keeps the hub's history in revision order.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "storage/store.h"
#include "storage/watch_hub.h"
#include "storage/write_checks.h"

namespace csdr::storage {

class MemoryStore : public Store {
 public:
  explicit MemoryStore(const StoreOptions& options = {});
  ~MemoryStore() override;

  StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) override;
  StatusOr<KeyValue> Get(const std::string& key) override;
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, size_t limit,
                            int64_t at_revision) override;
  StatusOr<int64_t> Update(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override;
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override;
  int64_t CurrentRevision() override;
  int64_t CompactedRevision() override;
  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                           int64_t after_revision) override;
  void Close() override;
  StoreStats Stats() override;

 private:
  StatusOr<int64_t> Write(internal::WriteOp op, const std::string& key, int64_t expected_revision,
                          const Encoder& encode);

  const StoreOptions options_;
  const std::shared_ptr<WatchHub> hub_;

  std::mutex mu_;  // guards everything below
  std::map<std::string, KeyValue, std::less<>> data_;
  int64_t revision_ = 0;
  bool closed_ = false;
  StoreStats stats_;
};

}  // namespace csdr::storage
