// Server-side apply after sigs.k8s.io/structured-merge-diff (merge/update.go, typed/merge.go,
// typed/compare.go, typed/tofieldset.go, fieldpath/serialize.go) and the manager stack of
// k8s.io/apimachinery/pkg/util/managedfields/internal (stripmeta, managedfieldsupdater,
// skipnonapplied, capmanagers, managedfields.go, conflict.go).
//
// We have no per-kind schema here, so every JSON object is treated the way SMD treats a
// struct (its keys are named fields), except metadata.labels and metadata.annotations,
// which are maps (their keys are map elements). Every list is atomic.

#include "apiserver/apply/apply.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace csdr::apiserver {
namespace {

// Parsed input is capped at depth 100 (json::ParseOptions); this guard only matters for
// hand-built Values, and keeps every recursion below bounded either way. Deeper content is
// treated as one atomic leaf.
constexpr int kMaxDepth = 128;
// ValidateFieldManager in k8s.io/apimachinery: FieldManagerMaxLength.
constexpr size_t kMaxManagerLength = 128;
// DefaultMaxUpdateManagers in managedfields/internal/fieldmanager.go.
constexpr size_t kMaxUpdateManagers = 10;
// Objects with more members than this get a hash index for lookups so that merging and
// comparing stay linear; smaller ones are faster to scan.
constexpr size_t kIndexThreshold = 16;

constexpr std::string_view kBeforeFirstApply = "before-first-apply";
constexpr std::string_view kAncientChanges = "ancient-changes";
constexpr std::string_view kOperationApply = "Apply";
constexpr std::string_view kOperationUpdate = "Update";
// Only this manager gets the client-side apply migration help, as upstream decides.
constexpr std::string_view kKubectlManager = "kubectl";
constexpr std::string_view kLastAppliedAnnotation =
    "kubectl.kubernetes.io/last-applied-configuration";
// apimachinery validation.TotalAnnotationSizeLimitB.
constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

// Where in the object a JSON object sits; decides whether its keys are named fields.
enum class Ctx { kRoot, kMetadata, kStringMap, kOther };

Ctx ChildCtx(Ctx ctx, std::string_view key) {
  if (ctx == Ctx::kRoot && key == "metadata") return Ctx::kMetadata;
  if (ctx == Ctx::kMetadata && (key == "labels" || key == "annotations")) return Ctx::kStringMap;
  return Ctx::kOther;
}

// metadata fields the server owns: never recorded in a manager's set (upstream's
// stripMetaManager list, plus the deletion fields that only the server sets).
bool IsSystemMetadataField(std::string_view key) {
  static constexpr std::string_view kFields[] = {"name",
                                                 "namespace",
                                                 "uid",
                                                 "resourceVersion",
                                                 "generation",
                                                 "creationTimestamp",
                                                 "managedFields",
                                                 "deletionTimestamp",
                                                 "deletionGracePeriodSeconds",
                                                 "selfLink",
                                                 "clusterName"};
  return std::find(std::begin(kFields), std::end(kFields), key) != std::end(kFields);
}

bool IsNonEmptyObject(const json::Value& v) { return v.is_object() && v.size() > 0; }

// Member lookup by key, indexed for large objects.
class KeyIndex {
 public:
  explicit KeyIndex(const json::Value* object) : object_(object) {
    if (object_ != nullptr && object_->is_object() && object_->size() > kIndexThreshold) {
      index_.reserve(object_->size());
      for (const auto& [key, value] : object_->object()) index_.emplace(key, &value);
    }
  }
  const json::Value* Find(std::string_view key) const {
    if (object_ == nullptr || !object_->is_object()) return nullptr;
    if (index_.empty()) return object_->Find(key);
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : it->second;
  }

 private:
  const json::Value* object_;
  std::unordered_map<std::string_view, const json::Value*> index_;
};

// ---------------------------------------------------------------------------------------
// Field sets

// A set of field paths as a tree (fieldpath.Set). `member` says the path of this node is
// itself in the set; children are kept sorted by name (Go's byte order, as SMD sorts path
// elements) and are never empty.
struct FieldSet {
  struct Child;
  bool member = false;
  std::vector<Child> children;

  bool empty() const { return !member && children.empty(); }
  const FieldSet* Find(std::string_view name) const;
  bool Erase(std::string_view name);
};

struct FieldSet::Child {
  std::string name;
  FieldSet set;
};

const FieldSet* FieldSet::Find(std::string_view name) const {
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const Child& c, std::string_view n) { return c.name < n; });
  return it != children.end() && it->name == name ? &it->set : nullptr;
}

bool FieldSet::Erase(std::string_view name) {
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const Child& c, std::string_view n) { return c.name < n; });
  if (it == children.end() || it->name != name) return false;
  children.erase(it);
  return true;
}

FieldSet Union(const FieldSet& a, const FieldSet& b);

// Sorts children built in input order, merging duplicate names and dropping empty ones.
void Normalize(std::vector<FieldSet::Child>* children) {
  std::stable_sort(
      children->begin(), children->end(),
      [](const FieldSet::Child& x, const FieldSet::Child& y) { return x.name < y.name; });
  std::vector<FieldSet::Child> out;
  out.reserve(children->size());
  for (auto& c : *children) {
    if (c.set.empty()) continue;
    if (!out.empty() && out.back().name == c.name) {
      out.back().set = Union(out.back().set, c.set);
    } else {
      out.push_back(std::move(c));
    }
  }
  *children = std::move(out);
}

