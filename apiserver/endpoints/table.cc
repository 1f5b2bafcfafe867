#include "apiserver/endpoints/table.h"

namespace csdr::apiserver {
namespace {

Status CheckIncludeObject(const std::string& include_object) {
  if (!include_object.empty() && include_object != "Metadata" && include_object != "Object" &&
      include_object != "None") {
    return Status(Code::kBadRequest, "unsupported includeObject: " + Quote(include_object));
  }
  return Status::Ok();
}

// The table without its rows.
json::Value TableHead(const KindStrategy& kind, const std::string& version,
                      const json::Value* list_meta) {
  json::Value t = json::Value::MakeObject();
  t.Set("kind", "Table");
  t.Set("apiVersion", "meta.k8s.io/" + version);
  t.Set("metadata", list_meta ? *list_meta : json::Value::MakeObject());
  json::Value cols = json::Value::MakeArray();
  for (const auto& c : kind.Columns()) {
    json::Value col = json::Value::MakeObject();
    col.Set("name", c.name);
    col.Set("type", c.type);
    col.Set("format", c.format);
    col.Set("description", c.description);
    col.Set("priority", c.priority);
    cols.PushBack(std::move(col));
  }
  t.Set("columnDefinitions", std::move(cols));
  return t;
}

// ---- splitting stored objects at their top level

void SkipBlanks(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')) ++*i;
}

// Moves *i past the JSON string that starts there; false if it does not end.
bool SkipString(std::string_view s, size_t* i) {
  for (size_t j = *i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') {
      ++j;
    } else if (s[j] == '"') {
      *i = j + 1;
      return true;
    }
  }
  return false;
}

// Moves *i past the JSON value that starts there (the grammar is the store's to keep: this
// only finds where the value ends).
bool SkipValue(std::string_view s, size_t* i) {
  if (*i >= s.size()) return false;
  if (s[*i] == '"') return SkipString(s, i);
  if (s[*i] == '{' || s[*i] == '[') {
    int depth = 0;
    while (*i < s.size()) {
      const char c = s[*i];
      if (c == '"') {
        if (!SkipString(s, i)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) {
          ++*i;
          return true;
        }
      }
      ++*i;
    }
    return false;
  }
  while (*i < s.size() && s[*i] != ',' && s[*i] != '}' && s[*i] != ']') ++*i;
  return true;
}

// Calls fn(key, value) for each member of the object `s`, with the key as written (quotes
// removed, escapes not decoded) and the value's bytes. False if `s` is not an object.
template <typename Fn>
bool ForEachMember(std::string_view s, Fn&& fn) {
  size_t i = 0;
  SkipBlanks(s, &i);
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  SkipBlanks(s, &i);
  if (i < s.size() && s[i] == '}') return true;
  while (i < s.size()) {
    SkipBlanks(s, &i);
    if (i >= s.size() || s[i] != '"') return false;
    const size_t key_start = i + 1;
    if (!SkipString(s, &i)) return false;
    const std::string_view key = s.substr(key_start, i - 1 - key_start);
    SkipBlanks(s, &i);
    if (i >= s.size() || s[i] != ':') return false;
    ++i;
    SkipBlanks(s, &i);
    const size_t value_start = i;
    if (!SkipValue(s, &i)) return false;
    fn(key, s.substr(value_start, i - value_start));
    SkipBlanks(s, &i);
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    return i < s.size() && s[i] == '}';
  }
  return false;
}

// What a row needs of a stored object: spec and status (parsed), metadata's name and
// creationTimestamp (parsed), and metadata as its bytes.
struct Split {
  json::Value reduced = json::Value::MakeObject();
  std::string_view metadata;
};

bool SplitObject(std::string_view item, Split* out) {
  bool ok = true;
  const bool object = ForEachMember(item, [&](std::string_view key, std::string_view value) {
    if (!ok) return;
    if (key == "metadata") {
      out->metadata = value;
      json::Value meta = json::Value::MakeObject();
      ok = ForEachMember(value, [&](std::string_view k, std::string_view v) {
        if (k != "name" && k != "creationTimestamp") return;
        auto parsed = json::Parse(v);
        if (parsed.ok()) meta.Set(k, std::move(*parsed));
      });
      out->reduced.Set("metadata", std::move(meta));
      return;
    }
    if (key != "spec" && key != "status") return;
    auto parsed = json::Parse(value);
    if (!parsed.ok()) {
      ok = false;
      return;
    }
    out->reduced.Set(key, std::move(*parsed));
  });
  return object && ok && !out->metadata.empty();
}

void AppendCell(const json::Value& cell, std::string* out) { json::SerializeTo(cell, out); }

}  // namespace

