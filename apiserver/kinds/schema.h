// The OpenAPI schemas of the csdr.io kinds, and what is derived from them.
//
// One schema per kind is the single source for: the OpenAPI v2 and v3 documents
// (kubectl explain), unknown-field detection and pruning (fieldValidation
// Strict/Warn/Ignore, as CRDs prune), and type checks of incoming bodies.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

class KindStrategy;

// Result of checking a decoded object against its kind's schema.
struct SchemaCheck {
  // Paths of fields the schema does not know, as upstream names them in
  // "strict decoding error: unknown field \"spec.foo\"" (no leading dot).
  std::vector<std::string> unknown_fields;
  // Type mismatches and other schema violations (422 material).
  FieldErrors errors;
};

// Checks `object` against the schema of `kind`. When `prune` is true, unknown fields are
// removed from *object (what a CRD does under fieldValidation Ignore/Warn).
// metadata is checked against ObjectMeta, and apiVersion/kind are always known.
SchemaCheck CheckAgainstSchema(const KindStrategy& kind, json::Value* object, bool prune);

// /openapi/v2: the whole Swagger 2.0 document (definitions for the five kinds, their
// lists, ObjectMeta, ListMeta, Status, ... every $ref resolvable; names without '/';
// x-kubernetes-group-version-kind on each kind), serialized JSON.
const std::string& OpenAPIV2Document();
// /openapi/v3/apis/csdr.io/v1alpha1: the OpenAPI 3.0 document for the group version,
// serialized JSON, with paths and components.schemas.
const std::string& OpenAPIV3GroupVersionDocument();

}  // namespace csdr::apiserver
