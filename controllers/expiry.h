// The expiry controller: a Backup whose status.expiration has passed is deleted (through the
// registry, so finalizers hold the deletion as on any delete), unless its schedule's
// keepLastSuccessful keeps it (retention.h). Event-driven: Sync returns the earliest
// expiration still ahead, and the manager wakes at that moment, not on an hourly sweep.
#pragma once

#include <chrono>
#include <optional>

#include "controllers/controller.h"

namespace csdr::controllers {

class ExpiryController {
 public:
  explicit ExpiryController(ControllerContext ctx) : ctx_(std::move(ctx)) {}

  // Deletes what expired at or before `now`; returns the next expiration (nullopt: none),
  // or a moment within seconds when a delete failed for a transient reason.
  std::optional<std::chrono::system_clock::time_point> Sync(
      std::chrono::system_clock::time_point now);

 private:
  ControllerContext ctx_;
};

}  // namespace csdr::controllers
