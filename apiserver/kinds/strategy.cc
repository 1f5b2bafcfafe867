#include "apiserver/kinds/strategy.h"

#include <algorithm>
#include <set>

#include "apiserver/kinds/validation.h"
#include "common/duration.h"

namespace csdr::apiserver {
namespace {

// Column descriptions as kube-apiserver's default table convertor words them.
constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr const char* kAgeDescription =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.";

const json::Value kNull;

std::string ScalarText(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kString:
      return v.as_string();
    case json::Type::kBool:
      return v.as_bool() ? "true" : "false";
    case json::Type::kInt:
      return std::to_string(v.as_int());
    case json::Type::kNull:
      return "";
    default:
      return json::Serialize(v);
  }
}

}  // namespace

StrategyBase::StrategyBase(KindInfo info, std::vector<ColumnDefinition> middle_columns,
                           std::vector<std::string> selectable)
    : info_(std::move(info)), selectable_(std::move(selectable)) {
  columns_.push_back({"Name", "string", "name", kNameDescription, 0});
  for (ColumnDefinition& c : middle_columns) columns_.push_back(std::move(c));
  columns_.push_back({"Age", "date", "", kAgeDescription, 0});
}

FieldErrors StrategyBase::ValidateCreate(const json::Value& object) const {
  FieldErrors errors = ValidateObjectMeta(object, info_.namespaced);
  const json::Value* spec = Get(object, "spec");
  ValidateSpec(spec != nullptr ? *spec : kNull, &errors);
  return errors;
}

FieldErrors StrategyBase::ValidateUpdate(const json::Value& object, const json::Value& old) const {
  FieldErrors errors = ValidateCreate(object);
  for (FieldError& e : ValidateObjectMetaUpdate(object, old)) errors.push_back(std::move(e));
  const json::Value* spec = Get(object, "spec");
  const json::Value* old_spec = Get(old, "spec");
  ValidateSpecUpdate(spec != nullptr ? *spec : kNull, old_spec != nullptr ? *old_spec : kNull,
                     &errors);
  return errors;
}

FieldErrors StrategyBase::ValidateStatus(const json::Value& object) const {
  FieldErrors errors = ValidateObjectMeta(object, info_.namespaced);
  const json::Value* status = Get(object, "status");
  ValidateStatusFields(status != nullptr ? *status : kNull, &errors);
  return errors;
}

std::vector<TableCell> StrategyBase::RowCells(const json::Value& object) const {
  std::vector<TableCell> cells;
  cells.reserve(columns_.size());
  cells.emplace_back(json::Value(object.GetString({"metadata", "name"})));
  for (TableCell& c : MiddleCells(object)) cells.push_back(std::move(c));
  TableCell age = AgeCell(object, "metadata.creationTimestamp");
  // kubectl shows "<unknown>" for an object without a creation time.
  if (age.clock == TableCell::Clock::kNone && age.value.is_null()) age.value = "<unknown>";
  cells.push_back(std::move(age));
  return cells;
}

std::optional<std::string> StrategyBase::FieldValue(const json::Value& object,
                                                    std::string_view field) const {
  if (field == "metadata.name") return object.GetString({"metadata", "name"});
  if (field == "metadata.namespace") return object.GetString({"metadata", "namespace"});
  for (const std::string& f : selectable_) {
    if (f == field) {
      const json::Value* v = GetPath(object, field);
      return v == nullptr ? std::string() : ScalarText(*v);
    }
  }
  return std::nullopt;
}

// ---- helpers ------------------------------------------------------------------------------

const json::Value* Get(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  return (m == nullptr || m->is_null()) ? nullptr : m;
}

std::string GetStr(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  return (m != nullptr && m->is_string()) ? m->as_string() : std::string();
}

