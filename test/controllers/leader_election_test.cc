// Leader election on the memory store (and on etcd when it is installed): one leader at a
// time, a released lease taken through the watch, a dead holder's lease taken only after a
// lease duration of the candidate's own clock, a leader that cannot renew stepping down, and
// the record's wire format across handovers.
#include "controllers/leader_election.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <vector>

#include "apiserver/registry/registry.h"
#include "common/json.h"
#include "common/metrics.h"
#include "storage/etcd/etcd_store.h"
#include "test/storage/etcd_process.h"

namespace csdr::controllers {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The injected steady clock: moves only when the test says so.
class FakeClock {
 public:
  steady_clock::time_point Now() const {
    return steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  void Advance(std::chrono::nanoseconds by) { ns_ += by.count(); }
  std::function<steady_clock::time_point()> Fn() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> ns_{int64_t{1000} * 1000 * 1000 * 1000};
};

// The injected wall clock written into acquireTime/renewTime.
class FakeWallClock {
 public:
  FakeWallClock() {
    using namespace std::chrono;
    Set(sys_days{year{2026} / 12 / 7} + 12h + microseconds(123456));
  }
  void Set(std::chrono::system_clock::time_point t) {
    us_ = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  }
  void Advance(std::chrono::microseconds by) { us_ += by.count(); }
  std::function<std::chrono::system_clock::time_point()> Fn() {
    return [this] {
      return std::chrono::system_clock::time_point(std::chrono::microseconds(us_.load()));
    };
  }

 private:
  std::atomic<int64_t> us_{0};
};

// A Store that forwards to another and can be switched to fail as a broken backend does.
class FlakyStore : public storage::Store {
 public:
  explicit FlakyStore(storage::Store* inner) : inner_(inner) {}
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_reads{false};
  std::atomic<bool> fail_watch{false};

  StatusOr<int64_t> Create(const std::string& key, const storage::Encoder& encode) override {
    if (fail_writes) return Unavailable();
    return inner_->Create(key, encode);
  }
  StatusOr<storage::KeyValue> Get(const std::string& key) override {
    if (fail_reads) return Unavailable();
    return inner_->Get(key);
  }
  StatusOr<storage::ListResult> List(const std::string& prefix, const std::string& start_after,
                                     size_t limit, int64_t at_revision) override {
    if (fail_reads) return Unavailable();
    return inner_->List(prefix, start_after, limit, at_revision);
  }
  StatusOr<int64_t> Update(const std::string& key, int64_t expected,
                           const storage::Encoder& encode) override {
    if (fail_writes) return Unavailable();
    return inner_->Update(key, expected, encode);
  }
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected,
                           const storage::Encoder& encode) override {
    if (fail_writes) return Unavailable();
    return inner_->Delete(key, expected, encode);
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_->CompactedRevision(); }
  StatusOr<std::unique_ptr<storage::Watcher>> Watch(const std::string& prefix,
                                                    int64_t after) override {
    if (fail_watch) return Unavailable();
    return inner_->Watch(prefix, after);
  }
  void Close() override { inner_->Close(); }

 private:
  static Status Unavailable() { return Status(Code::kUnavailable, "injected: store unavailable"); }
  storage::Store* inner_;
};

// How many electors are inside OnStartedLeading..OnStoppedLeading at once, and the most ever.
struct Overlap {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void Enter() {
    const int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
  }
  void Exit() { --now; }
};

// What one elector's callbacks saw.
struct Probe {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::mutex mu;
  std::vector<std::string> new_leaders;  // guarded by mu

