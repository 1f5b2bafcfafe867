// ClusterView: the facts of ClusterProfile "cluster" as the rules read them, and the gates
// built on them (version at least, region gated). Internal to csdr_policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "webhook/policy/facts.h"
#include "webhook/policy/semver.h"

namespace csdr::webhook {

// Cluster types (ClusterProfile.spec.clusterType).
inline constexpr std::string_view kACKManaged = "ACKManaged";
inline constexpr std::string_view kACKDedicated = "ACKDedicated";
inline constexpr std::string_view kACKServerlessPro = "ACKServerlessPro";
inline constexpr std::string_view kACKServerlessBasic = "ACKServerlessBasic";
inline constexpr std::string_view kACKEdge = "ACKEdge";
inline constexpr std::string_view kRegistered = "Registered";

inline constexpr std::string_view kCsdrNamespace = "csdr";
inline constexpr std::string_view kAddonSecretName = "alibaba-addon-secret";
inline constexpr std::string_view kProfileName = "cluster";

// A three-valued answer: a rule that gets kUnknown fails closed.
enum class Tri { kNo, kYes, kUnknown };

struct ClusterView {
  Presence presence = Presence::kUnknown;
  std::string unknown_reason;  // store failure, when presence == kUnknown
  ObjectRef profile;           // when present

  std::string type;  // spec.clusterType ("" when unset)
  // Observed beats declared: what discovery wrote in status, else what the spec says.
  std::string region;             // status.regionID, else spec.regionID ("" when neither)
  std::string component_version;  // status.componentVersion, else spec.componentVersion
  std::optional<Semver> version;  // parsed; nullopt when absent or malformed
  // spec.credentialMode, defaulted as the strategy does: AccessKeySecret on ACKDedicated and
  // Registered, ManagedRole elsewhere.
  std::string credential_mode;
  // spec.accessKeySecretRef, defaulted to csdr/alibaba-addon-secret.
  std::string secret_namespace;
  std::string secret_name;

  // Present with a clusterType: what CSDR-DEP-003 asks of every create.
  bool Complete() const { return presence == Presence::kPresent && !type.empty(); }
  // Why !Complete(), for "cannot verify" suffixes: the store's reason, or
  // `ClusterProfile "cluster" does not exist` / `... has no spec.clusterType`.
  std::string WhyIncomplete() const;
  bool IsType(std::string_view t) const { return type == t; }
  // CSDR-DEP-004 / CSDR-SEC-001: the backup center authenticates with the AccessKey Secret.
  // On ACKDedicated and Registered always (the product card's rule, whatever credentialMode
  // says), elsewhere when credentialMode is AccessKeySecret.
  bool NeedsAccessKeySecret() const;
  // "csdr/alibaba-addon-secret", or the referenced Secret.
  std::string SecretPath() const { return secret_namespace + "/" + secret_name; }

  // Whether componentVersion >= `minimum` ("v1.8.4"). kUnknown when the version is absent
  // or malformed; *why then says so (for a "cannot verify" suffix).
  Tri VersionAtLeast(const Semver& minimum, std::string* why) const;
  // Whether the cluster's region is one of the Cloud Backup gated regions. kUnknown when
  // the profile has no region.
  Tri InGatedRegion(std::string* why) const;
  // Whether the cluster can take ECS disk snapshots, from the facts (not from
  // status.capabilities): registered clusters when every node is an ECS instance, ACK
  // managed and dedicated ones from Kubernetes and CSI 1.18, no other type.
  Tri SnapshotsFromFacts(std::string* why) const;
  // The cluster type backs up volumes at all (CSDR-BK-004, CSDR-RS-005, CSDR-DEP-002).
  bool TypeBacksUpVolumes() const;
};

// Builds the view of a profile object (a copy: CP-004 compares the request's old and new
// objects), or of the store's answer (shared, no copy).
ClusterView ViewOfProfile(const json::Value& profile);
ClusterView ViewOfFact(const ObjectFact& fact);

// "<message> (cannot verify: <why>)": how a rule fails closed.
std::string CannotVerify(std::string_view message, std::string_view why);

// The minimum versions the seed names.
const Semver& kV1_7_7();
const Semver& kV1_8_1();
const Semver& kV1_8_4();

}  // namespace csdr::webhook
