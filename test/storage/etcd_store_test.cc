// What the etcd store does beyond the conformance suite, against real etcd processes:
// stamped values, the tombstone, the consistent-list paths, compaction, several stores
// (replicas) on one etcd, and writes and watches through the death of the etcd leader.
#include "storage/etcd/etcd_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "storage/etcd/etcd_client.h"
#include "test/storage/etcd_process.h"
#include "test/storage/etcd_test_store.h"
#include "test/storage/store_test_util.h"

namespace csdr::storage {
namespace {

using namespace std::chrono_literals;
using testing::Collect;
using testing::Enc;
using testing::EtcdCluster;

// Each test runs against the etcd named by the parameter's variable.
struct Version {
  std::string name;
  std::string variable;
};
void PrintTo(const Version& v, std::ostream* os) { *os << v.name; }

class EtcdStoreTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    binary_ = testing::EtcdBinary(GetParam().variable.c_str());
    if (binary_.empty()) {
      GTEST_SKIP() << "no " << GetParam().name << " here (set " << GetParam().variable << ")";
    }
  }

  // A store on `cluster` with real revisions (no shift): values are "<body>@<revision>".
  std::unique_ptr<Store> OpenOn(EtcdCluster* cluster, StoreOptions options = {},
                                std::chrono::seconds compaction = 0s) {
    EtcdConfig config;
    config.servers = cluster->ClientUrls();
    config.compaction_interval = compaction;
    config.request_timeout = 5s;
    options.stamp_revision = testing::StampTestValue;
    options.future_revision_wait = 500ms;
    auto s = OpenEtcdStore(config, options);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  // A store on `cluster` under another prefix (no stamping, no compaction).
  static std::unique_ptr<Store> OpenElsewhere(EtcdCluster* cluster) {
    EtcdConfig other;
    other.servers = cluster->ClientUrls();
    other.prefix = "/other";
    other.compaction_interval = 0s;
    auto s = OpenEtcdStore(other, {});
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  // `key` read from etcd directly, behind the store.
  static etcdserverpb::RangeResponse RawGet(EtcdCluster* cluster, const std::string& key) {
    EtcdConfig raw;
    raw.servers = cluster->ClientUrls();
    etcdserverpb::RangeResponse resp;
    auto client = etcd::EtcdClient::Connect(raw);
    EXPECT_TRUE(client.ok()) << client.status().message();
    if (!client.ok()) return resp;
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    EXPECT_TRUE((*client)->Range(req, &resp).ok());
    return resp;
  }

  // The index of the member that leads now, or -1.
  static int Leader(EtcdCluster* cluster) {
    for (size_t i = 0; i < cluster->size(); ++i) {
      if (!cluster->Running(i)) continue;
      EtcdConfig config;
      config.servers = {cluster->ClientUrl(i)};
      config.dial_timeout = 1s;
      auto client = etcd::EtcdClient::Connect(config);
      if (!client.ok()) continue;
      etcdserverpb::StatusResponse status;
      if ((*client)->MemberStatus(&status).ok() && status.leader() == status.header().member_id()) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  std::string binary_;
};

TEST_P(EtcdStoreTest, KeysAreLaidOutUnderThePrefixAndOthersAreRefused) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto store = OpenOn(&etcd);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Create("/elsewhere/a", Enc("x")).status().code(), Code::kBadRequest);
  auto rev = store->Create("/registry/csdr.io/backups/ns/a", Enc("a"));
  ASSERT_TRUE(rev.ok()) << rev.status().message();
  // The same etcd seen through another prefix holds nothing of it.
  auto elsewhere = OpenElsewhere(&etcd);
  ASSERT_NE(elsewhere, nullptr);
  EXPECT_TRUE(elsewhere->List("/registry/", "", 0, 0)->items.empty());
  // And the key is etcd's "/csdr/csdr.io/backups/ns/a": a Range through the client finds it.
  const auto resp = RawGet(&etcd, "/csdr/csdr.io/backups/ns/a");
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).mod_revision(), *rev);
  EXPECT_EQ(resp.kvs(0).value(), "a@0");  // stored as the encoder made it, with revision 0
}

