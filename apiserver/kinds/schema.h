// The OpenAPI schemas of the csdr.io kinds, and what is derived from them.
//
// One schema per kind is the single source for: the OpenAPI v2 and v3 documents
// (kubectl explain), unknown-field detection and pruning (fieldValidation
// Strict/Warn/Ignore, as CRDs prune), and type checks of incoming bodies.
//
// Thread safety: the definitions and documents are built once, on first use (C++ static
// initialization is thread-safe), and are immutable afterwards. CheckAgainstSchema only
// mutates the object it is given.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

class KindStrategy;
struct KindInfo;

// One node of an OpenAPI schema: the subset Kubernetes' structural schemas use. A node
// is either a reference to a named definition (`ref` set, everything else but
// `description` ignored) or an inline schema. Objects with neither `properties` nor
// `additional_properties` are free-form (any members, never pruned), which is how
// upstream describes FieldsV1.
struct NamedSchema;  // a member of an object schema: a name and a Schema (below)

struct Schema {
  std::string type;         // "object", "array", "string", "integer", "number", "boolean"
  std::string format;       // "date-time", "int32", "int64", "duration", ...
  std::string description;  // what kubectl explain prints
  std::string ref;          // definition name, e.g. "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
  // In declaration order. std::vector allows an incomplete element type (C++17); a
  // std::pair<std::string, Schema> here would instantiate pair with Schema incomplete, which
  // the standard leaves undefined and clang with libstdc++ 12 refuses.
  std::vector<NamedSchema> properties;
  std::vector<std::string> required;
  std::shared_ptr<const Schema> items;                  // arrays
  std::shared_ptr<const Schema> additional_properties;  // string-keyed maps
  std::vector<std::string> enum_values;                 // string enums
  std::optional<json::Value> default_value;
  std::string pattern;
  std::optional<int64_t> minimum;
  std::optional<int64_t> maximum;
  std::string list_type;                   // x-kubernetes-list-type: atomic, set, map
  std::vector<std::string> list_map_keys;  // x-kubernetes-list-map-keys
  std::string map_type;                    // x-kubernetes-map-type: atomic, granular

  // Builder helpers for the definition tables (rvalue-qualified: they decorate temporaries).
  Schema&& Required(std::vector<std::string> names) &&;
  Schema&& Default(json::Value v) &&;
  Schema&& Min(int64_t v) &&;
  Schema&& Max(int64_t v) &&;
  Schema&& Pattern(std::string p) &&;
  Schema&& Format(std::string f) &&;
  Schema&& ListMap(std::vector<std::string> keys) &&;
  Schema&& ListType(std::string t) &&;
  Schema&& MapType(std::string t) &&;

  // The property named `name`, or nullptr.
  const Schema* Property(std::string_view name) const;
};

struct NamedSchema {
  std::string name;
  Schema schema;
};

// A named definition of the documents; `gvks` become x-kubernetes-group-version-kind.
struct Definition {
  struct GVK {
    std::string group, version, kind;
  };
  std::string name;  // dotted, never containing '/': "io.csdr.v1alpha1.Backup"
  Schema schema;
  std::vector<GVK> gvks;
};

// Every definition of the documents (csdr.io kinds, their lists and parts, and the
// apimachinery types they reference), sorted by name. Every `ref` names one of them.
const std::vector<Definition>& Definitions();
// The definition named `name`, or nullptr.
const Definition* FindDefinition(std::string_view name);
// "io.csdr.v1alpha1.Backup" for Backup, "io.csdr.v1alpha1.BackupList" for its list.
std::string DefinitionName(const KindInfo& info);
std::string ListDefinitionName(const KindInfo& info);

// Result of checking a decoded object against its kind's schema.
struct SchemaCheck {
  // Paths of fields the schema does not know, as upstream names them in
  // "strict decoding error: unknown field \"spec.foo\"" (no leading dot). metadata.* paths
  // come first, then the rest; each group sorted, as kube-apiserver reports them.
  std::vector<std::string> unknown_fields;
  // Type mismatches and malformed date-times (422 material), shaped like CRD validation:
  // field "spec.bucket", message "Invalid value: \"integer\": spec.bucket in body must be
  // of type string: \"integer\"".
  FieldErrors errors;
};

// Checks `object` against the schema of `kind`. When `prune` is true, unknown fields are
// removed from *object (what a CRD does under fieldValidation Ignore/Warn).
// metadata is checked against ObjectMeta, and apiVersion/kind are always known.
// Members whose value is null are always removed, as CRDs drop nulls of non-nullable
// fields; enums, required fields and formats other than date-time are left to the
// strategies (KindStrategy::Validate*), which word them like upstream's validators.
// The walk follows the schema, so its recursion depth is bounded by the schema's depth.
SchemaCheck CheckAgainstSchema(const KindStrategy& kind, json::Value* object, bool prune);

// /openapi/v2: the whole Swagger 2.0 document (definitions for the five kinds, their
// lists, ObjectMeta, ListMeta, Status, ... every $ref resolvable; names without '/';
// x-kubernetes-group-version-kind on each kind), serialized JSON.
const std::string& OpenAPIV2Document();
// /openapi/v3/apis/csdr.io/v1alpha1: the OpenAPI 3.0 document for the group version,
// serialized JSON, with paths and components.schemas.
const std::string& OpenAPIV3GroupVersionDocument();

}  // namespace csdr::apiserver
