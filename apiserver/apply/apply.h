// Server-side apply and managedFields, after sigs.k8s.io/structured-merge-diff and
// k8s.io/apimachinery/pkg/util/managedfields/internal.
//
// Pure functions over json::Value: no storage, no clock (callers pass `now` as an RFC3339
// string). Lists are atomic (the CRD default when no x-kubernetes-list-type is given, and
// here also metadata.finalizers and ownerReferences, which upstream tracks per element);
// maps are granular. Without a schema every JSON object is read as a struct, except
// metadata.labels and metadata.annotations, which are maps. managedFields use fieldsType
// "FieldsV1" with the upstream encoding ("f:spec": {"f:bucket": {}}, "." for a path that is
// owned itself and has owned children). Entries are ordered as upstream orders them (Apply
// before Update, then by time, manager, apiVersion, subresource), with their members in
// alphabetical order. What no manager may own: apiVersion, kind, metadata.{name, namespace,
// uid, resourceVersion, generation, creationTimestamp, managedFields, deletionTimestamp,
// deletionGracePeriodSeconds, selfLink}; status through the main resource; anything but
// status through the status subresource.
//
// Thread safety: stateless.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

// Callers aggregate-initialize this ({manager, force, api_version, now, subresource}); a
// new member would trip -Wmissing-field-initializers (-Wextra -Werror) at every call site.
// Every csdr.io kind has a status subresource, so `status` is always scoped as one.
struct ApplyOptions {
  std::string manager;      // fieldManager, required and non-empty (<= 128 chars)
  bool force = false;       // take ownership of conflicting fields
  std::string api_version;  // "csdr.io/v1alpha1", recorded in managedFields entries
  std::string now;          // RFC3339 time recorded in managedFields entries
  std::string subresource;  // "" or "status"
};

// Applies `applied` (the user's partial intent) onto `live` (nullptr: the object does not
// exist yet). Objects merge key by key; scalars and lists are replaced. Fields the manager
// owned before and no longer applies are removed unless another manager also owns them
// (a struct nobody owns any part of any more goes as a whole). A field owned by another
// manager whose value would change is a conflict unless `force` (which moves it to this
// manager); applying the value it already has makes the ownership shared. Conflict:
// kConflict, message "Apply failed with 1 conflict: conflict with \"a\": .spec.bucket"
// (an Update manager prints as "\"mgr\" using csdr.io/v1alpha1"; N > 1 gives
// "Apply failed with N conflicts: conflicts with \"a\":\n- .spec.x\n- ..."), one cause per
// field (type "FieldManagerConflict", field ".spec.bucket", message "conflict with \"a\"").
// The causes reach the Status only once common/status.h offers a
// Status(Code, std::string, FieldErrors) constructor (detected at compile time).
//
// On success returns the merged object with metadata.managedFields updated (operation
// "Apply", plus subresource "status" for status applies). If nothing but ownership changed,
// the result is `*live` with only managedFields replaced, and the applier's `time` stays;
// if nothing changed at all the result compares equal to `*live` (and serializes to the
// same bytes), so the caller can skip the write. A live object without managedFields first
// gets a "before-first-apply" Update entry owning its existing fields.
//
// For the manager "kubectl" (as upstream): conflicts on fields that the live object's
// kubectl.kubernetes.io/last-applied-configuration annotation sets, to the values they
// still have, are taken without force (client-side to server-side apply migration); and
// when the result carries that annotation it is rewritten to the applied configuration
// (keys sorted, newline-terminated, as Go encodes it; dropped past the 256 KiB annotation
// limit).
//
// In `applied`: metadata.managedFields must be absent or null (kBadRequest "metadata.
// managedFields must be nil"); apiVersion must equal options.api_version (kBadRequest
// "Incorrect version specified in apply patch. ..."); creationTimestamp, generation,
// deletionTimestamp, deletionGracePeriodSeconds and selfLink are ignored; name, namespace,
// uid and resourceVersion are merged (so that the caller can check them, e.g. a
// resourceVersion precondition) but never owned. Through the main resource `status` is
// ignored; through "status" only `status` and metadata.resourceVersion are read.
// Other errors: empty or over-long manager (kInvalid, as PatchOptions validation says),
// a subresource other than "" or "status" (kBadRequest), undecodable stored managedFields
// (kInternal).
StatusOr<json::Value> ServerSideApply(const json::Value* live, const json::Value& applied,
                                      const ApplyOptions& options);

// Records, after a non-apply write (create, update, any other patch) by options.manager,
// that this manager now owns every field whose value it set or changed (operation
// "Update"; on create, every field), and removes those fields from the other managers'
// sets; fields the write removed leave every set; entries left empty are dropped. The
// Update entry's time moves to options.now only when the write added or changed a field.
// `old` is nullptr on create. As upstream: a main-resource write may carry managedFields
// of its own (used when they decode and are non-empty; [] or [{}] resets them), otherwise
// the stored ones are kept; a status write always keeps the stored ones; an existing
// object without managedFields stays untracked (its managedFields are removed from
// `updated`); more than ten Update entries fold the oldest into "ancient-changes".
// Leaves managedFields untouched when manager or api_version is empty.
void UpdateManagedFields(const json::Value* old, json::Value* updated, const ApplyOptions& options);

}  // namespace csdr::apiserver