// The three set operations walk both sorted child lists side by side, so each is linear
// in the size of its inputs.
FieldSet Union(const FieldSet& a, const FieldSet& b) {
  FieldSet out;
  out.member = a.member || b.member;
  out.children.reserve(a.children.size() + b.children.size());
  size_t i = 0, j = 0;
  while (i < a.children.size() || j < b.children.size()) {
    if (j == b.children.size() ||
        (i < a.children.size() && a.children[i].name < b.children[j].name)) {
      out.children.push_back(a.children[i++]);
    } else if (i == a.children.size() || b.children[j].name < a.children[i].name) {
      out.children.push_back(b.children[j++]);
    } else {
      out.children.push_back({a.children[i].name, Union(a.children[i].set, b.children[j].set)});
      ++i;
      ++j;
    }
  }
  return out;
}

// Paths of `a` that are not paths of `b` (exact paths: a member of `b` does not remove
// the descendants of that path from `a`), as fieldpath.Set.Difference.
FieldSet Difference(const FieldSet& a, const FieldSet& b) {
  FieldSet out;
  out.member = a.member && !b.member;
  out.children.reserve(a.children.size());
  size_t j = 0;
  for (const auto& child : a.children) {
    while (j < b.children.size() && b.children[j].name < child.name) ++j;
    if (j < b.children.size() && b.children[j].name == child.name) {
      FieldSet d = Difference(child.set, b.children[j].set);
      if (!d.empty()) out.children.push_back({child.name, std::move(d)});
    } else {
      out.children.push_back(child);
    }
  }
  return out;
}

FieldSet Intersection(const FieldSet& a, const FieldSet& b) {
  FieldSet out;
  out.member = a.member && b.member;
  size_t j = 0;
  for (const auto& child : a.children) {
    while (j < b.children.size() && b.children[j].name < child.name) ++j;
    if (j < b.children.size() && b.children[j].name == child.name) {
      FieldSet x = Intersection(child.set, b.children[j].set);
      if (!x.empty()) out.children.push_back({child.name, std::move(x)});
    }
  }
  return out;
}

// Calls f(".a.b") for every path, in fieldpath.Set.Iterate's order: at each level the
// members first, then the children's subtrees, both sorted by name.
template <typename F>
void IteratePaths(const FieldSet& set, const std::string& prefix, const F& f) {
  for (const auto& c : set.children) {
    if (c.set.member) f(prefix + "." + c.name);
  }
  for (const auto& c : set.children) {
    if (!c.set.children.empty()) IteratePaths(c.set, prefix + "." + c.name, f);
  }
}

// What a manager may own for a write through `subresource`: identity and server-set
// metadata never (stripMetaManager), status only through the status subresource and
// nothing else there (the reset fields of the CRD strategies).
void RestrictToScope(FieldSet* set, std::string_view subresource) {
  if (subresource == "status") {
    std::erase_if(set->children, [](const FieldSet::Child& c) { return c.name != "status"; });
    return;
  }
  set->Erase("apiVersion");
  set->Erase("kind");
  set->Erase("status");
  auto it = std::find_if(set->children.begin(), set->children.end(),
                         [](const FieldSet::Child& c) { return c.name == "metadata"; });
  if (it != set->children.end()) {
    it->set.member = false;
    std::erase_if(it->set.children,
                  [](const FieldSet::Child& c) { return IsSystemMetadataField(c.name); });
    if (it->set.empty()) set->children.erase(it);
  }
}

// typed.ToFieldSet: the paths an object sets. A leaf (scalar, list, null, empty object) is
// a member; a non-empty object under a named field contributes only its children; a map
// key (labels, annotations) is a member whatever its value.
FieldSet ToFieldSet(const json::Value& object, Ctx ctx, int depth) {
  FieldSet set;
  set.children.reserve(object.size());
  for (const auto& [key, value] : object.object()) {
    if (ctx == Ctx::kMetadata && key == "managedFields") continue;
    FieldSet child;
    if (IsNonEmptyObject(value) && depth < kMaxDepth) {
      child = ToFieldSet(value, ChildCtx(ctx, key), depth + 1);
      if (ctx == Ctx::kStringMap) child.member = true;
    } else {
      child.member = true;
    }
    set.children.push_back({key, std::move(child)});
  }
  Normalize(&set.children);
  return set;
}

// ---------------------------------------------------------------------------------------
// Compare and merge (typed/compare.go, typed/merge.go)

struct Comparison {
  FieldSet added, modified, removed;
  bool empty() const { return added.empty() && modified.empty() && removed.empty(); }
};

void CompareField(const json::Value* lhs, const json::Value* rhs, Ctx ctx, int depth,
                  Comparison* out);

