#include "common/duration.h"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

namespace csdr {
namespace {

// The policy engine's view of a duration: the nanoseconds, or nullopt when malformed.
std::optional<int64_t> Nanos(std::string_view text) {
  StatusOr<int64_t> d = ParseGoDuration(text);
  if (!d.ok()) return std::nullopt;
  return *d;
}

constexpr int64_t kNs = 1;
constexpr int64_t kUs = 1000 * kNs;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHr = 60 * kMin;

// Go's src/time/time_test.go parseDurationTests.
TEST(ParseGoDurationTest, GoTable) {
  struct Case {
    const char* in;
    int64_t want;
  };
  const Case cases[] = {
      {"0", 0},
      {"5s", 5 * kSec},
      {"30s", 30 * kSec},
      {"1478s", 1478 * kSec},
      {"-5s", -5 * kSec},
      {"+5s", 5 * kSec},
      {"-0", 0},
      {"+0", 0},
      {"5.0s", 5 * kSec},
      {"5.6s", 5 * kSec + 600 * kMs},
      {"5.s", 5 * kSec},
      {".5s", 500 * kMs},
      {"1.0s", kSec},
      {"1.00s", kSec},
      {"1.004s", kSec + 4 * kMs},
      {"1.0040s", kSec + 4 * kMs},
      {"100.00100s", 100 * kSec + kMs},
      {"10ns", 10},
      {"11us", 11 * kUs},
      {"12\xC2\xB5s", 12 * kUs},  // U+00B5
      {"12\xCE\xBCs", 12 * kUs},  // U+03BC
      {"13ms", 13 * kMs},
      {"14s", 14 * kSec},
      {"15m", 15 * kMin},
      {"16h", 16 * kHr},
      {"3h30m", 3 * kHr + 30 * kMin},
      {"10.5s4m", 4 * kMin + 10 * kSec + 500 * kMs},
      {"-2m3.4s", -(2 * kMin + 3 * kSec + 400 * kMs)},
      {"1h2m3s4ms5us6ns", kHr + 2 * kMin + 3 * kSec + 4 * kMs + 5 * kUs + 6},
      {"39h9m14.425s", 39 * kHr + 9 * kMin + 14 * kSec + 425 * kMs},
      {"52763797000ns", 52763797000},
      {"0.3333333333333333333h", 20 * kMin},
      {"9007199254740993ns", (int64_t{1} << 53) + 1},
      {"9223372036854775807ns", INT64_MAX},
      {"9223372036854775.807us", INT64_MAX},
      {"9223372036s854ms775us807ns", INT64_MAX},
      {"-9223372036854775808ns", INT64_MIN},
      {"-9223372036854775.808us", INT64_MIN},
      {"-9223372036s854ms775us808ns", INT64_MIN},
      {"-2562047h47m16.854775808s", INT64_MIN},
      {"0.100000000000000000000h", 6 * kMin},
      {"0.830103483285477580700h", 49 * kMin + 48 * kSec + 372539827},
      {"720h", 720 * kHr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    StatusOr<int64_t> got = ParseGoDuration(c.in);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, c.want);
  }
}

// parseDurationErrorTests, plus the three messages' wording.
TEST(ParseGoDurationTest, GoErrors) {
  for (const char* in :
       {"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85",
        "\xff"
        "ff",
        "1h 30m", "9223372036854775810ns", "9223372036854775808ns", "-9223372036854775809ns",
        "9223372036854776us", "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns"}) {
    SCOPED_TRACE(in);
    StatusOr<int64_t> got = ParseGoDuration(in);
    EXPECT_FALSE(got.ok());
  }
  EXPECT_EQ(ParseGoDuration("x").status().message(), "time: invalid duration \"x\"");
  EXPECT_EQ(ParseGoDuration("3").status().message(), "time: missing unit in duration \"3\"");
  EXPECT_EQ(ParseGoDuration("1d").status().message(),
            "time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_EQ(ParseGoDuration("3000000h").status().message(), "time: invalid duration \"3000000h\"");
}

TEST(ParseGoDurationTest, AsGoDoes) {
  struct Case {
    const char* text;
    std::optional<int64_t> want;
  };
  const Case cases[] = {
      {"0", 0},
      {"6h30m", 6 * kNanosPerHour + 30 * 60 * kNanosPerSecond},
      {"720h0m0s", 720 * kNanosPerHour},
      {"1.5h", 90 * 60 * kNanosPerSecond},
      {"24h", kNanosPerDay},
      {"-2m", -120 * kNanosPerSecond},
      {"+5s", 5 * kNanosPerSecond},
      {"300ms", 300 * 1000 * 1000},
      {"1us", 1000},
      {"1\xC2\xB5s", 1000},
      {".5s", 500 * 1000 * 1000},
      {"1572864h", 1572864 * kNanosPerHour},  // 65536 days
      {"2562047h", 2562047 * kNanosPerHour},  // Go's maximum whole hours
      {"2562048h", std::nullopt},             // overflows int64
      {"", std::nullopt},
      {"1", std::nullopt},   // missing unit
      {"1d", std::nullopt},  // unknown unit
      {"h", std::nullopt},
      {".s", std::nullopt},
      {"1h ", std::nullopt},
      {"-", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(Nanos(c.text), c.want);
  }
}

// Go's unit ends at the next '.' or digit, so a fraction may follow a unit.
TEST(ParseGoDurationTest, UnitEndsAtDot) {
  EXPECT_EQ(Nanos("1s.5m"), 31 * kSec);
  EXPECT_EQ(ParseGoDuration("1.5.5s").status().message(),
            "time: missing unit in duration \"1.5.5s\"");
}

}  // namespace
}  // namespace csdr
