// CSDR-DEP-001..006: where the backup center can run at all, and what every create needs.
#include "webhook/policy/rule.h"
#include "webhook/policy/semver.h"

namespace csdr::webhook {
namespace {

constexpr const char* kDep001 =
    "[CSDR-DEP-001] csdr.io resources must be created in namespace \"csdr\"";
constexpr const char* kDep002 =
    "[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters";
constexpr const char* kDep003 =
    "[CSDR-DEP-003] ClusterProfile \"cluster\" is not initialised; install migrate-controller "
    "first";
constexpr const char* kDep004Format =
    "[CSDR-DEP-004] Secret csdr/alibaba-addon-secret with non-empty keys access-key-id and "
    "access-key-secret is "
    "required on ACK dedicated and registered clusters";
constexpr const char* kDep005 =
    "[CSDR-DEP-005] credentialRef is ignored on managed clusters; the "
    "AliyunCSManagedBackupRestoreRole role is used";
constexpr const char* kDep006 =
    "[CSDR-DEP-006] the backup center requires Kubernetes >= 1.18 and CSI storage (FlexVolume is "
    "not supported)";

void CheckDep001(const RuleContext& ctx, Findings* out) {
  if (ctx.Namespace() != kCsdrNamespace) out->DenyField("metadata.namespace", kDep001);
}

void CheckDep002(const RuleContext& ctx, Findings* out) {
  if (ctx.cluster().Complete() && ctx.cluster().IsType(kACKServerlessBasic)) out->Deny(kDep002);
}

void CheckDep003(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (cluster.Complete()) return;
  if (cluster.presence == Presence::kUnknown) {
    out->DenyUnverified(kDep003, cluster.WhyIncomplete());
  } else {
    out->Deny(kDep003);
  }
}

}  // namespace

// The DEP-004 message for a profile: the seed's wording names dedicated and registered
// clusters; a managed cluster that opted into credentialMode AccessKeySecret is told why
// instead. The Secret named is the one the profile references (csdr/alibaba-addon-secret
// unless spec.accessKeySecretRef says otherwise).
std::string Dep004Message(const ClusterView& cluster) {
  std::string m = "[CSDR-DEP-004] Secret " + cluster.SecretPath() +
                  " with non-empty keys access-key-id and access-key-secret is required ";
  if (cluster.IsType(kACKDedicated) || cluster.IsType(kRegistered)) {
    m += "on ACK dedicated and registered clusters";
  } else {
    m += "by ClusterProfile \"cluster\" spec.credentialMode AccessKeySecret";
  }
  return m;
}

// Shared with CSDR-CP-004, which replays it against a changed profile.
void CheckAccessKeySecret(const RuleContext& ctx, const ClusterView& cluster, Findings* out) {
  if (!cluster.Complete() || !cluster.NeedsAccessKeySecret()) return;
  const SecretFact secret = ctx.facts().Secret(cluster.secret_namespace, cluster.secret_name);
  const std::string message = Dep004Message(cluster);
  if (secret.presence == Presence::kUnknown) {
    out->DenyUnverified(message, secret.unknown_reason.empty()
                                     ? "the cluster's Secrets cannot be read"
                                     : secret.unknown_reason);
    return;
  }
  if (secret.presence == Presence::kAbsent || !secret.HasNonEmpty("access-key-id") ||
      !secret.HasNonEmpty("access-key-secret")) {
    out->Deny(message);
  }
}

namespace {

void CheckDep004(const RuleContext& ctx, Findings* out) {
  CheckAccessKeySecret(ctx, ctx.cluster(), out);
}

void CheckDep005(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (!cluster.Complete() || cluster.NeedsAccessKeySecret()) return;
  const json::Value* spec = Member(ctx.object(), "spec");
  if (spec != nullptr && Member(*spec, "credentialRef") != nullptr) out->Warn(kDep005);
}

void CheckDep006(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (!cluster.Complete()) return;  // CSDR-DEP-003
  const json::Value& profile = *cluster.profile;
  // Both are discovered facts (status): absent means not yet discovered, which is no
  // evidence of an old cluster, so the rule only denies what it can see.
  const std::optional<MajorMinor> k8s =
      ParseMajorMinor(profile.GetString({"status", "kubernetesVersion"}));
  const json::Value* flex = profile.FindPath({"status", "flexVolumeDetected"});
  const bool old_kubernetes = k8s && Less(*k8s, MajorMinor{1, 18});
  const bool flex_volume = flex != nullptr && flex->is_bool() && flex->as_bool();
  if (old_kubernetes || flex_volume) out->Deny(kDep006);
}

}  // namespace

std::vector<Rule> DepRules() {
  return {
      {"CSDR-DEP-001", Severity::kDeny, kCsdrTaskKinds, kOnCreate,
       "BackupVault, Backup, Restore, BackupSchedule / CREATE", kDep001,
       "seed: \"After the backup service component is installed, a namespace named csdr is "
       "created.\"",
       CheckDep001},
      {"CSDR-DEP-002", Severity::kDeny, kCsdrKindsButProfile, kOnCreate,
       "every csdr.io kind except ClusterProfile / CREATE", kDep002,
       "seed: \"ACK Serverless Basic clusters do not support the backup center.\"", CheckDep002},
      {"CSDR-DEP-003", Severity::kDeny, kCsdrKindsButProfile, kOnCreate,
       "every csdr.io kind except ClusterProfile / CREATE", kDep003,
       "seed: \"To use the backup center, you must install the migrate-controller backup service "
       "component and "
       "configure the required permissions to enable backup capabilities.\"",
       CheckDep003},
      {"CSDR-DEP-004", Severity::kDeny, kCsdrTaskKinds, kOnCreate,
       "BackupVault, Backup, Restore, BackupSchedule / CREATE", kDep004Format,
       "seed (ACK dedicated clusters, Register a cluster): \"you must first create a Secret named "
       "alibaba-addon-secret in the cluster by using your AccessKey information\"; \"kubectl -n "
       "csdr create secret "
       "generic alibaba-addon-secret --from-literal='access-key-id=<your AccessKey ID>' "
       "--from-literal='access-key-secret=<your AccessKey Secret>'\"",
       CheckDep004},
      {"CSDR-DEP-005", Severity::kWarn, kBackupVaultKind, kOnCreate, "BackupVault / CREATE",
       kDep005,
       "domain.md 2.1 (ACK FAQ): managed clusters authenticate with the RAM role "
       "AliyunCSManagedBackupRestoreRole; seed: \"For ACK managed clusters, you do not need to "
       "configure "
       "permissions for disk snapshots or Cloud Backup.\"",
       CheckDep005},
      {"CSDR-DEP-006", Severity::kDeny, kCsdrKindsButProfile, kOnCreate,
       "every csdr.io kind except ClusterProfile / CREATE", kDep006,
       "domain.md 2.6 (ACK install page and FAQ): Kubernetes >= 1.18; FlexVolume clusters are not "
       "supported",
       CheckDep006},
  };
}

}  // namespace csdr::webhook
