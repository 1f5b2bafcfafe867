// Server-side apply and managedFields, after sigs.k8s.io/structured-merge-diff.
//
// Pure functions over json::Value: no storage, no clock (callers pass `now` as an RFC3339
// string). Lists are atomic (the CRD default when no x-kubernetes-list-type is given);
// maps are granular. managedFields use fieldsType "FieldsV1" with the upstream encoding
// ("f:spec": {"f:bucket": {}}, "." for a map's own presence where upstream sets it).
//
// Thread safety: stateless.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

struct ApplyOptions {
  std::string manager;      // fieldManager, required and non-empty (<= 128 chars)
  bool force = false;       // take ownership of conflicting fields
  std::string api_version;  // "csdr.io/v1alpha1", recorded in managedFields entries
  std::string now;          // RFC3339 time recorded in managedFields entries
  std::string subresource;  // "" or "status"
};

// Applies `applied` (the user's partial intent) onto `live` (nullptr: the object does not
// exist yet). Fields the manager owned before and no longer applies are removed unless
// another manager also owns them. A field owned by another manager whose value would change
// is a conflict unless `force`: kConflict, message "Apply failed with N conflict(s):
// conflict with \"mgr\" using csdr.io/v1alpha1: .spec.bucket", one cause per field
// (type "FieldManagerConflict", field ".spec.bucket", message
// "conflict with \"mgr\" using csdr.io/v1alpha1"). On success returns the merged object
// with metadata.managedFields updated (operation "Apply"). metadata.{name,namespace} and
// system fields (uid, resourceVersion, creationTimestamp, generation, managedFields) in
// `applied` are not treated as owned content.
StatusOr<json::Value> ServerSideApply(const json::Value* live, const json::Value& applied,
                                      const ApplyOptions& options);

// Records, after a non-apply write (create, update, any other patch) by options.manager,
// that this manager now owns every field whose value it set or changed (operation
// "Update"), and removes those fields from the other managers' sets. `old` is nullptr on
// create. Leaves managedFields untouched when manager is empty.
void UpdateManagedFields(const json::Value* old, json::Value* updated,
                         const ApplyOptions& options);

}  // namespace csdr::apiserver
