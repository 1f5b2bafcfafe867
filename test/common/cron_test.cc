#include "common/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace csdr {
namespace {

using std::chrono::system_clock;

// "2026-03-08 06:30:00" (UTC) to a time point, and back; tables read better as text.
system_clock::time_point Utc(const char* text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  EXPECT_EQ(std::sscanf(text, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &s), 6) << text;
  return std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

std::string Utc(system_clock::time_point t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::seconds>(t - day));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld:%02ld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long>(hms.seconds().count()));
  return buf;
}

CronSchedule MustParse(const char* spec) {
  std::string error;
  std::optional<CronSchedule> schedule = ParseCron(spec, &error);
  EXPECT_TRUE(schedule.has_value()) << spec << ": " << error;
  return schedule.value_or(CronSchedule{});
}

// NextAfter as text: the UTC time, or "error: ..." for nullopt.
std::string Next(const char* spec, const char* after) {
  std::string error;
  const std::optional<system_clock::time_point> next =
      NextAfter(MustParse(spec), Utc(after), &error);
  return next ? Utc(*next) : "error: " + error;
}

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

TEST(ParseCronTest, ZoneAndStars) {
  struct Case {
    const char* spec;
    const char* zone;
    bool dom_star;
    bool dow_star;
  };
  const Case cases[] = {
      {"0 0 * * *", "", true, true},
      {"CRON_TZ=Asia/Shanghai 0 0 1 * mon", "Asia/Shanghai", false, false},
      {"TZ=UTC 0 0 ? * 1", "UTC", true, false},
      {"0 0 */1 * 1-5", "", true, false},  // robfig keeps the star bit for a step of 1
      {"0 0 */2 * *", "", false, true},    // and drops it for a larger one
      {"0 0 1,* * 2/1", "", true, false},  // any term with '*' counts; "2/1" has none
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    const CronSchedule schedule = MustParse(c.spec);
    EXPECT_EQ(schedule.zone, c.zone);
    EXPECT_EQ(schedule.dom_star, c.dom_star);
    EXPECT_EQ(schedule.dow_star, c.dow_star);
  }
}

// Every expected value below was also checked against robfig/cron v3.0.1's SpecSchedule.Next
// (ParseStandard with "CRON_TZ=UTC " for schedules without a zone).
TEST(NextAfterTest, Fields) {
  struct Case {
    const char* spec;
    const char* after;  // UTC
    const char* want;   // UTC
  };
  const Case cases[] = {
      // Strictly after, at second 0.
      {"* * * * *", "2026-01-01 00:00:00", "2026-01-01 00:01:00"},
      {"* * * * *", "2026-01-01 00:00:30", "2026-01-01 00:01:00"},
      {"* * * * *", "2025-12-31 23:59:59", "2026-01-01 00:00:00"},
      // Steps and ranges.
      {"*/15 * * * *", "2026-01-01 10:07:00", "2026-01-01 10:15:00"},
      {"5/20 * * * *", "2026-01-01 10:46:00", "2026-01-01 11:05:00"},
      {"0 */6 * * *", "2026-01-01 07:00:00", "2026-01-01 12:00:00"},
      {"0 9-17 * * *", "2026-01-01 17:00:00", "2026-01-02 09:00:00"},
      {"30 8-10 * * *", "2026-01-01 08:30:00", "2026-01-01 09:30:00"},
      {"0 0 1 * *", "2026-02-03 00:00:00", "2026-03-01 00:00:00"},
      // Names; 2026-01-02 is a Friday, 2026-07-05 the first Sunday of July.
      {"0 0 1 jan *", "2026-01-01 00:00:00", "2027-01-01 00:00:00"},
      {"0 9 * * MON-FRI", "2026-01-02 09:00:00", "2026-01-05 09:00:00"},
      {"0 0 * jul sun", "2026-01-01 00:00:00", "2026-07-05 00:00:00"},
      // Both day fields restricted: either matches (Fridays, and the 13th; 2026-02-01 is a
      // Sunday). "1-31" is no star, so with "mon" every day matches; "*/1" and "?" are stars,
      // so only Mondays do; "*/2" is no star again: odd days or Mondays.
      {"0 0 13 * 5", "2026-02-01 00:00:00", "2026-02-06 00:00:00"},
      {"0 0 13 * 5", "2026-02-06 00:00:00", "2026-02-13 00:00:00"},
      {"0 0 13 * 5", "2026-02-13 00:00:00", "2026-02-20 00:00:00"},
      {"0 0 1 * mon", "2026-02-24 00:00:00", "2026-03-01 00:00:00"},
      {"0 0 1-31 * mon", "2026-02-03 00:00:00", "2026-02-04 00:00:00"},
      {"0 0 */1 * mon", "2026-02-03 00:00:00", "2026-02-09 00:00:00"},
      {"0 0 ? * mon", "2026-02-03 00:00:00", "2026-02-09 00:00:00"},
      {"0 0 */2 * mon", "2026-02-03 00:00:00", "2026-02-05 00:00:00"},
      // Leap days.
      {"0 0 29 2 *", "2026-01-01 00:00:00", "2028-02-29 00:00:00"},
      {"0 0 29 2 *", "2028-02-29 00:00:00", "2032-02-29 00:00:00"},
      // robfig searches to the end of the year 5 years after that of `after` + 1s: from 2096's
      // leap day to the end of 2098 it cannot reach 2104's (2100 is not a leap year).
      {"0 0 29 2 *", "2096-02-29 00:00:00", "error: no time in the next 5 years matches"},
      {"0 0 29 2 *", "2098-12-31 23:59:58", "error: no time in the next 5 years matches"},
      {"0 0 29 2 *", "2098-12-31 23:59:59", "2104-02-29 00:00:00"},
      {"0 0 30 2 *", "2026-01-01 00:00:00", "error: no time in the next 5 years matches"},
      {"0 0 31 4 *", "2026-01-01 00:00:00", "error: no time in the next 5 years matches"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.spec) + " after " + c.after);
    EXPECT_EQ(Next(c.spec, c.after), c.want);
  }
}

