#include "apiserver/kinds/schema.h"

#include <algorithm>
#include <cmath>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"

namespace csdr::apiserver {

// Defined in definitions.cc: the tables of every definition, unsorted.
std::vector<Definition> BuildDefinitions();

Schema&& Schema::Required(std::vector<std::string> names) && {
  required = std::move(names);
  return std::move(*this);
}
Schema&& Schema::Default(json::Value v) && {
  default_value = std::move(v);
  return std::move(*this);
}
Schema&& Schema::Min(int64_t v) && {
  minimum = v;
  return std::move(*this);
}
Schema&& Schema::Max(int64_t v) && {
  maximum = v;
  return std::move(*this);
}
Schema&& Schema::Pattern(std::string p) && {
  pattern = std::move(p);
  return std::move(*this);
}
Schema&& Schema::Format(std::string f) && {
  format = std::move(f);
  return std::move(*this);
}
Schema&& Schema::ListMap(std::vector<std::string> keys) && {
  list_type = "map";
  list_map_keys = std::move(keys);
  return std::move(*this);
}
Schema&& Schema::ListType(std::string t) && {
  list_type = std::move(t);
  return std::move(*this);
}
Schema&& Schema::MapType(std::string t) && {
  map_type = std::move(t);
  return std::move(*this);
}

const Schema* Schema::Property(std::string_view name) const {
  for (const auto& [n, s] : properties) {
    if (n == name) return &s;
  }
  return nullptr;
}

const std::vector<Definition>& Definitions() {
  static const std::vector<Definition> defs = [] {
    std::vector<Definition> d = BuildDefinitions();
    std::sort(d.begin(), d.end(),
              [](const Definition& a, const Definition& b) { return a.name < b.name; });
    return d;
  }();
  return defs;
}

const Definition* FindDefinition(std::string_view name) {
  const std::vector<Definition>& defs = Definitions();
  auto it = std::lower_bound(defs.begin(), defs.end(), name,
                             [](const Definition& d, std::string_view n) { return d.name < n; });
  return (it != defs.end() && it->name == name) ? &*it : nullptr;
}

std::string DefinitionName(const KindInfo& info) {
  return "io.csdr." + info.version + "." + info.kind;
}
std::string ListDefinitionName(const KindInfo& info) {
  return "io.csdr." + info.version + "." + info.list_kind;
}

namespace {

// Follows references to the definition they name. Definitions never alias each other in
// cycles (the tables are written by hand and checked by tests), but the loop is bounded
// all the same.
const Schema& Resolve(const Schema& s) {
  const Schema* cur = &s;
  for (int hops = 0; hops < 8 && !cur->ref.empty(); ++hops) {
    const Definition* d = FindDefinition(cur->ref);
    if (d == nullptr) break;
    cur = &d->schema;
  }
  return *cur;
}

// The JSON Schema name of a value's type, as the CRD validator reports it.
std::string TypeName(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kNull:
      return "null";
    case json::Type::kBool:
      return "boolean";
    case json::Type::kInt:
      return "integer";
    case json::Type::kDouble:
      return "number";
    case json::Type::kString:
      return "string";
    case json::Type::kArray:
      return "array";
    case json::Type::kObject:
      return "object";
  }
  return "null";
}

bool TypeMatches(const std::string& type, const json::Value& v) {
  if (type.empty()) return true;
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    // 5.0 is an integer to JSON Schema (kube-openapi's validator agrees).
    return v.is_int() || (v.is_double() && std::isfinite(v.as_double()) &&
                          std::floor(v.as_double()) == v.as_double());
  }
  return true;
}

struct Walker {
  bool prune;
  SchemaCheck* out;

  void Walk(const Schema& node, json::Value* v, const std::string& path) {
    const Schema& s = Resolve(node);
    if (!TypeMatches(s.type, *v)) {
      const std::string actual = TypeName(*v);
      out->errors.push_back(
          TypeInvalidField(path, Quote(actual),
                           (path.empty() ? std::string("body") : path + " in body") +
                               " must be of type " + s.type + ": " + Quote(actual)));
      return;
    }
    if (s.format == "date-time" && v->is_string() && !ParseRFC3339(v->as_string())) {
      out->errors.push_back(
          InvalidField(path, Quote(v->as_string()),
                       path + " in body must be of type date-time: " + Quote(v->as_string())));
    }
    if (v->is_array() && s.items != nullptr) {
      for (size_t i = 0; i < v->array().size(); ++i)
        Walk(*s.items, &v->array()[i], IndexPath(path, i));
      return;
    }
    if (!v->is_object()) return;
    if (s.properties.empty() && s.additional_properties == nullptr) return;  // free-form
    json::Value::Object& members = v->object();
    for (size_t i = 0; i < members.size();) {
      auto& [key, value] = members[i];
      if (value.is_null()) {
        // CRDs drop nulls of fields that are not nullable; none of ours is.
        members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      const std::string child = ChildPath(path, key);
      if (const Schema* prop = s.Property(key)) {
        Walk(*prop, &value, child);
      } else if (s.additional_properties != nullptr) {
        Walk(*s.additional_properties, &value, child);
      } else {
        out->unknown_fields.push_back(child);
        if (prune) {
          members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
      }
      ++i;
    }
  }
};

}  // namespace

SchemaCheck CheckAgainstSchema(const KindStrategy& kind, json::Value* object, bool prune) {
  SchemaCheck check;
  const Definition* def = FindDefinition(DefinitionName(kind.info()));
  if (def == nullptr) return check;  // unreachable: every kind has a definition (tested)
  Walker{prune, &check}.Walk(def->schema, object, "");
  // kube-apiserver reports metadata's unknown fields (found while decoding ObjectMeta)
  // before the pruned ones, each group in sorted order.
  auto is_meta = [](const std::string& p) { return p.rfind("metadata.", 0) == 0; };
  auto mid =
      std::stable_partition(check.unknown_fields.begin(), check.unknown_fields.end(), is_meta);
  std::sort(check.unknown_fields.begin(), mid);
  std::sort(mid, check.unknown_fields.end());
  return check;
}

}  // namespace csdr::apiserver
