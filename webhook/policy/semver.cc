#include "webhook/policy/semver.h"

#include <algorithm>

namespace csdr::webhook {
namespace {

// 18 decimal digits always fit in uint64_t; real versions are far shorter, and a longer
// number is a typo or an attack, never a version.
constexpr size_t kMaxNumberDigits = 18;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// Consumes a numeric part without leading zeros; nullopt if there is none.
std::optional<uint64_t> TakeNumber(std::string_view* s, bool allow_leading_zero) {
  size_t n = 0;
  while (n < s->size() && IsDigit((*s)[n])) ++n;
  if (n == 0 || n > kMaxNumberDigits) return std::nullopt;
  if (!allow_leading_zero && n > 1 && (*s)[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v * 10 + static_cast<uint64_t>((*s)[i] - '0');
  s->remove_prefix(n);
  return v;
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-].
bool ValidIdentifiers(std::string_view s, bool numeric_without_leading_zero) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view id =
        s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (id.empty() || !std::all_of(id.begin(), id.end(), IsIdentChar)) return false;
    if (numeric_without_leading_zero && id.size() > 1 && id[0] == '0' &&
        std::all_of(id.begin(), id.end(), IsDigit)) {
      return false;  // semver 2.0 item 9: numeric pre-release identifiers have no leading zeros
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

int CompareIdentifier(std::string_view a, std::string_view b) {
  const bool a_num = std::all_of(a.begin(), a.end(), IsDigit);
  const bool b_num = std::all_of(b.begin(), b.end(), IsDigit);
  if (a_num && b_num) {
    // Equal-length digit strings compare like numbers; no leading zeros, so longer is larger.
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  }
  if (a_num != b_num) return a_num ? -1 : 1;  // numeric identifiers sort first
  const int c = a.compare(b);
  return c < 0 ? -1 : (c == 0 ? 0 : 1);
}

}  // namespace

std::optional<Semver> ParseSemver(std::string_view s) {
  if (s.empty() || s[0] != 'v') return std::nullopt;
  s.remove_prefix(1);
  Semver v;
  uint64_t* parts[3] = {&v.major, &v.minor, &v.patch};
  for (int i = 0; i < 3; ++i) {
    std::optional<uint64_t> n = TakeNumber(&s, /*allow_leading_zero=*/false);
    if (!n) return std::nullopt;
    *parts[i] = *n;
    if (i < 2) {
      if (s.empty() || s[0] != '.') return std::nullopt;
      s.remove_prefix(1);
    }
  }
  std::string_view build;
  if (const size_t plus = s.find('+'); plus != std::string_view::npos) {
    build = s.substr(plus + 1);
    s = s.substr(0, plus);
    if (!ValidIdentifiers(build, /*numeric_without_leading_zero=*/false)) return std::nullopt;
  }
  if (!s.empty()) {
    if (s[0] != '-') return std::nullopt;
    s.remove_prefix(1);
    if (!ValidIdentifiers(s, /*numeric_without_leading_zero=*/true)) return std::nullopt;
    v.prerelease = std::string(s);
  }
  return v;
}

int CompareSemver(const Semver& a, const Semver& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() && b.prerelease.empty()) return 0;
    return a.prerelease.empty() ? 1 : -1;  // the release is newer than its pre-releases
  }
  std::string_view x = a.prerelease, y = b.prerelease;
  while (true) {
    const size_t dx = x.find('.'), dy = y.find('.');
    const int c = CompareIdentifier(x.substr(0, dx), y.substr(0, dy));
    if (c != 0) return c;
    const bool x_more = dx != std::string_view::npos, y_more = dy != std::string_view::npos;
    if (!x_more || !y_more) return x_more == y_more ? 0 : (x_more ? 1 : -1);
    x.remove_prefix(dx + 1);
    y.remove_prefix(dy + 1);
  }
}

std::optional<MajorMinor> ParseMajorMinor(std::string_view s) {
  if (!s.empty() && s[0] == 'v') s.remove_prefix(1);
  MajorMinor v;
  std::optional<uint64_t> major = TakeNumber(&s, /*allow_leading_zero=*/true);
  if (!major || s.empty() || s[0] != '.') return std::nullopt;
  s.remove_prefix(1);
  std::optional<uint64_t> minor = TakeNumber(&s, /*allow_leading_zero=*/true);
  if (!minor) return std::nullopt;
  v.major = *major;
  v.minor = *minor;
  return v;
}

bool Less(const MajorMinor& a, const MajorMinor& b) {
  return a.major != b.major ? a.major < b.major : a.minor < b.minor;
}

}  // namespace csdr::webhook
