#include "common/cron.h"

#include <absl/time/civil_time.h>
#include <absl/time/time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace csdr {
namespace {

struct CronField {
  const char* name;
  int min;
  int max;
  const std::vector<std::string_view>* names;  // names[i] is value min + i; nullptr: numbers only
};

const std::vector<std::string_view> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const std::vector<std::string_view> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// A value of `field`: one of its names, or a number (range checks are the caller's).
std::optional<int> CronValue(std::string_view text, const CronField& field, std::string* error) {
  if (field.names != nullptr) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t i = 0; i < field.names->size(); ++i) {
      if ((*field.names)[i] == lower) return field.min + static_cast<int>(i);
    }
  }
  // Nine digits fit an int; no cron field needs more.
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "failed to parse int from " + std::string(text);
    return std::nullopt;
  }
  return std::stoi(std::string(text));
}

// One comma-separated term: "*", "?", "a", "a-b", each optionally "/step"; sets its bits, and
// `*star` for "*" or "?" with no step above 1 (robfig's getRange: "if step > 1 { extra = 0 }").
bool CronTerm(std::string_view term, const CronField& field, std::bitset<64>* bits, bool* star,
              std::string* error) {
  std::string_view range = term;
  int step = 1;
  bool has_step = false;
  if (const size_t slash = term.find('/'); slash != std::string_view::npos) {
    range = term.substr(0, slash);
    const std::string_view step_text = term.substr(slash + 1);
    if (step_text.find('/') != std::string_view::npos) {
      *error = "too many slashes: " + std::string(term);
      return false;
    }
    const CronField numeric{field.name, field.min, field.max, nullptr};  // steps have no names
    std::optional<int> s = CronValue(step_text, numeric, error);
    if (!s) return false;
    if (*s <= 0) {
      *error = "step of range should be a positive number: " + std::string(term);
      return false;
    }
    step = *s;
    has_step = true;
  }
  int begin = field.min, end = field.max;
  if (range != "*" && range != "?") {
    if (const size_t dash = range.find('-'); dash != std::string_view::npos) {
      if (range.find('-', dash + 1) != std::string_view::npos) {
        *error = "too many hyphens: " + std::string(term);
        return false;
      }
      std::optional<int> b = CronValue(range.substr(0, dash), field, error);
      if (!b) return false;
      std::optional<int> e = CronValue(range.substr(dash + 1), field, error);
      if (!e) return false;
      begin = *b;
      end = *e;
    } else {
      std::optional<int> b = CronValue(range, field, error);
      if (!b) return false;
      begin = *b;
      end = has_step ? field.max : *b;  // "5/15": from 5 to the maximum, every 15
    }
  }
  if (begin < field.min) {
    *error = "beginning of range (" + std::to_string(begin) + ") below minimum (" +
             std::to_string(field.min) + "): " + std::string(term);
    return false;
  }
  if (end > field.max) {
    *error = "end of range (" + std::to_string(end) + ") above maximum (" +
             std::to_string(field.max) + "): " + std::string(term);
    return false;
  }
  if (begin > end) {
    *error = "beginning of range (" + std::to_string(begin) + ") beyond end of range (" +
             std::to_string(end) + "): " + std::string(term);
    return false;
  }
  for (int v = begin; v <= end; v += step) bits->set(static_cast<size_t>(v));
  if ((range == "*" || range == "?") && step == 1) *star = true;
  return true;
}

