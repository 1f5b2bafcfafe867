// Object-local validators with kube-apiserver's wording (k8s.io/apimachinery
// pkg/util/validation, pkg/api/validation, pkg/apis/meta/v1/validation), plus the formats
// the csdr.io kinds use: OSS bucket names, RFC 3339 times. Go durations and cron schedules
// are common/duration.h and common/cron.h (the policy engine reads them too).
//
// Everything here is pure and thread-safe. Validators that take a json::Value tolerate
// values of the wrong JSON type (they skip them): type errors are CheckAgainstSchema's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/validation.h"

namespace csdr::apiserver {

// Field paths as field.Path renders them: Child("spec", "ttl") -> "spec.ttl",
// Index("spec.x", 2) -> "spec.x[2]", Key("spec.m", "k") -> "spec.m[k]".
std::string ChildPath(std::string_view parent, std::string_view child);
std::string IndexPath(std::string_view parent, size_t index);
std::string KeyPath(std::string_view parent, std::string_view key);

// The apimachinery name validation as used for object names (validation::IsDNS1123Subdomain,
// common/validation.h, where the other Is* validators are): with `prefix` (for generateName)
// a trailing '-' is ignored.
std::vector<std::string> NameIsDNSSubdomain(std::string_view name, bool prefix);

// metav1validation.ValidateLabels / apimachinery ValidateAnnotations at `path`.
FieldErrors ValidateLabels(const json::Value* labels, std::string_view path);
FieldErrors ValidateAnnotations(const json::Value* annotations, std::string_view path);
// 256 KiB: the total size of keys and values kube-apiserver allows in annotations.
inline constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

// ValidateObjectMeta for a create: name (or generateName) as a DNS-1123 subdomain,
// namespace required iff namespaced, generation >= 0, labels, annotations, finalizers,
// ownerReferences. Paths start at "metadata".
FieldErrors ValidateObjectMeta(const json::Value& object, bool namespaced);
// ValidateObjectMetaUpdate's immutable parts: name and namespace.
FieldErrors ValidateObjectMetaUpdate(const json::Value& object, const json::Value& old);

// metav1validation.ValidateLabelSelector (matchLabels, matchExpressions).
FieldErrors ValidateLabelSelector(const json::Value* selector, std::string_view path);
// metav1validation.ValidateConditions: type, status, reason, lastTransitionTime, message
// length, observedGeneration >= 0, and no two conditions of one type.
FieldErrors ValidateConditions(const json::Value* conditions, std::string_view path);

// RFC 3339 ("2026-11-24T09:04:57Z", fractional seconds and offsets allowed), as
// metav1.Time is decoded; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> ParseRFC3339(std::string_view text);

// "2026-11-24T09:04:57Z": metav1.Time's encoding (UTC, whole seconds, truncated).
std::string FormatRFC3339(std::chrono::system_clock::time_point t);
// `t` in UTC, truncated to whole seconds, by strftime(3) `format` (at most 63 characters out).
std::string FormatUTC(std::chrono::system_clock::time_point t, const char* format);

// An OSS bucket name: 3-63 characters of [a-z0-9-], starting and ending with a letter
// or digit. Returns the upstream-style detail, or "" when valid.
std::string BucketNameError(std::string_view bucket);

// Appends FieldValueRequired / FieldValueNotSupported for a string enum member at
// `path`. An absent or empty value is fine unless `required`.
void CheckEnum(const json::Value* value, std::string_view path,
               const std::vector<std::string>& allowed, bool required, FieldErrors* errors);

}  // namespace csdr::apiserver