// A row prepared from one stored object: its cells serialized except the clock cells, which
// are rendered per request at their offsets, and where its metadata lies in the stored bytes.
struct PreparedRow {
  struct ClockSlot {
    size_t offset;  // in `cells`, where the rendered cell goes
    TableCell cell;
  };
  int64_t revision = 0;
  size_t stored_size = 0;  // the stored object's size: a cheap check that it is the same one
  std::string cells;       // the cells, comma-separated, clock cells left out
  std::vector<ClockSlot> clocks;
  // The metadata: stored[metadata_offset, +metadata_size) when the object split, else
  // `metadata` (serialized again from the object parsed whole); "{}" when it has none.
  size_t metadata_offset = 0;
  size_t metadata_size = 0;
  std::string metadata;
};

namespace {

void PrepareCells(const KindStrategy& kind, const json::Value& object, PreparedRow* row) {
  bool first = true;
  for (TableCell& cell : kind.RowCells(object)) {
    if (!first) row->cells.push_back(',');
    first = false;
    if (cell.clock == TableCell::Clock::kNone) {
      AppendCell(cell.value, &row->cells);
    } else {
      row->clocks.push_back({row->cells.size(), std::move(cell)});
    }
  }
}

// The row of one stored object; nullopt when it is unreadable (it has no row, as on the
// parsed path).
std::optional<PreparedRow> Prepare(const KindStrategy& kind, std::string_view stored,
                                   int64_t revision) {
  PreparedRow row;
  row.revision = revision;
  row.stored_size = stored.size();
  Split split;
  if (SplitObject(stored, &split)) {
    // Stored objects are compact JSON as our serializer writes it: their metadata's bytes
    // are what serializing it again would give.
    PrepareCells(kind, split.reduced, &row);
    row.metadata_offset = static_cast<size_t>(split.metadata.data() - stored.data());
    row.metadata_size = split.metadata.size();
    return row;
  }
  json::ParseOptions po;
  po.max_depth = 200;
  auto whole = json::Parse(stored, po);
  if (!whole.ok()) return std::nullopt;
  PrepareCells(kind, *whole, &row);
  if (const json::Value* m = whole->Find("metadata")) json::SerializeTo(*m, &row.metadata);
  if (row.metadata.empty()) row.metadata = "{}";
  return row;
}

void AppendRow(const PreparedRow& row, std::string_view stored, const std::string& version,
               const std::string& include_object, std::chrono::system_clock::time_point now,
               std::string* out) {
  out->append("{\"cells\":[");
  size_t at = 0;
  for (const PreparedRow::ClockSlot& slot : row.clocks) {
    out->append(row.cells, at, slot.offset - at);
    AppendCell(slot.cell.Render(now), out);
    at = slot.offset;
  }
  out->append(row.cells, at, std::string::npos);
  out->push_back(']');
  if (include_object == "Object") {
    out->append(",\"object\":").append(stored);
  } else if (include_object != "None") {
    out->append(",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/")
        .append(version)
        .append("\",\"metadata\":");
    if (row.metadata_size != 0) {
      out->append(stored.substr(row.metadata_offset, row.metadata_size));
    } else {
      out->append(row.metadata);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

// The table's head, up to the rows' opening bracket.
std::string TableStart(const KindStrategy& kind, const std::string& version,
                       const json::Value& list_meta, size_t reserve) {
  std::string out;
  out.reserve(reserve);
  json::SerializeTo(TableHead(kind, version, &list_meta), &out);
  out.pop_back();  // the head's closing brace: the rows follow
  out.append(",\"rows\":[");
  return out;
}

size_t ListSizeGuess(size_t items, size_t stored_bytes) { return 256 + stored_bytes + 128 * items; }

}  // namespace

json::Value PartialObjectMetadata(const json::Value& obj, const std::string& version) {
  json::Value p = json::Value::MakeObject();
  p.Set("kind", "PartialObjectMetadata");
  p.Set("apiVersion", "meta.k8s.io/" + version);
  if (const json::Value* m = obj.Find("metadata"))
    p.Set("metadata", *m);
  else
    p.Set("metadata", json::Value::MakeObject());
  return p;
}

StatusOr<json::Value> Table(const KindStrategy& kind, const std::string& version,
                            const std::vector<const json::Value*>& objects,
                            const std::string& include_object, const json::Value* list_meta,
                            std::chrono::system_clock::time_point now) {
  if (Status s = CheckIncludeObject(include_object); !s.ok()) return s;
  json::Value t = TableHead(kind, version, list_meta);
  json::Value rows = json::Value::MakeArray();
  for (const json::Value* obj : objects) {
    json::Value row = json::Value::MakeObject();
    json::Value cells = json::Value::MakeArray();
    for (auto& c : kind.Cells(*obj, now)) cells.PushBack(std::move(c));
    row.Set("cells", std::move(cells));
    if (include_object == "Object")
      row.Set("object", *obj);
    else if (include_object != "None")
      row.Set("object", PartialObjectMetadata(*obj, version));
    rows.PushBack(std::move(row));
  }
  t.Set("rows", std::move(rows));
  return t;
}

StatusOr<std::string> TableList(const KindStrategy& kind, const std::string& version,
                                const std::vector<std::string>& items,
                                const std::string& include_object, const json::Value& list_meta,
                                std::chrono::system_clock::time_point now) {
  if (Status s = CheckIncludeObject(include_object); !s.ok()) return s;
  size_t bytes = 0;
  for (const auto& item : items) bytes += item.size();
  std::string out = TableStart(kind, version, list_meta, ListSizeGuess(items.size(), bytes));
  bool first = true;
  for (const std::string& item : items) {
    std::optional<PreparedRow> row = Prepare(kind, item, 0);
    if (!row) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendRow(*row, item, version, include_object, now, &out);
  }
  out.append("]}");
  return out;
}

TableRowCache::TableRowCache(size_t capacity) : capacity_(capacity) {}
TableRowCache::~TableRowCache() = default;

size_t TableRowCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rows_.size();
}

std::vector<std::shared_ptr<const PreparedRow>> TableRowCache::Rows(
    const KindStrategy& kind, const std::vector<storage::KeyValue>& items) {
  // The rows kept for these revisions, under one lock; the others are prepared outside it.
  std::vector<std::shared_ptr<const PreparedRow>> rows(items.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      auto it = rows_.find(items[i].key);
      if (it != rows_.end() && it->second->revision == items[i].mod_revision &&
          it->second->stored_size == items[i].value.size()) {
        rows[i] = it->second;
      }
    }
  }
  std::vector<size_t> prepared;
  for (size_t i = 0; i < items.size(); ++i) {
    if (rows[i] != nullptr) continue;
    std::optional<PreparedRow> row = Prepare(kind, items[i].value, items[i].mod_revision);
    if (!row) continue;
    rows[i] = std::make_shared<const PreparedRow>(std::move(*row));
    // A row without a revision (objects not read from the store) is not kept.
    if (items[i].mod_revision != 0 && !items[i].key.empty()) prepared.push_back(i);
  }
  if (!prepared.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i : prepared) {
      // Full: start over rather than track use. Rows of deleted objects go this way too.
      if (rows_.size() >= capacity_) rows_.clear();
      rows_.insert_or_assign(items[i].key, rows[i]);
    }
  }
  return rows;
}

