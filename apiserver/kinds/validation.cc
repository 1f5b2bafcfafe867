#include "apiserver/kinds/validation.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <set>

namespace csdr::apiserver {
namespace {

// The Is* validators (and their messages) are common/validation.h's; these are the
// condition-specific ones of metav1validation.
constexpr std::string_view kConditionReasonFmt = "[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?";
constexpr std::string_view kConditionReasonErrMsg =
    "a condition reason must start with alphabetic character, optionally followed by a "
    "string of alphanumeric characters or '_,:', and must end with an alphanumeric character "
    "or '_'";
constexpr size_t kConditionReasonMaxLength = 1024;    // metav1validation maxReasonLen
constexpr size_t kConditionMessageMaxLength = 32768;  // metav1validation maxMessageLen

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

void AddInvalid(FieldErrors* errors, std::string_view path, const std::string& value,
                const std::vector<std::string>& messages) {
  for (const std::string& m : messages)
    errors->push_back(InvalidField(std::string(path), Quote(value), m));
}

const json::Value* Member(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

std::string StringMember(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return (v != nullptr && v->is_string()) ? v->as_string() : std::string();
}

}  // namespace

std::string ChildPath(std::string_view parent, std::string_view child) {
  if (parent.empty()) return std::string(child);
  std::string out(parent);
  out += '.';
  out += child;
  return out;
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string KeyPath(std::string_view parent, std::string_view key) {
  return std::string(parent) + "[" + std::string(key) + "]";
}

std::vector<std::string> NameIsDNSSubdomain(std::string_view name, bool prefix) {
  // maskTrailingDash: a generateName prefix may end in '-'; a suffix will follow it.
  if (prefix && name.size() > 1 && name.back() == '-') {
    std::string masked(name.substr(0, name.size() - 2));
    masked += 'a';
    return validation::IsDNS1123Subdomain(masked);
  }
  return validation::IsDNS1123Subdomain(name);
}

FieldErrors ValidateLabels(const json::Value* labels, std::string_view path) {
  FieldErrors errs;
  if (labels == nullptr || !labels->is_object()) return errs;
  for (const auto& [key, value] : labels->object()) {
    AddInvalid(&errs, path, key, validation::IsQualifiedName(key));
    if (value.is_string()) {
      AddInvalid(&errs, path, value.as_string(), validation::IsValidLabelValue(value.as_string()));
    }
  }
  return errs;
}

FieldErrors ValidateAnnotations(const json::Value* annotations, std::string_view path) {
  FieldErrors errs;
  if (annotations == nullptr || !annotations->is_object()) return errs;
  size_t total = 0;
  for (const auto& [key, value] : annotations->object()) {
    // Annotation keys are qualified names where case does not matter.
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    AddInvalid(&errs, path, key, validation::IsQualifiedName(lower));
    total += key.size() + (value.is_string() ? value.as_string().size() : 0);
  }
  if (total > kTotalAnnotationSizeLimit)
    errs.push_back(TooLongField(std::string(path), kTotalAnnotationSizeLimit));
  return errs;
}

FieldErrors ValidateObjectMeta(const json::Value& object, bool namespaced) {
  FieldErrors errs;
  static const json::Value kEmpty = json::Value::MakeObject();
  const json::Value* meta = object.Find("metadata");
  if (meta == nullptr || !meta->is_object()) meta = &kEmpty;

  const std::string generate_name = StringMember(*meta, "generateName");
  if (!generate_name.empty()) {
    AddInvalid(&errs, "metadata.generateName", generate_name,
               NameIsDNSSubdomain(generate_name, true));
  }
  const std::string name = StringMember(*meta, "name");
  if (name.empty()) {
    errs.push_back(RequiredField("metadata.name", "name or generateName is required"));
  } else {
    AddInvalid(&errs, "metadata.name", name, NameIsDNSSubdomain(name, false));
  }
  const std::string ns = StringMember(*meta, "namespace");
  if (namespaced) {
    if (ns.empty()) {
      errs.push_back(RequiredField("metadata.namespace"));
    } else {
      AddInvalid(&errs, "metadata.namespace", ns, validation::IsDNS1123Label(ns));
    }
  } else if (!ns.empty()) {
    errs.push_back(ForbiddenField("metadata.namespace", "not allowed on this type"));
  }
  if (const json::Value* g = Member(*meta, "generation");
      g != nullptr && g->is_number() && g->as_int() < 0) {
    errs.push_back(
        InvalidField("metadata.generation", json::Repr(*g), "must be greater than or equal to 0"));
  }
  for (FieldError& e : ValidateLabels(Member(*meta, "labels"), "metadata.labels"))
    errs.push_back(std::move(e));
  for (FieldError& e : ValidateAnnotations(Member(*meta, "annotations"), "metadata.annotations")) {
    errs.push_back(std::move(e));
  }
  if (const json::Value* refs = Member(*meta, "ownerReferences");
      refs != nullptr && refs->is_array()) {
    // Upstream reports these at metadata.ownerReferences.<field>, without an index.
    int controllers = 0;
    for (const json::Value& ref : refs->array()) {
      if (!ref.is_object()) continue;
      static const std::pair<const char*, const char*> kRequired[] = {
          {"apiVersion", "version must not be empty"},
          {"kind", "kind must not be empty"},
          {"name", "name must not be empty"},
          {"uid", "uid must not be empty"}};
      for (const auto& [field, message] : kRequired) {
        if (StringMember(ref, field).empty()) {
          errs.push_back(
              InvalidField(ChildPath("metadata.ownerReferences", field), Quote(""), message));
        }
      }
      if (const json::Value* c = ref.Find("controller");
          c != nullptr && c->is_bool() && c->as_bool())
        ++controllers;
    }
    if (controllers > 1) {
      errs.push_back(InvalidField("metadata.ownerReferences", json::Repr(*refs),
                                  "Only one reference can have Controller set to true"));
    }
  }
  if (const json::Value* fins = Member(*meta, "finalizers"); fins != nullptr && fins->is_array()) {
    for (const json::Value& f : fins->array()) {
      if (f.is_string()) {
        AddInvalid(&errs, "metadata.finalizers", f.as_string(),
                   validation::IsQualifiedName(f.as_string()));
      }
    }
  }
  return errs;
}

FieldErrors ValidateObjectMetaUpdate(const json::Value& object, const json::Value& old) {
  FieldErrors errs;
  for (const char* field : {"name", "namespace"}) {
    const std::string now = object.GetString({"metadata", field});
    if (now != old.GetString({"metadata", field})) {
      errs.push_back(InvalidField(ChildPath("metadata", field), Quote(now), "field is immutable"));
    }
  }
  return errs;
}

FieldErrors ValidateLabelSelector(const json::Value* selector, std::string_view path) {
  FieldErrors errs;
  if (selector == nullptr || !selector->is_object()) return errs;
  for (FieldError& e :
       ValidateLabels(Member(*selector, "matchLabels"), ChildPath(path, "matchLabels"))) {
    errs.push_back(std::move(e));
  }
  const json::Value* exprs = Member(*selector, "matchExpressions");
  if (exprs == nullptr || !exprs->is_array()) return errs;
  for (size_t i = 0; i < exprs->array().size(); ++i) {
    const json::Value& expr = exprs->array()[i];
    if (!expr.is_object()) continue;
    const std::string base = IndexPath(ChildPath(path, "matchExpressions"), i);
    const std::string op = StringMember(expr, "operator");
    const json::Value* values = Member(expr, "values");
    const size_t count = (values != nullptr && values->is_array()) ? values->array().size() : 0;
    if (op == "In" || op == "NotIn") {
      if (count == 0) {
        errs.push_back(RequiredField(ChildPath(base, "values"),
                                     "must be specified when `operator` is 'In' or 'NotIn'"));
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (count > 0) {
        errs.push_back(
            ForbiddenField(ChildPath(base, "values"),
                           "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      }
    } else {
      errs.push_back(
          InvalidField(ChildPath(base, "operator"), Quote(op), "not a valid selector operator"));
    }
    const std::string key = StringMember(expr, "key");
    AddInvalid(&errs, ChildPath(base, "key"), key, validation::IsQualifiedName(key));
    for (size_t j = 0; j < count; ++j) {
      const json::Value& v = values->array()[j];
      if (v.is_string()) {
        AddInvalid(&errs, IndexPath(ChildPath(base, "values"), j), v.as_string(),
                   validation::IsValidLabelValue(v.as_string()));
      }
    }
  }
  return errs;
}

FieldErrors ValidateConditions(const json::Value* conditions, std::string_view path) {
  FieldErrors errs;
  if (conditions == nullptr || !conditions->is_array()) return errs;
  std::set<std::string> seen;
  for (size_t i = 0; i < conditions->array().size(); ++i) {
    const json::Value& c = conditions->array()[i];
    if (!c.is_object()) continue;
    const std::string base = IndexPath(path, i);
    const std::string type = StringMember(c, "type");
    AddInvalid(&errs, ChildPath(base, "type"), type, validation::IsQualifiedName(type));
    if (!type.empty() && !seen.insert(type).second) {
      errs.push_back(DuplicateField(ChildPath(base, "type"), Quote(type)));
    }
    const std::string status = StringMember(c, "status");
    if (status != "True" && status != "False" && status != "Unknown") {
      errs.push_back(NotSupportedField(ChildPath(base, "status"), Quote(status),
                                       {"False", "True", "Unknown"}));
    }
    if (const json::Value* g = Member(c, "observedGeneration");
        g != nullptr && g->is_number() && g->as_int() < 0) {
      errs.push_back(InvalidField(ChildPath(base, "observedGeneration"), json::Repr(*g),
                                  "must be greater than or equal to zero"));
    }
    if (StringMember(c, "lastTransitionTime").empty()) {
      errs.push_back(RequiredField(ChildPath(base, "lastTransitionTime"), "must be set"));
    }
    const std::string reason = StringMember(c, "reason");
    if (reason.empty()) {
      errs.push_back(RequiredField(ChildPath(base, "reason"), "must be set"));
    } else {
      const bool ok = IsAlpha(reason.front()) && (IsAlnum(reason.back()) || reason.back() == '_') &&
                      std::all_of(reason.begin(), reason.end(), [](char ch) {
                        return IsAlnum(ch) || ch == '_' || ch == ',' || ch == ':';
                      });
      if (!ok) {
        errs.push_back(InvalidField(
            ChildPath(base, "reason"), Quote(reason),
            validation::RegexError(
                kConditionReasonErrMsg, kConditionReasonFmt,
                {"my_name", "MY_NAME", "MyName", "ReasonA,ReasonB", "ReasonA:ReasonB"})));
      }
      if (reason.size() > kConditionReasonMaxLength) {
        errs.push_back(TooLongField(ChildPath(base, "reason"), kConditionReasonMaxLength));
      }
    }
    if (StringMember(c, "message").size() > kConditionMessageMaxLength) {
      errs.push_back(TooLongField(ChildPath(base, "message"), kConditionMessageMaxLength));
    }
  }
  return errs;
}

std::string FormatUTC(std::chrono::system_clock::time_point t, const char* format) {
  // Whole seconds toward the past, also before 1970 (to_time_t's rounding is unspecified).
  const auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof(buf), format, &tm);
  return std::string(buf, n);
}

std::string FormatRFC3339(std::chrono::system_clock::time_point t) {
  return FormatUTC(t, "%Y-%m-%dT%H:%M:%SZ");
}

std::optional<std::chrono::system_clock::time_point> ParseRFC3339(std::string_view t) {
  auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
    if (pos + n > t.size()) return std::nullopt;
    int v = 0;
    for (size_t k = pos; k < pos + n; ++k) {
      if (t[k] < '0' || t[k] > '9') return std::nullopt;
      v = v * 10 + (t[k] - '0');
    }
    return v;
  };
  // YYYY-MM-DDTHH:MM:SS
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*month < 1 || *month > 12 || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(*year), std::chrono::month(*month),
                                        std::chrono::day(*day)};
  if (!ymd.ok()) return std::nullopt;
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (t[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t ns = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (pos - start < 9) ns = ns * 10 + (t[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (size_t k = pos - start; k < 9; ++k) ns *= 10;
    frac = std::chrono::nanoseconds(ns);
  }
  std::chrono::seconds offset{0};
  if (pos < t.size() && t[pos] == 'Z') {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= t.size() || t[pos + 3] != ':' || *oh > 23 || *om > 59)
      return std::nullopt;
    offset = std::chrono::hours(*oh) + std::chrono::minutes(*om);
    if (t[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  const auto local = std::chrono::sys_days(ymd) + std::chrono::hours(*hour) +
                     std::chrono::minutes(*minute) + std::chrono::seconds(*second);
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(local - offset + frac);
}

std::string BucketNameError(std::string_view b) {
  const bool ok =
      b.size() >= 3 && b.size() <= 63 && IsLowerAlnum(b.front()) && IsLowerAlnum(b.back()) &&
      std::all_of(b.begin(), b.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
  if (ok) return "";
  return "an OSS bucket name must be 3-63 characters of lower case letters, digits or '-', and "
         "must start and end with a letter or digit (e.g. 'cnfs-oss-backup')";
}

void CheckEnum(const json::Value* value, std::string_view path,
               const std::vector<std::string>& allowed, bool required, FieldErrors* errors) {
  if (value == nullptr || value->is_null() || (value->is_string() && value->as_string().empty())) {
    if (required) errors->push_back(RequiredField(std::string(path)));
    return;
  }
  if (!value->is_string()) return;  // a type error, reported by the schema check
  if (std::find(allowed.begin(), allowed.end(), value->as_string()) == allowed.end()) {
    errors->push_back(NotSupportedField(std::string(path), Quote(value->as_string()), allowed));
  }
}

}  // namespace csdr::apiserver
