// The discovery controller: what the cluster says about itself, in ClusterProfile "cluster"'s
// status, so that the rules judge requests by what is there rather than by what was typed.
//
// Each pass reads the cluster cache (ClusterFacts::Observe: the Nodes, migrate-controller,
// csi-plugin, flexvolume and ack-cluster-profile as list-then-watch keeps them, and /version
// at most once a minute), merges what those sources establish into the status (observed_
// facts.h: a field whose source was read but no longer says it is removed; one whose source
// cannot be read now keeps its last value, as an informer serves its last state through an
// outage), computes status.capabilities from the result with the rules' own conditions
// (capabilities.h), sets the conditions ProfileDiscovered (the sources read and missing, and
// declared values that disagree with observed ones), Supported and CredentialsReady, and
// writes through the status subresource only when something changed. A pass costs a few
// map lookups, so it runs every 2 s. Without a cluster only ProfileDiscovered is written,
// saying so; nothing else changes.
//
// What the cluster as it is now means for what is stored: every BackupVault and BackupSchedule
// is judged by the profile-dependent rules that CSDR-CP-004 replays for a declared change
// (webhook::JudgeStored), against the effective profile. The profile's condition
// StoredObjectsSupported names each one that fails, with the rule's ID; the object's own
// condition ClusterSupported says it too (False, or Unknown when a fact could not be read),
// and goes back to True when the cluster or the object is mended. An object that never failed
// gets no condition (no write per object for a healthy cluster). The judgement runs again when
// the profile's facts, a schedule or a vault changed, and at least every 30 s (a Secret or a
// vault's fact read from the cluster may have changed).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controllers/controller.h"
#include "webhook/cluster/cluster_facts.h"
#include "webhook/policy/engine.h"

namespace csdr::controllers {

class DiscoveryController {
 public:
  // `facts`: the rules' facts (the store and the cluster cache) for judging stored objects;
  // nothing stored is judged when null.
  DiscoveryController(ControllerContext ctx, const webhook::ClusterFacts* cluster,
                      const webhook::Facts* facts = nullptr)
      : ctx_(std::move(ctx)), cluster_(cluster), facts_(facts) {}

  // One pass; returns when the next is due.
  std::optional<std::chrono::system_clock::time_point> Sync(
      std::chrono::system_clock::time_point now);

  // The status a pass would write for `profile` given what the cluster shows; `now` stamps
  // conditions that change. Exposed for tests.
  // `secret` is the profile's AccessKey Secret as the cluster cache has it.
  json::Value NextStatus(const json::Value& profile, const webhook::ObservedSources& sources,
                         bool have_cluster, const webhook::SecretFact& secret,
                         std::chrono::system_clock::time_point now) const;

  // One stored vault or schedule and what it fails under the effective profile.
  struct Judged {
    webhook::ObjectRef object;
    std::vector<webhook::StoredFinding> findings;
  };
  // Every stored vault and schedule that fails, and the ones whose ClusterSupported condition
  // is not True (to be set back). `unknown` is why a kind could not be listed.
  struct Judgement {
    std::vector<Judged> objects;
    std::vector<std::string> unknown;
  };
  // `vaults`: the stored BackupVaults as the rules' facts list them (read once per pass).
  Judgement JudgeStoredObjects(const json::Value& effective, const webhook::ListFact& vaults) const;
  // Sets StoredObjectsSupported in `status` (an effective profile's) from `judgement`.
  static void SetStoredCondition(json::Value* status, const json::Value* previous,
                                 const Judgement& judgement, int64_t generation,
                                 const std::string& now);

 private:
  // Writes each judged object's ClusterSupported condition when it differs from the stored one.
  void WriteObjectConditions(const Judgement& judgement, std::chrono::system_clock::time_point now);

  ControllerContext ctx_;
  const webhook::ClusterFacts* cluster_;
  const webhook::Facts* facts_;
  // When the stored objects were last judged, and against what (see the comment at the top).
  std::string judged_key_;
  std::chrono::system_clock::time_point judged_at_{};
  Judgement judged_;
};

}  // namespace csdr::controllers
