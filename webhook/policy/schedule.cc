#include "webhook/policy/schedule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace csdr::webhook {

// A transcription of Go's time.ParseDuration (src/time/format.go), so that what the engine
// accepts is exactly what the Go controllers reading these objects accept.
std::optional<int64_t> ParseGoDuration(std::string_view s) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return std::nullopt;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return std::nullopt;
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (v > kLimit / 10) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return std::nullopt;
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && s[j] >= '0' && s[j] <= '9'; ++j) {
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
    if (!pre && !post) return std::nullopt;
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !(s[u] >= '0' && s[u] <= '9')) ++u;
    if (u == 0) return std::nullopt;  // missing unit
    const std::string_view unit_text = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_text == "ns") {
      unit = 1;
    } else if (unit_text == "us" || unit_text == "\xC2\xB5s" || unit_text == "\xCE\xBCs") {
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
      return std::nullopt;  // unknown unit, e.g. "d"
    }
    if (v > kLimit / unit) return std::nullopt;
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return std::nullopt;
    }
    total += v;
    if (total > kLimit) return std::nullopt;
  }
  if (neg) return total == kLimit ? INT64_MIN : -static_cast<int64_t>(total);
  if (total > kLimit - 1) return std::nullopt;
  return static_cast<int64_t>(total);
}

namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const std::vector<std::string_view>* names;  // names[i] is value min + i; nullptr: numbers only
};

const std::vector<std::string_view> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const std::vector<std::string_view> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::optional<int> ParseValue(std::string_view text, const std::vector<std::string_view>* names,
                              std::string* error) {
  if (names != nullptr) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t i = 0; i < names->size(); ++i) {
      if ((*names)[i] == lower) return static_cast<int>(i);  // offset by min by the caller
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

std::optional<int> ParseFieldValue(std::string_view text, const FieldSpec& field, std::string* error) {
  if (field.names != nullptr) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t i = 0; i < field.names->size(); ++i) {
      if ((*field.names)[i] == lower) return field.min + static_cast<int>(i);
    }
  }
  return ParseValue(text, nullptr, error);
}

// One comma-separated term: "*", "?", "a", "a-b", each optionally "/step"; sets its bits.
bool ParseTerm(std::string_view term, const FieldSpec& field, std::bitset<64>* bits, std::string* error) {
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
    std::optional<int> s = ParseValue(step_text, nullptr, error);
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
      std::optional<int> b = ParseFieldValue(range.substr(0, dash), field, error);
      if (!b) return false;
      std::optional<int> e = ParseFieldValue(range.substr(dash + 1), field, error);
      if (!e) return false;
      begin = *b;
      end = *e;
    } else {
      std::optional<int> b = ParseFieldValue(range, field, error);
      if (!b) return false;
      begin = *b;
      end = has_step ? field.max : *b;  // "5/15": from 5 to the maximum, every 15
    }
  }
  if (begin < field.min) {
    *error = "beginning of range (" + std::to_string(begin) + ") below minimum (" + std::to_string(field.min) +
             "): " + std::string(term);
    return false;
  }
  if (end > field.max) {
    *error = "end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(field.max) +
             "): " + std::string(term);
    return false;
  }
  if (begin > end) {
    *error = "beginning of range (" + std::to_string(begin) + ") beyond end of range (" + std::to_string(end) +
             "): " + std::string(term);
    return false;
  }
  for (int v = begin; v <= end; v += step) bits->set(static_cast<size_t>(v));
  return true;
}

bool ValidZoneName(std::string_view zone) {
  // IANA names: "UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires", "Etc/GMT+8".
  if (zone.empty() || zone.size() > 255) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = zone.find('/', start);
    const std::string_view part = zone.substr(start, slash == std::string_view::npos ? zone.npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (!std::all_of(part.begin(), part.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '+' || c == '.';
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

}  // namespace

std::optional<CronSchedule> ParseCron(std::string_view spec, std::string* error) {
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
  if (!fields.empty() && !fields[0].empty() && fields[0][0] == '@') {
    *error = "descriptors such as " + std::string(fields[0]) + " are not supported";
    return std::nullopt;
  }
  if (fields.size() != 5) {
    *error = "expected exactly 5 fields, found " + std::to_string(fields.size());
    return std::nullopt;
  }
  static const std::array<FieldSpec, 5> kFields = {{{"minute", 0, 59, nullptr},
                                                    {"hour", 0, 23, nullptr},
                                                    {"day of month", 1, 31, nullptr},
                                                    {"month", 1, 12, &kMonthNames},
                                                    {"day of week", 0, 6, &kDayNames}}};
  std::array<std::bitset<64>, 5> bits;
  for (size_t f = 0; f < 5; ++f) {
    const std::string_view field = fields[f];
    size_t start = 0;
    while (true) {
      const size_t comma = field.find(',', start);
      const std::string_view term = field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
      std::string term_error;
      if (!ParseTerm(term, kFields[f], &bits[f], &term_error)) {
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
  return out;
}

}  // namespace csdr::webhook
