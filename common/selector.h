// Label and field selectors as kube-apiserver parses and applies them for list, watch and
// deletecollection (k8s.io/apimachinery/pkg/labels and pkg/fields), with upstream's error
// messages word for word, e.g.
//   unable to parse requirement: found '', expected: ',' or ')'
//   invalid selector: 'metadata.name'; can't understand 'metadata.name'
// Parse errors are kBadRequest; the HTTP layer sends the message as is.
//
// Selectors are immutable values once built; Matches is const and thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace csdr {

// selection.Operator.
enum class SelectorOp {
  kEquals,        // "=", exact match
  kDoubleEquals,  // "=="
  kNotEquals,     // "!=": matches when the key is absent too
  kIn,            // "in (a,b)"
  kNotIn,         // "notin (a,b)": matches when the key is absent too
  kExists,        // "key"
  kDoesNotExist,  // "!key"
  kGreaterThan,   // "key>5": integer comparison; absent or non-integer values never match
  kLessThan,      // "key<5"
};

struct LabelRequirement {
  std::string key;
  SelectorOp op = SelectorOp::kExists;
  // Sorted and unique when parsed from a string; as given when built from JSON.
  std::vector<std::string> values;

  // `labels` is a metadata.labels object (string values) or nullptr for an object without
  // labels.
  bool Matches(const json::Value* labels) const;
  std::string String() const;  // "key in (a,b)", "!key", "key!=v"
};

class LabelSelector {
 public:
  // Matches every object: what an empty string or an empty metav1.LabelSelector gives.
  LabelSelector() = default;
  // Matches no object: what a null metav1.LabelSelector gives (labels.Nothing()).
  static LabelSelector Nothing();
  explicit LabelSelector(std::vector<LabelRequirement> requirements);

  // All requirements hold (AND). `labels_object` as in LabelRequirement::Matches.
  bool Matches(const json::Value* labels_object) const;
  // True when the selector does not restrict anything (Nothing() is not empty).
  bool empty() const { return !nothing_ && requirements_.empty(); }
  bool matches_nothing() const { return nothing_; }
  // Sorted by key, as upstream keeps them.
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }
  // Canonical form, e.g. "app=shop,tier notin (gold)"; "" for empty and for Nothing().
  std::string String() const;

 private:
  std::vector<LabelRequirement> requirements_;
  bool nothing_ = false;
};

// labels.Parse: "app=shop,tier!=gold", "env in (prod,qa)", "!canary", "track", "n>3";
// whitespace around tokens is ignored; keys must be qualified names and values valid label
// values. An empty or all-blank string is the empty selector.
StatusOr<LabelSelector> ParseLabelSelector(std::string_view selector);

// metav1.LabelSelectorAsSelector for a metav1.LabelSelector object: matchLabels (key=value)
// and matchExpressions (In, NotIn, Exists, DoesNotExist). null matches nothing; {} matches
// everything. Malformed input is kBadRequest with upstream's message where it has one
// (e.g. "\"Foo\" is not a valid label selector operator").
StatusOr<LabelSelector> LabelSelectorFromJson(const json::Value& label_selector);

struct FieldRequirement {
  std::string field;  // e.g. "metadata.name"; not validated here (see Requirements())
  SelectorOp op = SelectorOp::kEquals;  // kEquals, kDoubleEquals or kNotEquals
  std::string value;                    // unescaped
};

class FieldSelector {
 public:
  FieldSelector() = default;  // matches everything
  explicit FieldSelector(std::vector<FieldRequirement> requirements);

  // Looks each field up through `get`; a field `get` does not know (nullopt) reads as "",
  // as fields.Set.Get does. The caller validates field names first, through Requirements().
  bool Matches(const std::function<std::optional<std::string>(std::string_view field)>& get) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<FieldRequirement>& Requirements() const { return requirements_; }
  // The value the selector requires `field` to equal, if it does ("metadata.name=b1" lets a
  // list become a get).
  std::optional<std::string> RequiresExactMatch(std::string_view field) const;
  std::string String() const;  // values escaped again: "metadata.name=a\,b"

 private:
  std::vector<FieldRequirement> requirements_;
};

// fields.ParseSelector: comma-separated terms "field=value", "field==value", "field!=value";
// in values, "\," "\=" and "\\" escape; an unescaped ',' splits terms, an unescaped '=' in a
// value is an error. Terms with neither field nor value ("=") are dropped, as upstream does.
StatusOr<FieldSelector> ParseFieldSelector(std::string_view selector);

// fields.EscapeValue: prefixes \ , = with a backslash.
std::string EscapeFieldValue(std::string_view value);

}  // namespace csdr