StatusOr<std::string> TableRowCache::List(const KindStrategy& kind, const std::string& version,
                                          const std::vector<storage::KeyValue>& items,
                                          const std::string& include_object,
                                          const json::Value& list_meta,
                                          std::chrono::system_clock::time_point now) {
  if (Status s = CheckIncludeObject(include_object); !s.ok()) return s;
  const std::vector<std::shared_ptr<const PreparedRow>> rows = Rows(kind, items);
  size_t bytes = 0;
  for (const auto& item : items) bytes += item.value.size();
  std::string out = TableStart(kind, version, list_meta, ListSizeGuess(items.size(), bytes));
  bool first = true;
  for (size_t i = 0; i < items.size(); ++i) {
    if (rows[i] == nullptr) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendRow(*rows[i], items[i].value, version, include_object, now, &out);
  }
  out.append("]}");
  return out;
}

StatusOr<std::unique_ptr<TableListStream>> TableRowCache::Stream(
    const KindStrategy& kind, const std::string& version,
    std::shared_ptr<const std::vector<storage::KeyValue>> items, const std::string& include_object,
    const json::Value& list_meta, std::chrono::system_clock::time_point now) {
  if (Status s = CheckIncludeObject(include_object); !s.ok()) return s;
  auto stream = std::unique_ptr<TableListStream>(new TableListStream());
  stream->rows_ = Rows(kind, *items);
  stream->items_ = std::move(items);
  stream->version_ = version;
  stream->include_object_ = include_object;
  stream->now_ = now;
  stream->start_ = TableStart(kind, version, list_meta, 0);
  return stream;
}

TableListStream::TableListStream() = default;
TableListStream::~TableListStream() = default;

bool TableListStream::Next(std::string* out, size_t chunk_bytes) {
  if (!started_) {
    out->append(start_);
    std::string().swap(start_);
    started_ = true;
  }
  const std::vector<storage::KeyValue>& items = *items_;
  while (next_ < items.size() && out->size() < chunk_bytes) {
    const size_t i = next_++;
    if (rows_[i] == nullptr) continue;
    if (wrote_row_) out->push_back(',');
    wrote_row_ = true;
    AppendRow(*rows_[i], items[i].value, version_, include_object_, now_, out);
  }
  if (next_ < items.size()) return true;
  out->append("]}");
  return false;
}

}  // namespace csdr::apiserver
