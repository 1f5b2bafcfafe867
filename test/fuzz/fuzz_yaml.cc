// ParseYaml on arbitrary bytes (alias bombs, deep flow collections, merge keys, bad UTF-8).
// What decodes must be a JSON document json::Parse reads back equal, and input that is valid
// JSON must decode as json::Parse decodes it (yaml.h promises the same result).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/yaml.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  const std::string_view text = AsText(data, size);
  std::vector<std::string> duplicates;
  csdr::YamlOptions options;
  options.duplicate_fields = &duplicates;
  auto value = csdr::ParseYaml(text, options);
  if (!value.ok()) {
    FUZZ_CHECK(value.status().code() == csdr::Code::kBadRequest,
               "YAML error is not BadRequest: " + std::string(value.status().message()));
    return 0;
  }
  FUZZ_CHECK_JSON_ROUND_TRIP(*value, 100, "decoded YAML");
  const std::string json = csdr::json::Serialize(*value);

  auto as_json = csdr::json::Parse(text);
  // F4 (fuzz_check.h): RapidJSON may misread "0e-60"; the YAML decoder reads it right.
  if (as_json.ok() && !HasZeroSignificandExponent(text)) {
    FUZZ_CHECK(*as_json == *value, "valid JSON decodes differently as YAML: " + Clip(text) +
                                       " : JSON " + Clip(csdr::json::Serialize(*as_json)) +
                                       ", YAML " + Clip(json));
  }
  return 0;
}
