// Helpers shared by the csdr_kinds tests: building objects from a valid base by merge
// patch, and comparing FieldErrors by (type, field).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/patch.h"
#include "common/status.h"

namespace csdr::apiserver::testing {

inline json::Value Json(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message() << " in " << text;
  return v.ok() ? *v : json::Value();
}

// `base` with the RFC 7386 merge patch `patch` applied ("" leaves it as is).
inline json::Value Patched(const json::Value& base, std::string_view patch) {
  if (patch.empty()) return base;
  StatusOr<json::Value> v = ApplyMergePatch(base, Json(patch));
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : base;
}

// (type, field) of each error, sorted, for order-insensitive comparison.
using ErrorKeys = std::vector<std::pair<std::string, std::string>>;

inline ErrorKeys Keys(const FieldErrors& errors) {
  ErrorKeys keys;
  for (const FieldError& e : errors) keys.emplace_back(e.type, e.field);
  std::sort(keys.begin(), keys.end());
  return keys;
}

inline ErrorKeys Sorted(ErrorKeys keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

inline std::string Describe(const FieldErrors& errors) {
  std::string out;
  for (const FieldError& e : errors) out += "  " + e.type + " " + e.field + ": " + e.message + "\n";
  return out.empty() ? "  (none)\n" : out;
}

// One validation case: a merge patch onto the valid base object and the errors expected.
struct ValidationCase {
  std::string name;
  std::string patch;
  ErrorKeys want;
};

constexpr const char* kRequired = "FieldValueRequired";
constexpr const char* kInvalid = "FieldValueInvalid";
constexpr const char* kNotSupported = "FieldValueNotSupported";
constexpr const char* kForbidden = "FieldValueForbidden";
constexpr const char* kDuplicate = "FieldValueDuplicate";
constexpr const char* kTooLong = "FieldValueTooLong";

}  // namespace csdr::apiserver::testing

#include <chrono>

#include "apiserver/kinds/kind.h"

namespace csdr::apiserver::testing {

// The tests' clock: 2026-11-24T09:00:00Z. Objects created at 08:54:50 are "5m10s" old.
inline std::chrono::system_clock::time_point Now() {
  return std::chrono::sys_days(std::chrono::year(2026) / 11 / 24) + std::chrono::hours(9);
}
constexpr const char* kCreated = "2026-11-24T08:54:50Z";

inline void RunCreateCases(const KindStrategy& kind, const json::Value& base,
                           const std::vector<ValidationCase>& cases) {
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    FieldErrors got = kind.ValidateCreate(Patched(base, c.patch));
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
}

inline void RunUpdateCases(const KindStrategy& kind, const json::Value& old,
                           const std::vector<ValidationCase>& cases) {
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    FieldErrors got = kind.ValidateUpdate(Patched(old, c.patch), old);
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
}

inline void RunStatusCases(const KindStrategy& kind, const json::Value& base,
                           const std::vector<ValidationCase>& cases) {
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    FieldErrors got = kind.ValidateStatus(Patched(base, c.patch));
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
}

// One defaulting case: Default(Patched(base, patch)) must equal Patched(base, want_patch).
struct DefaultCase {
  std::string name;
  std::string input;  // a whole object
  std::string want;   // the whole defaulted object
};

inline void RunDefaultCases(const KindStrategy& kind, const std::vector<DefaultCase>& cases) {
  for (const DefaultCase& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value obj = Json(c.input);
    kind.Default(&obj);
    EXPECT_EQ(obj, Json(c.want)) << json::Serialize(obj);
    // Defaulting twice changes nothing.
    json::Value again = obj;
    kind.Default(&again);
    EXPECT_EQ(again, obj);
  }
}

inline std::string CellsText(const std::vector<json::Value>& cells) {
  json::Value a = json::Value::MakeArray();
  for (const json::Value& c : cells) a.PushBack(c);
  return json::Serialize(a);
}

}  // namespace csdr::apiserver::testing