// Compares the members of two objects (nullptr: absent or null, i.e. no members) and
// records the differences as children of `out`'s nodes.
void CompareObjects(const json::Value* lhs, const json::Value* rhs, Ctx ctx, int depth,
                    Comparison* out) {
  KeyIndex lhs_index(lhs), rhs_index(rhs);
  std::vector<FieldSet::Child> added, modified, removed;
  auto visit = [&](const std::string& key, const json::Value* l, const json::Value* r) {
    if (ctx == Ctx::kMetadata && key == "managedFields") return;
    Comparison child;
    CompareField(l, r, ChildCtx(ctx, key), depth + 1, &child);
    if (!child.added.empty()) added.push_back({key, std::move(child.added)});
    if (!child.modified.empty()) modified.push_back({key, std::move(child.modified)});
    if (!child.removed.empty()) removed.push_back({key, std::move(child.removed)});
  };
  if (lhs != nullptr) {
    for (const auto& [key, value] : lhs->object()) visit(key, &value, rhs_index.Find(key));
  }
  if (rhs != nullptr) {
    for (const auto& [key, value] : rhs->object()) {
      if (lhs_index.Find(key) == nullptr) visit(key, nullptr, &value);
    }
  }
  Normalize(&added);
  Normalize(&modified);
  Normalize(&removed);
  // Each node's children are filled here exactly once, so plain assignment is enough.
  out->added.children = std::move(added);
  out->modified.children = std::move(modified);
  out->removed.children = std::move(removed);
}

// Compares one field (nullptr: absent). An absent side makes the field and, for an
// object, everything under it added or removed. Null stands for an empty map next to an
// object, as SMD's deduced map type reads it; an object against a scalar or list is a
// modification of the field plus the object's contents added or removed.
void CompareField(const json::Value* lhs, const json::Value* rhs, Ctx ctx, int depth,
                  Comparison* out) {
  const bool deep_ok = depth < kMaxDepth;
  if (lhs == nullptr) {
    out->added.member = true;
    if (deep_ok && IsNonEmptyObject(*rhs)) {
      Comparison inner;
      CompareObjects(nullptr, rhs, ctx, depth, &inner);
      out->added.children = std::move(inner.added.children);
    }
    return;
  }
  if (rhs == nullptr) {
    out->removed.member = true;
    if (deep_ok && IsNonEmptyObject(*lhs)) {
      Comparison inner;
      CompareObjects(lhs, nullptr, ctx, depth, &inner);
      out->removed.children = std::move(inner.removed.children);
    }
    return;
  }
  const bool lobj = lhs->is_object(), robj = rhs->is_object();
  if (deep_ok && (lobj || robj) && (lobj || lhs->is_null()) && (robj || rhs->is_null())) {
    if ((!lobj || lhs->size() == 0) && (!robj || rhs->size() == 0)) {
      // Both empty: a leaf, so {} versus null still counts as a change.
      if (*lhs != *rhs) out->modified.member = true;
      return;
    }
    CompareObjects(lobj ? lhs : nullptr, robj ? rhs : nullptr, ctx, depth, out);
    return;
  }
  if (deep_ok && (lobj || robj)) {
    out->modified.member = true;
    CompareObjects(lobj ? lhs : nullptr, robj ? rhs : nullptr, ctx, depth, out);
    return;
  }
  if (*lhs != *rhs) out->modified.member = true;
}

Comparison CompareRoots(const json::Value& lhs, const json::Value& rhs) {
  Comparison c;
  CompareObjects(lhs.is_object() ? &lhs : nullptr, rhs.is_object() ? &rhs : nullptr, Ctx::kRoot, 0,
                 &c);
  return c;
}

// liveObject.Merge(config): objects merge key by key, everything else (scalars, lists,
// null) is replaced by the config's value. Existing keys keep their place; new ones are
// appended in the config's order.
json::Value Merge(const json::Value& lhs, const json::Value& rhs, int depth) {
  const bool lobj = lhs.is_object(), robj = rhs.is_object();
  if (depth >= kMaxDepth || !(lobj || robj) || !(lobj || lhs.is_null()) ||
      !(robj || rhs.is_null())) {
    return rhs;
  }
  if (!lobj || lhs.size() == 0) return rhs;  // both empty, or only the config has members
  if (!robj || rhs.size() == 0) return lhs;  // null or {} in the config keeps the members
  KeyIndex lhs_index(&lhs), rhs_index(&rhs);
  json::Value out = json::Value::MakeObject();
  out.object().reserve(lhs.size() + rhs.size());
  for (const auto& [key, value] : lhs.object()) {
    const json::Value* r = rhs_index.Find(key);
    out.object().emplace_back(key, r != nullptr ? Merge(value, *r, depth + 1) : value);
  }
  for (const auto& [key, value] : rhs.object()) {
    if (lhs_index.Find(key) == nullptr) out.object().emplace_back(key, value);
  }
  return out;
}

// Never removed by pruning: what identifies the object and what the server sets.
bool IsProtected(Ctx ctx, std::string_view key) {
  if (ctx == Ctx::kRoot) return key == "apiVersion" || key == "kind" || key == "metadata";
  if (ctx == Ctx::kMetadata) return IsSystemMetadataField(key);
  return false;
}

// Upstream's prune (RemoveItems + addBackOwnedItems + addBackDanglingItems): removes every
// field the applier owned before (`last`) that no manager owns now (`owned`, which holds
// the applier's new set). Both sets are read with EnsureNamedFieldsAreMembers: a named
// field counts as owned when anything under it is, so a struct survives while someone owns
// part of it, and goes as a whole (unowned siblings included) when nobody does.
void Prune(json::Value* object, const FieldSet& last, const FieldSet* owned, Ctx ctx, int depth) {
  const bool named = ctx != Ctx::kStringMap;
  auto in_set = [named](const FieldSet* s) {
    return s != nullptr && (s->member || (named && !s->children.empty()));
  };
  json::Value::Object& members = object->object();
  std::vector<json::Value::Member> kept;
  kept.reserve(members.size());
  for (auto& member : members) {
    const FieldSet* l = last.Find(member.first);
    if (l != nullptr) {
      const FieldSet* o = owned != nullptr ? owned->Find(member.first) : nullptr;
      if (in_set(l) && !in_set(o) && !IsProtected(ctx, member.first)) continue;
      if (member.second.is_object() && !l->children.empty() && depth < kMaxDepth) {
        Prune(&member.second, *l, o, ChildCtx(ctx, member.first), depth + 1);
      }
    }
    kept.push_back(std::move(member));
  }
  members = std::move(kept);
}

