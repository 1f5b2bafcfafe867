// JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over json::Value.
//
// Errors follow what kube-apiserver answers for PATCH (see
// shared/reference/kube-captures/24-patch-merge-json.txt):
//  - a JSON patch body that does not decode as a list of operations: kBadRequest
//    "error decoding patch: json: cannot unmarshal object into Go value of type
//    []handlers.jsonPatchOp";
//  - more than max_operations operations: kTooLarge "The allowed maximum operations in a JSON
//    patch is 10000, got N";
//  - any operation that cannot be applied (a failed "test", a missing path, a bad pointer or
//    index, an unknown op): kInvalid with upstream's generic message "the server rejected our
//    request due to an error in our request" and no causes, exactly as the capture shows. The
//    specific reason ("testing value /spec/vaultName failed") goes to
//    JsonPatchOptions::failure_detail for logs.
//
// Both functions leave `target` untouched and return a new document. Recursion is bounded by
// the depth of the documents, which json::Parse bounds (max_depth); JSON patch also keeps the
// result within max_depth and bounds the nodes that copy/move/add may duplicate, so a patch of
// 10,000 "copy" operations cannot double the document 10,000 times.
//
// Thread safety: reentrant, no shared state.
#pragma once

#include <cstddef>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace csdr {

// RFC 7386 exactly: a non-object patch replaces the target, null members delete, objects
// merge recursively, arrays replace. Cannot fail; StatusOr for symmetry with ApplyJsonPatch.
StatusOr<json::Value> ApplyMergePatch(const json::Value& target, const json::Value& patch);

// kube-apiserver refuses merge patches whose body is not a JSON object before applying them
// (RFC 7386 would accept them). Returns OK for an object, else kBadRequest with upstream's
// message: "Invalid JSON Patch" for null, "error decoding patch: json: cannot unmarshal array
// into Go value of type map[string]interface {}" for the others.
Status CheckMergePatchBody(const json::Value& patch);

struct JsonPatchOptions {
  // kube-apiserver's maxJSONPatchOperations.
  size_t max_operations = 10000;
  // The result may not nest deeper than this (json::ParseOptions::max_depth).
  int max_depth = 100;
  // Total nodes that add/replace/test values and copy/move sources may put into the document.
  size_t max_copied_nodes = 1'000'000;
  // When set and an operation fails, receives why, e.g. "operation 0 (test): testing value
  // /spec/vaultName failed".
  std::string* failure_detail = nullptr;
};

// RFC 6902: add, remove, replace, move, copy, test; JSON Pointers (RFC 6901) with ~0 and ~1
// escapes, "-" to append, array indices without leading zeros and within bounds. A null
// patch is an empty list of operations (as Go decodes it).
StatusOr<json::Value> ApplyJsonPatch(const json::Value& target, const json::Value& patch_ops,
                                     const JsonPatchOptions& options = {});

}  // namespace csdr
