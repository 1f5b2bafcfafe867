// Version parsing and comparison for the version gates of the policy rules.
//
// migrate-controller gates (v1.7.7 cross-region restore, v1.8.1 resource modifiers, v1.8.4
// Cloud Backup in Ulanqab/Heyuan/Guangzhou) must compare numerically: a string compare
// would put v1.8.10 before v1.8.4 and deny a newer component. Everything here is pure and
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace csdr::webhook {

struct Semver {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::string prerelease;  // without the leading '-'; empty for a release
};

// Parses "vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]": semantic versioning 2.0 with the
// mandatory "v" that ClusterProfile.spec.componentVersion uses (CSDR-CP-003). Numeric parts
// have no leading zeros and at most 18 digits (so they fit in uint64_t); identifiers are
// [0-9A-Za-z-], dot-separated, non-empty. Returns nullopt for anything else.
std::optional<Semver> ParseSemver(std::string_view text);

// Semver 2.0 precedence: <0, 0 or >0. major, minor and patch compare as numbers; a
// pre-release sorts before its release (v1.8.4-rc.1 < v1.8.4); build metadata was dropped
// by ParseSemver and never counts.
int CompareSemver(const Semver& a, const Semver& b);

// Kubernetes and CSI versions are not strict semver ("v1.18.8-aliyun.1", "1.20",
// "v1.18.8.47-906bd535-aliyun", "1.18+"): only MAJOR.MINOR matter to the rules that read
// them (>= 1.18). Accepts an optional "v", then digits "." digits, then anything that does
// not start with a digit. nullopt when there is no MAJOR.MINOR.
struct MajorMinor {
  uint64_t major = 0;
  uint64_t minor = 0;
};
std::optional<MajorMinor> ParseMajorMinor(std::string_view text);
// a < b as (major, minor) pairs.
bool Less(const MajorMinor& a, const MajorMinor& b);

}  // namespace csdr::webhook