// ---------------------------------------------------------------------------------------
// managedFields entries

struct ManagerEntry {
  std::string manager;
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string subresource;
  std::optional<std::string> time;  // kept verbatim so that an untouched entry round-trips
  FieldSet fields;
};

// Keyed by the manager identifier, so iteration follows upstream's sort of identifiers.
using Managers = std::map<std::string, ManagerEntry>;

// encoding/json's string encoding (HTML-safe escapes included), so that identifiers sort
// exactly as upstream's do.
std::string GoJsonString(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '<':
      case '>':
      case '&':
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
                static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += "\"";
  return out;
}

// BuildManagerIdentifier: the entry without fields and time, and without apiVersion for
// appliers (so an applier stays one manager across versions), as Go marshals it.
std::string ManagerIdentifier(std::string_view manager, std::string_view operation,
                              std::string_view api_version, std::string_view subresource) {
  std::string id = "{";
  if (!manager.empty()) id += "\"manager\":" + GoJsonString(manager) + ",";
  id += "\"operation\":" + GoJsonString(operation);
  if (operation != kOperationApply && !api_version.empty()) {
    id += ",\"apiVersion\":" + GoJsonString(api_version);
  }
  if (!subresource.empty()) id += ",\"subresource\":" + GoJsonString(subresource);
  id += "}";
  return id;
}

std::string Identifier(const ManagerEntry& e) {
  return ManagerIdentifier(e.manager, e.operation, e.api_version, e.subresource);
}

ManagerEntry& EntryFor(Managers* managers, std::string_view manager, std::string_view operation,
                       const std::string& api_version, std::string_view subresource) {
  std::string id = ManagerIdentifier(manager, operation, api_version, subresource);
  auto [it, inserted] = managers->try_emplace(std::move(id));
  if (inserted) {
    it->second.manager = std::string(manager);
    it->second.operation = std::string(operation);
    it->second.subresource = std::string(subresource);
  }
  it->second.api_version = api_version;
  return it->second;
}

void DropEmpty(Managers* managers) {
  std::erase_if(*managers, [](const auto& kv) { return kv.second.fields.empty(); });
}

// fieldpath's FieldsV1 reader. "f:" keys are fields; "." marks a node that is itself a
// member while having children; an object with no path keys is a member. List element keys
// ("k:", "v:", "i:") are dropped because lists are atomic here; unknown key types are
// dropped as upstream drops them.
bool DecodeFieldsV1(const json::Value& v, int depth, FieldSet* out, std::string* error) {
  if (!v.is_object()) {
    *error = "fieldsV1 must be an object";
    return false;
  }
  if (depth > kMaxDepth) {
    *error = "fieldsV1 is nested too deeply";
    return false;
  }
  bool saw_dot = false, saw_path = false;
  for (const auto& [key, child] : v.object()) {
    if (key == ".") {
      saw_dot = true;
      continue;
    }
    if (key.size() < 2 || key[1] != ':' ||
        std::string_view("fkvi").find(key[0]) == std::string_view::npos) {
      continue;
    }
    saw_path = true;
    if (key[0] != 'f') continue;
    FieldSet child_set;
    if (!DecodeFieldsV1(child, depth + 1, &child_set, error)) return false;
    out->children.push_back({key.substr(2), std::move(child_set)});
  }
  Normalize(&out->children);
  out->member = saw_dot || !saw_path;
  return true;
}

json::Value EncodeFieldsV1(const FieldSet& set, bool include_self) {
  json::Value out = json::Value::MakeObject();
  out.object().reserve(set.children.size() + 1);
  if (include_self && set.member && !set.children.empty()) {
    out.object().emplace_back(".", json::Value::MakeObject());
  }
  for (const auto& c : set.children) {
    out.object().emplace_back("f:" + c.name, EncodeFieldsV1(c.set, true));
  }
  return out;
}

