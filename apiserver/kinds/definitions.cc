// The schema tables: every definition served in /openapi/v2 and /openapi/v3 and used by
// CheckAgainstSchema. Field lists follow domain.md section 7; descriptions are what
// `kubectl explain` prints, so they say what a field means, its values and its default.
// The apimachinery types keep upstream's names and shapes (descriptions abridged).
#include <utility>

#include "apiserver/kinds/schema.h"

namespace csdr::apiserver {
namespace {

const std::string kMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
const std::string kCsdr = "io.csdr.v1alpha1.";

using Props = std::vector<NamedSchema>;

Schema Typed(std::string type, std::string description) {
  Schema s;
  s.type = std::move(type);
  s.description = std::move(description);
  return s;
}
Schema Str(std::string d) { return Typed("string", std::move(d)); }
Schema Bool(std::string d) { return Typed("boolean", std::move(d)); }
Schema Int32(std::string d) { return Typed("integer", std::move(d)).Format("int32"); }
Schema Int64(std::string d) { return Typed("integer", std::move(d)).Format("int64"); }
Schema Enum(std::string d, std::vector<std::string> values) {
  Schema s = Str(std::move(d));
  s.enum_values = std::move(values);
  return s;
}
Schema Ref(const std::string& name, std::string d = "") {
  Schema s;
  s.ref = name;
  s.description = std::move(d);
  return s;
}
Schema Arr(Schema items, std::string d = "") {
  Schema s = Typed("array", std::move(d));
  s.items = std::make_shared<const Schema>(std::move(items));
  return s;
}
Schema Map(Schema values, std::string d = "") {
  Schema s = Typed("object", std::move(d));
  s.additional_properties = std::make_shared<const Schema>(std::move(values));
  return s;
}
Schema Obj(std::string d, Props props) {
  Schema s = Typed("object", std::move(d));
  s.properties = std::move(props);
  return s;
}
Schema Time(std::string d) { return Ref(kMeta + "Time", std::move(d)); }
// metav1.Duration is a string in Go's time.Duration syntax ("720h", "1h30m").
Schema Duration(std::string d) {
  return Str(std::move(d) + " A Go duration such as \"720h\" or \"1h30m\".");
}
Schema Strings(std::string d) { return Arr(Str(""), std::move(d)).ListType("atomic"); }
Schema Conditions(std::string types) {
  return Arr(Ref(kMeta + "Condition"),
             "The latest observations of the object's state (" + std::move(types) + ").")
      .ListMap({"type"});
}
Schema ObservedGeneration() {
  return Int64("The metadata.generation the controller last acted on.");
}

std::vector<Definition::GVK> GVK(const std::string& kind) {
  return {{"csdr.io", "v1alpha1", kind}};
}

// A kind and its list. The top-level descriptions are upstream's.
void AddKind(std::vector<Definition>* out, const std::string& kind, std::string description,
             bool has_spec = true) {
  Props props = {
      {"apiVersion", Str("APIVersion defines the versioned schema of this representation of an "
                         "object. Servers should "
                         "convert recognized schemas to the latest internal value, and may reject "
                         "unrecognized values. More "
                         "info: "
                         "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                         "api-conventions.md#resources")},
      {"kind", Str("Kind is a string value representing the REST resource this object represents. "
                   "Servers may infer "
                   "this from the endpoint the client submits requests to. Cannot be updated. In "
                   "CamelCase. More info: "
                   "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                   "api-conventions.md#types-kinds")},
      {"metadata", Ref(kMeta + "ObjectMeta",
                       "Standard object's metadata. More info: "
                       "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                       "api-conventions.md#metadata")},
  };
  if (has_spec)
    props.push_back({"spec", Ref(kCsdr + kind + "Spec", "The desired state of the " + kind + ".")});
  props.push_back(NamedSchema{
      "status",
      Ref(kCsdr + kind + "Status",
          "The observed state of the " + kind +
              ", written by the backup center's controllers through the status subresource.")});
  out->push_back({kCsdr + kind, Obj(std::move(description), std::move(props)), GVK(kind)});
  out->push_back(
      {kCsdr + kind + "List",
       Obj(kind + "List is a list of " + kind + " objects.",
           {{"apiVersion",
             Str("APIVersion defines the versioned schema of this representation of an object.")},
            {"items", Arr(Ref(kCsdr + kind), "The " + kind + " objects.")},
            {"kind",
             Str("Kind is a string value representing the REST resource this object represents.")},
            {"metadata", Ref(kMeta + "ListMeta",
                             "Standard list metadata. More info: "
                             "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                             "api-conventions.md#types-kinds")}})
           .Required({"items"}),
       GVK(kind + "List")});
}

void AddMeta(std::vector<Definition>* out) {
  auto add = [&](const std::string& name, Schema s) {
    out->push_back({kMeta + name, std::move(s), {}});
  };
  add("Time",
      Typed(
          "string",
          "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. "
          "Wrappers are provided for many of the factory methods that the time package offers.")
          .Format("date-time"));
  add("FieldsV1", Typed("object",
                        "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON "
                        "format. Each key is either "
                        "a '.' representing the field itself, and will always map to an empty set, "
                        "or a string representing "
                        "a sub-field or item. The string will follow one of these four formats: "
                        "'f:<name>', 'v:<value>', "
                        "'k:<keys>', 'i:<index>'."));
  add("ManagedFieldsEntry",
      Obj("ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
          "that the "
          "fieldset applies to.",
          {{"apiVersion",
            Str("APIVersion defines the version of this resource that this field set applies to.")},
           {"fieldsType", Str("FieldsType is the discriminator for the different fields format and "
                              "version. There "
                              "is currently only one possible value: \"FieldsV1\"")},
           {"fieldsV1", Ref(kMeta + "FieldsV1",
                            "FieldsV1 holds the first JSON version format as described in the "
                            "\"FieldsV1\" type.")},
           {"manager", Str("Manager is an identifier of the workflow managing these fields.")},
           {"operation",
            Str("Operation is the type of operation which lead to this ManagedFieldsEntry being "
                "created. The only valid values for this field are 'Apply' and 'Update'.")},
           {"subresource",
            Str("Subresource is the name of the subresource used to update that object, or empty "
                "string if the object was updated through the main resource.")},
           {"time", Time("Time is the timestamp of when the ManagedFields entry was added.")}}));
  add("OwnerReference",
      Obj("OwnerReference contains enough information to let you identify an owning object. An "
          "owning object "
          "must be in the same namespace as the dependent, or be cluster-scoped, so there is no "
          "namespace field.",
          {{"apiVersion", Str("API version of the referent.")},
           {"blockOwnerDeletion",
            Bool("If true, AND if the owner has the \"foregroundDeletion\" finalizer, then "
                 "the owner cannot be deleted from the key-value store until this reference "
                 "is removed.")},
           {"controller", Bool("If true, this reference points to the managing controller.")},
           {"kind", Str("Kind of the referent.")},
           {"name", Str("Name of the referent.")},
           {"uid", Str("UID of the referent.")}})
          .Required({"apiVersion", "kind", "name", "uid"})
          .MapType("atomic"));
  add("ObjectMeta",
      Obj("ObjectMeta is metadata that all persisted resources must have, which includes all "
          "objects users must "
          "create.",
          {{"annotations",
            Map(Str(""),
                "Annotations is an unstructured key value map stored with a resource that "
                "may be set by external tools to store and retrieve arbitrary metadata.")},
           {"creationTimestamp",
            Time("CreationTimestamp is a timestamp representing the server time when this "
                 "object was created. Populated by the system. Read-only.")},
           {"deletionGracePeriodSeconds",
            Int64("Number of seconds allowed for this object to gracefully "
                  "terminate before it will be removed from the system. Read-only.")},
           {"deletionTimestamp",
            Time("DeletionTimestamp is RFC 3339 date and time at which this resource will "
                 "be deleted. Set by the server when a graceful deletion is requested by "
                 "the user. Read-only.")},
           {"finalizers",
            Arr(Str(""),
                "Must be empty before the object is deleted from the registry. Each entry "
                "is an identifier for the responsible component that will remove the "
                "entry from the list.")
                .ListType("set")},
           {"generateName",
            Str("GenerateName is an optional prefix, used by the server, to generate a unique name "
                "ONLY IF the Name field has not been provided.")},
           {"generation",
            Int64("A sequence number representing a specific generation of the desired state. "
                  "Populated by the system. Read-only.")},
           {"labels",
            Map(Str(""),
                "Map of string keys and values that can be used to organize and categorize "
                "(scope and select) objects.")},
           {"managedFields",
            Arr(Ref(kMeta + "ManagedFieldsEntry"),
                "ManagedFields maps workflow-id and version to the set of fields that are "
                "managed by that workflow. This is mostly for internal housekeeping.")
                .ListType("atomic")},
           {"name", Str("Name must be unique within a namespace. Is required when creating "
                        "resources, although "
                        "some resources may allow a client to request the generation of an "
                        "appropriate name "
                        "automatically. Cannot be updated.")},
           {"namespace",
            Str("Namespace defines the space within which each name must be unique. Cannot be "
                "updated. csdr.io objects other than ClusterProfile live in namespace csdr.")},
           {"ownerReferences",
            Arr(Ref(kMeta + "OwnerReference"),
                "List of objects depended by this object. If ALL objects in the list have been "
                "deleted, this object will be garbage collected.")
                .ListMap({"uid"})},
           {"resourceVersion",
            Str("An opaque value that represents the internal version of this object that can "
                "be used by clients to determine when objects have changed. Read-only.")},
           {"selfLink", Str("Deprecated: selfLink is a legacy read-only field that is no longer "
                            "populated by the "
                            "system.")},
           {"uid", Str("UID is the unique in time and space value for this object. Populated by "
                       "the system. "
                       "Read-only.")}}));
  add("ListMeta",
      Obj("ListMeta describes metadata that synthetic resources must have, including lists and "
          "various status "
          "objects.",
          {{"continue",
            Str("continue may be set if the user set a limit on the number of items returned, and "
                "indicates that the server has more data available.")},
           {"remainingItemCount",
            Int64("remainingItemCount is the number of subsequent items in the list which "
                  "are not included in this list response.")},
           {"resourceVersion",
            Str("String that identifies the server's internal version of this object that can "
                "be used by clients to determine when objects have changed.")},
           {"selfLink", Str("Deprecated: selfLink is a legacy read-only field that is no longer "
                            "populated by the "
                            "system.")}}));
  add("StatusCause",
      Obj("StatusCause provides more information about an api.Status failure, including cases when "
          "multiple "
          "errors are encountered.",
          {{"field",
            Str("The field of the resource that has caused this error, as named by its JSON "
                "serialization.")},
           {"message", Str("A human-readable description of the cause of the error.")},
           {"reason", Str("A machine-readable description of the cause of the error.")}}));
  add("StatusDetails",
      Obj("StatusDetails is a set of additional properties that MAY be set by the server to "
          "provide additional "
          "information about a response.",
          {{"causes", Arr(Ref(kMeta + "StatusCause"),
                          "The Causes array includes more details associated with the "
                          "StatusReason failure.")
                          .ListType("atomic")},
           {"group",
            Str("The group attribute of the resource associated with the status StatusReason.")},
           {"kind",
            Str("The kind attribute of the resource associated with the status StatusReason.")},
           {"name", Str("The name attribute of the resource associated with the status "
                        "StatusReason (when there "
                        "is a single name which can be described).")},
           {"retryAfterSeconds",
            Int32("If specified, the time in seconds before the operation should be "
                  "retried.")},
           {"uid", Str("UID of the resource.")}}));
  add("Status",
      Obj("Status is a return value for calls that don't return other objects.",
          {{"apiVersion",
            Str("APIVersion defines the versioned schema of this representation of an object.")},
           {"code", Int32("Suggested HTTP return code for this status, 0 if not set.")},
           {"details", Ref(kMeta + "StatusDetails", "Extended data associated with the reason.")},
           {"kind",
            Str("Kind is a string value representing the REST resource this object represents.")},
           {"message", Str("A human-readable description of the status of this operation.")},
           {"metadata", Ref(kMeta + "ListMeta", "Standard list metadata.")},
           {"reason", Str("A machine-readable description of why this operation is in the "
                          "\"Failure\" status.")},
           {"status", Str("Status of the operation. One of: \"Success\" or \"Failure\".")}}));
  add("Preconditions", Obj("Preconditions must be fulfilled before an operation (update, delete, "
                           "etc.) is carried out.",
                           {{"resourceVersion", Str("Specifies the target ResourceVersion")},
                            {"uid", Str("Specifies the target UID.")}}));
  add("DeleteOptions",
      Obj("DeleteOptions may be provided when deleting an API object.",
          {{"apiVersion",
            Str("APIVersion defines the versioned schema of this representation of an object.")},
           {"dryRun",
            Strings(
                "When present, indicates that modifications should not be persisted. Valid values "
                "are: All.")},
           {"gracePeriodSeconds",
            Int64("The duration in seconds before the object should be deleted.")},
           {"ignoreStoreReadErrorWithClusterBreakingPotential",
            Bool("if set to true, it will trigger an unsafe deletion of the resource in case the "
                 "normal deletion "
                 "flow fails with a corrupt object error.")},
           {"kind",
            Str("Kind is a string value representing the REST resource this object represents.")},
           {"orphanDependents", Bool("Deprecated: please use the PropagationPolicy.")},
           {"preconditions",
            Ref(kMeta + "Preconditions", "Must be fulfilled before a deletion is carried out.")},
           {"propagationPolicy",
            Str("Whether and how garbage collection will be performed: Orphan, Background "
                "or Foreground.")}}));
  add("Patch", Typed("object",
                     "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
                     "request body."));
  add("LabelSelectorRequirement",
      Obj("A label selector requirement is a selector that contains values, a key, and an operator "
          "that relates "
          "the key and values.",
          {{"key", Str("key is the label key that the selector applies to.")},
           {"operator", Str("operator represents a key's relationship to a set of values. Valid "
                            "operators are In, "
                            "NotIn, Exists and DoesNotExist.")},
           {"values",
            Strings(
                "values is an array of string values. If the operator is In or NotIn, the values "
                "array must be non-empty. If the operator is Exists or DoesNotExist, the values "
                "array must be empty.")}})
          .Required({"key", "operator"}));
  add("LabelSelector",
      Obj("A label selector is a label query over a set of resources. The result of matchLabels "
          "and "
          "matchExpressions are ANDed. An empty label selector matches all objects.",
          {{"matchExpressions",
            Arr(Ref(kMeta + "LabelSelectorRequirement"),
                "matchExpressions is a list of label selector requirements. The requirements "
                "are ANDed.")
                .ListType("atomic")},
           {"matchLabels",
            Map(Str(""),
                "matchLabels is a map of {key,value} pairs, each equivalent to an element "
                "of matchExpressions whose key field is \"key\", the operator is \"In\", "
                "and the values array contains only \"value\".")}})
          .MapType("atomic"));
  add("Condition",
      Obj("Condition contains details for one aspect of the current state of this API Resource.",
          {{"lastTransitionTime",
            Time("lastTransitionTime is the last time the condition transitioned from one "
                 "status to another.")},
           {"message",
            Str("message is a human readable message indicating details about the transition.")},
           {"observedGeneration",
            Int64("observedGeneration represents the .metadata.generation that the "
                  "condition was set based upon.")},
           {"reason", Str("reason contains a programmatic identifier indicating the reason for the "
                          "condition's "
                          "last transition, in CamelCase.")},
           {"status", Str("status of the condition, one of True, False, Unknown.")},
           {"type", Str("type of condition in CamelCase or in foo.example.com/CamelCase.")}})
          .Required({"type", "status", "lastTransitionTime", "reason", "message"}));
}

// Shared parts of the csdr.io kinds.
void AddShared(std::vector<Definition>* out) {
  auto add = [&](const std::string& name, Schema s) {
    out->push_back({kCsdr + name, std::move(s), {}});
  };
  add("SecretReference", Obj("A reference to a Secret.",
                             {{"name", Str("The name of the Secret.")},
                              {"namespace", Str("The namespace of the Secret. Defaults to csdr.")}})
                             .MapType("atomic"));
  add("LocalObjectReference",
      Obj("A reference to an object in namespace csdr.", {{"name", Str("The name of the object.")}})
          .Required({"name"})
          .MapType("atomic"));
  add("NamespacedName", Obj("The namespace and name of an object.",
                            {{"namespace", Str("The namespace of the object.")},
                             {"name", Str("The name of the object.")}})
                            .Required({"namespace", "name"}));
}

void AddClusterProfile(std::vector<Definition>* out) {
  AddKind(out, "ClusterProfile",
          "ClusterProfile holds the facts about this cluster that every backup center rule needs: "
          "the cluster "
          "type, region, migrate-controller version, and Kubernetes and CSI versions. It is a "
          "cluster-scoped "
          "singleton named \"cluster\", set up by the installer.");
  out->push_back(
      {kCsdr + "ClusterProfileSpec",
       Obj("ClusterProfileSpec holds the facts set by the installer or an administrator.",
           {{"clusterType",
             Enum(
                 "The kind of ACK cluster: ACKManaged, ACKDedicated, ACKServerlessPro, "
                 "ACKServerlessBasic, ACKEdge or Registered. Immutable once set. The backup center "
                 "is not supported on ACKServerlessBasic; ACKServerlessPro and ACKEdge have no "
                 "volume backup.",
                 {"ACKManaged", "ACKDedicated", "ACKServerlessPro", "ACKServerlessBasic", "ACKEdge",
                  "Registered"})},
            {"regionID", Str("The Alibaba Cloud region ID of the cluster, e.g. cn-hangzhou. "
                             "Used where discovery found none (status.regionID, from the "
                             "nodes); a value that disagrees with the discovered one is "
                             "warned about (CSDR-CP-005).")},
            {"componentVersion",
             Str("The installed migrate-controller version, a semantic version such as "
                 "v1.8.4. Gates Cloud Backup in some regions (v1.8.4), resource modifiers "
                 "(v1.8.1) and cross-region restore (v1.7.7). Used where discovery found "
                 "none (status.componentVersion, from the migrate-controller image).")},
            {"credentialMode",
             Enum("How the backup center authenticates to Alibaba Cloud: ManagedRole (the "
                  "AliyunCSManagedBackupRestoreRole) or AccessKeySecret (an AccessKey pair in a "
                  "Secret). Defaults to AccessKeySecret on ACKDedicated and Registered clusters, "
                  "else ManagedRole.",
                  {"ManagedRole", "AccessKeySecret"})},
            {"accessKeySecretRef",
             Ref(kCsdr + "SecretReference",
                 "The Secret holding access-key-id and access-key-secret in AccessKeySecret "
                 "mode. Defaults to csdr/alibaba-addon-secret.")}}),
       {}});
  out->push_back(
      {kCsdr + "Capabilities",
       Obj("What the backup center can do on this cluster, derived from the profile.",
           {{"backupCenter",
             Bool("The backup center is supported (false on ACK Serverless Basic, with FlexVolume, "
                  "or Kubernetes older than 1.18).")},
            {"volumeBackup",
             Bool("Volume data can be backed up (false on ACK Serverless Pro and ACK Edge).")},
            {"ecsSnapshot",
             Bool("ECS disk snapshots can be used (managed or dedicated clusters with Kubernetes "
                  "and CSI 1.18 or later; registered clusters only when every node is an ECS "
                  "instance).")},
            {"cloudBackup",
             Bool("Cloud Backup (HBR) can be used (false in cn-wulanchabu, cn-heyuan and "
                  "cn-guangzhou before migrate-controller v1.8.4).")},
            {"crossRegionDiskRestore",
             Bool("Disk snapshots can be restored across regions (migrate-controller "
                  "v1.7.7 or later).")}}),
       {}});
  out->push_back(
      {kCsdr + "ClusterProfileStatus",
       Obj("ClusterProfileStatus holds the facts discovered from the cluster.",
           {{"clusterID", Str("The ACK cluster ID (ack-cluster-profile clusterid).")},
            {"accountID", Str("The Alibaba Cloud account ID (ack-cluster-profile uid).")},
            {"vpcID", Str("The VPC of the cluster.")},
            {"zones", Strings("The zones the cluster's vSwitches are in.")},
            {"regionID",
             Str("The region the nodes carry (topology.kubernetes.io/region, else the beta "
                 "label, else their ECS provider IDs). The rules use it before spec.regionID.")},
            {"componentVersion",
             Str("The migrate-controller version, from the image tag of Deployment "
                 "kube-system/migrate-controller. The rules use it before "
                 "spec.componentVersion.")},
            {"kubernetesVersion", Str("The Kubernetes version of the cluster, e.g. v1.30.1.")},
            {"csiVersion", Str("The version of the Alibaba Cloud CSI plugin.")},
            {"flexVolumeDetected",
             Bool("FlexVolume storage was found; the backup center does not support it.")},
            {"allNodesECS",
             Bool("Every node is an ECS instance (registered clusters: needed for snapshots).")},
            {"capabilities",
             Ref(kCsdr + "Capabilities", "What the backup center can do on this cluster.")},
            {"conditions", Conditions("Supported, CredentialsReady, ProfileDiscovered")},
            {"observedGeneration", ObservedGeneration()}}),
       {}});
}

void AddBackupVault(std::vector<Definition>* out) {
  AddKind(out, "BackupVault",
          "BackupVault is an OSS bucket (and prefix) where backups are kept. A vault cannot be "
          "modified once "
          "created, except for its network and periods: create a new vault to point elsewhere.");
  out->push_back(
      {kCsdr + "BackupVaultSpec",
       Obj("BackupVaultSpec says where backups are stored.",
           {{"provider",
             Enum("The storage provider. Only alibabacloud (OSS). Defaults to alibabacloud. "
                  "Immutable.",
                  {"alibabacloud"})
                 .Default("alibabacloud")},
            {"bucket",
             Str("The OSS bucket name: 3-63 lower case letters, digits or '-', starting and ending "
                 "with a letter or digit. On managed clusters, buckets named cnfs-oss-* need no "
                 "extra "
                 "permissions. Required. Immutable.")},
            {"prefix",
             Str("The directory inside the bucket, a relative path without a leading '/' or '..'. "
                 "Immutable.")},
            {"region", Str("The region ID of the bucket, e.g. cn-hangzhou. Required. Immutable.")},
            {"network",
             Enum("The OSS endpoint to use: internal (only reachable from the same region) or "
                  "public. Defaults to internal when the bucket is in the cluster's region, else "
                  "public. The only mutable location field.",
                  {"internal", "public"})},
            {"accessMode",
             Enum("ReadWrite, or ReadOnly for a cluster that only restores from this vault. "
                  "Defaults to ReadWrite. Immutable.",
                  {"ReadWrite", "ReadOnly"})
                 .Default("ReadWrite")},
            {"credentialRef",
             Ref(kCsdr + "SecretReference",
                 "The Secret with the AccessKey pair, in AccessKeySecret mode only. Defaults to "
                 "the ClusterProfile's accessKeySecretRef. Immutable.")},
            {"backupSyncPeriod",
             Duration("How often the vault's backup index is synced into the cluster; 0 "
                      "disables syncing.")},
            {"validationFrequency",
             Duration("How often the bucket is checked for reachability. Defaults to "
                      "5m.")
                 .Default("5m")}})
           .Required({"bucket", "region"}),
       {}});
  out->push_back(
      {kCsdr + "BackupVaultStatus",
       Obj("BackupVaultStatus is the vault's observed state.",
           {{"phase", Enum("InProgress, Available or Unavailable.",
                           {"InProgress", "Available", "Unavailable"})},
            {"lastValidationTime", Time("When the bucket was last checked.")},
            {"lastSyncedTime", Time("When the backup index was last synced.")},
            {"endpoint", Str("The OSS endpoint in use, e.g. oss-cn-heyuan-internal.aliyuncs.com.")},
            {"backupCount", Int32("The number of backups in the vault.")},
            {"message",
             Str("Why the vault is not Available, e.g. \"VaultError: ... AccessDenied\".")},
            {"conditions",
             Conditions("Ready, BucketReachable, CredentialsValid, StorageClassSupported")},
            {"observedGeneration", ObservedGeneration()}}),
       {}});
}

// BackupSpec is shared by Backup.spec and BackupSchedule.spec.template.
Props BackupSpecProps() {
  return {
      {"vaultName", Str("The name of the BackupVault (in namespace csdr) to write to. Required.")},
      {"backupType",
       Enum("AppBackup (resources only), AppAndPvBackup (resources and volume data) or PvBackup "
            "(volume data only). Defaults to AppBackup.",
            {"AppBackup", "AppAndPvBackup", "PvBackup"})
           .Default("AppBackup")},
      {"includedNamespaces",
       Strings("Namespaces to back up; empty or \"*\" means all. The csdr namespace "
               "cannot be backed up.")},
      {"excludedNamespaces", Strings("Namespaces not to back up.")},
      {"includedResources",
       Strings("Resources to back up (e.g. deployments, configmaps.v1); empty means all.")},
      {"excludedResources", Strings("Resources not to back up.")},
      {"includeClusterResources",
       Bool("Whether cluster-scoped resources are backed up; unset means those the "
            "namespaced resources need.")},
      {"labelSelector",
       Ref(kMeta + "LabelSelector", "Only objects matching this selector are backed up.")},
      {"orLabelSelectors",
       Arr(Ref(kMeta + "LabelSelector"),
           "Objects matching any of these selectors are backed up. Cannot be combined with "
           "labelSelector.")
           .ListType("atomic")},
      {"volumeBackup",
       Ref(kCsdr + "VolumeBackupSpec",
           "How volume data is backed up; only with backupType AppAndPvBackup or PvBackup.")},
      {"ttl",
       Duration(
           "How long the backup is kept before it expires and is deleted. Defaults to 720h (30 "
           "days).")
           .Default("720h")},
  };
}

void AddBackup(std::vector<Definition>* out) {
  AddKind(out, "Backup",
          "Backup is one application backup into a BackupVault: which namespaces and resources, "
          "and whether "
          "volume data is included. Its spec cannot change after creation.");
  out->push_back(
      {kCsdr + "BackupSpec",
       Obj("BackupSpec says what to back up and where.", BackupSpecProps()).Required({"vaultName"}),
       {}});
  out->push_back(
      {kCsdr + "VolumeBackupSpec",
       Obj("VolumeBackupSpec says how volume data is backed up.",
           {{"method",
             Enum("Auto (disks by ECS snapshot, other volumes by Cloud Backup), Snapshot (ECS disk "
                  "snapshots only) or CloudBackup (Cloud Backup, HBR). Defaults to Auto.",
                  {"Auto", "Snapshot", "CloudBackup"})
                 .Default("Auto")},
            {"excludedPVCs",
             Arr(Ref(kCsdr + "NamespacedName"),
                 "PersistentVolumeClaims whose data is not backed up (e.g. log volumes).")
                 .ListType("atomic")}}),
       {}});
  out->push_back(
      {kCsdr + "SourceCluster",
       Obj("The cluster a backup was taken on.",
           {{"clusterID", Str("The ACK cluster ID.")},
            {"regionID",
             Str("The region ID; a restore in another region is a cross-region restore.")},
            {"kubernetesVersion", Str("The Kubernetes version.")},
            {"componentVersion", Str("The migrate-controller version.")}}),
       {}});
  out->push_back({kCsdr + "BackupProgress",
                  Obj("How far a backup has got.",
                      {{"totalItems", Int32("The number of items to back up.")},
                       {"itemsBackedUp", Int32("The number of items backed up so far.")}}),
                  {}});
  out->push_back({kCsdr + "VolumeBackupStatus",
                  Obj("The backup of one volume.",
                      {{"namespace", Str("The namespace of the PersistentVolumeClaim.")},
                       {"pvc", Str("The PersistentVolumeClaim.")},
                       {"pv", Str("The PersistentVolume.")},
                       {"driver", Str("The CSI driver of the volume.")},
                       {"method", Enum("snapshot (ECS disk snapshot) or hbr (Cloud Backup).",
                                       {"snapshot", "hbr"})},
                       {"snapshotID", Str("The ECS snapshot ID.")},
                       {"cloudBackupJob", Str("The Cloud Backup job, named <backup>-hbr.")},
                       {"phase", Str("The phase of this volume's backup.")},
                       {"message", Str("Details, e.g. why the volume failed.")}}),
                  {}});
  out->push_back(
      {kCsdr + "BackupStatus",
       Obj("BackupStatus is the backup's observed state.",
           {{"phase", Enum("New, InProgress, Completed, PartiallyFailed, Failed, Deleting, or "
                           "FailedValidation "
                           "when a run-time check fails.",
                           {"New", "InProgress", "Completed", "PartiallyFailed", "Failed",
                            "Deleting", "FailedValidation"})},
            {"dataType", Enum("The volume data kept: none, snapshot, hbr or all.",
                              {"none", "snapshot", "hbr", "all"})},
            {"scheduleName", Str("The BackupSchedule that created this backup, if any.")},
            {"sourceCluster", Ref(kCsdr + "SourceCluster", "The cluster the backup was taken on.")},
            {"startTimestamp", Time("When the backup started.")},
            {"completionTimestamp", Time("When the backup finished.")},
            {"expiration", Time("When the backup expires and is deleted (start + ttl).")},
            {"progress", Ref(kCsdr + "BackupProgress", "How far the backup has got.")},
            {"volumes", Arr(Ref(kCsdr + "VolumeBackupStatus"), "The backups of the volumes.")
                            .ListType("atomic")},
            {"errors", Int32("The number of errors met.")},
            {"warnings", Int32("The number of warnings met.")},
            {"failureReason",
             Str("Why the backup failed, prefixed by its source (VaultError, HBRError, ...).")},
            {"conditions",
             Conditions(
                 "Validated, VaultAvailable, ResourcesBackedUp, VolumesBackedUp, Completed")},
            {"observedGeneration", ObservedGeneration()}}),
       {}});
}

void AddRestore(std::vector<Definition>* out) {
  AddKind(out, "Restore",
          "Restore restores a Backup into this cluster, optionally mapping namespaces and "
          "converting storage "
          "classes. Its spec cannot change after creation.");
  out->push_back(
      {kCsdr + "RestoreSpec",
       Obj("RestoreSpec says what to restore and how.",
           {{"backupName",
             Str("The name of the Backup (in namespace csdr) to restore; it must be Completed or "
                 "PartiallyFailed. Required.")},
            {"includedNamespaces",
             Strings("Namespaces of the backup to restore; empty or \"*\" means all.")},
            {"excludedNamespaces", Strings("Namespaces not to restore.")},
            {"includedResources", Strings("Resources to restore; empty means all.")},
            {"excludedResources", Strings("Resources not to restore.")},
            {"includeClusterResources", Bool("Whether cluster-scoped resources are restored.")},
            {"labelSelector",
             Ref(kMeta + "LabelSelector", "Only objects matching this selector are restored.")},
            {"orLabelSelectors", Arr(Ref(kMeta + "LabelSelector"),
                                     "Objects matching any of these selectors are restored.")
                                     .ListType("atomic")},
            {"namespaceMapping",
             Map(Str(""), "Restores a source namespace (key) into another namespace (value).")},
            {"imageRegistryMapping",
             Map(Str(""),
                 "Rewrites image registry prefixes, e.g. \"docker.io/library/\": "
                 "\"registry.cn-beijing.aliyuncs.com/my-registry/\".")},
            {"restoreVolumes",
             Bool("Whether volume data is restored. Defaults to true when the backup has volume "
                  "data.")},
            {"storageClassConversions",
             Arr(Ref(kCsdr + "StorageClassConversion"),
                 "Restores PersistentVolumeClaims with other storage classes.")
                 .ListType("atomic")},
            {"preserveNodePorts", Bool("Whether Services keep their node ports.")},
            {"existingResourcePolicy",
             Enum("What to do with objects that already exist: none (leave them) or "
                  "update. Defaults to none.",
                  {"none", "update"})
                 .Default("none")},
            {"resourceModifierRef",
             Ref(kCsdr + "LocalObjectReference",
                 "A ConfigMap in csdr with resource modifier rules (migrate-controller "
                 "v1.8.1 or later).")}})
           .Required({"backupName"}),
       {}});
  out->push_back(
      {kCsdr + "StorageClassConversion",
       Obj("Converts the storage class of restored PersistentVolumeClaims.",
           {{"namespace", Str("The namespace of the claims. Required.")},
            {"pvc", Str("One claim; empty means every claim of the namespace.")},
            {"targetStorageClass", Str("The storage class to use. Required.")},
            {"convertToAccessModes",
             Arr(Enum("", {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}),
                 "Access modes for the converted claims (disks support only "
                 "ReadWriteOnce).")
                 .ListType("atomic")}})
           .Required({"namespace", "targetStorageClass"}),
       {}});
  out->push_back({kCsdr + "RestoreProgress",
                  Obj("How far a restore has got.",
                      {{"totalItems", Int32("The number of items to restore.")},
                       {"itemsRestored", Int32("The number of items restored so far.")}}),
                  {}});
  out->push_back({kCsdr + "VolumeRestoreStatus",
                  Obj("The restore of one volume.",
                      {{"namespace", Str("The namespace of the PersistentVolumeClaim.")},
                       {"pvc", Str("The PersistentVolumeClaim.")},
                       {"pv", Str("The restored PersistentVolume.")},
                       {"storageClass", Str("The storage class of the restored claim.")},
                       {"method", Str("How the data was restored: snapshot or hbr.")},
                       {"phase", Str("The phase of this volume's restore.")},
                       {"message", Str("Details, e.g. why the volume failed.")}}),
                  {}});
  out->push_back(
      {kCsdr + "RestoreStatus",
       Obj("RestoreStatus is the restore's observed state.",
           {{"phase",
             Enum("New, InProgress, Completed, PartiallyFailed, Failed, or FailedValidation.",
                  {"New", "InProgress", "Completed", "PartiallyFailed", "Failed",
                   "FailedValidation"})},
            {"crossRegion", Bool("The backup was taken in another region.")},
            {"sourceRegionID", Str("The region of the backup.")},
            {"targetRegionID", Str("The region of this cluster.")},
            {"startTimestamp", Time("When the restore started.")},
            {"completionTimestamp", Time("When the restore finished.")},
            {"progress", Ref(kCsdr + "RestoreProgress", "How far the restore has got.")},
            {"volumes", Arr(Ref(kCsdr + "VolumeRestoreStatus"), "The restores of the volumes.")
                            .ListType("atomic")},
            {"errors", Int32("The number of errors met.")},
            {"warnings", Int32("The number of warnings met.")},
            {"failureReason", Str("Why the restore failed.")},
            {"conditions",
             Conditions(
                 "Validated, ConversionDone, ResourcesRestored, VolumesRestored, Completed")},
            {"observedGeneration", ObservedGeneration()}}),
       {}});
}

void AddBackupSchedule(std::vector<Definition>* out) {
  AddKind(out, "BackupSchedule",
          "BackupSchedule creates Backups from a template on a cron schedule or at an interval, "
          "and prunes them "
          "by retention.");
  out->push_back(
      {kCsdr + "BackupScheduleSpec",
       Obj("BackupScheduleSpec says when to back up, what, and how many backups to keep.",
           {{"schedule", Str("A 5-field cron expression (minute hour day-of-month month "
                             "day-of-week, e.g. \"1 4 * "
                             "* *\"), optionally prefixed \"CRON_TZ=<IANA zone> \", or an interval "
                             "in Go duration "
                             "syntax such as \"6h30m\". Required.")},
            {"template",
             Ref(kCsdr + "BackupSpec", "The spec of the Backups this schedule creates. Required.")},
            {"paused", Bool("Suspends the schedule.")},
            {"skipImmediately",
             Bool("Skips the run that would be due right after creating or unpausing.")},
            {"retention",
             Ref(kCsdr + "ScheduleRetention", "How many of the created backups to keep.")}})
           .Required({"schedule", "template"}),
       {}});
  out->push_back(
      {kCsdr + "ScheduleRetention",
       Obj("How many backups of a schedule to keep, on top of each backup's ttl.",
           {{"keepLast",
             Int32("Deletes backups beyond the newest N, whatever their phase. At least 1.")
                 .Min(1)},
            {"keepLastSuccessful",
             Int32("Never lets ttl expire the newest N Completed backups. At least 1.").Min(1)}}),
       {}});
  out->push_back(
      {kCsdr + "BackupRef",
       Obj("A Backup created by a schedule.", {{"name", Str("The name of the Backup.")},
                                               {"time", Time("When it was created.")},
                                               {"phase", Str("Its phase when last observed.")}}),
       {}});
  out->push_back(
      {kCsdr + "BackupScheduleStatus",
       Obj("BackupScheduleStatus is the schedule's observed state.",
           {{"phase", Enum("New, Enabled, Paused or FailedValidation.",
                           {"New", "Enabled", "Paused", "FailedValidation"})},
            {"lastBackup", Ref(kCsdr + "BackupRef", "The Backup created by the last run.")},
            {"lastSuccessfulBackup",
             Ref(kCsdr + "BackupRef", "The last created Backup that Completed.")},
            {"nextRunTime", Time("When the next run is due.")},
            {"validationErrors", Strings("Why the schedule is FailedValidation.")},
            {"conditions", Conditions("e.g. Ready")},
            {"observedGeneration", ObservedGeneration()}}),
       {}});
}

}  // namespace

std::vector<Definition> BuildDefinitions() {
  std::vector<Definition> defs;
  AddMeta(&defs);
  AddShared(&defs);
  AddClusterProfile(&defs);
  AddBackupVault(&defs);
  AddBackup(&defs);
  AddRestore(&defs);
  AddBackupSchedule(&defs);
  return defs;
}

}  // namespace csdr::apiserver