bool ValidZoneName(std::string_view zone) {
  // IANA names: "UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires", "Etc/GMT+8".
  if (zone.empty() || zone.size() > 255) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = zone.find('/', start);
    const std::string_view part =
        zone.substr(start, slash == std::string_view::npos ? zone.npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (!std::all_of(part.begin(), part.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' ||
                 c == '+' || c == '.';
        })) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

template <size_t N>
std::bitset<N> Narrow(const std::bitset<64>& bits) {
  std::bitset<N> out;
  for (size_t i = 0; i < N; ++i) out[i] = bits[i];
  return out;
}

// ParseCron, with a descriptor named (`name_descriptors`) or counted as the fields it has.
std::optional<CronSchedule> Parse(std::string_view spec, bool name_descriptors,
                                  std::string* error) {
  std::string zone_name;
  for (std::string_view prefix : {std::string_view("CRON_TZ="), std::string_view("TZ=")}) {
    if (spec.substr(0, prefix.size()) != prefix) continue;
    const size_t space = spec.find(' ');
    if (space == std::string_view::npos) {
      *error = "missing schedule after time zone";
      return std::nullopt;
    }
    const std::string_view zone = spec.substr(prefix.size(), space - prefix.size());
    if (!ValidZoneName(zone)) {
      *error = "provided bad location " + std::string(zone);
      return std::nullopt;
    }
    zone_name = std::string(zone);
    spec.remove_prefix(space);
    break;
  }
  std::vector<std::string_view> fields;
  for (size_t i = 0; i < spec.size();) {
    while (i < spec.size() && std::isspace(static_cast<unsigned char>(spec[i]))) ++i;
    size_t j = i;
    while (j < spec.size() && !std::isspace(static_cast<unsigned char>(spec[j]))) ++j;
    if (j > i) fields.push_back(spec.substr(i, j - i));
    i = j;
  }
  if (name_descriptors && !fields.empty() && fields[0].front() == '@') {
    *error = "descriptors such as " + std::string(fields[0]) + " are not supported";
    return std::nullopt;
  }
  if (fields.size() != 5) {
    *error = "expected exactly 5 fields, found " + std::to_string(fields.size());
    return std::nullopt;
  }
  static const std::array<CronField, 5> kFields = {{{"minute", 0, 59, nullptr},
                                                    {"hour", 0, 23, nullptr},
                                                    {"day of month", 1, 31, nullptr},
                                                    {"month", 1, 12, &kMonthNames},
                                                    {"day of week", 0, 6, &kDayNames}}};
  std::array<std::bitset<64>, 5> bits;
  std::array<bool, 5> star{};
  for (size_t f = 0; f < 5; ++f) {
    const std::string_view field = fields[f];
    size_t start = 0;
    while (true) {
      const size_t comma = field.find(',', start);
      const std::string_view term =
          field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
      std::string term_error;
      if (!CronTerm(term, kFields[f], &bits[f], &star[f], &term_error)) {
        *error = std::string(kFields[f].name) + ": " + term_error;
        return std::nullopt;
      }
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  CronSchedule out;
  out.minutes = Narrow<60>(bits[0]);
  out.hours = Narrow<24>(bits[1]);
  out.days_of_month = Narrow<32>(bits[2]);
  out.months = Narrow<13>(bits[3]);
  out.days_of_week = Narrow<7>(bits[4]);
  out.dom_star = star[2];
  out.dow_star = star[4];
  out.zone = std::move(zone_name);
  return out;
}

// The schedule's zone, as Go's time.LoadLocation finds it (robfig's parser calls it): "" and
// "UTC" are UTC; "Local" is the process's zone, which for our controller is UTC too.
std::optional<absl::TimeZone> LoadZone(const std::string& name, std::string* error) {
  if (name.empty() || name == "UTC" || name == "Local") return absl::UTCTimeZone();
  // The controller asks on every sync, from several threads; a zone is read from disk once.
  static std::mutex mu;
  static std::map<std::string, absl::TimeZone, std::less<>> loaded;  // guarded by mu
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = loaded.find(name); it != loaded.end()) return it->second;
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    // Not remembered: a bad zone is a spec error, reported (and re-read) on each call.
    *error = "provided bad location " + name + ": unknown time zone " + name;
    return std::nullopt;
  }
  loaded.emplace(name, zone);
  return zone;
}

// Go's time.Time in one location, reduced to what robfig's Next uses. Times are whole Unix
// seconds: Next drops the fraction first and then moves by whole seconds only.
class GoClock {
 public:
  explicit GoClock(absl::TimeZone zone) : zone_(zone) {}

  // t.Year(), t.Month(), t.Day(), t.Hour(), ... in the location.
  absl::CivilSecond Civil(int64_t unix) const { return zone_.At(absl::FromUnixSeconds(unix)).cs; }

  // time.Date(...): `wall` (fields already normalized, as Go normalizes them) to an instant.
  // For a wall time that does not exist or exists twice this copies Go's choice (time.go):
  // look up the offset in force at the wall time read as UTC, then, if the instant that gives
  // lies outside that offset's period, the offset in force at that instant (so: always the
  // latter, but for Go skipping the second look-up after a zero offset). In New York,
  // 2026-03-08 02:30 (skipped) becomes 01:30 EST and 2026-11-01 01:30 (twice) is the EDT one.
  int64_t Date(const absl::CivilSecond& wall) const {
    const int64_t unix = wall - absl::CivilSecond(1970, 1, 1, 0, 0, 0);
    const int offset = Offset(unix);
    if (offset == 0) return unix;  // Go skips the second look-up for a zero offset
    return unix - Offset(unix - offset);
  }

  // t.AddDate(0, months, days): the same wall clock time on the new date, via time.Date.
  int64_t AddDate(int64_t unix, int months, int days) const {
    const absl::CivilSecond c = Civil(unix);
    return Date(absl::CivilSecond(c.year(), c.month() + months, c.day() + days, c.hour(),
                                  c.minute(), c.second()));
  }

 private:
  int Offset(int64_t unix) const { return zone_.At(absl::FromUnixSeconds(unix)).offset; }

  absl::TimeZone zone_;
};

// robfig's dayMatches: with a '*' in either day field both must match, else either.
bool DayMatches(const CronSchedule& s, const absl::CivilSecond& c) {
  const bool dom = s.days_of_month[static_cast<size_t>(c.day())];
  // absl counts weekdays from Monday = 0; Go and cron from Sunday = 0.
  const int weekday = (static_cast<int>(absl::GetWeekday(c)) + 1) % 7;
  const bool dow = s.days_of_week[static_cast<size_t>(weekday)];
  if (s.dom_star || s.dow_star) return dom && dow;
  return dom || dow;
}

// How far robfig's Next may move its candidate time before we call the search stuck. A real
// search moves it at most 6 years x 12 months x (1 month + 31 days + 31 DST corrections),
// about 4,500 times, plus the time of day (24 + 60 + 60); 238 was the most seen in 110,000
// differential runs against robfig. Only where it cannot step over a day that the zone skips
// does it move forever (Pacific/Apia dropped 2011-12-30: time.Date turns that midnight into
// Dec 29's, and robfig/cron hangs).
constexpr int kMaxMoves = 10'000;

// robfig/cron v3 spec.go SpecSchedule.Next, statement by statement (its "goto WRAP" is the
// `continue` of the outer loop), for a standard schedule (seconds field "0"): the first fire
// time after `after`, or nullopt with `*error` set.
std::optional<int64_t> RobfigNext(const CronSchedule& s, const GoClock& clock, int64_t after,
                                  std::string* error) {
  int64_t t = after + 1;  // "the upcoming second"
  bool added = false;     // whether a field has been incremented (times reset to its start)
  const int64_t year_limit = clock.Civil(t).year() + 5;
  int moves = 0;
  while (true) {  // WRAP:
    absl::CivilSecond c = clock.Civil(t);
    if (c.year() > year_limit) {
      *error = "no time in the next 5 years matches";
      return std::nullopt;
    }
    if (moves > kMaxMoves) {
      *error = "no time found: the search does not end near a day that time zone " + s.zone +
               " skips (robfig/cron would loop forever)";
      return std::nullopt;
    }
    const auto move = [&](int64_t to) {
      t = to;
      c = clock.Civil(t);
      ++moves;
    };
    bool wrapped = false;
    while (!wrapped && moves <= kMaxMoves && !s.months[static_cast<size_t>(c.month())]) {
      if (!added) {
        added = true;
        move(clock.Date(absl::CivilSecond(c.year(), c.month(), 1, 0, 0, 0)));
      }
      move(clock.AddDate(t, 1, 0));
      wrapped = c.month() == 1;
    }
    if (wrapped || moves > kMaxMoves) continue;  // goto WRAP
    while (!wrapped && moves <= kMaxMoves && !DayMatches(s, c)) {
      if (!added) {
        added = true;
        move(clock.Date(absl::CivilSecond(c.year(), c.month(), c.day(), 0, 0, 0)));
      }
      move(clock.AddDate(t, 0, 1));
      // Where DST moves midnight (Sao Paulo went from 23:59 to 01:00), robfig steps back to
      // the day's start: 01:00 loses an hour, 23:00 gains one.
      if (c.hour() != 0) move(t + (c.hour() > 12 ? 24 - c.hour() : -c.hour()) * int64_t{3600});
      wrapped = c.day() == 1;
    }
    if (wrapped || moves > kMaxMoves) continue;  // goto WRAP
    while (!wrapped && moves <= kMaxMoves && !s.hours[static_cast<size_t>(c.hour())]) {
      if (!added) {
        added = true;
        move(clock.Date(absl::CivilSecond(c.year(), c.month(), c.day(), c.hour(), 0, 0)));
      }
      move(t + 3600);  // an hour of real time: across a DST change the wall clock skips or repeats
      wrapped = c.hour() == 0;
    }
    if (wrapped || moves > kMaxMoves) continue;  // goto WRAP
    while (!wrapped && moves <= kMaxMoves && !s.minutes[static_cast<size_t>(c.minute())]) {
      if (!added) {
        added = true;
        // t.Truncate(time.Minute) works on the instant, not the wall clock (Go's zero time
        // and the Unix epoch are both whole minutes apart).
        move(t - ((t % 60) + 60) % 60);
      }
      move(t + 60);
      wrapped = c.minute() == 0;
    }
    if (wrapped || moves > kMaxMoves) continue;  // goto WRAP
    while (!wrapped && moves <= kMaxMoves && c.second() != 0) {
      added = true;  // t.Truncate(time.Second): a no-op on whole seconds
      move(t + 1);
      wrapped = c.second() == 0;
    }
    if (wrapped || moves > kMaxMoves) continue;  // goto WRAP
    return t;
  }
}

using TimePoint = std::chrono::system_clock::time_point;

int64_t UnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixSeconds(int64_t unix) { return TimePoint(std::chrono::seconds(unix)); }

}  // namespace

