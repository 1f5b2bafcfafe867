// The lease locks: the Lease spec codec, KubeLeaseLock's create/get/update against
// FakeApiServer (kube-apiserver's 404, 409 AlreadyExists and 409 Conflict), its watch waking a
// follower as soon as the Lease changes, and two electors sharing one Lease in the cluster
// (a real kube-apiserver runs the same in test/e2e/test_ha.py).
#include "controllers/lease_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "controllers/leader_election.h"
#include "test/kube/fake_apiserver.h"
#include "test/kube/test_pki.h"

namespace csdr::controllers {
namespace {

using namespace std::chrono_literals;
using kube::testing::FakeApiServer;
using kube::testing::TestPki;
using std::chrono::steady_clock;

constexpr const char* kLeases = "/apis/coordination.k8s.io/v1/namespaces/csdr/leases";

LeaseRecord Record(const std::string& holder, int64_t transitions = 0) {
  LeaseRecord r;
  r.holder_identity = holder;
  r.lease_duration_seconds = 15;
  r.acquire_time = "2026-12-07T12:00:00.123456Z";
  r.renew_time = "2026-12-07T12:00:02.123456Z";
  r.lease_transitions = transitions;
  return r;
}

TEST(LeaseSpecTest, RoundTripsAndRefusesWrongTypes) {
  const LeaseRecord r = Record("a", 3);
  EXPECT_EQ(json::Serialize(LeaseSpec(r)),
            R"({"holderIdentity":"a","leaseDurationSeconds":15,)"
            R"("acquireTime":"2026-12-07T12:00:00.123456Z",)"
            R"("renewTime":"2026-12-07T12:00:02.123456Z","leaseTransitions":3})");
  auto back = RecordOfLeaseSpec(LeaseSpec(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, r);
  // A Lease kube-apiserver stored without a holder (released by client-go: holderIdentity
  // null) and with members of newer versions.
  auto released = RecordOfLeaseSpec(
      *json::Parse(R"({"holderIdentity":null,"leaseDurationSeconds":1,"strategy":"x"})"));
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->holder_identity, "");
  EXPECT_EQ(released->lease_duration_seconds, 1);
  EXPECT_FALSE(RecordOfLeaseSpec(*json::Parse(R"({"leaseDurationSeconds":"15"})")).ok());
  EXPECT_FALSE(RecordOfLeaseSpec(*json::Parse(R"({"holderIdentity":7})")).ok());
  EXPECT_FALSE(RecordOfLeaseSpec(*json::Parse(R"([])")).ok());
}

class KubeLeaseLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeApiServer>(FakeApiServer::Options{pki_.Server(), "", {"t"}});
    server_->AddCollection(kLeases);
    kube::ClusterConfig config = server_->Config(pki_.ca_pem());
    config.token = "t";
    auto client = kube::KubeClient::Create(config);
    ASSERT_TRUE(client.ok()) << client.status().message();
    client_ = std::move(*client);
  }
  json::Value StoredLease() const {
    auto lease = client_->GetJson(std::string(kLeases) + "/csdr-controllers");
    EXPECT_TRUE(lease.ok()) << lease.status().message();
    return lease.ok() ? *lease : json::Value();
  }

  TestPki pki_;
  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<kube::KubeClient> client_;
};

TEST_F(KubeLeaseLockTest, CreateGetUpdateAsKubeApiserverAnswers) {
  KubeLeaseLock lock(client_.get(), "csdr", "csdr-controllers");
  EXPECT_EQ(lock.Path(), std::string(kLeases) + "/csdr-controllers");
  EXPECT_EQ(lock.Describe(), "Lease csdr/csdr-controllers");
  EXPECT_EQ(lock.Get().status().code(), Code::kNotFound);

  auto v1 = lock.Create(Record("a"));
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  const json::Value stored = StoredLease();
  EXPECT_EQ(stored.GetString({"apiVersion"}), "coordination.k8s.io/v1");
  EXPECT_EQ(stored.GetString({"kind"}), "Lease");
  EXPECT_EQ(stored.GetString({"metadata", "namespace"}), "csdr");
  EXPECT_EQ(stored.GetString({"metadata", "resourceVersion"}), *v1);
  EXPECT_EQ(stored.GetString({"spec", "holderIdentity"}), "a");
  // A second create finds the name taken: AlreadyExists, not a conflict.
  EXPECT_EQ(lock.Create(Record("b")).status().code(), Code::kAlreadyExists);

  auto got = lock.Get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, *v1);
  EXPECT_TRUE(got->readable);
  EXPECT_EQ(got->record, Record("a"));

  auto v2 = lock.Update(Record("b", 1), *v1);
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  EXPECT_NE(*v2, *v1);
  // A write on the old version is a conflict: someone else wrote since.
  EXPECT_EQ(lock.Update(Record("c", 2), *v1).status().code(), Code::kConflict);
  EXPECT_EQ(lock.Get()->record.holder_identity, "b");
}

