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
#pragma once

#include <chrono>
#include <optional>

#include "controllers/controller.h"
#include "webhook/cluster/cluster_facts.h"

namespace csdr::controllers {

class DiscoveryController {
 public:
  DiscoveryController(ControllerContext ctx, const webhook::ClusterFacts* cluster)
      : ctx_(std::move(ctx)), cluster_(cluster) {}

  // One pass; returns when the next is due.
  std::optional<std::chrono::system_clock::time_point> Sync(
      std::chrono::system_clock::time_point now);

  // The status a pass would write for `profile` given what the cluster shows; `now` stamps
  // conditions that change. Exposed for tests.
  // `secret` is the profile's AccessKey Secret as the cluster cache has it.
  json::Value NextStatus(const json::Value& profile, const webhook::ObservedSources& sources,
                         bool have_cluster, const webhook::SecretFact& secret,
                         std::chrono::system_clock::time_point now) const;

 private:
  ControllerContext ctx_;
  const webhook::ClusterFacts* cluster_;
};

}  // namespace csdr::controllers