std::optional<CronSchedule> ParseCron(std::string_view spec, std::string* error) {
  return Parse(spec, /*name_descriptors=*/true, error);
}

Status ValidateCron(std::string_view spec) {
  std::string error;
  if (Parse(spec, /*name_descriptors=*/false, &error)) return Status::Ok();
  return Status(Code::kInvalid, error);
}

std::optional<TimePoint> NextAfter(const CronSchedule& schedule, TimePoint after,
                                   std::string* error) {
  const std::optional<absl::TimeZone> zone = LoadZone(schedule.zone, error);
  if (!zone) return std::nullopt;
  const std::optional<int64_t> next =
      RobfigNext(schedule, GoClock(*zone), UnixSeconds(after), error);
  if (!next) return std::nullopt;
  return FromUnixSeconds(*next);
}

std::optional<MissedRuns> MostRecentAt(const CronSchedule& schedule, TimePoint earliest,
                                       TimePoint now, std::string* error) {
  error->clear();
  const std::optional<absl::TimeZone> zone = LoadZone(schedule.zone, error);
  if (!zone) return std::nullopt;
  const GoClock clock(*zone);
  const int64_t last = UnixSeconds(now);  // fire times are whole seconds: t <= now iff t <= last
  std::optional<int64_t> fire = RobfigNext(schedule, clock, UnixSeconds(earliest), error);
  if (!fire) return std::nullopt;
  if (*fire > last) return std::nullopt;
  // Walk the chain as kube's getRecentUnmetScheduleTimes did, up to one past the cap. A later
  // failure of Next (5 years, a skipped day) ends the chain: the runs so far are the answer.
  std::string ignored;
  MissedRuns runs{FromUnixSeconds(*fire), 1};
  while (true) {
    const std::optional<int64_t> next = RobfigNext(schedule, clock, *fire, &ignored);
    if (!next || *next > last) return runs;
    fire = next;
    runs.most_recent = FromUnixSeconds(*fire);
    if (++runs.count > kMaxCountedMissedRuns) break;
  }
  // More than the cap: bisect for the latest on s, asking "is there a fire time in (s, now]",
  // i.e. is Next(s) <= now. There is for s = fire - 1s (Next of that is `fire`), not for now.
  const auto fires_by_now = [&](int64_t s) {
    const std::optional<int64_t> n = RobfigNext(schedule, clock, s, &ignored);
    return n && *n <= last;  // nullopt: nothing in 5 years after s, so nothing by now either
  };
  int64_t lo = *fire - 1;  // fires_by_now(lo)
  int64_t hi = last;       // !fires_by_now(hi)
  // Gallop down from now first: a frequent schedule's latest run is close to now.
  for (int64_t step = 60; hi - step > lo; step *= 2) {
    if (fires_by_now(hi - step)) {
      lo = hi - step;
      break;
    }
    hi -= step;
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (fires_by_now(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  // Next(lo) <= now holds: lo is `fire` - 1s (whose Next is `fire`) or a bisection point.
  int64_t latest = RobfigNext(schedule, clock, lo, &ignored).value_or(*fire);
  // Bisection assumes Next is monotonic in its argument; should some zone's DST rule break
  // that, following the chain from here still ends on a fire time <= now, within the cap.
  for (int i = 0; i < kMaxCountedMissedRuns; ++i) {
    const std::optional<int64_t> next = RobfigNext(schedule, clock, latest, &ignored);
    if (!next || *next > last) break;
    latest = *next;
  }
  runs.most_recent = FromUnixSeconds(latest);
  return runs;
}

}  // namespace csdr