TEST(NextAfterTest, FractionOfASecond) {
  const CronSchedule every_minute = MustParse("* * * * *");
  std::string error;
  for (const auto after : {Utc("2026-01-01 10:00:00") + std::chrono::milliseconds(500),
                           Utc("2026-01-01 10:00:59") + std::chrono::nanoseconds(999'999'999)}) {
    const auto next = NextAfter(every_minute, after, &error);
    ASSERT_TRUE(next) << error;
    EXPECT_EQ(Utc(*next), "2026-01-01 10:01:00");
  }
  const auto next =
      NextAfter(every_minute, Utc("2026-01-01 10:00:59") - std::chrono::nanoseconds(1), &error);
  ASSERT_TRUE(next) << error;
  EXPECT_EQ(Utc(*next), "2026-01-01 10:01:00");
}

TEST(NextAfterTest, Zones) {
  struct Case {
    const char* spec;
    const char* after;  // UTC
    const char* want;   // UTC
  };
  const Case cases[] = {
      // No zone is UTC; Asia/Shanghai is UTC+8 all year (no DST): 02:00 there is 18:00 UTC
      // the day before, and nothing moves on New York's change days.
      {"0 2 * * *", "2026-06-01 00:00:00", "2026-06-01 02:00:00"},
      {"TZ=UTC 0 2 * * *", "2026-06-01 00:00:00", "2026-06-01 02:00:00"},
      {"CRON_TZ=Asia/Shanghai 0 2 * * *", "2026-06-01 00:00:00", "2026-06-01 18:00:00"},
      {"TZ=Asia/Shanghai 0 2 * * *", "2026-06-01 00:00:00", "2026-06-01 18:00:00"},
      {"CRON_TZ=Asia/Shanghai 30 2 * * *", "2026-03-07 12:00:00", "2026-03-07 18:30:00"},
      {"CRON_TZ=Asia/Shanghai 30 1 * * *", "2026-10-31 12:00:00", "2026-10-31 17:30:00"},

      // America/New_York springs forward on 2026-03-08 at 07:00 UTC: 01:59:59 EST (UTC-5) is
      // followed by 03:00:00 EDT (UTC-4); 02:xx does not exist that day. robfig's Next finds
      // the hour by adding real hours to the day's midnight (spec.go: `t = t.Add(1 *
      // time.Hour)` until `1<<uint(t.Hour())&s.Hour` matches), so the wall clock reads 00, 01,
      // 03, ...: hour 2 never comes up and the search wraps into Mar 9. The run is skipped,
      // not moved to 03:00 (Vixie cron would move it).
      {"CRON_TZ=America/New_York 30 2 * * *", "2026-03-07 12:00:00", "2026-03-09 06:30:00"},
      {"CRON_TZ=America/New_York 0 2 * * *", "2026-03-08 05:00:00", "2026-03-09 06:00:00"},
      // Schedules that step through the gap land on the first time after it: 01:30 EST, then
      // minutes are added until the minute wraps to 0, which the wall clock reads as 03:00 EDT.
      {"CRON_TZ=America/New_York 0 * * * *", "2026-03-08 06:30:00", "2026-03-08 07:00:00"},
      {"CRON_TZ=America/New_York */30 * * * *", "2026-03-08 06:45:00", "2026-03-08 07:00:00"},
      {"CRON_TZ=America/New_York 30 1-3 * * *", "2026-03-08 06:30:00", "2026-03-08 07:30:00"},

      // It falls back on 2026-11-01 at 06:00 UTC: 01:59:59 EDT is followed by 01:00:00 EST, so
      // 01:xx happens twice. From 01:30 EDT robfig adds minutes (real ones) until the minute
      // wraps to 0 at 01:00 EST, goes back to WRAP, finds hour 1 matching again and stops at
      // 01:30 EST: a 01:30 job runs twice, an hour apart. Hour 2 comes once (02:00 EST).
      {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01 04:00:00", "2026-11-01 05:30:00"},
      {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01 05:30:00", "2026-11-01 06:30:00"},
      {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01 06:30:00", "2026-11-02 06:30:00"},
      {"CRON_TZ=America/New_York 0 1 * * *", "2026-11-01 05:00:00", "2026-11-01 06:00:00"},
      {"CRON_TZ=America/New_York 0 2 * * *", "2026-11-01 04:00:00", "2026-11-01 07:00:00"},
      {"CRON_TZ=America/New_York 0 * * * *", "2026-11-01 05:00:00", "2026-11-01 06:00:00"},
      {"CRON_TZ=America/New_York 0 * * * *", "2026-11-01 06:00:00", "2026-11-01 07:00:00"},

      // Unknown zones fail here, not in ParseCron, with robfig's message (Go's LoadLocation's).
      {"CRON_TZ=Mars/Olympus 0 0 * * *", "2026-01-01 00:00:00",
       "error: provided bad location Mars/Olympus: unknown time zone Mars/Olympus"},
      {"TZ=Asia 0 0 * * *", "2026-01-01 00:00:00",
       "error: provided bad location Asia: unknown time zone Asia"},
      // Samoa skipped 2011-12-30. robfig's day loop asks time.Date for Dec 30 00:00, which Go
      // turns back into Dec 29 00:00, and loops forever (robfig/cron hangs on this); we stop.
      {"CRON_TZ=Pacific/Apia 0 0 1 * *", "2011-12-29 04:18:31",
       "error: no time found: the search does not end near a day that time zone Pacific/Apia "
       "skips (robfig/cron would loop forever)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.spec) + " after " + c.after);
    EXPECT_EQ(Next(c.spec, c.after), c.want);
  }
}

TEST(MostRecentAtTest, Table) {
  struct Case {
    const char* spec;
    const char* earliest;  // UTC, exclusive
    const char* now;       // UTC, inclusive
    const char* want;      // UTC; nullptr: none
    int count;
  };
  const Case cases[] = {
      {"0 * * * *", "2026-01-01 00:00:00", "2026-01-01 03:30:00", "2026-01-01 03:00:00", 3},
      {"0 * * * *", "2026-01-01 00:00:00", "2026-01-01 01:00:00", "2026-01-01 01:00:00", 1},
      {"0 * * * *", "2026-01-01 00:00:00", "2026-01-01 00:59:59", nullptr, 0},
      {"0 * * * *", "2026-01-01 05:00:00", "2026-01-01 01:00:00", nullptr, 0},  // now < earliest
      // Above the cap the count stops at 101; the latest is still exact.
      {"* * * * *", "2026-01-01 00:00:00", "2026-01-01 01:41:00", "2026-01-01 01:41:00", 101},
      {"* * * * *", "2026-01-01 00:00:00", "2026-01-01 01:40:59", "2026-01-01 01:40:00", 100},
      {"* * * * *", "2026-01-01 00:00:00", "2026-01-08 12:34:56", "2026-01-08 12:34:00", 101},
      // Irregular gaps, where kube's estimate from the first gap can miss (it says so):
      // months of 28 to 31 days, and kube's own example of runs at 6:30, 10:30, 14:30 on
      // weekdays (2026-03-04 is a Wednesday).
      {"0 0 1 * *", "2000-01-01 00:00:00", "2026-03-15 00:00:00", "2026-03-01 00:00:00", 101},
      {"30 6-16/4 * * 1-5", "2026-01-01 00:00:00", "2026-03-04 12:00:00", "2026-03-04 10:30:00",
       101},
      {"0 0 29 2 *", "2001-01-01 00:00:00", "2026-03-01 00:00:00", "2024-02-29 00:00:00", 6},
      // Both 01:30s of New York's fall-back night count.
      {"CRON_TZ=America/New_York 30 1 * * *", "2026-10-31 12:00:00", "2026-11-01 07:00:00",
       "2026-11-01 06:30:00", 2},
      {"CRON_TZ=America/New_York 30 2 * * *", "2026-03-07 12:00:00", "2026-03-09 06:29:59", nullptr,
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.spec) + " in (" + c.earliest + ", " + c.now + "]");
    std::string error = "stale";
    const std::optional<MissedRuns> runs =
        MostRecentAt(MustParse(c.spec), Utc(c.earliest), Utc(c.now), &error);
    EXPECT_EQ(error, "");
    if (c.want == nullptr) {
      EXPECT_FALSE(runs.has_value()) << Utc(runs->most_recent);
      continue;
    }
    ASSERT_TRUE(runs.has_value());
    EXPECT_EQ(Utc(runs->most_recent), c.want);
    EXPECT_EQ(runs->count, c.count);
  }
}

TEST(MostRecentAtTest, Errors) {
  std::string error;
  EXPECT_FALSE(MostRecentAt(MustParse("0 0 30 2 *"), Utc("2020-01-01 00:00:00"),
                            Utc("2026-01-01 00:00:00"), &error));
  EXPECT_EQ(error, "no time in the next 5 years matches");
  EXPECT_FALSE(MostRecentAt(MustParse("CRON_TZ=Mars/Olympus 0 0 * * *"), Utc("2020-01-01 00:00:00"),
                            Utc("2026-01-01 00:00:00"), &error));
  EXPECT_EQ(error, "provided bad location Mars/Olympus: unknown time zone Mars/Olympus");
}

// Above the cap MostRecentAt bisects instead of walking; it must land where the walk would,
// across DST changes and irregular schedules too.
TEST(MostRecentAtTest, AgreesWithWalkingNextAfter) {
  struct Case {
    const char* spec;
    const char* earliest;
    const char* now;
  };
  const Case cases[] = {
      {"*/7 */3 * * *", "2025-01-01 00:00:00", "2026-11-01 06:59:00"},
      {"CRON_TZ=America/New_York 30 2 * * *", "2023-06-01 00:00:00", "2026-03-09 06:29:59"},
      {"CRON_TZ=America/New_York 30 1 * * *", "2023-06-01 00:00:00", "2026-11-01 06:29:59"},
      {"CRON_TZ=America/New_York 30 1 * * *", "2023-06-01 00:00:00", "2026-11-01 06:30:00"},
      {"CRON_TZ=Europe/Dublin 45 1 1,15 * mon", "2021-01-01 00:00:00", "2026-03-29 01:00:00"},
      {"CRON_TZ=Asia/Shanghai 0 0 1 * *", "1996-01-01 00:00:00", "2026-05-31 16:00:00"},
      {"CRON_TZ=Australia/Lord_Howe 15 2 * * *", "2025-01-01 00:00:00", "2026-04-04 15:15:00"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.spec) + " in (" + c.earliest + ", " + c.now + "]");
    const CronSchedule schedule = MustParse(c.spec);
    const system_clock::time_point now = Utc(c.now);
    std::string error;
    int walked = 0;
    std::optional<system_clock::time_point> latest;
    for (auto t = NextAfter(schedule, Utc(c.earliest), &error); t && *t <= now;
         t = NextAfter(schedule, *t, &error)) {
      latest = t;
      ++walked;
    }
    ASSERT_GT(walked, kMaxCountedMissedRuns);
    const std::optional<MissedRuns> runs = MostRecentAt(schedule, Utc(c.earliest), now, &error);
    ASSERT_TRUE(runs.has_value()) << error;
    EXPECT_EQ(Utc(runs->most_recent), Utc(*latest));
    EXPECT_EQ(runs->count, kMaxCountedMissedRuns + 1);
  }
}

}  // namespace
}  // namespace csdr
