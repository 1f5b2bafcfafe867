// OpenStore: the one place that maps a storage URL to a backend; what the interface's types
// do themselves (EncodingMemo, Watcher::NextShared).
#include "storage/store.h"

#include <string_view>

#include "storage/etcd/etcd_store.h"
#include "storage/memory/memory_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace csdr::storage {

std::shared_ptr<const std::string> EncodingMemo::GetOrMake(
    std::string_view key, const std::function<std::string()>& make) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, bytes] : entries_) {
    if (k == key) return bytes;
  }
  auto bytes = std::make_shared<const std::string>(make());
  entries_.emplace_back(std::string(key), bytes);
  return bytes;
}

void EncodingMemo::Clear() const {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  entries_.shrink_to_fit();
}

size_t EncodingMemo::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

bool Watcher::NextShared(std::chrono::milliseconds timeout, std::vector<EventPtr>* out,
                         bool* expired) {
  std::vector<Event> events;
  const bool alive = Next(timeout, &events, expired);
  out->reserve(out->size() + events.size());
  for (auto& e : events) out->push_back(std::make_shared<const Event>(std::move(e)));
  return alive;
}

StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  return OpenStore(url, StoreOptions{});
}

StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options) {
  const std::string_view u = url;
  const size_t sep = u.find("://");
  if (sep == std::string_view::npos) {
    return Status(Code::kBadRequest, "storage URL \"" + url +
                                         "\" has no scheme; use memory:// or "
                                         "sqlite:///path/to/file.db");
  }
  const std::string_view scheme = u.substr(0, sep);
  const std::string_view rest = u.substr(sep + 3);
  if (scheme == "memory") {
    if (!rest.empty()) {
      return Status(Code::kBadRequest, "memory:// takes no path, got \"" + url + "\"");
    }
    return std::unique_ptr<Store>(new MemoryStore(options));
  }
  if (scheme == "sqlite") {
    // "sqlite:///abs/file.db" leaves "/abs/file.db"; "sqlite://data/x.db" a relative path.
    if (rest.empty() || rest.back() == '/') {
      return Status(Code::kBadRequest, "storage URL \"" + url + "\" names no database file");
    }
    if (rest.find('?') != std::string_view::npos) {
      return Status(Code::kBadRequest,
                    "storage URL \"" + url + "\": query parameters are not supported");
    }
    auto store = SqliteStore::Open(std::string(rest), options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(store.value()));
  }
  if (scheme == "etcd" || scheme == "etcds") {
    auto config = ParseEtcdUrl(url);
    if (!config.ok()) return config.status();
    return OpenEtcdStore(*config, options);
  }
  return Status(Code::kBadRequest, "storage URL \"" + url + "\" has unknown scheme \"" +
                                       std::string(scheme) +
                                       "\"; use memory://, sqlite:// or etcd://");
}

}  // namespace csdr::storage
