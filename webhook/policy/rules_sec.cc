// CSDR-SEC-001..003 (the AccessKey Secret) and CSDR-NS-001 (namespace csdr): rules on core
// objects, which reach the engine through the validating webhook.
#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

constexpr const char* kSec001Format =
    "[CSDR-SEC-001] Secret %s cannot be deleted: the backup center authenticates with it on this "
    "cluster "
    "(clusterType %s); to rotate the AccessKey, update the Secret and restart migrate-controller";
constexpr const char* kSec002Format =
    "[CSDR-SEC-002] Secret %s must have non-empty keys access-key-id and access-key-secret "
    "(missing or empty: %s)";
constexpr const char* kSec003 =
    "[CSDR-SEC-003] if migrate-controller was installed before this Secret was created, restart "
    "the "
    "migrate-controller component in the kube-system namespace so that it reads the AccessKey";
constexpr const char* kNs001 =
    "[CSDR-NS-001] do not delete namespace csdr: it holds the backup center's components; to "
    "uninstall on purpose, "
    "first run kubectl annotate namespace csdr csdr.io/allow-uninstall=true";

// The documented override: on Namespace csdr, this annotation with the value "true" allows
// deleting the namespace (a deliberate uninstall), and with it the AccessKey Secret.
constexpr std::string_view kAllowUninstallAnnotation = "csdr.io/allow-uninstall";

// Whether the request is about the AccessKey Secret: csdr/alibaba-addon-secret always (every
// ACK add-on reads that name), and the Secret the ClusterProfile references if it differs.
bool IsAccessKeySecret(const RuleContext& ctx) {
  const std::string ns = ctx.Namespace(), name = ctx.Name();
  if (ns == kCsdrNamespace && name == kAddonSecretName) return true;
  const ClusterView& cluster = ctx.cluster();
  return cluster.presence == Presence::kPresent && ns == cluster.secret_namespace &&
         name == cluster.secret_name;
}

bool AllowsUninstall(const json::Value& ns_object) {
  const json::Value* annotations = ns_object.FindPath({"metadata", "annotations"});
  return annotations != nullptr && Str(*annotations, kAllowUninstallAnnotation) == "true";
}

void CheckSec001(const RuleContext& ctx, Findings* out) {
  if (!IsAccessKeySecret(ctx)) return;
  const ClusterView& cluster = ctx.cluster();
  const std::string path = ctx.Namespace() + "/" + ctx.Name();
  if (cluster.presence == Presence::kUnknown) {
    out->DenyUnverified("[CSDR-SEC-001] Secret " + path +
                            " cannot be deleted while the backup center may "
                            "authenticate with it",
                        cluster.WhyIncomplete());
    return;
  }
  // Without a cluster type nothing can be using the Secret yet (CSDR-DEP-003 refuses every
  // create), so deleting it strands nothing.
  if (!cluster.Complete() || !cluster.NeedsAccessKeySecret()) return;
  const std::string message =
      "[CSDR-SEC-001] Secret " + path +
      " cannot be deleted: the backup center authenticates with it on this cluster "
      "(clusterType " +
      cluster.type +
      "); to rotate the AccessKey, update the Secret and restart "
      "migrate-controller";
  // A deliberate uninstall: the namespace carries the override, or is already being
  // deleted (its Secrets go with it; refusing would leave it stuck Terminating).
  const ObjectFact ns = ctx.facts().Namespace(ctx.Namespace());
  if (ns.unknown()) {
    out->DenyUnverified(
        message, ns.unknown_reason.empty() ? "Namespaces cannot be read" : ns.unknown_reason);
    return;
  }
  if (ns.present()) {
    const json::Value& n = *ns.object;
    if (AllowsUninstall(n) || !n.GetString({"metadata", "deletionTimestamp"}).empty() ||
        n.GetString({"status", "phase"}) == "Terminating") {
      return;
    }
  }
  out->Deny(message);
}

void CheckSec002(const RuleContext& ctx, Findings* out) {
  if (!IsAccessKeySecret(ctx)) return;
  // A Secret on its way out (finalizers being removed) is not being configured.
  if (!ctx.object().GetString({"metadata", "deletionTimestamp"}).empty()) return;
  const SecretFact keys = SummarizeSecret(ctx.object());
  std::string missing;
  for (const char* key : {"access-key-id", "access-key-secret"}) {
    if (!keys.HasNonEmpty(key)) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  if (missing.empty()) return;
  out->DenyField(
      "data",
      "[CSDR-SEC-002] Secret " + ctx.Namespace() + "/" + ctx.Name() +
          " must have non-empty keys access-key-id and access-key-secret (missing or empty: " +
          missing + ")");
}

void CheckSec003(const RuleContext& ctx, Findings* out) {
  if (IsAccessKeySecret(ctx)) out->Warn(kSec003);
}

void CheckNs001(const RuleContext& ctx, Findings* out) {
  if (ctx.Name() != kCsdrNamespace) return;
  // The stored Namespace (oldObject) carries the override; a DELETE has no new object.
  if (!AllowsUninstall(ctx.old_object())) out->Deny(kNs001);
}

}  // namespace

std::vector<Rule> SecRules() {
  return {
      {"CSDR-SEC-001", Severity::kDeny, kSecretKind, kOnDelete,
       "Secret csdr/alibaba-addon-secret (or the profile's accessKeySecretRef) / DELETE",
       kSec001Format,
       "seed (ACK dedicated clusters, Register a cluster): \"you must first create a Secret named "
       "alibaba-addon-secret in the cluster by using your AccessKey information\"",
       CheckSec001},
      {"CSDR-SEC-002", Severity::kDeny, kSecretKind, kOnCreate | kOnUpdate,
       "Secret csdr/alibaba-addon-secret (or the profile's accessKeySecretRef) / CREATE, UPDATE",
       kSec002Format,
       "seed: \"kubectl -n csdr create secret generic alibaba-addon-secret "
       "--from-literal='access-key-id=<your "
       "AccessKey ID>' --from-literal='access-key-secret=<your AccessKey Secret>'\"",
       CheckSec002},
      {"CSDR-SEC-003", Severity::kWarn, kSecretKind, kOnCreate,
       "Secret csdr/alibaba-addon-secret (or the profile's accessKeySecretRef) / CREATE", kSec003,
       "seed: \"If you create the Secret after you install the migrate-controller component, "
       "restart the "
       "migrate-controller component in the kube-system namespace after you create the Secret.\"",
       CheckSec003},
      {"CSDR-NS-001", Severity::kDeny, kNamespaceKind, kOnDelete, "Namespace csdr / DELETE", kNs001,
       "seed: \"After the backup service component is installed, a namespace named csdr is "
       "created. Do not delete "
       "this namespace.\"",
       CheckNs001},
  };
}

}  // namespace csdr::webhook
