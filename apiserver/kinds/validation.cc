#include "apiserver/kinds/validation.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <set>

namespace csdr::apiserver {
namespace {

// The regular expressions of apimachinery, quoted in messages exactly as upstream does.
// Matching is hand-written (no std::regex): std::regex backtracks recursively and can
// exhaust the stack on long attacker-controlled input.
constexpr std::string_view kDNS1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDNS1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDNS1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character";
constexpr std::string_view kDNS1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character";
constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character";
constexpr std::string_view kConditionReasonFmt = "[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?";
constexpr std::string_view kConditionReasonErrMsg =
    "a condition reason must start with alphabetic character, optionally followed by a "
    "string of alphanumeric characters or '_,:', and must end with an alphanumeric character "
    "or '_'";
constexpr size_t kDNS1123LabelMaxLength = 63;
constexpr size_t kDNS1123SubdomainMaxLength = 253;
constexpr size_t kQualifiedNameMaxLength = 63;
constexpr size_t kLabelValueMaxLength = 63;
constexpr size_t kConditionReasonMaxLength = 1024;     // metav1validation maxReasonLen
constexpr size_t kConditionMessageMaxLength = 32768;  // metav1validation maxMessageLen

// validation.RegexError: "msg (e.g. 'a',  or 'b', regex used for validation is 'fmt')".
std::string RegexError(std::string_view msg, std::string_view fmt,
                       std::initializer_list<std::string_view> examples) {
  std::string out(msg);
  if (examples.size() == 0) return out + " (regex used for validation is '" + std::string(fmt) + "')";
  out += " (e.g. ";
  size_t i = 0;
  for (std::string_view e : examples) {
    if (i++ > 0) out += " or ";
    out += "'" + std::string(e) + "', ";
  }
  return out + "regex used for validation is '" + std::string(fmt) + "')";
}

std::string MaxLenError(size_t n) { return "must be no more than " + std::to_string(n) + " characters"; }

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

bool MatchesDNS1123Label(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool MatchesDNS1123Subdomain(std::string_view s) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!MatchesDNS1123Label(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool MatchesQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

void AddInvalid(FieldErrors* errors, std::string_view path, const std::string& value,
                const std::vector<std::string>& messages) {
  for (const std::string& m : messages) errors->push_back(InvalidField(std::string(path), Quote(value), m));
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

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDNS1123SubdomainMaxLength) errs.push_back(MaxLenError(kDNS1123SubdomainMaxLength));
  if (!MatchesDNS1123Subdomain(value)) {
    errs.push_back(RegexError(kDNS1123SubdomainErrMsg, kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDNS1123LabelMaxLength) errs.push_back(MaxLenError(kDNS1123LabelMaxLength));
  if (!MatchesDNS1123Label(value)) {
    errs.push_back(RegexError(kDNS1123LabelErrMsg, kDNS1123LabelFmt, {"my-name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  const size_t slashes = std::count(value.begin(), value.end(), '/');
  if (slashes == 1) {
    const size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  } else if (slashes > 1) {
    errs.push_back("a qualified name " +
                   RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back("name part " + MaxLenError(kQualifiedNameMaxLength));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back("name part " +
                   RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kLabelValueMaxLength) errs.push_back(MaxLenError(kLabelValueMaxLength));
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> NameIsDNSSubdomain(std::string_view name, bool prefix) {
  // maskTrailingDash: a generateName prefix may end in '-'; a suffix will follow it.
  if (prefix && name.size() > 1 && name.back() == '-') {
    std::string masked(name.substr(0, name.size() - 2));
    masked += 'a';
    return IsDNS1123Subdomain(masked);
  }
  return IsDNS1123Subdomain(name);
}

FieldErrors ValidateLabels(const json::Value* labels, std::string_view path) {
  FieldErrors errs;
  if (labels == nullptr || !labels->is_object()) return errs;
  for (const auto& [key, value] : labels->object()) {
    AddInvalid(&errs, path, key, IsQualifiedName(key));
    if (value.is_string()) AddInvalid(&errs, path, value.as_string(), IsValidLabelValue(value.as_string()));
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
    AddInvalid(&errs, path, key, IsQualifiedName(lower));
    total += key.size() + (value.is_string() ? value.as_string().size() : 0);
  }
  if (total > kTotalAnnotationSizeLimit) errs.push_back(TooLongField(std::string(path), kTotalAnnotationSizeLimit));
  return errs;
}

FieldErrors ValidateObjectMeta(const json::Value& object, bool namespaced) {
  FieldErrors errs;
  static const json::Value kEmpty = json::Value::MakeObject();
  const json::Value* meta = object.Find("metadata");
  if (meta == nullptr || !meta->is_object()) meta = &kEmpty;

  const std::string generate_name = StringMember(*meta, "generateName");
  if (!generate_name.empty()) {
    AddInvalid(&errs, "metadata.generateName", generate_name, NameIsDNSSubdomain(generate_name, true));
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
      AddInvalid(&errs, "metadata.namespace", ns, IsDNS1123Label(ns));
    }
  } else if (!ns.empty()) {
    errs.push_back(ForbiddenField("metadata.namespace", "not allowed on this type"));
  }
  if (const json::Value* g = Member(*meta, "generation"); g != nullptr && g->is_number() && g->as_int() < 0) {
    errs.push_back(InvalidField("metadata.generation", json::Repr(*g), "must be greater than or equal to 0"));
  }
  for (FieldError& e : ValidateLabels(Member(*meta, "labels"), "metadata.labels")) errs.push_back(std::move(e));
  for (FieldError& e : ValidateAnnotations(Member(*meta, "annotations"), "metadata.annotations")) {
    errs.push_back(std::move(e));
  }
  if (const json::Value* refs = Member(*meta, "ownerReferences"); refs != nullptr && refs->is_array()) {
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
          errs.push_back(InvalidField(ChildPath("metadata.ownerReferences", field), Quote(""), message));
        }
      }
      if (const json::Value* c = ref.Find("controller"); c != nullptr && c->is_bool() && c->as_bool()) ++controllers;
    }
    if (controllers > 1) {
      errs.push_back(InvalidField("metadata.ownerReferences", json::Repr(*refs),
                                  "Only one reference can have Controller set to true"));
    }
  }
  if (const json::Value* fins = Member(*meta, "finalizers"); fins != nullptr && fins->is_array()) {
    for (const json::Value& f : fins->array()) {
      if (f.is_string()) AddInvalid(&errs, "metadata.finalizers", f.as_string(), IsQualifiedName(f.as_string()));
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
  for (FieldError& e : ValidateLabels(Member(*selector, "matchLabels"), ChildPath(path, "matchLabels"))) {
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
        errs.push_back(ForbiddenField(ChildPath(base, "values"),
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      }
    } else {
      errs.push_back(InvalidField(ChildPath(base, "operator"), Quote(op), "not a valid selector operator"));
    }
    const std::string key = StringMember(expr, "key");
    AddInvalid(&errs, ChildPath(base, "key"), key, IsQualifiedName(key));
    for (size_t j = 0; j < count; ++j) {
      const json::Value& v = values->array()[j];
      if (v.is_string()) {
        AddInvalid(&errs, IndexPath(ChildPath(base, "values"), j), v.as_string(),
                   IsValidLabelValue(v.as_string()));
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
    AddInvalid(&errs, ChildPath(base, "type"), type, IsQualifiedName(type));
    if (!type.empty() && !seen.insert(type).second) {
      errs.push_back(DuplicateField(ChildPath(base, "type"), Quote(type)));
    }
    const std::string status = StringMember(c, "status");
    if (status != "True" && status != "False" && status != "Unknown") {
      errs.push_back(NotSupportedField(ChildPath(base, "status"), Quote(status), {"False", "True", "Unknown"}));
    }
    if (const json::Value* g = Member(c, "observedGeneration"); g != nullptr && g->is_number() && g->as_int() < 0) {
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
        errs.push_back(InvalidField(ChildPath(base, "reason"), Quote(reason),
                                    RegexError(kConditionReasonErrMsg, kConditionReasonFmt,
                                               {"my_name", "MY_NAME", "MyName", "ReasonA,ReasonB",
                                                "ReasonA:ReasonB"})));
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

// A transcription of Go's time.ParseDuration (src/time/format.go), so that what we accept
// is exactly what the Go controllers reading these objects accept.
StatusOr<int64_t> ParseGoDuration(std::string_view text) {
  const std::string orig(text);
  auto invalid = [&] { return Status(Code::kInvalid, "time: invalid duration " + Quote(orig)); };
  constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return invalid();
    // The integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (v > (kMaxMagnitude - 1) / 10) return invalid();  // overflow
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kMaxMagnitude) return invalid();
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // The fraction, kept to the precision that fits (Go's leadingFraction).
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && s[j] >= '0' && s[j] <= '9'; ++j) {
        if (overflow) continue;
        if (f > (std::numeric_limits<int64_t>::max() - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kMaxMagnitude) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid();  // no digits, e.g. ".s"
    size_t u = 0;
    while (u < s.size() && (s[u] == '.' || !(s[u] >= '0' && s[u] <= '9'))) ++u;
    if (u == 0) return Status(Code::kInvalid, "time: missing unit in duration " + Quote(orig));
    const std::string_view unit_text = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_text == "ns") unit = 1;
    else if (unit_text == "us" || unit_text == "\xC2\xB5s" || unit_text == "\xCE\xBCs") unit = 1000;
    else if (unit_text == "ms") unit = 1000 * 1000;
    else if (unit_text == "s") unit = 1000ULL * 1000 * 1000;
    else if (unit_text == "m") unit = 60ULL * 1000 * 1000 * 1000;
    else if (unit_text == "h") unit = 3600ULL * 1000 * 1000 * 1000;
    else {
      return Status(Code::kInvalid, "time: unknown unit " + Quote(unit_text) + " in duration " + Quote(orig));
    }
    if (v > kMaxMagnitude / unit) return invalid();
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kMaxMagnitude) return invalid();
    }
    total += v;
    if (total > kMaxMagnitude) return invalid();
  }
  if (neg) return total == kMaxMagnitude ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(total);
  if (total > kMaxMagnitude - 1) return invalid();
  return static_cast<int64_t>(total);
}

namespace {

struct CronField {
  const char* name;
  int min;
  int max;
  const std::vector<std::string_view>* names;  // index + min = value; nullptr: numbers only
};

const std::vector<std::string_view> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const std::vector<std::string_view> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::optional<int> CronValue(std::string_view text, const CronField& field, std::string* error) {
  if (field.names != nullptr) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t i = 0; i < field.names->size(); ++i) {
      if ((*field.names)[i] == lower) return field.min + static_cast<int>(i);
    }
  }
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "failed to parse int from " + std::string(text);
    return std::nullopt;
  }
  return std::stoi(std::string(text));
}

// One comma-separated term of a cron field: "*", "?", "a", "a-b", each with "/step".
bool CronTerm(std::string_view term, const CronField& field, std::string* error) {
  std::string_view range = term;
  std::optional<int> step;
  if (size_t slash = term.find('/'); slash != std::string_view::npos) {
    range = term.substr(0, slash);
    std::string_view step_text = term.substr(slash + 1);
    if (step_text.find('/') != std::string_view::npos) {
      *error = "too many slashes: " + std::string(term);
      return false;
    }
    CronField numeric = field;
    numeric.names = nullptr;
    step = CronValue(step_text, numeric, error);
    if (!step) return false;
    if (*step <= 0) {
      *error = "step of range should be a positive number: " + std::string(term);
      return false;
    }
  }
  if (range == "*" || range == "?") return true;
  int begin, end;
  if (size_t dash = range.find('-'); dash != std::string_view::npos) {
    if (range.find('-', dash + 1) != std::string_view::npos) {
      *error = "too many hyphens: " + std::string(term);
      return false;
    }
    std::optional<int> b = CronValue(range.substr(0, dash), field, error);
    if (!b) return false;
    std::optional<int> e = CronValue(range.substr(dash + 1), field, error);
    if (!e) return false;
    begin = *b;
    end = *e;
  } else {
    std::optional<int> b = CronValue(range, field, error);
    if (!b) return false;
    begin = *b;
    end = step ? field.max : *b;  // "5/15" means 5 through the maximum, every 15
  }
  if (begin < field.min) {
    *error = "beginning of range (" + std::to_string(begin) + ") below minimum (" + std::to_string(field.min) +
             "): " + std::string(term);
    return false;
  }
  if (end > field.max) {
    *error = "end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(field.max) +
             "): " + std::string(term);
    return false;
  }
  if (begin > end) {
    *error = "beginning of range (" + std::to_string(begin) + ") beyond end of range (" + std::to_string(end) +
             "): " + std::string(term);
    return false;
  }
  return true;
}

bool ValidZoneName(std::string_view zone) {
  if (zone.empty() || zone.size() > 255 || zone.front() == '/' || zone.back() == '/') return false;
  size_t start = 0;
  while (start <= zone.size()) {
    size_t slash = zone.find('/', start);
    std::string_view part = zone.substr(start, slash == std::string_view::npos ? zone.npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (!std::all_of(part.begin(), part.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '-' || c == '+' || c == '.'; })) {
      return false;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

}  // namespace

Status ValidateCron(std::string_view schedule) {
  std::string_view spec = schedule;
  for (std::string_view prefix : {std::string_view("CRON_TZ="), std::string_view("TZ=")}) {
    if (spec.substr(0, prefix.size()) == prefix) {
      const size_t space = spec.find(' ');
      if (space == std::string_view::npos) {
        return Status(Code::kInvalid, "missing schedule after time zone");
      }
      const std::string_view zone = spec.substr(prefix.size(), space - prefix.size());
      if (!ValidZoneName(zone)) {
        return Status(Code::kInvalid, "provided bad location " + std::string(zone));
      }
      spec.remove_prefix(space);
      break;
    }
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < spec.size()) {
    while (i < spec.size() && std::isspace(static_cast<unsigned char>(spec[i]))) ++i;
    size_t j = i;
    while (j < spec.size() && !std::isspace(static_cast<unsigned char>(spec[j]))) ++j;
    if (j > i) fields.push_back(spec.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) {
    return Status(Code::kInvalid, "expected exactly 5 fields, found " + std::to_string(fields.size()));
  }
  const CronField kFields[5] = {{"minute", 0, 59, nullptr},
                                {"hour", 0, 23, nullptr},
                                {"day of month", 1, 31, nullptr},
                                {"month", 1, 12, &kMonthNames},
                                {"day of week", 0, 6, &kDayNames}};
  for (size_t f = 0; f < 5; ++f) {
    std::string_view field = fields[f];
    size_t start = 0;
    while (true) {
      const size_t comma = field.find(',', start);
      std::string_view term = field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
      std::string error;
      if (!CronTerm(term, kFields[f], &error)) {
        return Status(Code::kInvalid, std::string(kFields[f].name) + ": " + error);
      }
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  return Status::Ok();
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
    if (!oh || !om || pos + 3 >= t.size() || t[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
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
  const bool ok = b.size() >= 3 && b.size() <= 63 && IsLowerAlnum(b.front()) && IsLowerAlnum(b.back()) &&
                  std::all_of(b.begin(), b.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
  if (ok) return "";
  return "an OSS bucket name must be 3-63 characters of lower case letters, digits or '-', and "
         "must start and end with a letter or digit (e.g. 'cnfs-oss-backup')";
}

void CheckEnum(const json::Value* value, std::string_view path, const std::vector<std::string>& allowed,
               bool required, FieldErrors* errors) {
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
