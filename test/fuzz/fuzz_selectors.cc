// Label and field selectors. Every input goes to ParseLabelSelector and ParseFieldSelector as
// a query string would, and, when it is JSON, to LabelSelectorFromJson as a
// metav1.LabelSelector would. Invariants: errors are BadRequest; a parsed selector's
// canonical String() parses again to the same String() and matches the same label sets.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/selector.h"
#include "test/fuzz/fuzz_check.h"

using csdr::json::Value;

namespace {

const std::vector<Value>& LabelSets() {
  static const std::vector<Value> sets = [] {
    std::vector<Value> v;
    for (const char* s : {R"({})", R"({"app":"shop","tier":"gold","n":"5"})",
                          R"({"app":"web","csdr.io/vault":"v1","n":"-3","x":""})"}) {
      v.push_back(*csdr::json::Parse(s));
    }
    return v;
  }();
  return sets;
}

void CheckLabelSelector(const csdr::LabelSelector& sel, const char* what) {
  if (sel.matches_nothing()) return;
  const std::string canonical = sel.String();
  auto again = csdr::ParseLabelSelector(canonical);
  FUZZ_CHECK(again.ok(), std::string(what) + ": String() does not parse: " + Clip(canonical) +
                             " : " + std::string(again.status().message()));
  FUZZ_CHECK(again->String() == canonical, std::string(what) + ": String() not stable: " +
                                               Clip(canonical) + " then " + Clip(again->String()));
  for (const Value& labels : LabelSets()) {
    FUZZ_CHECK(sel.Matches(&labels) == again->Matches(&labels),
               std::string(what) + ": canonical form matches differently: " + Clip(canonical));
  }
  (void)sel.Matches(nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  const std::string_view text = AsText(data, size);

  auto labels = csdr::ParseLabelSelector(text);
  if (labels.ok()) {
    CheckLabelSelector(*labels, "label selector");
  } else {
    FUZZ_CHECK(labels.status().code() == csdr::Code::kBadRequest, "label selector error code");
  }

  auto fields = csdr::ParseFieldSelector(text);
  if (fields.ok()) {
    const std::string canonical = fields->String();
    auto again = csdr::ParseFieldSelector(canonical);
    FUZZ_CHECK(again.ok(), "field selector String() does not parse: " + Clip(canonical));
    FUZZ_CHECK(again->String() == canonical,
               "field selector String() not stable: " + Clip(canonical));
    auto get = [](std::string_view field) -> std::optional<std::string> {
      if (field == "metadata.name") return std::string("b1");
      if (field == "metadata.namespace") return std::string("csdr");
      return std::nullopt;
    };
    FUZZ_CHECK(fields->Matches(get) == again->Matches(get),
               "field selector canonical form matches differently");
    (void)fields->RequiresExactMatch("metadata.name");
  } else if (!fields.ok()) {
    FUZZ_CHECK(fields.status().code() == csdr::Code::kBadRequest, "field selector error code");
  }

  auto doc = csdr::json::Parse(text);
  if (doc.ok()) {
    auto from_json = csdr::LabelSelectorFromJson(*doc);
    if (from_json.ok()) {
      for (const Value& l : LabelSets()) (void)from_json->Matches(&l);
    } else {
      FUZZ_CHECK(from_json.status().code() == csdr::Code::kBadRequest,
                 "LabelSelectorFromJson error code");
    }
  }
  return 0;
}
