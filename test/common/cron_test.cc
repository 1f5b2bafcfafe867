#include "common/cron.h"

#include <gtest/gtest.h>

#include <string>

namespace csdr {
namespace {

TEST(ParseCronTest, AcceptsStandardExpressions) {
  for (const char* spec :
       {"1 4 * * *", "*/15 * * * *", "0 0 1 jan *", "0 0 * * MON-FRI", "0 12 ? * sun",
        "5/15 * * * *", "0,30 8-18 * * 1-5", "CRON_TZ=Asia/Shanghai 0 2 * * *", "TZ=UTC 0 2 * * *",
        "  1   4 * *   *  ", "59 23 31 12 6"}) {
    SCOPED_TRACE(spec);
    std::string error;
    EXPECT_TRUE(ParseCron(spec, &error).has_value()) << error;
  }
}

TEST(ParseCronTest, RejectsWithReason) {
  struct Case {
    const char* spec;
    const char* error;
  };
  const Case cases[] = {
      {"1 4 * *", "expected exactly 5 fields, found 4"},
      {"0 1 4 * * *", "expected exactly 5 fields, found 6"},
      {"", "expected exactly 5 fields, found 0"},
      {"60 * * * *", "minute: end of range (60) above maximum (59): 60"},
      {"* 24 * * *", "hour: end of range (24) above maximum (23): 24"},
      {"* * 0 * *", "day of month: beginning of range (0) below minimum (1): 0"},
      {"* * * 13 *", "month: end of range (13) above maximum (12): 13"},
      {"* * * * 7", "day of week: end of range (7) above maximum (6): 7"},
      {"5-1 * * * *", "minute: beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "minute: step of range should be a positive number: */0"},
      {"1-2-3 * * * *", "minute: too many hyphens: 1-2-3"},
      {"*/2/3 * * * *", "minute: too many slashes: */2/3"},
      {"x * * * *", "minute: failed to parse int from x"},
      {"@daily", "descriptors such as @daily are not supported"},
      {"@every 1h", "descriptors such as @every are not supported"},
      {"CRON_TZ=Asia/Shanghai", "missing schedule after time zone"},
      {"CRON_TZ=../etc 0 2 * * *", "provided bad location ../etc"},
      {"6h30m", "expected exactly 5 fields, found 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    std::string error;
    EXPECT_FALSE(ParseCron(c.spec, &error).has_value());
    EXPECT_EQ(error, c.error);
  }
}

TEST(ParseCronTest, Bits) {
  std::string error;
  const auto every15 = ParseCron("*/15 * * * *", &error);
  ASSERT_TRUE(every15);
  EXPECT_EQ(every15->minutes.count(), 4u);
  EXPECT_TRUE(every15->minutes[0] && every15->minutes[15] && every15->minutes[30] &&
              every15->minutes[45]);
  const auto from5 = ParseCron("5/20 * * * *", &error);
  ASSERT_TRUE(from5);
  EXPECT_EQ(from5->minutes.count(), 3u);  // 5, 25, 45
  const auto weekdays = ParseCron("0 9 * * mon-fri", &error);
  ASSERT_TRUE(weekdays);
  EXPECT_EQ(weekdays->minutes.count(), 1u);
  EXPECT_EQ(weekdays->days_of_week.count(), 5u);
  EXPECT_FALSE(weekdays->days_of_week[0]);
  const auto months = ParseCron("0 0 1 JAN,dec *", &error);
  ASSERT_TRUE(months);
  EXPECT_TRUE(months->months[1] && months->months[12]);
  EXPECT_EQ(months->months.count(), 2u);
}

TEST(ValidateCronTest, Table) {
  struct Case {
    const char* schedule;
    bool ok;
    const char* error;  // substring, when not ok
  };
  const Case cases[] = {
      {"1 4 * * *", true, ""},
      {"*/15 * * * *", true, ""},
      {"0 0 1 1 *", true, ""},
      {"0 9-17 * * MON-FRI", true, ""},
      {"0 0 * jan,Jul sun", true, ""},
      {"5,10,15 0-23/2 1-31 1-12 0-6", true, ""},
      {"0 0 ? * *", true, ""},
      {"30 2 * * 1/2", true, ""},
      {"  1   4 * * *  ", true, ""},
      {"CRON_TZ=Asia/Shanghai 1 4 * * *", true, ""},
      {"TZ=UTC 0 0 * * 0", true, ""},
      {"CRON_TZ=America/Argentina/Buenos_Aires 0 0 * * *", true, ""},
      {"CRON_TZ=Etc/GMT+8 0 0 * * *", true, ""},
      {"", false, "expected exactly 5 fields, found 0"},
      {"* * * *", false, "expected exactly 5 fields, found 4"},
      {"0 * * * * *", false, "expected exactly 5 fields, found 6"},
      {"@daily", false, "expected exactly 5 fields, found 1"},
      {"60 * * * *", false, "minute: end of range (60) above maximum (59): 60"},
      {"* 24 * * *", false, "hour: end of range (24) above maximum (23)"},
      {"* * 0 * *", false, "day of month: beginning of range (0) below minimum (1)"},
      {"* * * 13 *", false, "month: end of range (13) above maximum (12)"},
      {"* * * * 7", false, "day of week: end of range (7) above maximum (6)"},
      {"*/0 * * * *", false, "step of range should be a positive number"},
      {"5-1 * * * *", false, "beginning of range (5) beyond end of range (1)"},
      {"1-2-3 * * * *", false, "too many hyphens"},
      {"a * * * *", false, "failed to parse int from a"},
      {"1,,2 * * * *", false, "failed to parse int from "},
      {"* * * * funday", false, "failed to parse int from funday"},
      {"CRON_TZ=Asia/Shanghai", false, "missing schedule after time zone"},
      {"CRON_TZ= 1 4 * * *", false, "provided bad location"},
      {"CRON_TZ=../etc/passwd 1 4 * * *", false, "provided bad location ../etc/passwd"},
      {"CRON_TZ=/Asia 1 4 * * *", false, "provided bad location"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schedule);
    Status s = ValidateCron(c.schedule);
    EXPECT_EQ(s.ok(), c.ok) << s.message();
    if (!c.ok) {
      EXPECT_NE(s.message().find(c.error), std::string::npos) << s.message();
    }
  }
}

}  // namespace
}  // namespace csdr
