// Leader election on the Store, after client-go's tools/leaderelection (tryAcquireOrRenew,
// acquire, renew, release), with a watch on the record so that a released lease is taken at
// once instead of at the next retry.
#include "controllers/leader_election.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <random>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/metrics.h"

namespace csdr::controllers {
namespace {

using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// The Lease fields client-go's resourcelock.LeaderElectionRecord carries.
struct LeaseRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t lease_transitions = 0;
};

std::string EncodeRecord(const LeaseRecord& r) {
  json::Value v = json::Value::MakeObject();
  v.Set("holderIdentity", r.holder_identity);
  v.Set("leaseDurationSeconds", r.lease_duration_seconds);
  v.Set("acquireTime", r.acquire_time);
  v.Set("renewTime", r.renew_time);
  v.Set("leaseTransitions", r.lease_transitions);
  return json::Serialize(v);
}

// Unknown members are ignored: on etcd the value read back carries metadata.resourceVersion.
StatusOr<LeaseRecord> DecodeRecord(const std::string& bytes) {
  auto v = json::Parse(bytes);
  if (!v.ok()) return v.status();
  if (!v->is_object()) return Status(Code::kBadRequest, "lease record is not a JSON object");
  LeaseRecord r;
  r.holder_identity = v->GetString({"holderIdentity"});
  if (const json::Value* d = v->Find("leaseDurationSeconds"); d != nullptr && d->is_number()) {
    r.lease_duration_seconds = d->as_int();
  }
  r.acquire_time = v->GetString({"acquireTime"});
  r.renew_time = v->GetString({"renewTime"});
  if (const json::Value* t = v->Find("leaseTransitions"); t != nullptr && t->is_number()) {
    r.lease_transitions = t->as_int();
  }
  return r;
}

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

bool IsStoreFailure(const Status& s) {
  return s.code() != Code::kNotFound && s.code() != Code::kAlreadyExists &&
         s.code() != Code::kConflict;
}

}  // namespace

