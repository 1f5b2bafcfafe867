// What a cluster supports, as the ClusterProfile's status.capabilities says it: computed from
// the profile's effective facts (observed in status where discovery wrote them, else declared
// in spec) with the very conditions the rules judge requests by (ClusterView, cluster.h), so
// that the profile never says a request would pass that a rule denies, or the reverse.
#pragma once

#include "common/json.h"

namespace csdr::webhook {

// {"backupCenter", "volumeBackup", "ecsSnapshot", "cloudBackup", "crossRegionDiskRestore"}:
//   backupCenter            the type is not ACK Serverless Basic (CSDR-DEP-002), and no
//                           FlexVolume or Kubernetes before 1.18 was observed;
//   volumeBackup            nor ACK Serverless Pro or ACK Edge (CSDR-BK-004, CSDR-RS-005);
//   ecsSnapshot             volume backup with ECS disk snapshots (CSDR-BK-007);
//   cloudBackup             volume backup with Cloud Backup: migrate-controller v1.8.4 or
//                           later, or a region that is not gated (CSDR-BK-005);
//   crossRegionDiskRestore  volume restore across regions: migrate-controller v1.7.7 or
//                           later (CSDR-RS-002).
// A capability the facts cannot decide (no clusterType, no version where one is needed) is
// left out rather than guessed. `profile` is the ClusterProfile object.
json::Value CapabilitiesOf(const json::Value& profile);

}  // namespace csdr::webhook