  LeaderCallbacks Callbacks(Overlap* overlap) {
    LeaderCallbacks c;
    c.on_started_leading = [this, overlap] {
      ++started;
      overlap->Enter();
    };
    c.on_stopped_leading = [this, overlap] {
      ++stopped;
      overlap->Exit();
    };
    c.on_new_leader = [this](const std::string& holder) {
      std::lock_guard<std::mutex> lock(mu);
      new_leaders.push_back(holder);
    };
    return c;
  }
  std::vector<std::string> NewLeaders() {
    std::lock_guard<std::mutex> lock(mu);
    return new_leaders;
  }
  bool SawLeader(const std::string& holder) {
    for (const auto& h : NewLeaders()) {
      if (h == holder) return true;
    }
    return false;
  }
};

// An elector with its own StoreLeaseLock on `store` (the lock is built first, destroyed last).
struct StoreLockHolder {
  StoreLockHolder(storage::Store* store, const std::string& name) : lock(store, name) {}
  StoreLeaseLock lock;
};
class Elector : private StoreLockHolder, public LeaderElector {
 public:
  Elector(storage::Store* store, LeaderElectionConfig config, LeaderCallbacks callbacks)
      : StoreLockHolder(store, config.name),
        LeaderElector(&lock, std::move(config), std::move(callbacks)) {}
};

LeaderElectionConfig Config(const std::string& name, const std::string& identity,
                            milliseconds lease, milliseconds renew, milliseconds retry) {
  LeaderElectionConfig c;
  c.name = name;
  c.identity = identity;
  c.lease_duration = lease;
  c.renew_deadline = renew;
  c.retry_period = retry;
  return c;
}

// Polls `done` every 2 ms until it holds or `timeout` passes (generous: the machine is loaded).
bool WaitFor(const std::function<bool()>& done, milliseconds timeout = 10s) {
  const auto until = steady_clock::now() + timeout;
  while (steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

std::unique_ptr<storage::Store> MemoryStore() {
  auto s = storage::OpenStore("memory://");
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s.value());
}

storage::KeyValue ReadLease(storage::Store* store, const std::string& name) {
  auto kv = store->Get(LeaseKey(name));
  EXPECT_TRUE(kv.ok()) << kv.status().message();
  return kv.ok() ? kv.value() : storage::KeyValue{};
}

json::Value ReadRecord(storage::Store* store, const std::string& name) {
  auto v = json::Parse(ReadLease(store, name).value);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? std::move(v.value()) : json::Value();
}

std::string GaugeLine(const std::string& name) {
  return "csdr_leader_election_master_status{name=\"" + name + "\"}";
}
// The gauge's value for lease `name` in the /metrics exposition ("" when absent).
std::string GaugeValue(const std::string& name) {
  const std::string text = metrics::Default().Expose();
  const std::string line = GaugeLine(name) + " ";
  const size_t at = text.find(line);
  if (at == std::string::npos) return "";
  const size_t end = text.find('\n', at);
  return text.substr(at + line.size(), end - at - line.size());
}

milliseconds Since(steady_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t);
}

TEST(LeaseKeyTest, OutsideResourcePrefixes) {
  EXPECT_EQ(LeaseKey("csdr-controllers"), "/registry/csdr.io/_leases/csdr-controllers");
}

TEST(DefaultIdentityTest, HostnameAndRandomHex) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const std::string a = DefaultIdentity();
  const std::string b = DefaultIdentity();
  EXPECT_TRUE(std::regex_match(a, std::regex(std::string(host) + "_[0-9a-f]{16}"))) << a;
  EXPECT_NE(a, b);
}