// DecodeManagedFields, with upstream's messages.
bool DecodeManagers(const json::Value* managed_fields, Managers* out, std::string* error) {
  out->clear();
  if (managed_fields == nullptr || managed_fields->is_null()) return true;
  if (!managed_fields->is_array()) {
    *error = "managedFields must be a list";
    return false;
  }
  size_t i = 0;
  for (const json::Value& item : managed_fields->array()) {
    const std::string index = std::to_string(i++);
    if (!item.is_object()) {
      *error = "managed fields entry " + index + " must be an object";
      return false;
    }
    auto string_field = [&](std::string_view name, std::string* value) {
      const json::Value* v = item.Find(name);
      if (v == nullptr || v->is_null()) return true;
      if (!v->is_string()) {
        *error = "managed fields entry " + index + ": " + std::string(name) + " must be a string";
        return false;
      }
      *value = v->as_string();
      return true;
    };
    ManagerEntry e;
    std::string fields_type, time;
    if (!string_field("manager", &e.manager) || !string_field("operation", &e.operation) ||
        !string_field("apiVersion", &e.api_version) ||
        !string_field("subresource", &e.subresource) || !string_field("fieldsType", &fields_type) ||
        !string_field("time", &time)) {
      return false;
    }
    if (e.operation != kOperationApply && e.operation != kOperationUpdate) {
      *error = "operation must be `Apply` or `Update`";
      return false;
    }
    if (e.api_version.empty()) {
      *error = "apiVersion must not be empty";
      return false;
    }
    if (fields_type.empty()) {
      *error = "missing fieldsType in managed fields entry " + index;
      return false;
    }
    if (fields_type != "FieldsV1") {
      *error = "invalid fieldsType " + Quote(fields_type) + " in managed fields entry " + index;
      return false;
    }
    if (const json::Value* t = item.Find("time"); t != nullptr && t->is_string()) e.time = time;
    if (const json::Value* f = item.Find("fieldsV1"); f != nullptr && !f->is_null()) {
      if (!DecodeFieldsV1(*f, 0, &e.fields, error)) {
        *error = "error decoding set in managed fields entry " + index + ": " + *error;
        return false;
      }
      e.fields.member = false;  // the root is never a path of its own
    }
    // A repeated identifier: the later entry wins, as in upstream's decoder.
    (*out)[Identifier(e)] = std::move(e);
  }
  return true;
}

// RFC 3339 to Unix seconds, for ordering entries as upstream does (Time.Unix()); nullopt
// when unparseable, which sorts like an entry without time.
std::optional<int64_t> UnixSeconds(std::string_view t) {
  auto digits = [&](size_t pos, size_t n, int* value) {
    if (pos + n > t.size()) return false;
    int v = 0;
    for (size_t k = pos; k < pos + n; ++k) {
      if (t[k] < '0' || t[k] > '9') return false;
      v = v * 10 + (t[k] - '0');
    }
    *value = v;
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!digits(0, 4, &y) || t.size() < 20 || t[4] != '-' || !digits(5, 2, &mo) || t[7] != '-' ||
      !digits(8, 2, &d) || (t[10] != 'T' && t[10] != 't') || !digits(11, 2, &h) || t[13] != ':' ||
      !digits(14, 2, &mi) || t[16] != ':' || !digits(17, 2, &s)) {
    return std::nullopt;
  }
  size_t pos = 19;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
  }
  int64_t offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z') && pos + 1 == t.size()) {
    offset = 0;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
        !digits(pos + 4, 2, &om) || pos + 6 != t.size()) {
      return std::nullopt;
    }
    offset = (t[pos] == '+' ? 1 : -1) * (int64_t{oh} * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // Days from the civil date (Howard Hinnant's algorithm).
  const int64_t yy = y - (mo <= 2 ? 1 : 0);
  const int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  const int64_t yoe = yy - era * 400;
  const int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s - offset;
}

int64_t SortSeconds(const ManagerEntry& e) { return e.time ? UnixSeconds(*e.time).value_or(0) : 0; }

// capManagersManager: past ten Update entries, the oldest are folded into one
// "ancient-changes" entry per apiVersion, so that managedFields cannot grow without bound.
void CapUpdateManagers(Managers* managers) {
  std::vector<std::string> updaters;
  for (const auto& [id, e] : *managers) {
    if (e.operation == kOperationUpdate) updaters.push_back(id);
  }
  if (updaters.size() <= kMaxUpdateManagers) return;
  std::sort(updaters.begin(), updaters.end(), [&](const std::string& a, const std::string& b) {
    int64_t ta = SortSeconds(managers->at(a)), tb = SortSeconds(managers->at(b));
    return ta != tb ? ta < tb : a < b;
  });
  std::map<std::string, std::string> first_by_version;
  size_t count = updaters.size();
  for (size_t i = 0; i < updaters.size() && count > kMaxUpdateManagers; ++i) {
    const std::string& id = updaters[i];
    const std::string version = managers->at(id).api_version;
    const std::string bucket = ManagerIdentifier(kAncientChanges, kOperationUpdate, version, "");
    auto first = first_by_version.find(version);
    if (first == first_by_version.end()) {
      first_by_version.emplace(version, id);
      continue;
    }
    if (id == bucket) continue;  // already the bucket: nothing to fold
    if (managers->find(bucket) == managers->end()) {
      ManagerEntry moved = std::move(managers->at(first->second));
      managers->erase(first->second);
      moved.manager = std::string(kAncientChanges);
      moved.subresource.clear();
      (*managers)[bucket] = std::move(moved);
    }
    ManagerEntry& b = managers->at(bucket);
    ManagerEntry folded = std::move(managers->at(id));
    managers->erase(id);
    b.fields = Union(b.fields, folded.fields);
    b.time = folded.time;  // the newer of the two, since updaters are sorted oldest first
    --count;
  }
}