const json::Value* GetPath(const json::Value& v, std::string_view dotted) {
  const json::Value* cur = &v;
  size_t start = 0;
  while (cur != nullptr) {
    const size_t dot = dotted.find('.', start);
    cur =
        Get(*cur, dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

json::Value& SetDefault(json::Value* object, std::string_view key, json::Value value) {
  if (object->is_null()) *object = json::Value::MakeObject();
  json::Value* m = object->Find(key);
  if (m == nullptr || m->is_null() || (m->is_string() && m->as_string().empty())) {
    return object->Set(key, std::move(value));
  }
  return *m;
}

std::string RequireString(const json::Value& parent, std::string_view key, std::string_view path,
                          FieldErrors* errors) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || (v->is_string() && v->as_string().empty())) {
    errors->push_back(RequiredField(ChildPath(path, key)));
    return "";
  }
  return v->is_string() ? v->as_string() : "";
}

namespace {
void CheckName(const json::Value& parent, std::string_view key, std::string_view path,
               bool required, FieldErrors* errors,
               std::vector<std::string> (*check)(std::string_view)) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || (v->is_string() && v->as_string().empty())) {
    if (required) errors->push_back(RequiredField(ChildPath(path, key)));
    return;
  }
  if (!v->is_string()) return;
  for (const std::string& m : check(v->as_string())) {
    errors->push_back(InvalidField(ChildPath(path, key), Quote(v->as_string()), m));
  }
}
}  // namespace

void CheckSubdomain(const json::Value& parent, std::string_view key, std::string_view path,
                    bool required, FieldErrors* errors) {
  CheckName(parent, key, path, required, errors, &validation::IsDNS1123Subdomain);
}

void CheckLabel(const json::Value& parent, std::string_view key, std::string_view path,
                bool required, FieldErrors* errors) {
  CheckName(parent, key, path, required, errors, &validation::IsDNS1123Label);
}

void CheckDuration(const json::Value& parent, std::string_view key, std::string_view path,
                   bool positive, FieldErrors* errors) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || !v->is_string()) return;
  StatusOr<int64_t> d = ParseGoDuration(v->as_string());
  if (!d.ok()) {
    errors->push_back(
        InvalidField(ChildPath(path, key), Quote(v->as_string()), d.status().message()));
  } else if (positive && *d <= 0) {
    errors->push_back(
        InvalidField(ChildPath(path, key), Quote(v->as_string()), "must be greater than 0"));
  } else if (*d < 0) {
    errors->push_back(InvalidField(ChildPath(path, key), Quote(v->as_string()),
                                   "must be greater than or equal to 0"));
  }
}

void CheckMin(const json::Value& parent, std::string_view key, std::string_view path, int64_t min,
              FieldErrors* errors) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || !v->is_number()) return;
  if (v->as_int() < min) {
    errors->push_back(InvalidField(ChildPath(path, key), json::Repr(*v),
                                   "must be greater than or equal to " + std::to_string(min)));
  }
}

void CheckTime(const json::Value& parent, std::string_view key, std::string_view path,
               FieldErrors* errors) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || !v->is_string()) return;
  if (!ParseRFC3339(v->as_string())) {
    errors->push_back(InvalidField(ChildPath(path, key), Quote(v->as_string()),
                                   "must be an RFC 3339 date-time such as 2006-01-02T15:04:05Z"));
  }
}

void CheckNamespaceList(const json::Value& parent, std::string_view key, std::string_view path,
                        FieldErrors* errors) {
  const json::Value* list = Get(parent, key);
  if (list == nullptr || !list->is_array()) return;
  const std::string base = ChildPath(path, key);
  std::set<std::string> seen;
  for (size_t i = 0; i < list->array().size(); ++i) {
    const json::Value& item = list->array()[i];
    if (!item.is_string()) continue;
    const std::string& ns = item.as_string();
    if (!seen.insert(ns).second) {
      errors->push_back(DuplicateField(IndexPath(base, i), Quote(ns)));
      continue;
    }
    if (ns == "*") continue;  // Velero's "every namespace"
    for (const std::string& m : validation::IsDNS1123Label(ns)) {
      errors->push_back(InvalidField(IndexPath(base, i), Quote(ns), m));
    }
  }
}

void CheckStringList(const json::Value& parent, std::string_view key, std::string_view path,
                     FieldErrors* errors) {
  const json::Value* list = Get(parent, key);
  if (list == nullptr || !list->is_array()) return;
  const std::string base = ChildPath(path, key);
  std::set<std::string> seen;
  for (size_t i = 0; i < list->array().size(); ++i) {
    const json::Value& item = list->array()[i];
    if (!item.is_string()) continue;
    if (item.as_string().empty()) {
      errors->push_back(RequiredField(IndexPath(base, i)));
    } else if (!seen.insert(item.as_string()).second) {
      errors->push_back(DuplicateField(IndexPath(base, i), Quote(item.as_string())));
    }
  }
}