// 1. Two candidates on one store: exactly one leads, at every sample, and it stays the same.
TEST(LeaderElectorTest, OneOfTwoLeads) {
  auto store = MemoryStore();
  Overlap overlap;
  Probe pa, pb;
  Elector a(store.get(), Config("one-of-two", "a", 3000ms, 2000ms, 50ms), pa.Callbacks(&overlap));
  Elector b(store.get(), Config("one-of-two", "b", 3000ms, 2000ms, 50ms), pb.Callbacks(&overlap));
  a.Start();
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader() || b.IsLeader(); }));
  LeaderElector* leader = a.IsLeader() ? &a : &b;
  LeaderElector* follower = a.IsLeader() ? &b : &a;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(leader->IsLeader()) << "sample " << i;
    ASSERT_FALSE(follower->IsLeader()) << "sample " << i;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(WaitFor([&] { return follower->Holder() == leader->Identity(); }));
  EXPECT_EQ(leader->Holder(), leader->Identity());
  EXPECT_EQ(ReadRecord(store.get(), "one-of-two").GetString({"holderIdentity"}),
            leader->Identity());
  EXPECT_EQ(pa.started + pb.started, 1);
  EXPECT_EQ(overlap.max.load(), 1);
  // Both report the leader once, and no other holder.
  EXPECT_EQ(pa.NewLeaders(), std::vector<std::string>{leader->Identity()});
  EXPECT_EQ(pb.NewLeaders(), std::vector<std::string>{leader->Identity()});
  // The follower first: stopping the leader first would hand the lease over.
  follower->Stop();
  leader->Stop();
  EXPECT_EQ(pa.stopped + pb.stopped, 1);
  EXPECT_EQ(overlap.now.load(), 0);
}

// 2. Stop() releases and the follower, waiting on its watch with a 2 s retry period, takes
// the lease well before its next poll. Stop() itself never waits for a retry period.
TEST(LeaderElectorTest, StopHandsOverThroughTheWatch) {
  auto store = MemoryStore();
  Overlap overlap;
  Probe pa, pb, pc;
  const std::string name = "handover";
  Elector a(store.get(), Config(name, "a", 10s, 5s, 2s), pa.Callbacks(&overlap));
  Elector b(store.get(), Config(name, "b", 10s, 5s, 2s), pb.Callbacks(&overlap));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  b.Start();
  // b has read the record (its first attempt, made at once): its next poll is 2 s away.
  ASSERT_TRUE(WaitFor([&] { return b.Holder() == "a"; }));

  const auto stop_started = steady_clock::now();
  a.Stop();
  EXPECT_LT(Since(stop_started), 500ms) << "Stop() of the leader waited";
  EXPECT_EQ(pa.stopped.load(), 1) << "OnStoppedLeading must run before Stop() returns";
  EXPECT_FALSE(a.IsLeader());
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, 5s));
  EXPECT_LT(Since(stop_started), 500ms) << "taken by polling, not through the watch";
  EXPECT_EQ(overlap.max.load(), 1);

  // A follower stops at once too (its Next() on the watch is ended).
  Elector c(store.get(), Config(name, "c", 10s, 5s, 2s), pc.Callbacks(&overlap));
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return c.Holder() == "b"; }));
  const auto follower_stop = steady_clock::now();
  c.Stop();
  EXPECT_LT(Since(follower_stop), 500ms) << "Stop() of a follower waited";
  EXPECT_EQ(pc.started.load(), 0);
  EXPECT_EQ(pc.stopped.load(), 0) << "OnStoppedLeading without having led";
  b.Stop();
}

// When the store refuses watches, a follower still takes a released lease by polling.
TEST(LeaderElectorTest, WithoutWatchFollowersPoll) {
  auto memory = MemoryStore();
  FlakyStore store(memory.get());
  store.fail_watch = true;
  Overlap overlap;
  Probe pa, pb;
  Elector a(&store, Config("poll", "a", 3000ms, 2000ms, 100ms), pa.Callbacks(&overlap));
  Elector b(&store, Config("poll", "b", 3000ms, 2000ms, 100ms), pb.Callbacks(&overlap));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return b.Holder() == "a"; }));
  a.Stop();
  // Within a few retry periods, far less than the 3 s lease: the release was seen.
  const auto stopped = steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, 5s));
  EXPECT_LT(Since(stopped), 2000ms);
  EXPECT_EQ(overlap.max.load(), 1);
  b.Stop();
}

