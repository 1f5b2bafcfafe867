#include "controllers/discovery.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"
#include "webhook/cluster/observed_facts.h"
#include "webhook/policy/capabilities.h"
#include "webhook/policy/cluster.h"

namespace csdr::controllers {

namespace {

constexpr auto kPeriod = std::chrono::seconds(2);
// The stored objects are judged again at least this often when nothing we watch changed.
constexpr auto kJudgeAgain = std::chrono::seconds(30);
// At most this many broken objects are named in the profile's condition.
constexpr size_t kMaxNamed = 10;
constexpr const char* kObjectCondition = "ClusterSupported";
constexpr const char* kFieldManager = "csdr-discovery-controller";

// Which source establishes each observed field: a field is removed when its source was read
// and no longer says it, and kept when the source cannot be read now.
enum class Source { kNodes, kVersion, kMigrate, kCsi, kFlex, kAckProfile };
constexpr std::pair<const char*, Source> kObservedFields[] = {
    {"regionID", Source::kNodes},
    {"allNodesECS", Source::kNodes},
    {"kubernetesVersion", Source::kVersion},
    {"componentVersion", Source::kMigrate},
    {"csiVersion", Source::kCsi},
    {"flexVolumeDetected", Source::kFlex},
    {"clusterID", Source::kAckProfile},
    {"accountID", Source::kAckProfile},
    {"vpcID", Source::kAckProfile},
    {"zones", Source::kAckProfile},
};

bool SourceKnown(const webhook::ObservedSources& s, Source source) {
  switch (source) {
    case Source::kNodes:
      return s.nodes.known;
    case Source::kVersion:
      return !s.kubernetes_version.empty();
    case Source::kMigrate:
      return !s.migrate_controller.unknown();
    case Source::kCsi:
      return !s.csi_plugin.unknown();
    case Source::kFlex:
      return !s.flexvolume.unknown();
    case Source::kAckProfile:
      return !s.ack_profile.unknown();
  }
  return false;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string NameOf(const json::Value& o) {
  return o.GetString({"kind"}) + " " + o.GetString({"metadata", "namespace"}) + "/" +
         o.GetString({"metadata", "name"});
}

const json::Value* FindCondition(const json::Value& object, std::string_view type) {
  const json::Value* list = object.FindPath({"status", "conditions"});
  if (list == nullptr) return nullptr;
  for (const json::Value& c : list->array()) {
    if (c.GetString({"type"}) == type) return &c;
  }
  return nullptr;
}

// ClusterSupported for an object with `findings`: {status, reason, message}.
struct ObjectCondition {
  std::string status, reason, message;
};
ObjectCondition ConditionOf(const std::vector<webhook::StoredFinding>& findings) {
  if (findings.empty()) {
    return {"True", "Supported", "the cluster supports what this object asks for"};
  }
  bool all_unverified = true;
  std::vector<std::string> messages;
  for (const auto& f : findings) {
    all_unverified &= f.unverified;
    messages.push_back(f.message);
  }
  if (all_unverified) return {"Unknown", "CannotVerify", Join(messages, "; ")};
  return {"False", "RuleFailed", Join(messages, "; ")};
}

}  // namespace

DiscoveryController::Judgement DiscoveryController::JudgeStoredObjects(
    const json::Value& effective, const webhook::ListFact& vaults) const {
  Judgement out;
  std::vector<webhook::ObjectRef> objects;
  // Vaults first (they hold the data), then schedules (they make future backups).
  if (vaults.known) {
    objects = vaults.items;
  } else {
    out.unknown.push_back("BackupVaults cannot be listed: " + vaults.unknown_reason);
  }
  if (ctx_.schedules != nullptr) {
    for (Informer::Object& o : ctx_.schedules->List()) objects.push_back(std::move(o));
  }
  for (const webhook::ObjectRef& o : objects) {
    std::vector<webhook::StoredFinding> findings =
        webhook::JudgeStored(effective, o->GetString({"kind"}), *o, *facts_);
    const json::Value* c = FindCondition(*o, kObjectCondition);
    if (findings.empty() && (c == nullptr || c->GetString({"status"}) == "True")) continue;
    out.objects.push_back({o, std::move(findings)});
  }
  std::sort(out.objects.begin(), out.objects.end(), [](const Judged& a, const Judged& b) {
    auto key = [](const Judged& j) {
      return std::make_tuple(j.object->GetString({"kind"}) != "BackupVault",
                             j.object->GetString({"metadata", "namespace"}),
                             j.object->GetString({"metadata", "name"}));
    };
    return key(a) < key(b);
  });
  return out;
}

void DiscoveryController::SetStoredCondition(json::Value* status, const json::Value* previous,
                                             const Judgement& judgement, int64_t generation,
                                             const std::string& now) {
  std::vector<std::string> broken;
  size_t count = 0;
  bool all_unverified = true;
  for (const Judged& j : judgement.objects) {
    if (j.findings.empty()) continue;
    ++count;
    const ObjectCondition c = ConditionOf(j.findings);
    all_unverified &= c.status == "Unknown";
    if (broken.size() < kMaxNamed) broken.push_back(NameOf(*j.object) + ": " + c.message);
  }
  if (count > kMaxNamed) broken.push_back("and " + std::to_string(count - kMaxNamed) + " more");
  json::Value& conditions = (*status)["conditions"];
  if (!judgement.unknown.empty()) {
    std::vector<std::string> why = judgement.unknown;
    for (auto& b : broken) why.push_back(std::move(b));
    SetCondition(&conditions, previous, "StoredObjectsSupported", "Unknown", "CannotVerify",
                 Join(why, "; "), generation, now);
  } else if (count == 0) {
    SetCondition(&conditions, previous, "StoredObjectsSupported", "True", "AllSupported",
                 "every stored BackupVault and BackupSchedule passes the rules that depend on "
                 "the cluster",
                 generation, now);
  } else {
    SetCondition(&conditions, previous, "StoredObjectsSupported",
                 all_unverified ? "Unknown" : "False", all_unverified ? "CannotVerify" : "Broken",
                 Join(broken, "; "), generation, now);
  }
}

void DiscoveryController::WriteObjectConditions(const Judgement& judgement,
                                                std::chrono::system_clock::time_point now) {
  for (const Judged& j : judgement.objects) {
    const ObjectCondition want = ConditionOf(j.findings);
    if (const json::Value* c = FindCondition(*j.object, kObjectCondition);
        c != nullptr && c->GetString({"status"}) == want.status &&
        c->GetString({"reason"}) == want.reason && c->GetString({"message"}) == want.message) {
      continue;
    }
    const bool vault = j.object->GetString({"kind"}) == "BackupVault";
    json::Value next = *j.object;
    json::Value& status = next["status"];
    if (!status.is_object()) status = json::Value::MakeObject();
    const json::Value* gen = next.FindPath({"metadata", "generation"});
    json::Value& conditions = status["conditions"];
    SetCondition(&conditions, &conditions, kObjectCondition, want.status, want.reason, want.message,
                 gen != nullptr ? gen->as_int() : 0, apiserver::FormatRFC3339(now));
    apiserver::Scope scope;
    scope.kind = apiserver::FindKindByResource(vault ? "backupvaults" : "backupschedules");
    scope.namespace_ = next.GetString({"metadata", "namespace"});
    scope.name = next.GetString({"metadata", "name"});
    scope.subresource = "status";
    scope.user = &ControllerUser();
    apiserver::WriteOptions options;
    options.field_manager = kFieldManager;
    auto written = ctx_.registry->Update(scope, std::move(next), options);
    if (written.ok()) {
      if (want.status != "True") {
        ctx_.Event(*j.object, "Warning", "ClusterUnsupported", want.message);
      }
    } else if (written.status().code() != Code::kConflict &&
               written.status().code() != Code::kNotFound) {
      // A conflict is a newer object on its way: the next judgement uses it.
      LOG(WARNING) << "discovery: cannot write the condition of " << NameOf(*j.object) << ": "
                   << written.status().message();
    }
  }
}

json::Value DiscoveryController::NextStatus(const json::Value& profile,
                                            const webhook::ObservedSources& sources,
                                            bool have_cluster, const webhook::SecretFact& secret,
                                            std::chrono::system_clock::time_point now) const {
  const json::Value* current = profile.Find("status");
  json::Value status =
      current != nullptr && current->is_object() ? *current : json::Value::MakeObject();
  const json::Value* previous_conditions =
      current != nullptr ? current->Find("conditions") : nullptr;
  const json::Value previous =
      previous_conditions != nullptr ? *previous_conditions : json::Value();
  const int64_t generation = profile.FindPath({"metadata", "generation"}) != nullptr
                                 ? profile.FindPath({"metadata", "generation"})->as_int()
                                 : 0;
  const std::string stamp = apiserver::FormatRFC3339(now);
  json::Value conditions = json::Value::MakeArray();
  if (!have_cluster) {
    SetCondition(&conditions, &previous, "ProfileDiscovered", "False", "NoCluster",
                 "nothing is observed: " + sources.version_error, generation, stamp);
    // The other conditions, as they were.
    if (previous.is_array()) {
      for (const json::Value& c : previous.array()) {
        if (c.GetString({"type"}) != "ProfileDiscovered") conditions.PushBack(c);
      }
    }
    status.Set("conditions", std::move(conditions));
    return status;
  }
  std::vector<std::string> read, missing;
  json::Value observed = webhook::ObservedStatus(sources, &read, &missing);
  for (const auto& [field, source] : kObservedFields) {
    if (const json::Value* v = observed.Find(field); v != nullptr) {
      status.Set(field, *v);
    } else if (SourceKnown(sources, source)) {
      status.Erase(field);
    }
  }
  json::Value effective = profile;
  effective.Set("status", status);
  const json::Value caps = webhook::CapabilitiesOf(effective);
  status.Set("capabilities", caps);

  // Declared values that disagree with observed ones (the rules use the observed).
  std::vector<std::string> disagree;
  for (const char* field : {"regionID", "componentVersion"}) {
    const std::string declared = profile.GetString({"spec", field});
    const std::string seen = status.GetString({field});
    if (!declared.empty() && !seen.empty() && declared != seen) {
      disagree.push_back("spec." + std::string(field) + " " +
                         json::Serialize(json::Value(declared)) + " disagrees with the observed " +
                         json::Serialize(json::Value(seen)) + " (status." + field +
                         ", which the rules use)");
    }
  }
  std::string message = "read: " + (read.empty() ? std::string("nothing") : Join(read, ", "));
  if (!missing.empty()) message += "; missing: " + Join(missing, "; ");
  if (!disagree.empty()) message += "; " + Join(disagree, "; ");
  SetCondition(
      &conditions, &previous, "ProfileDiscovered", missing.empty() ? "True" : "False",
      !disagree.empty() ? "DeclaredDiffers" : (missing.empty() ? "Discovered" : "SourcesMissing"),
      message, generation, stamp);

  const json::Value* center = caps.Find("backupCenter");
  if (center == nullptr) {
    SetCondition(&conditions, &previous, "Supported", "Unknown", "NoClusterType",
                 "spec.clusterType is not set", generation, stamp);
  } else if (center->as_bool()) {
    SetCondition(&conditions, &previous, "Supported", "True", "Supported",
                 "the backup center is supported on this cluster", generation, stamp);
  } else {
    std::string why = "ACK Serverless Basic clusters do not support the backup center";
    std::string reason = "ClusterType";
    if (status.FindPath({"flexVolumeDetected"}) != nullptr &&
        status.FindPath({"flexVolumeDetected"})->as_bool()) {
      why = "FlexVolume was found (DaemonSet kube-system/flexvolume); the backup center needs CSI";
      reason = "FlexVolume";
    } else if (profile.GetString({"spec", "clusterType"}) != "ACKServerlessBasic") {
      why = "Kubernetes " + status.GetString({"kubernetesVersion"}) +
            " is older than 1.18, which the backup center needs";
      reason = "KubernetesVersion";
    }
    SetCondition(&conditions, &previous, "Supported", "False", reason, why, generation, stamp);
  }

  // Whether a Secret is needed and which: the rules' own reading of the profile (CSDR-DEP-004:
  // dedicated and registered clusters need it whatever credentialMode says).
  const webhook::ClusterView view = webhook::ViewOfProfile(profile);
  if (!view.NeedsAccessKeySecret()) {
    SetCondition(&conditions, &previous, "CredentialsReady", "True", "ManagedRole",
                 "the backup center uses the AliyunCSManagedBackupRestoreRole", generation, stamp);
  } else {
    const std::string path = view.SecretPath();
    if (secret.presence == webhook::Presence::kUnknown) {
      SetCondition(&conditions, &previous, "CredentialsReady", "Unknown", "SecretUnknown",
                   "Secret " + path + " cannot be read: " + secret.unknown_reason, generation,
                   stamp);
    } else if (secret.presence == webhook::Presence::kAbsent) {
      SetCondition(&conditions, &previous, "CredentialsReady", "False", "SecretMissing",
                   "Secret " + path + " does not exist", generation, stamp);
    } else if (!secret.HasNonEmpty("access-key-id") || !secret.HasNonEmpty("access-key-secret")) {
      SetCondition(&conditions, &previous, "CredentialsReady", "False", "SecretIncomplete",
                   "Secret " + path + " needs non-empty access-key-id and access-key-secret",
                   generation, stamp);
    } else {
      SetCondition(&conditions, &previous, "CredentialsReady", "True", "SecretPresent",
                   "Secret " + path + " holds an AccessKey pair", generation, stamp);
    }
  }
  status.Set("conditions", std::move(conditions));
  status.Set("observedGeneration", generation);
  return status;
}

std::optional<std::chrono::system_clock::time_point> DiscoveryController::Sync(
    std::chrono::system_clock::time_point now) {
  const apiserver::KindStrategy* kind = apiserver::FindKindByResource("clusterprofiles");
  apiserver::Scope scope;
  scope.kind = kind;
  scope.name = "cluster";
  scope.user = &ControllerUser();
  auto profile = ctx_.registry->Get(scope);
  if (!profile.ok()) return now + kPeriod;  // none yet (or the store is away): look again
  const bool have_cluster = cluster_ != nullptr && cluster_->Configured();
  webhook::ObservedSources sources;
  if (cluster_ != nullptr) sources = cluster_->Observe();
  webhook::SecretFact secret;
  if (const webhook::ClusterView view = webhook::ViewOfProfile(*profile);
      have_cluster && view.NeedsAccessKeySecret()) {
    secret = cluster_->Secret(view.secret_namespace, view.secret_name);
  }
  json::Value status = NextStatus(*profile, sources, have_cluster, secret, now);
  std::optional<Judgement> fresh;
  if (facts_ != nullptr && have_cluster && status.FindPath({"capabilities", "backupCenter"})) {
    // Judged against the effective profile: what the status now says, with the spec.
    json::Value effective = *profile;
    effective.Set("status", status);
    json::Value facts = status;
    facts.Erase("conditions");
    const json::Value* spec = profile->Find("spec");
    std::string key = (spec != nullptr ? json::Serialize(*spec) : "") + json::Serialize(facts);
    if (ctx_.schedules != nullptr) key += " " + std::to_string(ctx_.schedules->ResourceVersion());
    const webhook::ListFact vaults = facts_->List("BackupVault", "");
    for (const webhook::ObjectRef& v : vaults.items) {
      key += " " + v->GetString({"metadata", "uid"}) + "@" +
             v->GetString({"metadata", "resourceVersion"});
    }
    if (key != judged_key_ || now - judged_at_ >= kJudgeAgain || now < judged_at_) {
      judged_ = JudgeStoredObjects(effective, vaults);
      judged_key_ = std::move(key);
      judged_at_ = now;
      fresh = judged_;
    }
    const json::Value* previous = profile->FindPath({"status", "conditions"});
    const json::Value* generation = status.Find("observedGeneration");
    SetStoredCondition(&status, previous, judged_, generation ? generation->as_int() : 0,
                       apiserver::FormatRFC3339(now));
  }
  if (fresh) WriteObjectConditions(*fresh, now);
  const json::Value* current = profile->Find("status");
  if (current != nullptr && *current == status) return now + kPeriod;
  json::Value next = std::move(*profile);
  next.Set("status", std::move(status));
  scope.subresource = "status";
  apiserver::WriteOptions options;
  options.field_manager = kFieldManager;
  auto written = ctx_.registry->Update(scope, std::move(next), options);
  if (!written.ok() && written.status().code() != Code::kConflict) {
    LOG(WARNING) << "discovery: cannot write ClusterProfile \"cluster\" status: "
                 << written.status().message();
  }
  return now + kPeriod;
}

}  // namespace csdr::controllers
