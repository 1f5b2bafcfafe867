// json::Parse on arbitrary bytes, then the round trip: what parses serializes to JSON that
// parses again to an equal value and serializes to the same bytes (compact and pretty). A
// parse with a member table (ParseOptions::keep) must give the same verdict as the full one
// and the full value with the unnamed members removed. The simdjson path (ParseOptions::simd)
// must decide as the reader does: the same verdict and message, an identical value (types,
// the sign of zero, member order), with and without a member table.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "test/common/json_identical.h"
#include "test/fuzz/fuzz_check.h"

using csdr::json::Fields;
using csdr::json::Parse;
using csdr::json::ParseOptions;
using csdr::json::Serialize;
using csdr::json::Value;

namespace {

// Short names, so that random input hits them.
const Fields kInner{{{"a"}, {"b"}}};
const Fields kKeep{{{"a", &kInner}, {"k"}, {"r", &kKeep}}};

// The reference: the members `fields` names, each filtered by its own table.
Value Filter(const Value& v, const Fields* fields) {
  if (fields == nullptr || !v.is_object()) return v;
  Value out = Value::MakeObject();
  for (const auto& [key, member] : v.object()) {
    if (const Fields::Field* f = fields->Find(key)) out.Set(key, Filter(member, f->fields));
  }
  return out;
}

// The simdjson path against the reader, with `base`'s options.
void CheckSimd(std::string_view text, const ParseOptions& base) {
  ParseOptions simd = base;
  simd.simd = true;
  auto reader = Parse(text, base);
  auto fast = Parse(text, simd);
  FUZZ_CHECK(reader.ok() == fast.ok(), "the simdjson path changed the verdict: " + Clip(text));
  if (!reader.ok()) {
    FUZZ_CHECK(reader.status().message() == fast.status().message(),
               "the simdjson path changed the error: " + Clip(text));
    return;
  }
  const std::string difference = csdr::json::testing::FirstDifference(*reader, *fast);
  FUZZ_CHECK(difference.empty(),
             "the simdjson path built another value (" + difference + "): " + Clip(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  const std::string_view text = AsText(data, size);
  std::vector<std::string> duplicates;
  ParseOptions options;
  options.duplicate_fields = &duplicates;
  auto value = Parse(text, options);
  auto plain = Parse(text);
  FUZZ_CHECK(value.ok() == plain.ok(), "duplicate tracking changed the verdict");
  CheckSimd(text, ParseOptions{});
  {
    ParseOptions keep_options;
    keep_options.keep = &kKeep;
    CheckSimd(text, keep_options);
  }
  if (!value.ok()) {
    FUZZ_CHECK(!value.status().message().empty(), "error without a message");
    ParseOptions keep_options;
    keep_options.keep = &kKeep;
    auto kept = Parse(text, keep_options);
    FUZZ_CHECK(!kept.ok() && kept.status().message() == value.status().message(),
               "a member table changed the error: " + Clip(text));
    return 0;
  }
  FUZZ_CHECK(*value == *plain, "duplicate tracking changed the value");
  {
    ParseOptions keep_options;
    keep_options.keep = &kKeep;
    auto kept = Parse(text, keep_options);
    FUZZ_CHECK(kept.ok(), "a member table refused what the full parse took: " + Clip(text));
    FUZZ_CHECK(Serialize(*kept) == Serialize(Filter(*plain, &kKeep)),
               "a member table built other members than it names: " + Clip(text));
  }

  FUZZ_CHECK_JSON_ROUND_TRIP(*value, 100, "compact");
  // Finding F5 (fixed): an underflowing number ("1e-324") reads as 0, never as a non-finite
  // double that would be written as null.
  {
    const std::string compact = Serialize(*value);
    FUZZ_CHECK(
        compact.find("null") == std::string::npos || text.find("null") != std::string_view::npos,
        "a number decoded to a non-finite double (written as null): " + Clip(text));
  }
  const std::string pretty = Serialize(*value, true);
  auto pretty_again = Parse(pretty);
  auto compact_again = Parse(Serialize(*value));
  FUZZ_CHECK(pretty_again.ok() && compact_again.ok() &&
                 Serialize(*pretty_again) == Serialize(*compact_again),
             "pretty form reads back differently: " + Clip(pretty));
  return 0;
}