TEST_P(EtcdStoreTest, ValuesAreStampedWithTheirRevision) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto store = OpenOn(&etcd);
  ASSERT_NE(store, nullptr);
  std::vector<int64_t> seen;
  auto recording = [&](std::string body) -> Encoder {
    return [&seen, body](int64_t rev) {
      seen.push_back(rev);
      return body + "@" + std::to_string(rev);
    };
  };
  auto w = store->Watch("/registry/", 0);
  ASSERT_TRUE(w.ok());
  auto c = store->Create("/registry/a", recording("c"));
  auto u = store->Update("/registry/a", 0, recording("u"));
  ASSERT_TRUE(c.ok() && u.ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(store->Get("/registry/a")->value, "u@" + std::to_string(*u));
  EXPECT_EQ(store->List("/registry/", "", 0, 0)->items.at(0).value, "u@" + std::to_string(*u));
  EXPECT_EQ(store->List("/registry/", "", 0, *c)->items.at(0).value, "c@" + std::to_string(*c));
  auto d = store->Delete("/registry/a", 0, nullptr);
  ASSERT_TRUE(d.ok());
  auto events = Collect(w->get(), 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].value, "c@" + std::to_string(*c));
  EXPECT_EQ(events[1].value, "u@" + std::to_string(*u));
  EXPECT_EQ(events[1].prev_value, "c@" + std::to_string(*c));
  EXPECT_EQ(events[2].type, EventType::kDeleted);
  EXPECT_EQ(events[2].value, "u@" + std::to_string(*d));  // the tombstone: deletion revision
  EXPECT_EQ(events[2].prev_value, "u@" + std::to_string(*u));
}

TEST_P(EtcdStoreTest, DeleteWithChangedTombstoneIsTwoEvents) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto store = OpenOn(&etcd);
  ASSERT_NE(store, nullptr);
  auto c = store->Create("/registry/a", Enc("with-finalizer"));
  ASSERT_TRUE(c.ok());
  auto w = store->Watch("/registry/", *c);
  ASSERT_TRUE(w.ok());
  // A stale expected revision is a conflict and changes nothing.
  EXPECT_EQ(store->Delete("/registry/a", *c + 100, Enc("gone")).status().code(), Code::kConflict);
  auto d = store->Delete("/registry/a", *c, Enc("gone"));
  ASSERT_TRUE(d.ok()) << d.status().message();
  auto events = Collect(w->get(), 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kModified);
  EXPECT_EQ(events[0].value, "gone@" + std::to_string(*d - 1));
  EXPECT_EQ(events[1].type, EventType::kDeleted);
  EXPECT_EQ(events[1].revision, *d);
  EXPECT_EQ(events[1].value, "gone@" + std::to_string(*d));
  EXPECT_EQ(store->Get("/registry/a").status().code(), Code::kNotFound);
}

TEST_P(EtcdStoreTest, ConsistentListsTakeThePathTheVersionAllows) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  // Decided from the version: Debian's 3.4.23 cannot prove the cache fresh, 3.6 can.
  auto store = OpenOn(&etcd);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create("/registry/a", Enc("a")).ok());
  // Another process writes: this store must still list it at once (consistent read).
  auto writer = OpenOn(&etcd);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Create("/registry/b", Enc("b")).ok());
  const StoreStats before = store->Stats();
  auto list = store->List("/registry/", "", 0, 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 2u);
  const StoreStats after = store->Stats();
  const bool from_cache = after.lists_from_cache > before.lists_from_cache;
  const bool is_34 = GetParam().name == "etcd34";
  std::cout << "[ info ] " << GetParam().name << ": consistent list served "
            << (from_cache ? "from the watch cache" : "by a Range from etcd") << "\n";
  EXPECT_EQ(from_cache, !is_34);
  // An idle prefix: writes elsewhere in etcd move its revision; progress requests (3.6)
  // bring the cache up to it without an event.
  auto elsewhere = OpenElsewhere(&etcd);
  ASSERT_NE(elsewhere, nullptr);
  ASSERT_TRUE(elsewhere->Create("/registry/x", Enc("x")).ok());
  auto again = store->List("/registry/", "", 0, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->items.size(), 2u);
  EXPECT_GE(again->revision, elsewhere->CurrentRevision());
}

