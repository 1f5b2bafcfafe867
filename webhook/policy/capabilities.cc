#include "webhook/policy/capabilities.h"

#include <string>

#include "webhook/policy/cluster.h"
#include "webhook/policy/semver.h"

namespace csdr::webhook {

namespace {

void SetTri(json::Value* caps, const char* name, Tri t) {
  if (t != Tri::kUnknown) caps->Set(name, t == Tri::kYes);
}

}  // namespace

json::Value CapabilitiesOf(const json::Value& profile) {
  json::Value caps = json::Value::MakeObject();
  const ClusterView view = ViewOfProfile(profile);
  if (view.type.empty()) return caps;
  // Not on Serverless Basic; nor with FlexVolume or Kubernetes before 1.18 (the product's
  // prerequisites, for the Supported condition: no rule denies on those two).
  bool center = !view.IsType(kACKServerlessBasic);
  if (const json::Value* flex = profile.FindPath({"status", "flexVolumeDetected"});
      flex != nullptr && flex->as_bool()) {
    center = false;
  }
  if (const auto k8s = ParseMajorMinor(profile.GetString({"status", "kubernetesVersion"}));
      k8s && Less(*k8s, MajorMinor{1, 18})) {
    center = false;
  }
  caps.Set("backupCenter", center);
  const bool volumes = view.TypeBacksUpVolumes();
  caps.Set("volumeBackup", volumes);
  std::string why;
  SetTri(&caps, "ecsSnapshot", volumes ? view.SnapshotsFromFacts(&why) : Tri::kNo);
  Tri cloud = Tri::kNo;
  if (volumes) {
    const Tri new_enough = view.VersionAtLeast(kV1_8_4(), &why);
    const Tri gated = view.InGatedRegion(&why);
    if (new_enough == Tri::kYes || gated == Tri::kNo) {
      cloud = Tri::kYes;
    } else if (new_enough == Tri::kNo && gated == Tri::kYes) {
      cloud = Tri::kNo;
    } else {
      cloud = Tri::kUnknown;
    }
  }
  SetTri(&caps, "cloudBackup", cloud);
  SetTri(&caps, "crossRegionDiskRestore",
         volumes ? view.VersionAtLeast(kV1_7_7(), &why) : Tri::kNo);
  return caps;
}

}  // namespace csdr::webhook