// encodeManagedFields + sortEncodedManagedFields: Apply before Update, then oldest first,
// then manager, apiVersion and subresource. Members are in alphabetical order, as an
// unstructured (CRD) object is served.
json::Value EncodeManagers(const Managers& managers) {
  std::vector<const ManagerEntry*> entries;
  entries.reserve(managers.size());
  for (const auto& [id, e] : managers) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](const ManagerEntry* p, const ManagerEntry* q) {
    if (p->operation != q->operation) return p->operation < q->operation;
    int64_t tp = SortSeconds(*p), tq = SortSeconds(*q);
    if (tp != tq) return tp < tq;
    if (p->manager != q->manager) return p->manager < q->manager;
    if (p->api_version != q->api_version) return p->api_version < q->api_version;
    return p->subresource < q->subresource;
  });
  json::Value out = json::Value::MakeArray();
  for (const ManagerEntry* e : entries) {
    json::Value entry = json::Value::MakeObject();
    auto& m = entry.object();
    m.emplace_back("apiVersion", e->api_version);
    m.emplace_back("fieldsType", "FieldsV1");
    m.emplace_back("fieldsV1", EncodeFieldsV1(e->fields, false));
    if (!e->manager.empty()) m.emplace_back("manager", e->manager);
    m.emplace_back("operation", e->operation);
    if (!e->subresource.empty()) m.emplace_back("subresource", e->subresource);
    if (e->time) m.emplace_back("time", *e->time);
    out.PushBack(std::move(entry));
  }
  return out;
}

const json::Value* ManagedFieldsOf(const json::Value& object) {
  return object.FindPath({"metadata", "managedFields"});
}

// Writes managedFields into `object`, keeping `previous` (the stored value) when it says
// the same thing so that an unchanged object serializes byte for byte as before.
void StoreManagers(const Managers& managers, const json::Value* previous, json::Value* object) {
  if (managers.empty()) {
    if (json::Value* meta = object->Find("metadata"); meta != nullptr) {
      meta->Erase("managedFields");
    }
    return;
  }
  json::Value encoded = EncodeManagers(managers);
  if (previous != nullptr && *previous == encoded) encoded = *previous;
  json::Value* meta = object->Find("metadata");
  if (meta == nullptr || !meta->is_object())
    meta = &object->Set("metadata", json::Value::MakeObject());
  meta->Set("managedFields", std::move(encoded));
}

// managedFieldsUpdater.Update over Updater.Update with force: what the write added or
// changed (in scope) becomes `manager`'s and leaves every other set; what it removed leaves
// every set. Returns whether the manager gained anything (then its time moves to `now`).
bool RecordUpdate(const json::Value& old_object, const json::Value& new_object,
                  std::string_view manager, const ApplyOptions& options, Managers* managers) {
  Comparison cmp = CompareRoots(old_object, new_object);
  RestrictToScope(&cmp.added, options.subresource);
  RestrictToScope(&cmp.modified, options.subresource);
  RestrictToScope(&cmp.removed, options.subresource);
  FieldSet changed = Union(cmp.modified, cmp.added);
  if (!changed.empty() || !cmp.removed.empty()) {
    for (auto& [id, e] : *managers) {
      e.fields = Difference(Difference(e.fields, changed), cmp.removed);
    }
  }
  bool gained = !changed.empty();
  if (gained) {
    ManagerEntry& e =
        EntryFor(managers, manager, kOperationUpdate, options.api_version, options.subresource);
    e.fields = Union(e.fields, changed);
    e.time = options.now;
  }
  DropEmpty(managers);
  return gained;
}

std::string PrintManager(const ManagerEntry& e) {
  std::string s = Quote(e.manager);
  if (!e.subresource.empty()) s += " with subresource " + Quote(e.subresource);
  // Identifiers carry no time, so upstream never prints " at <time>" here.
  if (e.operation == kOperationUpdate) s += " using " + e.api_version;
  return s;
}

// Status can carry causes for any code only once common/status.h has a
// (Code, message, causes) constructor; until then the causes are dropped and only the
// message (which names every field) reaches the client.
template <typename S = Status>
S StatusWithCauses(Code code, std::string message, FieldErrors causes) {
  if constexpr (std::is_constructible_v<S, Code, std::string, FieldErrors>) {
    return S(code, std::move(message), std::move(causes));
  } else {
    (void)causes;
    return S(code, std::move(message));
  }
}

// NewConflictError: one cause per field; the message groups the fields by manager.
Status ConflictStatus(const std::vector<std::pair<const ManagerEntry*, std::string>>& conflicts) {
  FieldErrors causes;
  causes.reserve(conflicts.size());
  for (const auto& [e, path] : conflicts) {
    causes.push_back({"FieldManagerConflict", path, "conflict with " + PrintManager(*e)});
  }
  std::string message;
  if (conflicts.size() == 1) {
    message = "Apply failed with 1 conflict: conflict with " + PrintManager(*conflicts[0].first) +
              ": " + conflicts[0].second;
  } else {
    message = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
    const ManagerEntry* current = nullptr;
    bool first_line = true;
    for (const auto& [e, path] : conflicts) {  // grouped: managers come in identifier order
      if (e != current) {
        message +=
            (first_line ? "" : "\n") + std::string("conflicts with ") + PrintManager(*e) + ":";
        first_line = false;
        current = e;
      }
      message += "\n- " + path;
    }
  }
  return StatusWithCauses(Code::kConflict, std::move(message), std::move(causes));
}

// ---------------------------------------------------------------------------------------
// kubectl's last-applied annotation (lastappliedmanager.go, lastappliedupdater.go)

const json::Value* LastAppliedAnnotation(const json::Value& object) {
  const json::Value* v = object.FindPath({"metadata", "annotations", kLastAppliedAnnotation});
  return v != nullptr && v->is_string() && !v->as_string().empty() ? v : nullptr;
}

