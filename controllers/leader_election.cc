// Leader election on a LeaseLock, after client-go's tools/leaderelection (tryAcquireOrRenew,
// acquire, renew, release), waiting on the lock's watch so that a released lease is taken at
// once instead of at the next retry.
#include "controllers/leader_election.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"

namespace csdr::controllers {
namespace {

using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits.
std::string MicroTime(std::chrono::system_clock::time_point t) {
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {  // before 1970: floor, not truncation
    frac += 1000000;
    secs -= 1;
  }
  const time_t tt = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

metrics::Gauge* MasterStatus() {
  static metrics::Gauge* const gauge = metrics::Default().Add(std::make_unique<metrics::Gauge>(
      "csdr_leader_election_master_status",
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 "
      "indicates master. 'name' is the string used to identify the lease.",
      std::vector<std::string>{"name"}));
  return gauge;
}

// A lost race, not a failure: someone else wrote (or deleted) the record since we read it.
bool LostRace(const Status& s) {
  return s.code() == Code::kAlreadyExists || s.code() == Code::kConflict ||
         s.code() == Code::kNotFound;
}

}  // namespace

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "unknown");
  }
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) | rd();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64, r);
  return std::string(host) + "_" + hex;
}

class LeaderElector::Impl {
 public:
  Impl(LeaderElector* owner, LeaseLock* lock, LeaderCallbacks callbacks)
      : owner_(*owner), config_(owner->config_), lock_(lock), callbacks_(std::move(callbacks)) {}

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) return;
    stop_ = std::stop_source();
    MasterStatus()->Set({config_.name}, 0);
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) return;
    }
    stop_.request_stop();  // ends a wait the thread may be in
    thread_.join();
  }

  std::string Holder() const {
    std::lock_guard<std::mutex> lock(mu_);
    return observed_holder_;
  }

 private:
  enum class Outcome {
    kLeading,  // acquired or renewed
    kHeld,     // another holder's valid lease
    kRetry,    // lost every race in this attempt; not a failure
    kLockError,
  };

  SteadyTime Now() const { return config_.clock(); }

  bool Stopping() const { return stop_.stop_requested(); }

  void Run() {
    while (!Stopping()) {
      const SteadyTime now = Now();
      Status error;
      const Outcome outcome = TryAcquireOrRenew(now, &error);
      NoteLockHealth(outcome == Outcome::kLockError ? error : Status());
      switch (outcome) {
        case Outcome::kLeading:
          last_renew_ = now;  // taken before the write: the deadline errs early
          if (!leading()) {
            ReportTransition();
            StartLeading();
          }
          break;
        case Outcome::kHeld:
          if (leading()) {
            LOG(WARNING) << "leader election " << config_.name << ": lease taken by \""
                         << observed_.holder_identity << "\"; stopped leading";
            StopLeading();
          }
          break;
        case Outcome::kRetry:
        case Outcome::kLockError:
          if (leading() && Now() - last_renew_ >= config_.renew_deadline) {
            LOG(WARNING) << "leader election " << config_.name << ": could not renew within "
                         << config_.renew_deadline.count() << " ms; stopped leading";
            StopLeading();
          }
          break;
      }
      ReportTransition();
      if (leading()) {
        WaitRetryPeriod();
      } else {
        // A follower waits up to a retry period, returning early when the record changes.
        lock_->WaitForChange(observed_version_, config_.retry_period, stop_.get_token());
      }
    }
    if (leading()) {
      StopLeading();
      Release();
    }
  }

  bool leading() const { return owner_.leading_.load(std::memory_order_relaxed); }

  void StartLeading() {
    owner_.leading_.store(true, std::memory_order_release);
    MasterStatus()->Set({config_.name}, 1);
    LOG(INFO) << "leader election " << config_.name << ": " << config_.identity
              << " acquired the lease";
    if (callbacks_.on_started_leading) callbacks_.on_started_leading();
  }

  void StopLeading() {
    owner_.leading_.store(false, std::memory_order_release);
    MasterStatus()->Set({config_.name}, 0);
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
  }

  // client-go's tryAcquireOrRenew. A conflict or a lost create means someone wrote the
  // record since we read it: read it again at once (a few times), so that a follower sees
  // the winner now rather than a retry period later.
  Outcome TryAcquireOrRenew(SteadyTime now, Status* error) {
    // 1. The leader's fast path: renew on the version it wrote last.
    if (leading() && !observed_version_.empty()) {
      LeaseRecord next = observed_;
      next.renew_time = MicroTime(config_.wall_clock());
      next.lease_duration_seconds = LeaseSeconds();
      auto version = lock_->Update(next, observed_version_);
      if (version.ok()) {
        Observe(next, *version, now);
        return Outcome::kLeading;
      }
      if (!LostRace(version.status())) {
        *error = version.status();
        return Outcome::kLockError;
      }
    }
    constexpr int kRounds = 3;  // each lost round means another replica's write succeeded
    for (int round = 0; round < kRounds; ++round) {
      // 2. Read, or create when absent.
      auto current = lock_->Get();
      if (!current.ok() && current.status().code() != Code::kNotFound) {
        *error = current.status();
        return Outcome::kLockError;
      }
      if (!current.ok()) {
        LeaseRecord first = OurRecord(0);
        auto version = lock_->Create(first);
        if (version.ok()) {
          Observe(first, *version, now);
          return Outcome::kLeading;
        }
        if (version.status().code() != Code::kAlreadyExists) {
          *error = version.status();
          return Outcome::kLockError;
        }
        continue;  // someone else created it first
      }
      // 3. A new version restarts the observed time, taken after the read: the latest
      // moment we may claim to have first seen it.
      if (current->version != observed_version_) {
        // An unreadable record is held by someone unknown: overwritten only after a lease
        // duration without change.
        Observe(current->record, current->version, Now());
        observed_unreadable_ = !current->readable;
      }
      const bool ours = observed_.holder_identity == config_.identity;
      const bool held = !observed_.holder_identity.empty() || observed_unreadable_;
      if (held && !ours && !Expired(Now())) return Outcome::kHeld;
      // 4. Take or renew it.
      LeaseRecord next;
      if (ours && leading()) {
        next = observed_;
        next.renew_time = MicroTime(config_.wall_clock());
        next.lease_duration_seconds = LeaseSeconds();
      } else {
        next = OurRecord(observed_.lease_transitions + (ours ? 0 : 1));
      }
      auto version = lock_->Update(next, current->version);
      if (version.ok()) {
        if (!ours) {
          LOG(INFO) << "leader election " << config_.name << ": took over from \""
                    << observed_.holder_identity << "\" (transition " << next.lease_transitions
                    << ")";
        }
        Observe(next, *version, now);
        return Outcome::kLeading;
      }
      if (!LostRace(version.status())) {
        *error = version.status();
        return Outcome::kLockError;
      }
      // The record changed under us; read it again.
    }
    return Outcome::kRetry;
  }

  // A record naming us, acquired now.
  LeaseRecord OurRecord(int64_t transitions) const {
    LeaseRecord r;
    r.holder_identity = config_.identity;
    r.lease_duration_seconds = LeaseSeconds();
    r.acquire_time = MicroTime(config_.wall_clock());
    r.renew_time = r.acquire_time;
    r.lease_transitions = transitions;
    return r;
  }

  // Rounded up: a record must never promise less than the holder's own lease duration.
  int64_t LeaseSeconds() const {
    return std::max<int64_t>(1, (config_.lease_duration.count() + 999) / 1000);
  }

  bool Expired(SteadyTime now) const {
    const milliseconds recorded(observed_.lease_duration_seconds * 1000);
    return now - observed_time_ >= std::max(config_.lease_duration, recorded);
  }

  void Observe(const LeaseRecord& record, const std::string& version, SteadyTime now) {
    observed_ = record;
    observed_version_ = version;
    observed_time_ = now;
    observed_unreadable_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    observed_holder_ = record.holder_identity;
  }

  // client-go's maybeReportTransition.
  void ReportTransition() {
    if (observed_.holder_identity == reported_leader_) return;
    reported_leader_ = observed_.holder_identity;
    if (callbacks_.on_new_leader) callbacks_.on_new_leader(reported_leader_);
  }

  // A warning when failures start, one line when they end: bounded whatever the outage.
  void NoteLockHealth(const Status& error) {
    if (!error.ok()) {
      if (failures_++ == 0) {
        LOG(WARNING) << "leader election " << config_.name << ": " << lock_->Describe() << ": "
                     << error.message() << "; retrying every " << config_.retry_period.count()
                     << " ms";
      }
      return;
    }
    if (failures_ > 0) {
      LOG(INFO) << "leader election " << config_.name << ": " << lock_->Describe()
                << " reachable again after " << failures_ << " failed attempt(s)";
      failures_ = 0;
    }
  }

  // client-go's release, after OnStoppedLeading: holder "" and a one-second duration.
  void Release() {
    constexpr int kAttempts = 3;  // a conflict means a write raced ours; read it again
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      auto current = lock_->Get();
      if (!current.ok()) {
        LOG(WARNING) << "leader election " << config_.name
                     << ": cannot release the lease: " << current.status().message();
        return;
      }
      if (!current->readable || current->record.holder_identity != config_.identity) return;
      LeaseRecord released;
      released.lease_duration_seconds = 1;
      released.acquire_time = MicroTime(config_.wall_clock());
      released.renew_time = released.acquire_time;
      released.lease_transitions = current->record.lease_transitions;
      auto version = lock_->Update(released, current->version);
      if (version.ok()) {
        Observe(released, *version, Now());
        LOG(INFO) << "leader election " << config_.name << ": " << config_.identity
                  << " released the lease";
        return;
      }
      if (version.status().code() != Code::kConflict) {
        LOG(WARNING) << "leader election " << config_.name
                     << ": cannot release the lease (others take it when it expires): "
                     << version.status().message();
        return;
      }
    }
  }

  void WaitRetryPeriod() {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, stop_.get_token(), config_.retry_period, [] { return false; });
  }

  LeaderElector& owner_;
  const LeaderElectionConfig& config_;
  LeaseLock* const lock_;
  const LeaderCallbacks callbacks_;

  mutable std::mutex mu_;             // guards observed_holder_ and thread_
  std::condition_variable_any wake_;  // for the stop token's waits
  std::stop_source stop_;             // requested by Stop(); renewed by Start()
  std::string observed_holder_;       // observed_.holder_identity, for Holder()
  std::thread thread_;

  // The elector thread's own state (no lock).
  LeaseRecord observed_;
  std::string observed_version_;  // the version of observed_; "" when none was read
  SteadyTime observed_time_{};    // when observed_revision_ was first seen, on our clock
  bool observed_unreadable_ = false;
  SteadyTime last_renew_{};  // start of the last successful acquire or renew
  std::string reported_leader_;
  int64_t failures_ = 0;  // consecutive failures of the lock
};

