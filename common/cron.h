// Cron schedules as the Go controllers read them (robfig/cron's standard parser), shared by
// the API server's kinds (BackupSchedule.spec.schedule validation) and the policy engine
// (CSDR-BS-001, BS-004: how often a schedule fires), and when a schedule fires (NextAfter,
// MostRecentAt) for the schedule controller. Thread-safe. Parsing does no I/O; the first use
// of a zone by NextAfter/MostRecentAt reads its tzdata file (/usr/share/zoneinfo).
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace csdr {

// A standard 5-field cron expression: minute hour day-of-month month day-of-week, each a
// comma-separated list of '*', '?', a value, or a range "a-b", optionally with a "/step";
// month and weekday names ("jan", "MON") in any case. It may be prefixed "CRON_TZ=<zone> "
// or "TZ=<zone> "; the zone is checked for IANA name syntax only ("Asia/Shanghai"): whether
// tzdata has it is the controller's business. Descriptors ("@daily", "@every 1h") are
// refused: the schedule field is "a 5-field cron expression or an interval" (ACK FAQ).
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // bit 0 = Sunday
  // Whether the field had a '*' or '?' term without a step above 1 (robfig's "star bit"; "*/1"
  // keeps it, "*/2" drops it). When neither day field has it, a day matches if EITHER field does
  // ("0 0 1,15 * mon": the 1st, the 15th and every Monday); otherwise both must match.
  bool dom_star = false;
  bool dow_star = false;
  // The CRON_TZ=/TZ= zone as written ("Asia/Shanghai"). Empty (no prefix), "UTC" and "Local":
  // UTC. robfig/cron would use the process's local zone there; our controller runs in UTC, as
  // kube-controller-manager usually does.
  std::string zone;
};

// The schedule's firing times, or nullopt with `*error` set in robfig/cron's wording,
// prefixed by the field at fault ("minute: end of range (60) above maximum (59): 60",
// "expected exactly 5 fields, found 4", "provided bad location ../etc"); a descriptor is
// named: "descriptors such as @daily are not supported".
std::optional<CronSchedule> ParseCron(std::string_view spec, std::string* error);

// ParseCron as a yes/no for field validation: OK, or kInvalid with ParseCron's message,
// except that a descriptor is reported as the wrong number of fields it is ("expected
// exactly 5 fields, found 1"), the wording the API server has always given.
Status ValidateCron(std::string_view spec);

// The first time `schedule` fires strictly after `after`: second 0 of a matching minute, found
// on the wall clock of the schedule's zone. Exactly robfig/cron v3's SpecSchedule.Next, which
// the Kubernetes CronJob controller uses, including what it does around DST changes:
//  - spring forward: a wall time that does not exist is skipped, not moved ("30 2 * * *" in
//    America/New_York does not fire on 2026-03-08; the next run is 2026-03-09 02:30 EDT);
//  - fall back: a wall time that happens twice fires twice ("30 1 * * *" fires at 01:30 EDT
//    and again at 01:30 EST on 2026-11-01).
// nullopt with `*error` set when the zone is unknown ("provided bad location Mars/Base: unknown
// time zone Mars/Base") or when no time in the next 5 years matches ("0 0 30 2 *"). The bound
// is robfig's: it looks up to the end of the year 5 years after `after`'s, so "0 0 29 2 *" has
// no answer after a time from 2096-02-29 to 2098-12-31 (2100 is not a leap year).
std::optional<std::chrono::system_clock::time_point> NextAfter(
    const CronSchedule& schedule, std::chrono::system_clock::time_point after, std::string* error);

// The cap on MissedRuns::count: Kubernetes' CronJob controller warns of "too many missed start
// times" above 100 ("more than 80 hourly runs over a weekend, less than lots").
inline constexpr int kMaxCountedMissedRuns = 100;

// The fire times of a schedule in (earliest, now], for a controller catching up on runs it
// missed (Kubernetes' CronJob controller asks the same in mostRecentScheduleTime).
struct MissedRuns {
  std::chrono::system_clock::time_point most_recent;  // the latest of them
  int count;  // how many: exact up to kMaxCountedMissedRuns; kMaxCountedMissedRuns + 1 = more
};

// The fire times t with earliest < t <= now, as the chain NextAfter(earliest), NextAfter of
// that, ... gives them. nullopt with `*error` empty: none; nullopt with `*error` set:
// NextAfter(earliest) failed, with its error.
// Bounded: kube estimates the latest from the gap between two fire times, which is wrong for
// irregular schedules ("0 0 1 * *"); this walks at most kMaxCountedMissedRuns + 1 fire times,
// then bisects for the latest, about 2 * log2((now - earliest) / 1s) NextAfter calls more.
std::optional<MissedRuns> MostRecentAt(const CronSchedule& schedule,
                                       std::chrono::system_clock::time_point earliest,
                                       std::chrono::system_clock::time_point now,
                                       std::string* error);

}  // namespace csdr