namespace {
// Absent, null and "" are one value for immutability: the fields are omitempty.
bool SameValue(const json::Value* a, const json::Value* b) {
  auto empty = [](const json::Value* v) {
    return v == nullptr || v->is_null() || (v->is_string() && v->as_string().empty());
  };
  if (empty(a) || empty(b)) return empty(a) && empty(b);
  return *a == *b;
}
}  // namespace

void CheckImmutable(const json::Value& now, const json::Value& old,
                    std::initializer_list<std::string_view> keys, std::string_view path,
                    FieldErrors* errors) {
  for (std::string_view key : keys) {
    const json::Value* a = Get(now, key);
    const json::Value* b = Get(old, key);
    if (!SameValue(a, b)) {
      errors->push_back(InvalidField(ChildPath(path, key), a == nullptr ? "null" : json::Repr(*a),
                                     "field is immutable"));
    }
  }
}

void CheckAllImmutable(const json::Value& now, const json::Value& old, std::string_view path,
                       FieldErrors* errors) {
  std::vector<std::string> keys;
  for (const json::Value* side : {&now, &old}) {
    if (!side->is_object()) continue;
    for (const auto& [k, v] : side->object()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  }
  for (const std::string& key : keys) CheckImmutable(now, old, {key}, path, errors);
}

json::Value Cell(const json::Value& object, std::string_view dotted) {
  const json::Value* v = GetPath(object, dotted);
  return v == nullptr ? json::Value() : *v;
}

json::Value CountCell(const json::Value& object, std::string_view dotted) {
  const json::Value* v = GetPath(object, dotted);
  return (v == nullptr || !v->is_number()) ? json::Value(0) : *v;
}

TableCell AgeCell(const json::Value& object, std::string_view dotted) {
  const json::Value* v = GetPath(object, dotted);
  if (v == nullptr) return json::Value();
  if (!v->is_string()) return json::Value("<unknown>");
  auto t = ParseRFC3339(v->as_string());
  if (!t) return json::Value("<unknown>");
  return TableCell::Age(*t);
}

TableCell CountdownCell(const json::Value& object, std::string_view dotted, std::string_view past) {
  const json::Value* v = GetPath(object, dotted);
  if (v == nullptr || !v->is_string()) return json::Value("<unknown>");
  auto t = ParseRFC3339(v->as_string());
  if (!t) return json::Value("<unknown>");
  return TableCell::Countdown(*t, std::string(past));
}

void CheckRegionID(const json::Value& parent, std::string_view key, std::string_view path,
                   bool required, FieldErrors* errors) {
  const json::Value* v = Get(parent, key);
  if (v == nullptr || (v->is_string() && v->as_string().empty())) {
    if (required) errors->push_back(RequiredField(ChildPath(path, key)));
    return;
  }
  if (!v->is_string()) return;
  const std::string& r = v->as_string();
  const bool ok = r.size() <= 63 && validation::IsDNS1123Label(r).empty() && r.front() >= 'a' &&
                  r.front() <= 'z' && r.find('-') != std::string::npos;
  if (!ok) {
    errors->push_back(InvalidField(ChildPath(path, key), Quote(r),
                                   "must be an Alibaba Cloud region ID such as 'cn-hangzhou' or "
                                   "'ap-southeast-1' (lower case letters, digits and '-')"));
  }
}

void CheckObjectReference(const json::Value& parent, std::string_view key, std::string_view path,
                          bool namespaced, FieldErrors* errors) {
  const json::Value* ref = Get(parent, key);
  if (ref == nullptr || !ref->is_object()) return;
  const std::string base = ChildPath(path, key);
  CheckSubdomain(*ref, "name", base, /*required=*/true, errors);
  if (namespaced) CheckLabel(*ref, "namespace", base, /*required=*/false, errors);
}

const std::vector<std::string>& BackupPhases() {
  static const std::vector<std::string> phases = {
      "New",    "InProgress", "Completed",       "PartiallyFailed",
      "Failed", "Deleting",   "FailedValidation"};
  return phases;
}

}  // namespace csdr::apiserver
