// Server-side apply and managedFields. Input: a JSON array [live, applied] or
// [live, applied, {"manager": "...", "force": true, "subresource": "status"}]; live null means
// "the object does not exist yet". Invariants: errors carry kube-apiserver's codes
// (BadRequest, Conflict, Invalid, Internal for undecodable stored managedFields); a result
// round-trips through JSON; applying the same configuration again with the same manager
// changes nothing (apply is idempotent). UpdateManagedFields runs on the same pair as an
// update and must leave a document that round-trips.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apiserver/apply/apply.h"
#include "common/json.h"
#include "test/fuzz/fuzz_check.h"

using csdr::Code;
using csdr::json::Value;

namespace {

// managedFields add a few levels (fieldsV1) under the object's own.
constexpr int kStoredDepth = 200;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  auto doc = csdr::json::Parse(AsText(data, size));
  if (!doc.ok() || !doc->is_array() || doc->size() < 2 || doc->size() > 3) return 0;
  const Value& live = doc->array()[0];
  const Value& applied = doc->array()[1];
  csdr::apiserver::ApplyOptions options{"fuzz-manager", false, "csdr.io/v1alpha1",
                                        "2026-11-24T10:00:00Z", ""};
  if (doc->size() == 3) {
    const Value& o = doc->array()[2];
    if (const Value* m = o.Find("manager"); m && m->is_string()) options.manager = m->as_string();
    if (const Value* f = o.Find("force"); f && f->is_bool()) options.force = f->as_bool();
    if (const Value* s = o.Find("subresource"); s && s->is_string())
      options.subresource = s->as_string();
  }
  const Value* live_ptr = live.is_null() ? nullptr : &live;

  auto result = csdr::apiserver::ServerSideApply(live_ptr, applied, options);
  if (!result.ok()) {
    const Code c = result.status().code();
    FUZZ_CHECK(c == Code::kBadRequest || c == Code::kConflict || c == Code::kInvalid ||
                   c == Code::kInternal,
               "unexpected apply error: " + std::string(result.status().message()));
  } else {
    FUZZ_CHECK_JSON_ROUND_TRIP(*result, kStoredDepth, "apply result");
    auto again = csdr::apiserver::ServerSideApply(&*result, applied, options);
    FUZZ_CHECK(again.ok(), "re-applying the same configuration failed: " +
                               std::string(again.status().message()));
    // An apply that leaves no manager at all (it applied no fields, and nobody else owned any)
    // stores an untracked object; the next apply gives its fields to "before-first-apply", as
    // upstream's skipNonAppliedManager does. From there on, applying again changes nothing.
    const Value* metadata = result->Find("metadata");
    const Value* managed = metadata != nullptr ? metadata->Find("managedFields") : nullptr;
    if (managed == nullptr || !managed->is_array() || managed->size() == 0) {
      result = std::move(again);
      again = csdr::apiserver::ServerSideApply(&*result, applied, options);
      FUZZ_CHECK(again.ok(),
                 "applying a third time failed: " + std::string(again.status().message()));
    }
    FUZZ_CHECK(*again == *result,
               "apply is not idempotent: " + Clip(csdr::json::Serialize(*result)) + " then " +
                   Clip(csdr::json::Serialize(*again)));
  }

  if (applied.is_object()) {
    Value updated = applied;
    csdr::apiserver::UpdateManagedFields(live_ptr, &updated, options);
    FUZZ_CHECK_JSON_ROUND_TRIP(updated, kStoredDepth, "UpdateManagedFields result");
  }
  return 0;
}
