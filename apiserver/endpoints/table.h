// meta.k8s.io Tables: the rows kubectl prints, per upstream's asTable.
//
// Table() builds one from parsed objects (a get, a watch event). TableList() writes a whole
// list straight from the stored bytes: the printer columns read only spec, status and
// metadata.name and creationTimestamp, so each stored object is split at its top level and
// only those parts are parsed; its metadata goes into the row (PartialObjectMetadata) as the
// stored bytes, and the row is written as text. A list of 10,000 Backups took four times as
// long as the same list as JSON when every object was parsed whole (docs/benchmarks.md F3).
//
// TableRowCache keeps each stored object's row once it is prepared (its cells serialized, its
// ages and countdowns left to render at the request's `now`, where its metadata lies), by
// storage key and revision, so that a list of unchanged objects as a Table costs about what
// it costs as JSON: the cells are computed once per stored revision, not once per list.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/store.h"

namespace csdr::apiserver {

// {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/<version>","metadata":...}
json::Value PartialObjectMetadata(const json::Value& obj, const std::string& version);

// includeObject: "" (as Metadata), "None", "Metadata" or "Object"; anything else is a 400.
// Age cells count from `now`.
StatusOr<json::Value> Table(const KindStrategy& kind, const std::string& version,
                            const std::vector<const json::Value*>& objects,
                            const std::string& include_object, const json::Value* list_meta,
                            std::chrono::system_clock::time_point now);

// The compact JSON of Table(kind, version, <items parsed>, include_object, &list_meta),
// byte for byte, from `items` (compact JSON objects as the store keeps them), followed by
// nothing (no newline). An item that does not split as expected is parsed whole.
StatusOr<std::string> TableList(const KindStrategy& kind, const std::string& version,
                                const std::vector<std::string>& items,
                                const std::string& include_object, const json::Value& list_meta,
                                std::chrono::system_clock::time_point now);

struct PreparedRow;

// A Table list written in pieces (TableRowCache::Stream): the same bytes as
// TableRowCache::List, so that a large list is sent as it is encoded instead of built whole.
// Holds the items and their rows; not thread-safe (one writer).
class TableListStream {
 public:
  ~TableListStream();
  TableListStream(const TableListStream&) = delete;
  TableListStream& operator=(const TableListStream&) = delete;
  // Appends the next rows to *out until it holds at least `chunk_bytes` (or the list ends);
  // false once the list's last byte is appended.
  bool Next(std::string* out, size_t chunk_bytes);

 private:
  friend class TableRowCache;
  TableListStream();
  std::shared_ptr<const std::vector<storage::KeyValue>> items_;
  std::vector<std::shared_ptr<const PreparedRow>> rows_;
  std::string version_;
  std::string include_object_;
  std::chrono::system_clock::time_point now_;
  std::string start_;  // the head, up to the rows' opening bracket
  size_t next_ = 0;
  bool started_ = false;
  bool wrote_row_ = false;
};

// Prepared rows by storage key, each for the revision it was prepared from. Thread-safe; the
// lock is held to look rows up and to keep new ones, never while a row is prepared or
// written. At `capacity` rows it starts over (a full cache is emptied), which also drops
// the rows of deleted objects.
class TableRowCache {
 public:
  static constexpr size_t kDefaultCapacity = 1 << 16;

  explicit TableRowCache(size_t capacity = kDefaultCapacity);
  ~TableRowCache();
  TableRowCache(const TableRowCache&) = delete;
  TableRowCache& operator=(const TableRowCache&) = delete;

  // TableList of the items' values, byte for byte; rows come from here when an item's key
  // and mod_revision match a kept row, and are kept when prepared (an item with no key or
  // revision 0 is prepared each time).
  StatusOr<std::string> List(const KindStrategy& kind, const std::string& version,
                             const std::vector<storage::KeyValue>& items,
                             const std::string& include_object, const json::Value& list_meta,
                             std::chrono::system_clock::time_point now);

  // The same list in pieces. An invalid include_object fails here, before any byte.
  StatusOr<std::unique_ptr<TableListStream>> Stream(
      const KindStrategy& kind, const std::string& version,
      std::shared_ptr<const std::vector<storage::KeyValue>> items,
      const std::string& include_object, const json::Value& list_meta,
      std::chrono::system_clock::time_point now);

  size_t size() const;

 private:
  // Each item's row: kept or prepared now (and kept); null for an item that is not an object.
  std::vector<std::shared_ptr<const PreparedRow>> Rows(const KindStrategy& kind,
                                                       const std::vector<storage::KeyValue>& items);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const PreparedRow>> rows_;
};

}  // namespace csdr::apiserver
