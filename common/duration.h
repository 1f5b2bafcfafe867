// Go's time.ParseDuration, shared by the API server's kinds (field validation with Go's
// wording) and the policy engine (rules that compare durations). Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace csdr {

inline constexpr int64_t kNanosPerSecond = 1000LL * 1000 * 1000;
inline constexpr int64_t kNanosPerHour = 3600 * kNanosPerSecond;
inline constexpr int64_t kNanosPerDay = 24 * kNanosPerHour;

// The duration in nanoseconds, exactly as Go's time.ParseDuration reads it: "6h30m",
// "1.5h", "-2m", "+5s", ".5s", "720h0m0s", "0" (the only unit-less value); units ns, us
// (also µs, μs), ms, s, m, h. On error returns kInvalid worded as Go's errors:
//   time: invalid duration "x"                (malformed, or beyond int64 nanoseconds)
//   time: missing unit in duration "1"
//   time: unknown unit "d" in duration "1d"
StatusOr<int64_t> ParseGoDuration(std::string_view text);

}  // namespace csdr