TEST_F(KubeLeaseLockTest, UnreadableSpecIsReportedNotFatal) {
  json::Value lease = json::Value::MakeObject();
  lease["metadata"].Set("name", "csdr-controllers");
  lease["metadata"].Set("namespace", "csdr");
  lease["spec"].Set("holderIdentity", json::Value::MakeArray());
  const std::string rv = server_->Put(kLeases, lease);
  KubeLeaseLock lock(client_.get(), "csdr", "csdr-controllers");
  auto got = lock.Get();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_FALSE(got->readable);
  EXPECT_EQ(got->version, rv);
}

TEST_F(KubeLeaseLockTest, WaitForChangeWakesOnAWriteAndOnStop) {
  KubeLeaseLock lock(client_.get(), "csdr", "csdr-controllers");
  auto v1 = lock.Create(Record("a"));
  ASSERT_TRUE(v1.ok());
  std::stop_source stop;
  // Nothing changes: the wait lasts its timeout (the first wait also starts the watch).
  auto start = steady_clock::now();
  lock.WaitForChange(*v1, 300ms, stop.get_token());
  EXPECT_GE(steady_clock::now() - start, 300ms);

  // Another writer's update wakes the waiter long before its timeout.
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    KubeLeaseLock other(client_.get(), "csdr", "csdr-controllers");
    EXPECT_TRUE(other.Update(Record("b", 1), *v1).ok());
  });
  start = steady_clock::now();
  lock.WaitForChange(*v1, 30s, stop.get_token());
  EXPECT_LT(steady_clock::now() - start, 20s);
  writer.join();
  EXPECT_EQ(lock.Get()->record.holder_identity, "b");

  // A version already behind returns at once; a stop request ends a wait.
  start = steady_clock::now();
  lock.WaitForChange(*v1, 30s, stop.get_token());
  EXPECT_LT(steady_clock::now() - start, 20s);
  const std::string current = lock.Get()->version;
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  start = steady_clock::now();
  lock.WaitForChange(current, 30s, stop.get_token());
  EXPECT_LT(steady_clock::now() - start, 20s);
  stopper.join();
}

TEST_F(KubeLeaseLockTest, TwoElectorsShareOneLeaseAndHandOverOnStop) {
  KubeLeaseLock lock_a(client_.get(), "csdr", "csdr-controllers");
  KubeLeaseLock lock_b(client_.get(), "csdr", "csdr-controllers");
  std::atomic<int> leaders{0};
  std::atomic<int> max_leaders{0};
  auto callbacks = [&] {
    LeaderCallbacks c;
    c.on_started_leading = [&] {
      const int n = ++leaders;
      int m = max_leaders.load();
      while (n > m && !max_leaders.compare_exchange_weak(m, n)) {
      }
    };
    c.on_stopped_leading = [&] { --leaders; };
    return c;
  };
  auto config = [](const std::string& identity) {
    LeaderElectionConfig c;
    c.identity = identity;
    // A retry period longer than the test's wait: the follower can only take the released
    // lease in time through the lock's watch.
    c.lease_duration = 60s;
    c.renew_deadline = 40s;
    c.retry_period = 30s;
    return c;
  };
  LeaderElector a(&lock_a, config("a"), callbacks());
  a.Start();
  auto until = steady_clock::now() + 20s;
  while (!a.IsLeader() && steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(a.IsLeader());
  LeaderElector b(&lock_b, config("b"), callbacks());
  b.Start();
  until = steady_clock::now() + 20s;
  while (b.Holder() != "a" && steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(b.Holder(), "a");
  EXPECT_FALSE(b.IsLeader());
  EXPECT_EQ(StoredLease().GetString({"spec", "holderIdentity"}), "a");

  a.Stop();  // released: holder "", one second
  until = steady_clock::now() + 20s;
  while (!b.IsLeader() && steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(b.IsLeader());
  const json::Value lease = StoredLease();
  EXPECT_EQ(lease.GetString({"spec", "holderIdentity"}), "b");
  EXPECT_EQ(lease.Find("spec")->Find("leaseTransitions")->as_int(), 1);
  EXPECT_EQ(lease.Find("spec")->Find("leaseDurationSeconds")->as_int(), 60);
  b.Stop();
  EXPECT_EQ(max_leaders.load(), 1);
  EXPECT_EQ(StoredLease().GetString({"spec", "holderIdentity"}), "");
}

}  // namespace
}  // namespace csdr::controllers