TEST_P(EtcdStoreTest, RecentReadsComeFromTheCacheAndNeverMissAnotherReplicasCreate) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto a = OpenOn(&etcd);
  auto b = OpenOn(&etcd);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto ra = a->Create("/registry/a", Enc("a"));
  ASSERT_TRUE(ra.ok());
  // A's own write is in its cache once acknowledged: no round trip to etcd.
  const int64_t cached_before = a->Stats().gets_from_cache;
  auto got = a->GetRecent("/registry/a");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->value, "a@" + std::to_string(*ra));
  EXPECT_EQ(got->mod_revision, *ra);
  EXPECT_EQ(a->Stats().gets_from_cache, cached_before + 1);
  EXPECT_GE(a->RecentRevision(), *ra);
  // Creates through B, each read through A at once: whether or not A's watch has brought it
  // yet, A never answers "not found" for an acknowledged create (it asks etcd then).
  for (int i = 0; i < 20; ++i) {
    const std::string key = "/registry/b" + std::to_string(i);
    auto rb = b->Create(key, Enc("b"));
    ASSERT_TRUE(rb.ok());
    auto seen = a->GetRecent(key);
    ASSERT_TRUE(seen.ok()) << key << ": " << seen.status().message();
    EXPECT_EQ(seen->mod_revision, *rb);
  }
  EXPECT_EQ(a->GetRecent("/registry/none").status().code(), Code::kNotFound);
  // The recent list is A's cache: it holds B's writes once A's revision has reached them.
  const int64_t last = b->CurrentRevision();
  for (int i = 0; i < 200 && a->RecentRevision() < last; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(a->RecentRevision(), last);
  const int64_t lists_before = a->Stats().lists_from_cache;
  auto list = a->ListRecent("/registry/", "", 0);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items.size(), 21u);
  EXPECT_EQ(a->Stats().lists_from_cache, lists_before + 1);
  auto page = a->ListRecent("/registry/", "/registry/a", 5);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items.front().key, "/registry/b0");
  EXPECT_TRUE(page->more);
  // A delete through B leaves A's cache in time; GetRecent then asks etcd and hears it.
  ASSERT_TRUE(b->Delete("/registry/a", 0, nullptr).ok());
  auto gone = a->GetRecent("/registry/a");
  if (gone.ok()) {
    // Still in A's cache this instant (a recent read may lag): it must go within moments.
    bool went = false;
    for (int i = 0; i < 200 && !went; ++i) {
      went = a->GetRecent("/registry/a").status().code() == Code::kNotFound;
      if (!went) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(went);
  }
}

TEST_P(EtcdStoreTest, CompactedRevisionsAreExpiredAndOneReplicaCompactsPerInterval) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto a = OpenOn(&etcd, {}, 1s);
  auto b = OpenOn(&etcd, {}, 1s);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const int64_t first = *a->Create("/registry/k", Enc("v"));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a->Update("/registry/k", 0, Enc("v")).ok());
  // Two intervals: the first records the revision, the second compacts up to it.
  std::this_thread::sleep_for(3500ms);
  // A store opened now has no history of its own: the old revision goes to etcd, which
  // compacted it.
  auto fresh = OpenOn(&etcd);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->List("/registry/", "", 0, first).status().code(), Code::kExpired);
  EXPECT_EQ(fresh->Watch("/registry/", first).status().code(), Code::kExpired);
  // The compact key's version counts one compaction per interval between both replicas.
  const auto resp = RawGet(&etcd, "compact_rev_key");
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_GE(resp.kvs(0).version(), 2);
  EXPECT_LE(resp.kvs(0).version(), 4) << "two replicas, three intervals at most";
}

