// JSON merge patch (RFC 7386). Input: a JSON array [target, patch] (any other JSON document
// is used as both). Invariants: applying never fails; the result serializes to JSON that
// parses back (within the parser's depth); applying the same patch again changes nothing
// (RFC 7386 patches are idempotent); an object patch passes CheckMergePatchBody and
// anything else is refused with BadRequest.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json.h"
#include "common/patch.h"
#include "test/fuzz/fuzz_check.h"

using csdr::json::Value;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  auto doc = csdr::json::Parse(AsText(data, size));
  if (!doc.ok()) return 0;
  const bool pair = doc->is_array() && doc->size() == 2;
  const Value& target = pair ? doc->array()[0] : *doc;
  const Value& patch = pair ? doc->array()[1] : *doc;

  const csdr::Status body = csdr::CheckMergePatchBody(patch);
  FUZZ_CHECK(body.ok() == patch.is_object(),
             "CheckMergePatchBody verdict for a " + csdr::json::Repr(patch).substr(0, 50));
  if (!body.ok()) FUZZ_CHECK(body.code() == csdr::Code::kBadRequest, "not BadRequest");

  auto once = csdr::ApplyMergePatch(target, patch);
  FUZZ_CHECK(once.ok(), "merge patch failed: " + std::string(once.status().message()));
  FUZZ_CHECK_JSON_ROUND_TRIP(*once, 100, "merge patch result");
  const std::string encoded = csdr::json::Serialize(*once);

  auto twice = csdr::ApplyMergePatch(*once, patch);
  // As text: a NaN (open finding F5, "1e-324") is never equal to itself as a Value.
  FUZZ_CHECK(
      twice.ok() && csdr::json::Serialize(*twice) == encoded,
      "merge patch not idempotent: " + Clip(encoded) + " then " +
          Clip(twice.ok() ? csdr::json::Serialize(*twice) : std::string(twice.status().message())));
  return 0;
}
