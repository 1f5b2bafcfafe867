// The OpenAPI v2 document in gnostic's protobuf encoding (openapi.v2.Document), which
// kubectl 1.20 to 1.26 asks for on /openapi/v2 (Accept:
// application/com.github.proto-openapi.spec.v2@v1.0+protobuf) for explain, client-side
// validation and its dry-run check. kube-apiserver re-encodes merged specs itself; a
// standalone server must answer old kubectl directly.
#pragma once

#include <string>

#include "common/json.h"

namespace csdr::apiserver {

// Encodes a Swagger 2.0 JSON document (the subset our generator emits: info, paths with
// operations, parameters and responses, definitions, vendor extensions) as
// openapi.v2.Document protobuf bytes. Vendor extensions, enums, defaults and examples go
// into openapi.v2.Any's `yaml` field as JSON text (valid YAML), as gnostic does.
std::string EncodeOpenAPIV2Proto(const json::Value& document);

}  // namespace csdr::apiserver