TEST_P(EtcdStoreTest, ReplicasShareRevisionsAndWatchesResumeOnAnother) {
  EtcdCluster etcd(binary_, 1);
  ASSERT_TRUE(etcd.Start());
  auto a = OpenOn(&etcd);
  auto b = OpenOn(&etcd);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto wa = a->Watch("/registry/", 0);
  ASSERT_TRUE(wa.ok());
  std::vector<int64_t> revs;
  for (int i = 0; i < 5; ++i) {
    auto r = a->Create("/registry/o" + std::to_string(i), Enc("v"));
    ASSERT_TRUE(r.ok());
    revs.push_back(*r);
  }
  // B reads A's objects with A's revisions.
  auto list = b->List("/registry/", "", 0, 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(list->items[i].mod_revision, revs[i]);
  EXPECT_EQ(b->Get("/registry/o3")->mod_revision, revs[3]);
  // A watch that saw two events on A resumes on B from the last one it saw.
  auto first = Collect(wa->get(), 5);
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(first[1].revision, revs[1]);
  auto wb = b->Watch("/registry/", first[1].revision);
  ASSERT_TRUE(wb.ok());
  auto rest = Collect(wb->get(), 3);
  ASSERT_EQ(rest.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(rest[i].revision, revs[i + 2]);
  // A List at a revision B's cache may not have reached yet is answered, not refused.
  auto r = a->Create("/registry/late", Enc("v"));
  ASSERT_TRUE(r.ok());
  auto at = b->List("/registry/", "", 0, *r);
  ASSERT_TRUE(at.ok()) << at.status().message();
  EXPECT_EQ(at->items.size(), 6u);
}

// The replica test at the storage layer: a 3-member etcd, two stores writing concurrently,
// the etcd leader killed and restarted, then store A closed as if its process died.
TEST_P(EtcdStoreTest, AcknowledgedWritesSurviveTheLeaderAndAReplica) {
  EtcdCluster etcd(binary_, 3);
  ASSERT_TRUE(etcd.Start());
  auto a = OpenOn(&etcd);
  auto b = OpenOn(&etcd);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto wb = b->Watch("/registry/", 0);
  ASSERT_TRUE(wb.ok());
  // B's watch is read while the writes go on, as a client reads it: a watcher that stops
  // reading is ended once its backlog passes the queue limit, which is not what this tests.
  std::vector<storage::Event> seen;
  std::atomic<int64_t> read_through{std::numeric_limits<int64_t>::max()};
  std::atomic<bool> watch_ended{false};
  std::atomic<bool> quit{false};
  std::thread reader([&] {
    const auto give_up = std::chrono::steady_clock::now() + 90s;
    while (!quit.load() && std::chrono::steady_clock::now() < give_up &&
           (seen.empty() || seen.back().revision < read_through.load())) {
      bool expired = false;
      if (!(*wb)->Next(200ms, &seen, &expired)) {
        watch_ended = true;
        return;
      }
    }
  });
  // A failed assertion returns early: the reader stops with it.
  struct Joiner {
    std::thread* t;
    std::atomic<bool>* quit;
    ~Joiner() {
      quit->store(true);
      if (t->joinable()) t->join();
    }
  } joiner{&reader, &quit};

  std::mutex mu;
  std::map<std::string, int64_t> acked;  // key -> revision of its acknowledged create
  std::atomic<bool> stop{false};
  std::atomic<bool> a_alive{true};
  std::atomic<int> failures{0};
  auto writer = [&](Store* store, const std::string& name, std::atomic<bool>* alive) {
    for (int i = 0; !stop.load(); ++i) {
      if (alive && !alive->load()) return;
      const std::string key = "/registry/" + name + "/" + std::to_string(i);
      auto r = store->Create(key, Enc(name));
      if (r.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        acked[key] = *r;
      } else {
        failures.fetch_add(1);
        std::this_thread::sleep_for(20ms);
      }
    }
  };
  std::thread ta(writer, a.get(), "a", &a_alive);
  std::thread tb(writer, b.get(), "b", nullptr);
  std::this_thread::sleep_for(500ms);
  const int leader = Leader(&etcd);
  ASSERT_GE(leader, 0);
  size_t at_kill = 0;
  auto acked_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  at_kill = acked_count();
  etcd.Kill(static_cast<size_t>(leader));
  // Writes go on after the election: writes in flight on a follower wait for etcd's own
  // timeout (about 6 s), so wait for acknowledgements rather than a fixed time.
  EXPECT_TRUE(testing::WaitFor([&] { return acked_count() >= at_kill + 20; }, 30s))
      << "no write was acknowledged after the etcd leader died (" << acked_count() - at_kill
      << " since)";
  ASSERT_TRUE(etcd.Restart(static_cast<size_t>(leader)));
  std::this_thread::sleep_for(500ms);
  // Replica A dies (its writer stops first: a dead process acknowledges nothing more).
  a_alive = false;
  ta.join();
  a->Close();
  a.reset();
  std::this_thread::sleep_for(500ms);
  stop = true;
  tb.join();

  std::map<std::string, int64_t> expected;
  {
    std::lock_guard<std::mutex> lock(mu);
    expected = acked;
  }
  ASSERT_GT(expected.size(), 20u);
  std::cout << "[ info ] " << expected.size() << " acknowledged creates, " << failures.load()
            << " refused during the election\n";
  // Every acknowledged write is there, at its revision.
  auto list = b->List("/registry/", "", 0, 0);
  ASSERT_TRUE(list.ok()) << list.status().message();
  std::map<std::string, int64_t> present;
  for (const auto& kv : list->items) present[kv.key] = kv.mod_revision;
  for (const auto& [key, rev] : expected) {
    auto it = present.find(key);
    ASSERT_NE(it, present.end()) << "acknowledged " << key << " is lost";
    EXPECT_EQ(it->second, rev) << key;
  }
  // B's watch saw every create exactly once, in revision order.
  read_through = list->revision;
  reader.join();
  ASSERT_FALSE(watch_ended.load()) << "B's watch ended";
  ASSERT_FALSE(seen.empty());
  EXPECT_GE(seen.back().revision, list->revision);
  std::set<std::string> once;
  int64_t prev = 0;
  for (const auto& e : seen) {
    EXPECT_GT(e.revision, prev);
    prev = e.revision;
    EXPECT_TRUE(once.insert(e.key).second) << e.key << " delivered twice";
  }
  for (const auto& [key, rev] : expected) EXPECT_TRUE(once.count(key)) << key << " not seen";
  // A restarted agrees with B, and a watch on it from B's last revision gets exactly the next
  // write.
  auto a2 = OpenOn(&etcd);
  ASSERT_NE(a2, nullptr);
  auto list2 = a2->List("/registry/", "", 0, 0);
  ASSERT_TRUE(list2.ok());
  ASSERT_EQ(list2->items.size(), list->items.size());
  for (size_t i = 0; i < list->items.size(); ++i) {
    EXPECT_EQ(list2->items[i].key, list->items[i].key);
    EXPECT_EQ(list2->items[i].mod_revision, list->items[i].mod_revision);
    EXPECT_EQ(list2->items[i].value, list->items[i].value);
  }
  auto wa2 = a2->Watch("/registry/", seen.back().revision);
  ASSERT_TRUE(wa2.ok()) << wa2.status().message();
  auto next = b->Create("/registry/next", Enc("n"));
  ASSERT_TRUE(next.ok());
  auto got = Collect(wa2->get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "/registry/next");
  EXPECT_EQ(got[0].revision, *next);
  std::vector<storage::Event> more;
  (*wa2)->Next(300ms, &more, nullptr);
  EXPECT_TRUE(more.empty());
}

TEST_P(EtcdStoreTest, UnreachableEtcdIsAOneLineError) {
  EtcdConfig config;
  config.servers = {"http://127.0.0.1:" + std::to_string(testing::FreePort())};
  config.dial_timeout = 500ms;
  auto s = OpenEtcdStore(config, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_NE(s.status().message().find("cannot reach etcd"), std::string::npos)
      << s.status().message();
  EXPECT_EQ(s.status().message().find('\n'), std::string::npos);
}

// etcd over TLS with client certificates (--client-cert-auth): the right files connect; a
// wrong CA or a missing client certificate is a one-line kUnavailable at open.
TEST_P(EtcdStoreTest, TlsWithClientCertificates) {
  testing::TempDir pki;
  const std::string d = pki.path();
  const std::string script =
      "set -e; cd " + d +
      "; openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=etcd-ca -keyout ca.key "
      "-out ca.crt 2>/dev/null"
      "; openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout o.key "
      "-out other.crt 2>/dev/null"
      "; openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server.key -out s.csr "
      "2>/dev/null"
      "; printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > s.ext"
      "; openssl x509 -req -in s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile s.ext -out server.crt 2>/dev/null"
      "; openssl req -newkey rsa:2048 -nodes -subj /CN=csdr-apiserver -keyout client.key "
      "-out c.csr 2>/dev/null"
      "; printf 'extendedKeyUsage=clientAuth\\n' > c.ext"
      "; openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile c.ext -out client.crt 2>/dev/null";
  ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed";
  EtcdCluster etcd(binary_, 1);
  etcd.UseTls(d + "/ca.crt", d + "/server.crt", d + "/server.key");
  ASSERT_TRUE(etcd.Start());

  auto url = [&](const std::string& ca, bool client_cert) {
    std::string u =
        "etcds://127.0.0.1:" + etcd.ClientUrl(0).substr(etcd.ClientUrl(0).rfind(':') + 1) +
        "/csdr?cafile=" + ca;
    if (client_cert) u += "&certfile=" + d + "/client.crt&keyfile=" + d + "/client.key";
    return u;
  };
  auto good = ParseEtcdUrl(url(d + "/ca.crt", true));
  ASSERT_TRUE(good.ok()) << good.status().message();
  good->compaction_interval = 0s;
  StoreOptions options;
  options.stamp_revision = testing::StampTestValue;
  auto store = OpenEtcdStore(*good, options);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto rev = (*store)->Create("/registry/a", Enc("a"));
  ASSERT_TRUE(rev.ok()) << rev.status().message();
  EXPECT_EQ((*store)->Get("/registry/a")->value, "a@" + std::to_string(*rev));

  for (auto [what, u] :
       {std::pair<std::string, std::string>{"wrong CA", url(d + "/other.crt", true)},
        {"no client certificate", url(d + "/ca.crt", false)}}) {
    SCOPED_TRACE(what);
    auto config = ParseEtcdUrl(u);
    ASSERT_TRUE(config.ok());
    config->dial_timeout = 1s;
    auto refused = OpenEtcdStore(*config, {});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Code::kUnavailable);
    EXPECT_NE(refused.status().message().find("cannot reach etcd"), std::string::npos);
    EXPECT_EQ(refused.status().message().find('\n'), std::string::npos)
        << refused.status().message();
  }
}

TEST(EtcdUrlTest, ParsesServersAndPrefix) {
  auto c = ParseEtcdUrl("etcd://127.0.0.1:2379,10.0.0.2:2379/my/prefix/");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->servers,
            (std::vector<std::string>{"http://127.0.0.1:2379", "http://10.0.0.2:2379"}));
  EXPECT_EQ(c->prefix, "/my/prefix");
  auto tls = ParseEtcdUrl("etcds://etcd-0.etcd:2379");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->servers, (std::vector<std::string>{"https://etcd-0.etcd:2379"}));
  EXPECT_EQ(tls->prefix, "/csdr");
  EXPECT_EQ(ParseEtcdUrl("etcd://").status().code(), Code::kBadRequest);
  EXPECT_EQ(ParseEtcdUrl("etcd://hostonly").status().code(), Code::kBadRequest);
  EXPECT_EQ(ParseEtcdUrl("etcd://a:1,,b:2").status().code(), Code::kBadRequest);
  EXPECT_EQ(ParseEtcdUrl("http://a:1").status().code(), Code::kBadRequest);
  auto files = ParseEtcdUrl("etcds://e:2379/p?cafile=/c/ca.crt&certfile=/c/t.crt&keyfile=/c/t.key");
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(files->prefix, "/p");
  EXPECT_EQ(files->ca_file, "/c/ca.crt");
  EXPECT_EQ(files->cert_file, "/c/t.crt");
  EXPECT_EQ(files->key_file, "/c/t.key");
  EXPECT_EQ(ParseEtcdUrl("etcd://e:1?ca=/x").status().code(), Code::kBadRequest);
  EXPECT_EQ(ParseEtcdUrl("etcd://e:1?cafile=").status().code(), Code::kBadRequest);
}

INSTANTIATE_TEST_SUITE_P(Versions, EtcdStoreTest,
                         ::testing::Values(Version{"etcd34", "CSDR_ETCD_BIN"},
                                           Version{"etcd36", "CSDR_ETCD36_BIN"}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace csdr::storage
