#include "common/duration.h"

#include <limits>
#include <string>

namespace csdr {

// A transcription of Go's time.ParseDuration, leadingInt and leadingFraction
// (src/time/format.go), so that what we accept is exactly what the Go controllers reading
// these objects accept.
StatusOr<int64_t> ParseGoDuration(std::string_view text) {
  const std::string orig(text);
  auto invalid = [&] { return Status(Code::kInvalid, "time: invalid duration " + Quote(orig)); };
  // Go accumulates the magnitude in a uint64 and allows up to 1<<63 (for the negative end).
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return invalid();
    // The integer part (leadingInt).
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > kLimit / 10) return invalid();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return invalid();
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // The fraction, kept to the precision that fits (leadingFraction).
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && is_digit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid();  // no digits, e.g. ".s"
    // The unit: everything up to the next '.' or digit.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !is_digit(s[u])) ++u;
    if (u == 0) return Status(Code::kInvalid, "time: missing unit in duration " + Quote(orig));
    const std::string_view unit_text = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_text == "ns") {
      unit = 1;
    } else if (unit_text == "us" || unit_text == "\xC2\xB5s" ||
               unit_text == "\xCE\xBCs") {  // µs, μs
      unit = 1000;
    } else if (unit_text == "ms") {
      unit = 1000 * 1000;
    } else if (unit_text == "s") {
      unit = static_cast<uint64_t>(kNanosPerSecond);
    } else if (unit_text == "m") {
      unit = 60 * static_cast<uint64_t>(kNanosPerSecond);
    } else if (unit_text == "h") {
      unit = static_cast<uint64_t>(kNanosPerHour);
    } else {
      return Status(Code::kInvalid,
                    "time: unknown unit " + Quote(unit_text) + " in duration " + Quote(orig));
    }
    if (v > kLimit / unit) return invalid();
    v *= unit;
    if (f > 0) {
      // A double, as Go uses, to be nanosecond-accurate for fractions of hours.
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return invalid();
    }
    total += v;
    if (total > kLimit) return invalid();
  }
  if (neg)
    return total == kLimit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(total);
  if (total > kLimit - 1) return invalid();
  return static_cast<int64_t>(total);
}

}  // namespace csdr