// 3. A holder that died without releasing: the candidate takes over only after a whole
// lease duration of its own clock since it first saw the record's current version. The
// record's timestamps are from the year 2000: a candidate that trusted them would take the
// lease at once.
TEST(LeaderElectorTest, DeadHolderTakenAfterObservedLeaseDuration) {
  auto store = MemoryStore();
  const std::string name = "dead-holder";
  const std::string key = LeaseKey(name);
  auto record = [](const std::string& holder) {
    return "{\"holderIdentity\":\"" + holder +
           "\",\"leaseDurationSeconds\":5,\"acquireTime\":\"2000-01-01T00:00:00.000000Z\","
           "\"renewTime\":\"2000-01-01T00:00:00.000000Z\",\"leaseTransitions\":3}";
  };
  ASSERT_TRUE(store->Create(key, [&](int64_t) { return record("dead"); }).ok());

  FakeClock clock;
  Overlap overlap;
  Probe pb;
  LeaderElectionConfig config = Config(name, "b", 5000ms, 3000ms, 20ms);
  config.clock = clock.Fn();
  Elector b(store.get(), config, pb.Callbacks(&overlap));
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return pb.SawLeader("dead"); }));

  clock.Advance(4900ms);
  std::this_thread::sleep_for(300ms);  // 15 retries
  EXPECT_FALSE(b.IsLeader()) << "taken before a lease duration had passed";

  // The record changes (another holder writes it): the observed time starts again.
  const int64_t rev = ReadLease(store.get(), name).mod_revision;
  ASSERT_TRUE(store->Update(key, rev, [&](int64_t) { return record("zombie"); }).ok());
  ASSERT_TRUE(WaitFor([&] { return pb.SawLeader("zombie"); }));
  clock.Advance(4900ms);  // 9.8 s since the first version, 4.9 s since this one
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(b.IsLeader()) << "the observed time did not restart with the new version";
  EXPECT_EQ(ReadRecord(store.get(), name).GetString({"holderIdentity"}), "zombie");

  clock.Advance(200ms);
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }));
  const json::Value now = ReadRecord(store.get(), name);
  EXPECT_EQ(now.GetString({"holderIdentity"}), "b");
  EXPECT_EQ(now.Find("leaseTransitions")->as_int(), 4);
  EXPECT_EQ(now.Find("leaseDurationSeconds")->as_int(), 5);
  EXPECT_EQ(pb.NewLeaders(), (std::vector<std::string>{"dead", "zombie", "b"}));
  b.Stop();
}

// 4. A leader whose writes fail keeps leading until the renew deadline has passed on its
// clock, then stops (OnStoppedLeading, gauge 0) before anyone could take the lease; it
// leads again once the store is back, as the same holder (no transition).
TEST(LeaderElectorTest, LeaderThatCannotRenewStopsWithinRenewDeadline) {
  auto memory = MemoryStore();
  FlakyStore store(memory.get());
  FakeClock clock;
  Overlap overlap;
  Probe pa;
  const std::string name = "renew-deadline";
  LeaderElectionConfig config = Config(name, "a", 5000ms, 3000ms, 20ms);
  config.clock = clock.Fn();
  Elector a(&store, config, pa.Callbacks(&overlap));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  EXPECT_EQ(GaugeValue(name), "1");

  store.fail_writes = true;
  clock.Advance(2900ms);
  std::this_thread::sleep_for(300ms);  // 15 failed renewals
  EXPECT_TRUE(a.IsLeader()) << "stopped before the renew deadline";
  EXPECT_EQ(pa.stopped.load(), 0);

  store.fail_reads = true;  // a whole outage: reads fail too
  clock.Advance(200ms);
  ASSERT_TRUE(WaitFor([&] { return !a.IsLeader(); }));
  EXPECT_TRUE(WaitFor([&] { return pa.stopped.load() == 1; }));
  EXPECT_EQ(GaugeValue(name), "0");
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(a.IsLeader());

  store.fail_writes = false;
  store.fail_reads = false;
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  EXPECT_EQ(pa.started.load(), 2);
  EXPECT_EQ(GaugeValue(name), "1");
  EXPECT_EQ(ReadRecord(memory.get(), name).Find("leaseTransitions")->as_int(), 0);
  a.Stop();
  EXPECT_EQ(GaugeValue(name), "0");
}

