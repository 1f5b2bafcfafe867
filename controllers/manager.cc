#include "controllers/manager.h"

#include <glog/logging.h>

#include <algorithm>

#include "apiserver/kinds/kind.h"
#include "controllers/discovery.h"
#include "controllers/expiry.h"
#include "controllers/schedule.h"

namespace csdr::controllers {
namespace {

using TimePoint = std::chrono::system_clock::time_point;

constexpr std::chrono::milliseconds kDebounce{100};
constexpr std::chrono::seconds kResync{30};

}  // namespace

StatusOr<std::set<std::string>> ParseControllers(const std::vector<std::string>& flags) {
  const std::set<std::string> known = {kScheduleController, kExpiryController,
                                       kDiscoveryController};
  std::set<std::string> on;
  std::set<std::string> off;
  bool all = false;
  for (const std::string& f : flags) {
    if (f == "*") {
      all = true;
      continue;
    }
    const bool disable = !f.empty() && f[0] == '-';
    const std::string name = disable ? f.substr(1) : f;
    if (known.count(name) == 0) {
      return Status(Code::kInvalid,
                    "--controllers: unknown controller \"" + name +
                        "\" (known: schedule, expiry, discovery; \"*\" for all, \"-name\" "
                        "to turn one off)");
    }
    (disable ? off : on).insert(name);
  }
  std::set<std::string> out;
  for (const std::string& name : known) {
    if ((all || on.count(name) != 0) && off.count(name) == 0) out.insert(name);
  }
  return out;
}

ControllerManager::ControllerManager(apiserver::Registry* registry, storage::Store* store,
                                     ControllerManagerOptions options)
    : registry_(registry), store_(store), options_(std::move(options)) {}

ControllerManager::~ControllerManager() { Stop(); }

void ControllerManager::Start() {
  if (options_.controllers.empty()) {
    LOG(INFO) << "controllers: none enabled (--controllers)";
    return;
  }
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [this] { Lead(); };
  callbacks.on_stopped_leading = [this] { Follow(); };
  callbacks.on_new_leader = [this](const std::string& holder) {
    if (elector_ != nullptr && holder != elector_->Identity()) {
      LOG(INFO) << "controllers: lease held by " << (holder.empty() ? "nobody" : holder);
    }
  };
  LeaseLock* lock = options_.lease_lock;
  if (lock == nullptr) {
    own_lock_ = std::make_unique<StoreLeaseLock>(store_, options_.election.name);
    lock = own_lock_.get();
  }
  elector_ = std::make_unique<LeaderElector>(lock, options_.election, std::move(callbacks));
  LOG(INFO) << "controllers: candidate " << elector_->Identity() << " for " << lock->Describe();
  elector_->Start();
}

void ControllerManager::Stop() {
  if (elector_ == nullptr) return;
  elector_->Stop();  // OnStoppedLeading (Follow) first, then the release
  Follow();
  elector_.reset();
}

void ControllerManager::Lead() {
  std::lock_guard<std::mutex> lock(mu_);
  if (loop_.joinable()) return;
  LOG(INFO) << "controllers: leading; running " << [this] {
    std::string names;
    for (const std::string& n : options_.controllers) names += (names.empty() ? "" : ", ") + n;
    return names;
  }();
  stop_loop_ = false;
  changed_ = true;
  schedules_ = std::make_unique<Informer>(
      registry_, apiserver::FindKindByResource("backupschedules"), [this] { Wake(); });
  backups_ = std::make_unique<Informer>(
      registry_, apiserver::FindKindByResource("backups"), [this] { Wake(); }, BackupFacts);
  schedules_->Start();
  backups_->Start();
  loop_ = std::thread([this] { Loop(); });
}

void ControllerManager::Follow() {
  std::thread loop;
  std::unique_ptr<Informer> schedules;
  std::unique_ptr<Informer> backups;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loop_.joinable()) return;
    stop_loop_ = true;
    loop = std::move(loop_);
  }
  cv_.notify_all();
  loop.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    schedules = std::move(schedules_);
    backups = std::move(backups_);
  }
  schedules->Stop();
  backups->Stop();
  LOG(INFO) << "controllers: stopped (no longer leading)";
}

void ControllerManager::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed_ = true;
  }
  cv_.notify_all();
}

void ControllerManager::Loop() {
  Informer* schedules;
  Informer* backups;
  {
    std::lock_guard<std::mutex> lock(mu_);
    schedules = schedules_.get();
    backups = backups_.get();
  }
  ControllerContext ctx{registry_, schedules, backups, options_.clock, options_.events};
  ScheduleController schedule_controller(ctx, options_.starting_deadline);
  ExpiryController expiry_controller(ctx);
  DiscoveryController discovery_controller(ctx, options_.cluster, options_.facts);
  const bool run_discovery =
      options_.controllers.count(kDiscoveryController) != 0 && options_.cluster != nullptr;
  const bool run_schedules = options_.controllers.count(kScheduleController) != 0;
  const bool run_expiry = options_.controllers.count(kExpiryController) != 0;
  // Nothing is decided on a partial view: wait for both first lists.
  while (!(schedules->Synced() && backups->Synced())) {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_loop_; })) return;
  }
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_loop_) return;
      changed_ = false;
    }
    const TimePoint now = ctx.Now();
    TimePoint next = now + kResync;
    if (run_schedules) {
      if (auto due = schedule_controller.Sync(now)) next = std::min(next, *due);
    }
    if (run_expiry) {
      if (auto due = expiry_controller.Sync(now)) next = std::min(next, *due);
    }
    if (run_discovery) {
      if (auto due = discovery_controller.Sync(now)) next = std::min(next, *due);
    }
    std::unique_lock<std::mutex> lock(mu_);
    // Until the earliest moment asked for, or a change (then a short pause gathers the
    // burst a write usually brings: the Backup and its schedule's status).
    const auto wait = std::max(next - ctx.Now(), TimePoint::duration::zero());
    cv_.wait_for(lock, wait, [&] { return stop_loop_ || changed_; });
    if (stop_loop_) return;
    if (changed_) cv_.wait_for(lock, kDebounce, [&] { return stop_loop_; });
  }
}

}  // namespace csdr::controllers