LeaderElector::LeaderElector(LeaseLock* lock, LeaderElectionConfig config,
                             LeaderCallbacks callbacks)
    : config_(std::move(config)) {
  if (config_.identity.empty()) config_.identity = DefaultIdentity();
  if (!config_.clock) config_.clock = [] { return std::chrono::steady_clock::now(); };
  if (!config_.wall_clock) config_.wall_clock = [] { return std::chrono::system_clock::now(); };
  if (config_.lease_duration <= std::chrono::milliseconds(0)) {
    LOG(ERROR) << "leader election " << config_.name << ": lease_duration must be positive; "
               << "using 15 s";
    config_.lease_duration = std::chrono::milliseconds(15000);
  }
  if (config_.renew_deadline >= config_.lease_duration ||
      config_.renew_deadline <= std::chrono::milliseconds(0)) {
    LOG(ERROR) << "leader election " << config_.name
               << ": renew_deadline must be shorter than lease_duration";
    config_.renew_deadline = config_.lease_duration * 2 / 3;
  }
  if (config_.retry_period >= config_.renew_deadline ||
      config_.retry_period <= std::chrono::milliseconds(0)) {
    LOG(ERROR) << "leader election " << config_.name
               << ": retry_period must be shorter than renew_deadline";
    config_.retry_period = std::max(std::chrono::milliseconds(1), config_.renew_deadline / 2);
  }
  impl_ = std::make_unique<Impl>(this, lock, std::move(callbacks));
}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() { impl_->Start(); }

void LeaderElector::Stop() { impl_->Stop(); }

std::string LeaderElector::Holder() const { return impl_->Holder(); }

}  // namespace csdr::controllers
