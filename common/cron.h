// Cron schedules as the Go controllers read them (robfig/cron's standard parser), shared by
// the API server's kinds (BackupSchedule.spec.schedule validation) and the policy engine
// (CSDR-BS-001, BS-004: how often a schedule fires). Pure and thread-safe; no I/O.
#pragma once

#include <bitset>
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

}  // namespace csdr