// A leader that finds another holder in the record stops leading at its next renewal.
TEST(LeaderElectorTest, LeaderStopsWhenAnotherHolderTookTheRecord) {
  auto store = MemoryStore();
  Overlap overlap;
  Probe pa;
  const std::string name = "usurped";
  Elector a(store.get(), Config(name, "a", 10s, 5s, 20ms), pa.Callbacks(&overlap));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  const std::string usurper =
      "{\"holderIdentity\":\"x\",\"leaseDurationSeconds\":10,\"acquireTime\":\"\","
      "\"renewTime\":\"\",\"leaseTransitions\":9}";
  ASSERT_TRUE(store->Update(LeaseKey(name), 0, [&](int64_t) { return usurper; }).ok());
  ASSERT_TRUE(WaitFor([&] { return !a.IsLeader(); }));
  EXPECT_TRUE(WaitFor([&] { return pa.stopped.load() == 1 && pa.SawLeader("x"); }));
  EXPECT_EQ(a.Holder(), "x");
  a.Stop();
  EXPECT_EQ(pa.stopped.load(), 1);
  EXPECT_EQ(ReadRecord(store.get(), name).GetString({"holderIdentity"}), "x") << "not ours";
}

// 5. The record's JSON (golden, with an injected wall clock) through create, renew, release
// and handovers: leaseTransitions counts changes of holder.
TEST(LeaderElectorTest, RecordFormatAndTransitions) {
  auto store = MemoryStore();
  FakeWallClock wall;
  Overlap overlap;
  Probe probe;
  const std::string name = "record";
  auto make = [&](const std::string& identity) {
    LeaderElectionConfig c = Config(name, identity, 10s, 5s, 20ms);
    c.wall_clock = wall.Fn();
    return std::make_unique<Elector>(store.get(), c, probe.Callbacks(&overlap));
  };
  auto record = [&] { return ReadLease(store.get(), name).value; };

  auto a = make("a");
  a->Start();
  ASSERT_TRUE(WaitFor([&] { return a->IsLeader(); }));
  EXPECT_EQ(record(), R"({"holderIdentity":"a","leaseDurationSeconds":10,)"
                      R"("acquireTime":"2026-12-07T12:00:00.123456Z",)"
                      R"("renewTime":"2026-12-07T12:00:00.123456Z","leaseTransitions":0})");
  // Renewals move renewTime only.
  wall.Advance(1s);
  ASSERT_TRUE(WaitFor([&] { return record().find("12:00:01.123456") != std::string::npos; }));
  EXPECT_EQ(record(), R"({"holderIdentity":"a","leaseDurationSeconds":10,)"
                      R"("acquireTime":"2026-12-07T12:00:00.123456Z",)"
                      R"("renewTime":"2026-12-07T12:00:01.123456Z","leaseTransitions":0})");
  // Release: holder "", one second, the count kept.
  wall.Advance(1s);
  a->Stop();
  EXPECT_EQ(record(), R"({"holderIdentity":"","leaseDurationSeconds":1,)"
                      R"("acquireTime":"2026-12-07T12:00:02.123456Z",)"
                      R"("renewTime":"2026-12-07T12:00:02.123456Z","leaseTransitions":0})");

  auto b = make("b");
  b->Start();
  ASSERT_TRUE(WaitFor([&] { return b->IsLeader(); }));
  EXPECT_EQ(record(), R"({"holderIdentity":"b","leaseDurationSeconds":10,)"
                      R"("acquireTime":"2026-12-07T12:00:02.123456Z",)"
                      R"("renewTime":"2026-12-07T12:00:02.123456Z","leaseTransitions":1})");
  b->Stop();
  a = make("a");
  a->Start();
  ASSERT_TRUE(WaitFor([&] { return a->IsLeader(); }));
  EXPECT_EQ(ReadRecord(store.get(), name).Find("leaseTransitions")->as_int(), 2);

  // A live handover through the watch.
  b = make("b");
  b->Start();
  ASSERT_TRUE(WaitFor([&] { return b->Holder() == "a"; }));
  a->Stop();
  ASSERT_TRUE(WaitFor([&] { return b->IsLeader(); }));
  const json::Value last = ReadRecord(store.get(), name);
  EXPECT_EQ(last.GetString({"holderIdentity"}), "b");
  EXPECT_EQ(last.Find("leaseTransitions")->as_int(), 3);
  b->Stop();
  EXPECT_EQ(overlap.max.load(), 1);

  // Sub-second durations are written rounded up: the record never promises less.
  auto c = [&] {
    LeaderElectionConfig cfg = Config("short", "s", 300ms, 200ms, 50ms);
    return std::make_unique<Elector>(store.get(), cfg, LeaderCallbacks{});
  }();
  c->Start();
  ASSERT_TRUE(WaitFor([&] { return c->IsLeader(); }));
  EXPECT_EQ(ReadRecord(store.get(), "short").Find("leaseDurationSeconds")->as_int(), 1);
  const std::regex micro_time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  EXPECT_TRUE(
      std::regex_match(ReadRecord(store.get(), "short").GetString({"renewTime"}), micro_time));
  c->Stop();
}

