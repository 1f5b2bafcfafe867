// FirstDifference: where two json::Values differ in anything a reader of the tree could see
// (types, so 1 is not 1.0 as it is for operator==; the sign of zero; member order), for the
// tests and the fuzz check that hold the simdjson parse path to the reader's.
#pragma once

#include <cmath>
#include <string>

#include "common/json.h"

namespace csdr::json::testing {

// "" when identical; else the path of the first difference and what differs there.
inline std::string FirstDifference(const Value& a, const Value& b, const std::string& at = "") {
  if (a.type() != b.type()) return at + ": types differ";
  if (a.is_double()) {
    const bool same = std::signbit(a.as_double()) == std::signbit(b.as_double()) &&
                      a.as_double() == b.as_double();
    return same
               ? ""
               : at + ": " + std::to_string(a.as_double()) + " vs " + std::to_string(b.as_double());
  }
  if (a.is_array()) {
    if (a.array().size() != b.array().size()) return at + ": array sizes differ";
    for (size_t i = 0; i < a.array().size(); ++i) {
      std::string d =
          FirstDifference(a.array()[i], b.array()[i], at + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.is_object()) {
    if (a.object().size() != b.object().size()) return at + ": member counts differ";
    for (size_t i = 0; i < a.object().size(); ++i) {
      const auto& [ka, va] = a.object()[i];
      const auto& [kb, vb] = b.object()[i];
      if (ka != kb) return at + ": member " + std::to_string(i) + " is " + ka + " vs " + kb;
      std::string d = FirstDifference(va, vb, at + "." + ka);
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : at + ": values differ";
}

}  // namespace csdr::json::testing
