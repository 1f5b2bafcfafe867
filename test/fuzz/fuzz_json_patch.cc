// JSON patch (RFC 6902). Input: a JSON array [target, operations]. Invariants: failures are
// BadRequest, Invalid or TooLarge (the codes kube-apiserver gives), never anything else;
// the target is untouched; a result serializes to JSON that json::Parse reads back equal
// with the default depth limit (the registry stores it and must be able to read it again).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json.h"
#include "common/patch.h"
#include "test/fuzz/fuzz_check.h"

using csdr::Code;
using csdr::json::Value;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  auto doc = csdr::json::Parse(AsText(data, size));
  if (!doc.ok() || !doc->is_array() || doc->size() != 2) return 0;
  const Value& target = doc->array()[0];
  const Value& ops = doc->array()[1];
  const Value target_copy = target;

  std::string detail;
  csdr::JsonPatchOptions options;
  options.failure_detail = &detail;
  // Smaller than the server's so that the fuzzer reaches the bound within its input sizes.
  options.max_copied_nodes = 20000;
  auto result = csdr::ApplyJsonPatch(target, ops, options);
  FUZZ_CHECK(target == target_copy, "ApplyJsonPatch changed its target");
  if (!result.ok()) {
    const Code c = result.status().code();
    FUZZ_CHECK(c == Code::kBadRequest || c == Code::kInvalid || c == Code::kTooLarge,
               "unexpected error code: " + std::string(result.status().message()));
    return 0;
  }
  FUZZ_CHECK_JSON_ROUND_TRIP(*result, 100, "JSON patch result");
  return 0;
}