// The fields the annotation sets and that still hold the values it gives them: kubectl
// wrote those itself through client-side apply, so taking them over is no conflict.
std::optional<FieldSet> AllowedByLastApplied(const json::Value& live) {
  const json::Value* annotation = LastAppliedAnnotation(live);
  if (annotation == nullptr) return std::nullopt;
  auto last_applied = json::Parse(annotation->as_string());
  if (!last_applied.ok() || !last_applied->is_object()) return std::nullopt;
  FieldSet set = ToFieldSet(*last_applied, Ctx::kRoot, 0);
  return Difference(set, CompareRoots(*last_applied, live).modified);
}

// encoding/json orders map keys; the annotation is what Go would write for the object.
void SortKeys(json::Value* v, int depth) {
  if (depth >= kMaxDepth) return;
  if (v->is_object()) {
    std::stable_sort(v->object().begin(), v->object().end(),
                     [](const json::Value::Member& a, const json::Value::Member& b) {
                       return a.first < b.first;
                     });
    for (auto& member : v->object()) SortKeys(&member.second, depth + 1);
  } else if (v->is_array()) {
    for (auto& item : v->array()) SortKeys(&item, depth + 1);
  }
}

// lastAppliedUpdater: when "kubectl" applies to an object that carries the annotation, the
// annotation becomes the applied configuration (without the annotation itself), so that a
// later client-side `kubectl apply` diffs against what was really applied. It is dropped
// instead when it would push the annotations past their size limit.
void UpdateLastApplied(const json::Value& applied, json::Value* result) {
  if (LastAppliedAnnotation(*result) == nullptr) return;
  json::Value config = applied;
  if (json::Value* annotations = config.FindPath({"metadata", "annotations"});
      annotations != nullptr) {
    annotations->Erase(kLastAppliedAnnotation);
  }
  SortKeys(&config, 0);
  std::string value = json::Serialize(config);
  value += '\n';  // json.Encoder ends every value with a newline
  json::Value* annotations = result->FindPath({"metadata", "annotations"});
  annotations->Set(kLastAppliedAnnotation, std::move(value));
  size_t total = 0;
  for (const auto& [key, v] : annotations->object()) {
    total += key.size() + (v.is_string() ? v.as_string().size() : 0);
  }
  if (total > kTotalAnnotationSizeLimit) annotations->Erase(kLastAppliedAnnotation);
}

Status InvalidPatchOptions(FieldError error) {
  std::string message =
      "PatchOptions.meta.k8s.io \"\" is invalid: " + error.field + ": " + error.message;
  return Status::Invalid(std::move(message), {std::move(error)});
}

// The part of the applied configuration that takes part in the merge. Server-set metadata
// is dropped (the registry would overwrite it, and keeping it would turn a re-apply of a
// manifest carrying e.g. creationTimestamp: null into a write); name, namespace, uid and
// resourceVersion stay so that the registry can check them against the URL and the stored
// object. Through the status subresource only status (and a resourceVersion
// precondition) counts; through the main resource status does not count at all.
json::Value ApplicableContent(const json::Value& applied, std::string_view subresource) {
  if (subresource == "status") {
    json::Value out = json::Value::MakeObject();
    if (const json::Value* rv = applied.FindPath({"metadata", "resourceVersion"}); rv != nullptr) {
      json::Value meta = json::Value::MakeObject();
      meta.Set("resourceVersion", *rv);
      out.Set("metadata", std::move(meta));
    }
    if (const json::Value* status = applied.Find("status"); status != nullptr) {
      out.Set("status", *status);
    }
    return out;
  }
  json::Value out = applied;
  out.Erase("status");
  if (json::Value* meta = out.Find("metadata"); meta != nullptr && meta->is_object()) {
    for (std::string_view f : {"managedFields", "creationTimestamp", "generation",
                               "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}) {
      meta->Erase(f);
    }
  }
  return out;
}

}  // namespace