// Two replicas, each with its own etcd Store, on one etcd: the lease moves between them
// within a second of Stop(). Values read back carry the stamped metadata.resourceVersion, as
// the API server configures etcd://.
TEST(LeaderElectorEtcdTest, TwoStoresOnOneEtcd) {
  const std::string binary = storage::testing::EtcdBinary();
  if (binary.empty()) GTEST_SKIP() << "no etcd here (set CSDR_ETCD_BIN)";
  storage::testing::EtcdCluster etcd(binary, 1);
  ASSERT_TRUE(etcd.Start());
  auto open = [&] {
    storage::EtcdConfig config;
    config.servers = etcd.ClientUrls();
    config.compaction_interval = 0s;
    config.request_timeout = 5s;
    storage::StoreOptions options;
    options.stamp_revision = apiserver::StampResourceVersion;
    auto s = storage::OpenEtcdStore(config, options);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  };
  auto store_a = open();
  auto store_b = open();
  ASSERT_TRUE(store_a && store_b);

  Overlap overlap;
  Probe pa, pb;
  const std::string name = "etcd";
  Elector a(store_a.get(), Config(name, "a", 10s, 5s, 2s), pa.Callbacks(&overlap));
  Elector b(store_b.get(), Config(name, "b", 10s, 5s, 2s), pb.Callbacks(&overlap));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return b.Holder() == "a"; }));
  EXPECT_FALSE(b.IsLeader());

  const auto stop_started = steady_clock::now();
  a.Stop();
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, 5s));
  EXPECT_LT(Since(stop_started), 1000ms);
  EXPECT_EQ(overlap.max.load(), 1);

  const json::Value record = ReadRecord(store_a.get(), name);
  EXPECT_EQ(record.GetString({"holderIdentity"}), "b");
  EXPECT_EQ(record.Find("leaseTransitions")->as_int(), 1);
  EXPECT_EQ(record.GetString({"metadata", "resourceVersion"}),
            std::to_string(ReadLease(store_a.get(), name).mod_revision));
  b.Stop();
  EXPECT_EQ(ReadRecord(store_b.get(), name).GetString({"holderIdentity"}), "");
}

}  // namespace
}  // namespace csdr::controllers