std::string LeaseKey(const std::string& name) { return "/registry/csdr.io/_leases/" + name; }

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
  Impl(LeaderElector* owner, storage::Store* store, LeaderCallbacks callbacks)
      : owner_(*owner),
        config_(owner->config_),
        store_(store),
        callbacks_(std::move(callbacks)),
        key_(LeaseKey(config_.name)) {}

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    MasterStatus()->Set({config_.name}, 0);
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) return;
      stopping_ = true;
      if (watcher_ != nullptr) watcher_->Stop();  // ends a Next() the thread may be in
    }
    wake_.notify_all();
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
    kRetry,    // lost every race in this attempt; not a store failure
    kStoreError,
  };

  SteadyTime Now() const { return config_.clock(); }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  void Run() {
    while (!Stopping()) {
      const SteadyTime now = Now();
      Status error;
      const Outcome outcome = TryAcquireOrRenew(now, &error);
      NoteStoreHealth(outcome == Outcome::kStoreError ? error : Status());
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
        case Outcome::kStoreError:
          if (leading() && Now() - last_renew_ >= config_.renew_deadline) {
            LOG(WARNING) << "leader election " << config_.name << ": could not renew within "
                         << config_.renew_deadline.count() << " ms; stopped leading";
            StopLeading();
          }
          break;
      }
      ReportTransition();
      if (leading()) {
        DropWatch();
        WaitRetryPeriod();
      } else {
        WaitForChange();
      }
    }
    DropWatch();
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
    if (leading() && observed_revision_ > 0) {
      LeaseRecord next = observed_;
      next.renew_time = MicroTime(config_.wall_clock());
      next.lease_duration_seconds = LeaseSeconds();
      auto rev =
          store_->Update(key_, observed_revision_, [&next](int64_t) { return EncodeRecord(next); });
      if (rev.ok()) {
        Observe(next, *rev, now);
        return Outcome::kLeading;
      }
      if (IsStoreFailure(rev.status())) {
        *error = rev.status();
        return Outcome::kStoreError;
      }
    }
    constexpr int kRounds = 3;  // each lost round means another replica's write succeeded
    for (int round = 0; round < kRounds; ++round) {
      // 2. Read, or create when absent.
      auto kv = store_->Get(key_);
      if (!kv.ok() && kv.status().code() != Code::kNotFound) {
        *error = kv.status();
        return Outcome::kStoreError;
      }
      if (!kv.ok()) {
        LeaseRecord first = OurRecord(0);
        auto rev = store_->Create(key_, [&first](int64_t) { return EncodeRecord(first); });
        if (rev.ok()) {
          Observe(first, *rev, now);
          return Outcome::kLeading;
        }
        if (IsStoreFailure(rev.status())) {
          *error = rev.status();
          return Outcome::kStoreError;
        }
        continue;  // kAlreadyExists: someone else created it first
      }
      // 3. A new version restarts the observed time, taken after the read: the latest
      // moment we may claim to have first seen it.
      if (kv->mod_revision != observed_revision_) {
        const SteadyTime seen = Now();
        auto record = DecodeRecord(kv->value);
        if (!record.ok()) {
          // Unreadable: treat it as held by someone unknown, so it is overwritten only
          // after a lease duration without change.
          LOG_EVERY_N(WARNING, 100) << "leader election " << config_.name
                                    << ": unreadable lease record: " << record.status().message();
          Observe(LeaseRecord{}, kv->mod_revision, seen);
          observed_unreadable_ = true;
        } else {
          Observe(*record, kv->mod_revision, seen);
        }
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
      auto rev =
          store_->Update(key_, kv->mod_revision, [&next](int64_t) { return EncodeRecord(next); });
      if (rev.ok()) {
        if (!ours) {
          LOG(INFO) << "leader election " << config_.name << ": took over from \""
                    << observed_.holder_identity << "\" (transition " << next.lease_transitions
                    << ")";
        }
        Observe(next, *rev, now);
        return Outcome::kLeading;
      }
      if (IsStoreFailure(rev.status())) {
        *error = rev.status();
        return Outcome::kStoreError;
      }
      // kConflict or kNotFound: the record changed under us; read it again.
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

  void Observe(const LeaseRecord& record, int64_t revision, SteadyTime now) {
    observed_ = record;
    observed_revision_ = revision;
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
  void NoteStoreHealth(const Status& error) {
    if (!error.ok()) {
      if (failures_++ == 0) {
        LOG(WARNING) << "leader election " << config_.name << ": store error: " << error.message()
                     << "; retrying every " << config_.retry_period.count() << " ms";
      }
      return;
    }
    if (failures_ > 0) {
      LOG(INFO) << "leader election " << config_.name << ": store reachable again after "
                << failures_ << " failed attempt(s)";
      failures_ = 0;
    }
  }

  // client-go's release, after OnStoppedLeading: holder "" and a one-second duration.
  void Release() {
    constexpr int kAttempts = 3;  // a conflict means a write raced ours; read it again
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      auto kv = store_->Get(key_);
      if (!kv.ok()) {
        LOG(WARNING) << "leader election " << config_.name
                     << ": cannot release the lease: " << kv.status().message();
        return;
      }
      auto record = DecodeRecord(kv->value);
      if (!record.ok() || record->holder_identity != config_.identity) return;  // not ours
      LeaseRecord released;
      released.lease_duration_seconds = 1;
      released.acquire_time = MicroTime(config_.wall_clock());
      released.renew_time = released.acquire_time;
      released.lease_transitions = record->lease_transitions;
      auto rev = store_->Update(key_, kv->mod_revision,
                                [&released](int64_t) { return EncodeRecord(released); });
      if (rev.ok()) {
        Observe(released, *rev, Now());
        LOG(INFO) << "leader election " << config_.name << ": " << config_.identity
                  << " released the lease";
        return;
      }
      if (rev.status().code() != Code::kConflict) {
        LOG(WARNING) << "leader election " << config_.name
                     << ": cannot release the lease (others take it when it expires): "
                     << rev.status().message();
        return;
      }
    }
  }

  void WaitRetryPeriod() {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, config_.retry_period, [this] { return stopping_; });
  }

  // A follower waits up to a retry period, returning early when the record changes. Without
  // a watch (the store refused one, or it ended) this is a plain wait: polling.
  void WaitForChange() {
    const SteadyTime deadline = std::chrono::steady_clock::now() + config_.retry_period;
    if (watch_ == nullptr) {
      // From the version read: a write after the read is replayed, none is missed. When no
      // record was read, from now (the next poll covers the gap).
      auto w = store_->Watch(key_, observed_revision_);
      if (!w.ok()) {
        if (!watch_failing_) {
          LOG(WARNING) << "leader election " << config_.name
                       << ": cannot watch the lease, polling every " << config_.retry_period.count()
                       << " ms: " << w.status().message();
          watch_failing_ = true;
        }
        WaitRetryPeriod();
        return;
      }
      if (watch_failing_) {
        LOG(INFO) << "leader election " << config_.name << ": watching the lease again";
        watch_failing_ = false;
      }
      std::lock_guard<std::mutex> lock(mu_);
      watch_ = std::move(w.value());
      watcher_ = watch_.get();
      if (stopping_) return;  // Stop() ran before watcher_ was set
    }
    std::vector<storage::Event> events;
    while (true) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= milliseconds(0)) return;
      events.clear();
      bool expired = false;
      const bool alive = watch_->Next(left, &events, &expired);
      if (Stopping()) return;
      for (const storage::Event& e : events) {
        if (e.key == key_) return;  // the prefix also matches longer lease names
      }
      if (!alive) {
        // Ended (store closed, or too far behind): poll out this period, watch anew after.
        DropWatch();
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait_until(lock, deadline, [this] { return stopping_; });
        return;
      }
    }
  }

  void DropWatch() {
    std::unique_ptr<storage::Watcher> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watcher_ = nullptr;
      old = std::move(watch_);
    }
    if (old != nullptr) old->Stop();
  }

  LeaderElector& owner_;
  const LeaderElectionConfig& config_;
  storage::Store* const store_;
  const LeaderCallbacks callbacks_;
  const std::string key_;

  // Guards stopping_, watcher_, watch_ (as a pointer: the thread alone calls Next on it),
  // observed_holder_ and thread_.
  mutable std::mutex mu_;
  std::condition_variable wake_;  // signalled by Stop()
  bool stopping_ = false;
  storage::Watcher* watcher_ = nullptr;  // watch_.get(), for Stop() to end a Next()
  std::unique_ptr<storage::Watcher> watch_;
  std::string observed_holder_;  // observed_.holder_identity, for Holder()
  std::thread thread_;

  // The elector thread's own state (no lock).
  LeaseRecord observed_;
  int64_t observed_revision_ = 0;  // mod_revision of observed_; 0 when none was read
  SteadyTime observed_time_{};     // when observed_revision_ was first seen, on our clock
  bool observed_unreadable_ = false;
  SteadyTime last_renew_{};  // start of the last successful acquire or renew
  std::string reported_leader_;
  int64_t failures_ = 0;  // consecutive store failures
  bool watch_failing_ = false;
};

LeaderElector::LeaderElector(storage::Store* store, LeaderElectionConfig config,
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
  impl_ = std::make_unique<Impl>(this, store, std::move(callbacks));
}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() { impl_->Start(); }

void LeaderElector::Stop() { impl_->Stop(); }

std::string LeaderElector::Holder() const { return impl_->Holder(); }

}  // namespace csdr::controllers
