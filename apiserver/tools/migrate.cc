#include "apiserver/tools/migrate.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/json.h"

namespace csdr::apiserver {

namespace {

// How many differing keys a verification error names before "and N more".
constexpr size_t kMismatchesShown = 5;

StatusOr<json::Value> ParseValue(const std::string& raw) {
  json::ParseOptions opts;
  opts.max_depth = 200;  // as the registry reads stored objects: they passed its limits once
  return json::Parse(raw, opts);
}

// A stored object the copy re-stamps: a JSON object with a metadata object. Anything else
// (a tombstone without metadata, bytes that are not JSON) is copied as it is.
std::optional<json::Value> StampableObject(const std::string& raw) {
  auto v = ParseValue(raw);
  if (!v.ok() || !v->is_object()) return std::nullopt;
  const json::Value* meta = v->Find("metadata");
  if (meta == nullptr || !meta->is_object()) return std::nullopt;
  return std::move(v.value());
}

// The part of a value the copy must keep: a JSON object without metadata.resourceVersion (and
// without a metadata object that held nothing else, so that a backend stamping values it
// hands out may add one to a tombstone). nullopt for values that are not JSON objects: those
// compare byte for byte.
std::optional<json::Value> Comparable(const std::string& raw, std::string* resource_version) {
  auto v = ParseValue(raw);
  if (!v.ok() || !v->is_object()) return std::nullopt;
  if (json::Value* meta = v->Find("metadata"); meta != nullptr && meta->is_object()) {
    if (const json::Value* rv = meta->Find("resourceVersion");
        rv != nullptr && resource_version != nullptr) {
      *resource_version = rv->as_string();
    }
    meta->Erase("resourceVersion");
    if (meta->size() == 0) v->Erase("metadata");
  }
  return std::move(v.value());
}

// Reads every key under the prefix at one revision.
StatusOr<storage::ListResult> ReadSnapshot(storage::Store* store, const MigrateOptions& options) {
  storage::ListResult all;
  std::string after;
  for (;;) {
    auto page = store->List(options.prefix, after, options.page_size, all.revision);
    if (!page.ok()) return page.status();
    if (all.revision == 0) all.revision = page->revision;
    if (page->items.empty()) break;
    after = page->items.back().key;
    for (auto& kv : page->items) all.items.push_back(std::move(kv));
    if (!page->more) break;
  }
  return all;
}

// Finds which keys differ between the snapshot and the target's listing; empty when none.
std::vector<std::string> Compare(const std::vector<storage::KeyValue>& want,
                                 const std::vector<storage::KeyValue>& got) {
  std::vector<std::string> problems;
  size_t i = 0, j = 0;
  while (i < want.size() || j < got.size()) {
    if (j == got.size() || (i < want.size() && want[i].key < got[j].key)) {
      problems.push_back(want[i++].key + " is missing");
      continue;
    }
    if (i == want.size() || got[j].key < want[i].key) {
      problems.push_back(got[j++].key + " was not in the source");
      continue;
    }
    const storage::KeyValue& w = want[i++];
    const storage::KeyValue& g = got[j++];
    const bool stamped = StampableObject(w.value).has_value();
    std::string target_rv;
    auto wv = Comparable(w.value, nullptr);
    auto gv = Comparable(g.value, &target_rv);
    if (wv.has_value() != gv.has_value() || (wv.has_value() ? *wv != *gv : w.value != g.value)) {
      problems.push_back(g.key + " differs from the source");
    } else if (stamped && target_rv != std::to_string(g.mod_revision)) {
      problems.push_back(g.key + " has resourceVersion \"" + target_rv +
                         "\", not its revision in the target (" + std::to_string(g.mod_revision) +
                         ")");
    }
  }
  return problems;
}

}  // namespace

std::string ResourceOfKey(std::string_view key, std::string_view prefix) {
  std::string_view rest = key.substr(std::min(prefix.size(), key.size()));
  const size_t group_end = rest.find('/');
  if (group_end == std::string_view::npos) return std::string(rest);
  const std::string_view group = rest.substr(0, group_end);
  std::string_view resource = rest.substr(group_end + 1);
  const size_t resource_end = resource.find('/');
  if (resource_end == std::string_view::npos) return std::string(group);
  resource = resource.substr(0, resource_end);
  return std::string(resource) + "." + std::string(group);
}

StatusOr<MigrateReport> MigrateStore(storage::Store* source, storage::Store* target,
                                     const MigrateOptions& options) {
  if (options.prefix.empty()) return Status(Code::kBadRequest, "migrate needs a key prefix");
  // 1. An empty target, or nothing is written.
  auto existing = target->List(options.prefix, "", 1, 0);
  if (!existing.ok()) {
    return Status(existing.status().code(),
                  "cannot list the target: " + existing.status().message());
  }
  if (!existing->items.empty()) {
    return Status(Code::kAlreadyExists,
                  "the target is not empty (it holds " + existing->items.front().key +
                      (existing->more ? " and more" : "") +
                      "); migrate copies only into a store with no key under " + options.prefix +
                      ", and wrote nothing");
  }

  // 2. One snapshot of the source.
  StatusOr<storage::ListResult> snapshot = Status(Code::kInternal, "not read");
  for (int attempt = 1;; ++attempt) {
    snapshot = ReadSnapshot(source, options);
    if (snapshot.ok() || snapshot.status().code() != Code::kExpired ||
        attempt >= std::max(options.read_attempts, 1)) {
      break;
    }
  }
  if (!snapshot.ok()) {
    return Status(snapshot.status().code(),
                  "cannot read the source: " + snapshot.status().message());
  }
  MigrateReport report;
  report.source_revision = snapshot->revision;
  const std::vector<storage::KeyValue>& items = snapshot->items;
  for (const auto& kv : items) ++report.per_resource[ResourceOfKey(kv.key, options.prefix)];

  // 3. Create every key. Each writer thread takes the next index; the first error stops them.
  std::vector<std::optional<json::Value>> objects(items.size());
  for (size_t i = 0; i < items.size(); ++i) objects[i] = StampableObject(items[i].value);
  std::atomic<size_t> next{0};
  std::atomic<size_t> written{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status first_error;  // guarded by error_mu
  auto write = [&] {
    for (size_t i = next++; i < items.size() && !failed.load(); i = next++) {
      std::optional<json::Value>& object = objects[i];
      // The Encoder may run on the store's writer thread, but only while this Create waits, and
      // the object belongs to this write alone: stamping it in place is safe (as the registry's
      // own encoder does).
      storage::Encoder encode = [&](int64_t revision) {
        if (!object.has_value()) return items[i].value;
        (*object)["metadata"].Set("resourceVersion", std::to_string(revision));
        return json::Serialize(*object);
      };
      auto rev = target->Create(items[i].key, encode);
      if (!rev.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!failed.exchange(true)) {
          first_error = Status(rev.status().code(),
                               "writing " + items[i].key + ": " + rev.status().message());
        }
        return;
      }
      ++written;
    }
  };
  const size_t threads = std::min(items.size(), static_cast<size_t>(std::max(options.writers, 1)));
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(write);
  if (threads > 0) write();
  for (auto& w : workers) w.join();
  if (failed) {
    return Status(first_error.code(), first_error.message() + " (" +
                                          std::to_string(written.load()) + " of " +
                                          std::to_string(items.size()) +
                                          " keys were written: the target holds a partial copy; "
                                          "empty it before trying again)");
  }
  report.keys = items.size();

  // 4. Read the target back and compare.
  auto copied = ReadSnapshot(target, options);
  if (!copied.ok()) {
    return Status(copied.status().code(),
                  "cannot read the target back to verify it: " + copied.status().message());
  }
  report.target_revision = copied->revision;
  std::vector<std::string> problems = Compare(items, copied->items);
  if (!problems.empty()) {
    std::string message = "verification failed: " + std::to_string(problems.size()) +
                          " key(s) of the target do not match the source: ";
    for (size_t i = 0; i < problems.size() && i < kMismatchesShown; ++i) {
      if (i > 0) message += "; ";
      message += problems[i];
    }
    if (problems.size() > kMismatchesShown) {
      message += "; and " + std::to_string(problems.size() - kMismatchesShown) + " more";
    }
    return Status(Code::kInternal, std::move(message));
  }
  return report;
}

}  // namespace csdr::apiserver
