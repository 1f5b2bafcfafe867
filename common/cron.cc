#include "common/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
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

// One comma-separated term: "*", "?", "a", "a-b", each optionally "/step"; sets its bits.
bool CronTerm(std::string_view term, const CronField& field, std::bitset<64>* bits,
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
  for (size_t f = 0; f < 5; ++f) {
    const std::string_view field = fields[f];
    size_t start = 0;
    while (true) {
      const size_t comma = field.find(',', start);
      const std::string_view term =
          field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
      std::string term_error;
      if (!CronTerm(term, kFields[f], &bits[f], &term_error)) {
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

}  // namespace

std::optional<CronSchedule> ParseCron(std::string_view spec, std::string* error) {
  return Parse(spec, /*name_descriptors=*/true, error);
}

Status ValidateCron(std::string_view spec) {
  std::string error;
  if (Parse(spec, /*name_descriptors=*/false, &error)) return Status::Ok();
  return Status(Code::kInvalid, error);
}

}  // namespace csdr
