#include "apiserver/kinds/kind.h"

#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/kinds/strategy.h"

namespace csdr::apiserver {

const std::vector<const KindStrategy*>& AllKinds() {
  static const std::vector<const KindStrategy*> kinds = {
      &ClusterProfileStrategy(), &BackupVaultStrategy(), &BackupStrategy(), &RestoreStrategy(),
      &BackupScheduleStrategy()};
  return kinds;
}

const KindStrategy* FindKindByResource(std::string_view resource) {
  for (const KindStrategy* k : AllKinds()) {
    if (k->info().resource == resource) return k;
  }
  return nullptr;
}

TableCell TableCell::Age(std::chrono::system_clock::time_point since) {
  TableCell c{json::Value()};
  c.clock = Clock::kAge;
  c.at = since;
  return c;
}

TableCell TableCell::Countdown(std::chrono::system_clock::time_point until, std::string past) {
  TableCell c{json::Value()};
  c.clock = Clock::kCountdown;
  c.at = until;
  c.past = std::move(past);
  return c;
}

TableCell TableCell::NextFire(CronSchedule cron) {
  TableCell c{json::Value()};
  c.clock = Clock::kNextFire;
  c.cron = std::make_shared<const CronSchedule>(std::move(cron));
  return c;
}

TableCell TableCell::NextFire(std::chrono::system_clock::time_point anchor,
                              std::chrono::nanoseconds every) {
  TableCell c{json::Value()};
  c.clock = Clock::kNextFire;
  c.at = anchor;
  c.every = every;
  return c;
}

json::Value TableCell::Render(std::chrono::system_clock::time_point now) const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  switch (clock) {
    case Clock::kNextFire: {
      std::chrono::system_clock::time_point next = at;
      if (cron != nullptr) {
        std::string error;
        auto fires = NextAfter(*cron, now, &error);
        if (!fires) return value;  // an unknown zone, or no time in the next years
        next = *fires;
      } else if (every.count() > 0 && next <= now) {
        // The first anchor + k * every after now.
        next += every * ((now - next) / every + 1);
      } else if (every.count() <= 0) {
        return value;
      }
      return json::Value(HumanDuration(duration_cast<seconds>(next - now)));
    }
    case Clock::kNone:
      return value;
    case Clock::kAge:
      return json::Value(HumanDuration(duration_cast<seconds>(now - at)));
    case Clock::kCountdown:
      if (at <= now) return json::Value(past);
      return json::Value(HumanDuration(duration_cast<seconds>(at - now)));
  }
  return value;
}

std::vector<json::Value> KindStrategy::Cells(const json::Value& object,
                                             std::chrono::system_clock::time_point now) const {
  std::vector<json::Value> cells;
  for (const TableCell& c : RowCells(object)) cells.push_back(c.Render(now));
  return cells;
}

// A transcription of k8s.io/apimachinery/pkg/util/duration.HumanDuration. Go truncates
// toward zero at every step, so truncating the input to whole seconds first gives the
// same answers.
std::string HumanDuration(std::chrono::seconds d) {
  const int64_t seconds = d.count();
  // Up to a second of clock skew between machines still reads as "now".
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  const int64_t minutes = seconds / 60;
  if (minutes < 10) {
    const int64_t s = seconds % 60;
    if (s == 0) return std::to_string(minutes) + "m";
    return std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  const int64_t hours = seconds / 3600;
  if (hours < 8) {
    const int64_t m = minutes % 60;
    if (m == 0) return std::to_string(hours) + "h";
    return std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    const int64_t h = hours % 24;
    if (h == 0) return std::to_string(hours / 24) + "d";
    return std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    const int64_t dy = (hours / 24) % 365;
    if (dy == 0) return std::to_string(hours / 24 / 365) + "y";
    return std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

}  // namespace csdr::apiserver
