#include "webhook/policy/cluster.h"

#include "common/status.h"
#include "webhook/policy/regions.h"

namespace csdr::webhook {

std::string ClusterView::WhyIncomplete() const {
  if (presence == Presence::kUnknown) return unknown_reason;
  if (presence == Presence::kAbsent) return "ClusterProfile \"cluster\" does not exist";
  if (type.empty()) return "ClusterProfile \"cluster\" has no spec.clusterType";
  return "";
}

bool ClusterView::NeedsAccessKeySecret() const {
  return type == kACKDedicated || type == kRegistered || credential_mode == "AccessKeySecret";
}

Tri ClusterView::VersionAtLeast(const Semver& minimum, std::string* why) const {
  if (!version) {
    *why = component_version.empty()
               ? "ClusterProfile \"cluster\" has neither status.componentVersion nor "
                 "spec.componentVersion"
               : "ClusterProfile \"cluster\" componentVersion " + Quote(component_version) +
                     " is not a version vMAJOR.MINOR.PATCH";
    return Tri::kUnknown;
  }
  return CompareSemver(*version, minimum) >= 0 ? Tri::kYes : Tri::kNo;
}

Tri ClusterView::InGatedRegion(std::string* why) const {
  if (region.empty()) {
    *why = "ClusterProfile \"cluster\" has neither status.regionID nor spec.regionID";
    return Tri::kUnknown;
  }
  return IsCloudBackupGatedRegion(region) ? Tri::kYes : Tri::kNo;
}

bool ClusterView::TypeBacksUpVolumes() const {
  return !type.empty() && type != kACKServerlessPro && type != kACKEdge &&
         type != kACKServerlessBasic;
}

Tri ClusterView::SnapshotsFromFacts(std::string* why) const {
  const json::Value& p = *profile;
  if (IsType(kRegistered)) {
    const json::Value* all_ecs = p.FindPath({"status", "allNodesECS"});
    if (all_ecs == nullptr || !all_ecs->is_bool()) {
      *why = "ClusterProfile \"cluster\" has no status.allNodesECS";
      return Tri::kUnknown;
    }
    return all_ecs->as_bool() ? Tri::kYes : Tri::kNo;
  }
  if (!IsType(kACKManaged) && !IsType(kACKDedicated)) return Tri::kNo;
  for (const char* field : {"kubernetesVersion", "csiVersion"}) {
    const std::optional<MajorMinor> v = ParseMajorMinor(p.GetString({"status", field}));
    if (!v) {
      *why = std::string("ClusterProfile \"cluster\" has no parseable status.") + field;
      return Tri::kUnknown;
    }
    if (Less(*v, MajorMinor{1, 18})) return Tri::kNo;
  }
  return Tri::kYes;
}

namespace {

// The view of `profile`; the caller sets v.profile.
ClusterView FillView(const json::Value& profile) {
  ClusterView v;
  v.presence = Presence::kPresent;
  v.type = profile.GetString({"spec", "clusterType"});
  v.region = profile.GetString({"status", "regionID"});
  if (v.region.empty()) v.region = profile.GetString({"spec", "regionID"});
  v.component_version = profile.GetString({"status", "componentVersion"});
  if (v.component_version.empty())
    v.component_version = profile.GetString({"spec", "componentVersion"});
  v.version = ParseSemver(v.component_version);
  v.credential_mode = profile.GetString({"spec", "credentialMode"});
  if (v.credential_mode.empty()) {
    v.credential_mode =
        (v.type == kACKDedicated || v.type == kRegistered) ? "AccessKeySecret" : "ManagedRole";
  }
  v.secret_namespace = profile.GetString({"spec", "accessKeySecretRef", "namespace"});
  if (v.secret_namespace.empty()) v.secret_namespace = kCsdrNamespace;
  v.secret_name = profile.GetString({"spec", "accessKeySecretRef", "name"});
  if (v.secret_name.empty()) v.secret_name = kAddonSecretName;
  return v;
}

}  // namespace

ClusterView ViewOfProfile(const json::Value& profile) {
  ClusterView v = FillView(profile);
  v.profile = std::make_shared<const json::Value>(profile);  // rules read status facts through it
  return v;
}

ClusterView ViewOfFact(const ObjectFact& fact) {
  if (fact.present() && fact.object != nullptr) {
    ClusterView v = FillView(*fact.object);
    v.profile = fact.object;
    return v;
  }
  ClusterView v;
  v.presence = fact.present() ? Presence::kAbsent : fact.presence;
  v.unknown_reason =
      fact.unknown_reason.empty() ? "the ClusterProfile store cannot be read" : fact.unknown_reason;
  return v;
}

std::string CannotVerify(std::string_view message, std::string_view why) {
  std::string out(message);
  out += " (cannot verify: ";
  out += why;
  out += ")";
  return out;
}

const Semver& kV1_7_7() {
  static const Semver v{1, 7, 7, ""};
  return v;
}
const Semver& kV1_8_1() {
  static const Semver v{1, 8, 1, ""};
  return v;
}
const Semver& kV1_8_4() {
  static const Semver v{1, 8, 4, ""};
  return v;
}

}  // namespace csdr::webhook
