// The /validate body: webhook::DecodeReview on arbitrary bytes, and for every review that
// decodes, the policy engine's Evaluate with facts that know nothing (an empty FakeFacts, and
// one whose cluster is unknown), then the response encoding: valid JSON, uid echoed, the
// request's apiVersion, allowed iff the decision allowed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json.h"
#include "test/fuzz/fuzz_check.h"
#include "webhook/policy/engine.h"
#include "webhook/policy/fake_facts.h"
#include "webhook/review/review.h"

namespace {

void CheckResponse(const csdr::webhook::ReviewRequest& review, const csdr::webhook::Decision& d) {
  const std::string body = csdr::webhook::EncodeReviewResponse(review.api_version, review.uid, d);
  auto parsed = csdr::json::Parse(body);
  FUZZ_CHECK(parsed.ok(), "response is not JSON: " + Clip(body));
  FUZZ_CHECK(parsed->GetString({"apiVersion"}) == review.api_version,
             "apiVersion not echoed: " + Clip(body));
  FUZZ_CHECK(parsed->GetString({"response", "uid"}) == review.uid, "uid not echoed: " + Clip(body));
  const csdr::json::Value* allowed = parsed->FindPath({"response", "allowed"});
  FUZZ_CHECK(allowed && allowed->is_bool() && allowed->as_bool() == d.allowed,
             "response.allowed differs from the decision: " + Clip(body));
  if (!d.allowed) {
    FUZZ_CHECK(d.code >= 400 && d.code < 500, "denial without a 4xx code: " + Clip(body));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  auto review = csdr::webhook::DecodeReview(AsText(data, size));
  if (!review.ok()) {
    FUZZ_CHECK(review.status().code() == csdr::Code::kBadRequest,
               "decode error is not BadRequest: " + std::string(review.status().message()));
    return 0;
  }
  const csdr::webhook::ReviewRequest& r = **review;
  FUZZ_CHECK(!r.uid.empty(), "decoded review without uid");

  csdr::webhook::FakeFacts empty;
  CheckResponse(r, csdr::webhook::Evaluate(r.input, empty));

  csdr::webhook::FakeFacts unknown;
  unknown.SetClusterUnknown("fuzz: no cluster");
  unknown.SetStoreUnknown("fuzz: no store");
  CheckResponse(r, csdr::webhook::Evaluate(r.input, unknown));
  return 0;
}