StatusOr<json::Value> ServerSideApply(const json::Value* live, const json::Value& applied,
                                      const ApplyOptions& options) {
  if (options.manager.empty()) {
    return InvalidPatchOptions(RequiredField("fieldManager", "is required for apply patch"));
  }
  if (options.manager.size() > kMaxManagerLength) {
    return InvalidPatchOptions(TooLongField("fieldManager", kMaxManagerLength));
  }
  if (options.api_version.empty()) {
    return Status(Code::kInternal, "server-side apply needs the served apiVersion");
  }
  if (!options.subresource.empty() && options.subresource != "status") {
    return Status(Code::kBadRequest,
                  "server-side apply is not supported on subresource " + options.subresource);
  }
  if (!applied.is_object()) return Status(Code::kBadRequest, "apply patch must be an object");
  if (const json::Value* mf = ManagedFieldsOf(applied); mf != nullptr && !mf->is_null()) {
    return Status(Code::kBadRequest, "metadata.managedFields must be nil");
  }
  if (const std::string version = applied.GetString({"apiVersion"});
      version != options.api_version) {
    return Status(Code::kBadRequest,
                  "Incorrect version specified in apply patch. Specified patch version: " +
                      version + ", expected: " + options.api_version);
  }
  if (live != nullptr && !live->is_object()) {
    return Status(Code::kInternal, "the stored object is not a JSON object");
  }

  const json::Value empty_object = json::Value::MakeObject();
  const json::Value& before = live != nullptr ? *live : empty_object;
  Managers managers;
  std::string error;
  if (!DecodeManagers(ManagedFieldsOf(before), &managers, &error)) {
    return Status(Code::kInternal, "failed to decode managed fields: " + error);
  }
  // An object written before anything tracked it: its fields become the property of a
  // "before-first-apply" Update manager, so that the first apply conflicts with them
  // instead of silently taking them (skipNonAppliedManager).
  if (live != nullptr && managers.empty()) {
    RecordUpdate(empty_object, before, kBeforeFirstApply, options, &managers);
  }

  const json::Value config = ApplicableContent(applied, options.subresource);
  FieldSet config_set = ToFieldSet(config, Ctx::kRoot, 0);
  RestrictToScope(&config_set, options.subresource);

  const std::string my_id =
      ManagerIdentifier(options.manager, kOperationApply, options.api_version, options.subresource);
  FieldSet last_set;
  if (auto it = managers.find(my_id); it != managers.end()) last_set = std::move(it->second.fields);
  ManagerEntry& mine = EntryFor(&managers, options.manager, kOperationApply, options.api_version,
                                options.subresource);
  mine.fields = std::move(config_set);

  json::Value merged = Merge(before, config, 0);
  if (!last_set.empty()) {
    FieldSet owned;
    for (const auto& [id, e] : managers) owned = Union(owned, e.fields);
    Prune(&merged, last_set, &owned, Ctx::kRoot, 0);
  }

  // Updater.update: fields this apply changes that others own are conflicts; with force
  // they change hands. Fields it removes leave every set.
  Comparison cmp = CompareRoots(before, merged);
  RestrictToScope(&cmp.added, options.subresource);
  RestrictToScope(&cmp.modified, options.subresource);
  RestrictToScope(&cmp.removed, options.subresource);
  const FieldSet changed = Union(cmp.modified, cmp.added);
  std::map<std::string, FieldSet> taken;
  if (!changed.empty()) {
    for (const auto& [id, e] : managers) {
      if (id == my_id) continue;
      FieldSet overlap = Intersection(e.fields, changed);
      if (!overlap.empty()) taken.emplace(id, std::move(overlap));
    }
  }
  if (!taken.empty() && !options.force) {
    // lastAppliedManager: kubectl moving an object from client-side to server-side apply
    // may take the fields its last-applied annotation still describes.
    std::optional<FieldSet> allowed;
    if (options.manager == kKubectlManager) allowed = AllowedByLastApplied(before);
    std::vector<std::pair<const ManagerEntry*, std::string>> conflicts;
    for (const auto& [id, overlap] : taken) {
      const ManagerEntry* e = &managers.at(id);
      FieldSet remaining = allowed ? Difference(overlap, *allowed) : overlap;
      IteratePaths(remaining, "",
                   [&](std::string path) { conflicts.emplace_back(e, std::move(path)); });
    }
    if (!conflicts.empty()) return ConflictStatus(conflicts);
  }
  for (auto& [id, e] : managers) {
    if (id == my_id) continue;
    if (auto it = taken.find(id); it != taken.end()) e.fields = Difference(e.fields, it->second);
    if (!cmp.removed.empty()) e.fields = Difference(e.fields, cmp.removed);
  }
  DropEmpty(&managers);

  // A write moves the applier's time; a no-op keeps it, so that re-applying the same
  // configuration changes nothing at all and the registry can skip the write. An entry
  // that is new gets a time either way (upstream would leave it without one).
  const bool object_changed = live == nullptr || merged != before;
  if (auto it = managers.find(my_id); it != managers.end()) {
    if (object_changed || !it->second.time) it->second.time = options.now;
  }

  json::Value result = object_changed ? std::move(merged) : before;
  StoreManagers(managers, ManagedFieldsOf(before), &result);
  if (options.manager == kKubectlManager) UpdateLastApplied(applied, &result);
  return result;
}

void UpdateManagedFields(const json::Value* old, json::Value* updated,
                         const ApplyOptions& options) {
  if (options.manager.empty() || options.api_version.empty()) return;
  if (updated == nullptr || !updated->is_object()) return;
  const json::Value empty_object = json::Value::MakeObject();
  const json::Value& before = old != nullptr && old->is_object() ? *old : empty_object;

  // decodeLiveOrNew: a subresource write cannot set managedFields; a main-resource write
  // may replace them (an empty list or [{}] resets them), and otherwise the stored ones
  // stand. Undecodable input falls back the same way rather than failing the write.
  Managers managers;
  std::string error;
  bool from_request = false;
  if (options.subresource.empty()) {
    const json::Value* requested = ManagedFieldsOf(*updated);
    const bool reset =
        requested != nullptr && requested->is_array() &&
        (requested->size() == 0 || (requested->size() == 1 && requested->array()[0].is_object() &&
                                    requested->array()[0].size() == 0));
    if (reset) {
      from_request = true;
    } else if (DecodeManagers(requested, &managers, &error) && !managers.empty()) {
      from_request = true;
    }
  }
  if (!from_request && !DecodeManagers(ManagedFieldsOf(before), &managers, &error)) {
    managers.clear();
  }

  // skipNonAppliedManager: an existing object that nothing tracks stays untracked until
  // someone applies to it; only creates start tracking.
  if (managers.empty() && old != nullptr) {
    if (json::Value* meta = updated->Find("metadata"); meta != nullptr && meta->is_object()) {
      meta->Erase("managedFields");
    }
    return;
  }
  RecordUpdate(before, *updated, options.manager, options, &managers);
  CapUpdateManagers(&managers);
  StoreManagers(managers, ManagedFieldsOf(before), updated);
}

}  // namespace csdr::apiserver
