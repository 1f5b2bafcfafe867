#include "storage/memory/memory_store.h"

#include <utility>
#include <vector>

#include "storage/list_page.h"

namespace csdr::storage {

using internal::WriteOp;

MemoryStore::MemoryStore(const StoreOptions& options)
    : options_(options), hub_(WatchHub::Make(options, 0)) {}

MemoryStore::~MemoryStore() { Close(); }

StatusOr<int64_t> MemoryStore::Create(const std::string& key, const Encoder& encode) {
  return Write(WriteOp::kCreate, key, 0, encode);
}

StatusOr<int64_t> MemoryStore::Update(const std::string& key, int64_t expected_revision,
                                      const Encoder& encode) {
  return Write(WriteOp::kUpdate, key, expected_revision, encode);
}

StatusOr<int64_t> MemoryStore::Delete(const std::string& key, int64_t expected_revision,
                                      const Encoder& encode) {
  return Write(WriteOp::kDelete, key, expected_revision, encode);
}

StatusOr<int64_t> MemoryStore::Write(WriteOp op, const std::string& key, int64_t expected_revision,
                                     const Encoder& encode) {
  CSDR_RETURN_IF_ERROR(internal::ValidateWrite(op, key, expected_revision, encode));
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return internal::ClosedStatus();
  auto it = data_.find(key);
  const int64_t current = it == data_.end() ? 0 : it->second.mod_revision;
  if (Status s = internal::CheckPrecondition(op, key, expected_revision, current); !s.ok()) {
    ++stats_.failed_writes;
    return s;
  }
  const int64_t revision = revision_ + 1;
  std::string value;
  if (op == WriteOp::kDelete && !encode) {
    value = it->second.value;
  } else {
    auto encoded = internal::RunEncoder(encode, revision);
    if (!encoded.ok()) {
      ++stats_.failed_writes;
      return encoded.status();
    }
    value = std::move(encoded.value());
  }

  Event event;
  event.key = key;
  event.revision = revision;
  switch (op) {
    case WriteOp::kCreate:
      event.type = EventType::kAdded;
      event.value = value;
      event.create_revision = revision;
      it = data_.emplace(key, KeyValue{key, std::move(value), revision, revision}).first;
      break;
    case WriteOp::kUpdate:
      event.type = EventType::kModified;
      event.value = value;
      event.prev_value = std::move(it->second.value);
      event.prev_revision = it->second.mod_revision;
      event.create_revision = it->second.create_revision;
      it->second.value = std::move(value);
      it->second.mod_revision = revision;
      break;
    case WriteOp::kDelete:
      event.type = EventType::kDeleted;
      event.value = std::move(value);
      event.prev_value = std::move(it->second.value);
      event.prev_revision = it->second.mod_revision;
      event.create_revision = it->second.create_revision;
      data_.erase(it);
      break;
  }
  revision_ = revision;
  ++stats_.writes;
  ++stats_.transactions;
  // Under mu_, so the hub sees revisions in order.
  std::vector<Event> events;
  events.push_back(std::move(event));
  hub_->Publish(std::move(events));
  return revision;
}

StatusOr<KeyValue> MemoryStore::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return internal::ClosedStatus();
  auto it = data_.find(key);
  if (it == data_.end()) return Status(Code::kNotFound, key + " not found");
  return it->second;
}

StatusOr<ListResult> MemoryStore::List(const std::string& prefix, const std::string& start_after,
                                       size_t limit, int64_t at_revision) {
  if (at_revision < 0) {
    return Status(Code::kBadRequest, "negative revision " + std::to_string(at_revision));
  }
  if (at_revision > CurrentRevision() &&
      !hub_->WaitForRevision(at_revision, options_.future_revision_wait)) {
    return Status(Code::kTimeout,
                  "Too large resource version: " + std::to_string(at_revision) +
                      ", current resource version: " + std::to_string(CurrentRevision()));
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return internal::ClosedStatus();
  return internal::ListFromMemory(data_, revision_, *hub_, prefix, start_after, limit, at_revision);
}

int64_t MemoryStore::CurrentRevision() {
  std::lock_guard<std::mutex> lock(mu_);
  return revision_;
}

int64_t MemoryStore::CompactedRevision() { return hub_->StartRevision(); }

StatusOr<std::unique_ptr<Watcher>> MemoryStore::Watch(const std::string& prefix,
                                                      int64_t after_revision) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return internal::ClosedStatus();
  }
  return hub_->Watch(prefix, after_revision);
}

void MemoryStore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    data_.clear();
  }
  hub_->Close();
}

StoreStats MemoryStore::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.compacted_events = hub_->StartRevision();  // every revision below the history is gone
  s.watchers = static_cast<int64_t>(hub_->watcher_count());
  s.expired_watchers = hub_->expired_watcher_count();
  return s;
}

}  // namespace csdr::storage
