// Schedules and durations as the Go controllers read them (CSDR-BS-001, BS-004, BK-013).
// Internal to csdr_policy; pure and thread-safe.
//
// The API server's kinds have their own copies for object-local validation
// (apiserver/kinds/validation.h); the engine cannot link the API server (the API server
// links the engine), and the rules need more than a yes/no: how often a cron fires.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace csdr::webhook {

// Go's time.ParseDuration: nanoseconds, or nullopt when malformed or beyond int64.
// "6h30m", "1.5h", "-2m", "0" (the only unit-less value), "720h0m0s".
std::optional<int64_t> ParseGoDuration(std::string_view text);

inline constexpr int64_t kNanosPerSecond = 1000LL * 1000 * 1000;
inline constexpr int64_t kNanosPerHour = 3600 * kNanosPerSecond;
inline constexpr int64_t kNanosPerDay = 24 * kNanosPerHour;

// A standard 5-field cron expression as robfig/cron's standard parser reads it (minute
// hour day-of-month month day-of-week; '*', '?', lists, ranges, steps, month and weekday
// names), optionally prefixed "CRON_TZ=<zone> " or "TZ=<zone> ". The zone is checked for
// IANA name syntax only ("Asia/Shanghai"): whether tzdata has it is the controller's
// business, and the engine does no I/O. Descriptors ("@daily", "@every 1h") are refused:
// the schedule field is "a 5-field cron expression or an interval" (ACK FAQ).
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // bit 0 = Sunday
};
std::optional<CronSchedule> ParseCron(std::string_view text, std::string* error);

}  // namespace csdr::webhook
