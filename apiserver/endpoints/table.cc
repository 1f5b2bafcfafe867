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

void AppendRow(const KindStrategy& kind, const std::string& version, const json::Value& object,
               std::string_view metadata_bytes, std::string_view object_bytes,
               const std::string& include_object, std::chrono::system_clock::time_point now,
               std::string* out) {
  out->append("{\"cells\":[");
  bool first = true;
  for (const json::Value& cell : kind.Cells(object, now)) {
    if (!first) out->push_back(',');
    first = false;
    json::SerializeTo(cell, out);
  }
  out->push_back(']');
  if (include_object == "Object") {
    out->append(",\"object\":").append(object_bytes);
  } else if (include_object != "None") {
    out->append(",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/")
        .append(version)
        .append("\",\"metadata\":");
    if (metadata_bytes.empty()) {
      out->append("{}");
    } else {
      out->append(metadata_bytes);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

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
  std::string out;
  size_t total = 256;
  for (const auto& item : items) total += item.size() + 128;
  out.reserve(total);
  json::SerializeTo(TableHead(kind, version, &list_meta), &out);
  out.pop_back();  // the head's closing brace: the rows follow
  out.append(",\"rows\":[");
  json::ParseOptions po;
  po.max_depth = 200;
  bool first = true;
  for (const std::string& item : items) {
    Split split;
    if (SplitObject(item, &split)) {
      // Stored objects are compact JSON as our serializer writes it: their metadata's bytes
      // are what serializing it again would give.
      if (!first) out.push_back(',');
      first = false;
      AppendRow(kind, version, split.reduced, split.metadata, item, include_object, now, &out);
      continue;
    }
    auto whole = json::Parse(item, po);
    if (!whole.ok()) continue;  // an unreadable stored object has no row (as the parsed path)
    std::string metadata;
    if (const json::Value* m = whole->Find("metadata")) json::SerializeTo(*m, &metadata);
    if (!first) out.push_back(',');
    first = false;
    AppendRow(kind, version, *whole, metadata, item, include_object, now, &out);
  }
  out.append("]}");
  return out;
}

}  // namespace csdr::apiserver
