// json::Parse on arbitrary bytes, then the round trip: what parses serializes to JSON that
// parses again to an equal value and serializes to the same bytes (compact and pretty).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "test/fuzz/fuzz_check.h"

using csdr::json::Parse;
using csdr::json::ParseOptions;
using csdr::json::Serialize;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  const std::string_view text = AsText(data, size);
  std::vector<std::string> duplicates;
  ParseOptions options;
  options.duplicate_fields = &duplicates;
  auto value = Parse(text, options);
  auto plain = Parse(text);
  FUZZ_CHECK(value.ok() == plain.ok(), "duplicate tracking changed the verdict");
  if (!value.ok()) {
    FUZZ_CHECK(!value.status().message().empty(), "error without a message");
    return 0;
  }
  FUZZ_CHECK(*value == *plain, "duplicate tracking changed the value");

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
