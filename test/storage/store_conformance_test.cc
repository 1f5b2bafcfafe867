// The Store contract (storage/store.h), run against every backend: one suite, as
// k8s.io/apiserver runs its storage tests against etcd3 and the cacher alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "test/storage/etcd_test_store.h"
#include "test/storage/store_test_util.h"

namespace csdr::storage {
namespace {

using namespace std::chrono_literals;
using testing::Collect;
using testing::Describe;
using testing::Enc;
using testing::TempDir;
using testing::Val;
using testing::WaitFor;

struct Backend {
  std::string name;
  // The storage URL for a store kept in `dir`.
  std::function<std::string(const std::string& dir)> url;
  // etcd backends: the etcd binary to start for each store (empty: none on this machine).
  std::function<std::string()> etcd_binary;
  bool etcd() const { return static_cast<bool>(etcd_binary); }
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) { return info.param.name; }

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { Open(DefaultOptions()); }
  void TearDown() override {
    if (store_) store_->Close();
  }

  static StoreOptions DefaultOptions() {
    StoreOptions o;
    o.future_revision_wait = 200ms;  // keep the kTimeout test short
    return o;
  }

  // A fresh store with `options` (in a fresh directory).
  void Open(const StoreOptions& options) {
    if (store_) store_->Close();
    store_.reset();
    dir_ = std::make_unique<TempDir>();
    if (GetParam().etcd()) {
      const std::string binary = GetParam().etcd_binary();
      if (binary.empty()) {
        GTEST_SKIP() << "no " << GetParam().name
                     << " binary here (make test builds etcd 3.6 and sets CSDR_ETCD36_BIN)";
      }
      auto s = testing::OpenFreshEtcdStore(binary, options);
      ASSERT_TRUE(s.ok()) << s.status().message();
      store_ = std::move(s.value());
      return;
    }
    auto s = OpenStore(GetParam().url(dir_->path()), options);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s.value());
  }

  int64_t MustCreate(const std::string& key, const std::string& body) {
    auto r = store_->Create(key, Enc(body));
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().message();
    return r.ok() ? *r : -1;
  }
  int64_t MustUpdate(const std::string& key, const std::string& body, int64_t expected = 0) {
    auto r = store_->Update(key, expected, Enc(body));
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().message();
    return r.ok() ? *r : -1;
  }
  int64_t MustDelete(const std::string& key) {
    auto r = store_->Delete(key, 0, nullptr);
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().message();
    return r.ok() ? *r : -1;
  }
  std::unique_ptr<Watcher> MustWatch(const std::string& prefix, int64_t after) {
    auto w = store_->Watch(prefix, after);
    EXPECT_TRUE(w.ok()) << w.status().message();
    return w.ok() ? std::move(w.value()) : nullptr;
  }
  std::vector<std::string> Keys(const ListResult& r) {
    std::vector<std::string> keys;
    for (const auto& kv : r.items) keys.push_back(kv.key);
    return keys;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformanceTest, CreateThenGet) {
  EXPECT_EQ(store_->CurrentRevision(), 0);
  auto rev = store_->Create("/r/ns/a", Enc("a"));
  ASSERT_TRUE(rev.ok()) << rev.status().message();
  EXPECT_EQ(*rev, 1);
  EXPECT_EQ(store_->CurrentRevision(), 1);
  auto kv = store_->Get("/r/ns/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->key, "/r/ns/a");
  EXPECT_EQ(kv->value, "a@1");
  EXPECT_EQ(kv->create_revision, 1);
  EXPECT_EQ(kv->mod_revision, 1);
}

TEST_P(StoreConformanceTest, CreateOfPresentKeyIsAlreadyExistsAndWritesNothing) {
  MustCreate("/r/a", "first");
  auto again = store_->Create("/r/a", Enc("second"));
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(store_->Get("/r/a")->value, "first@1");
}

TEST_P(StoreConformanceTest, GetOfMissingKeyIsNotFound) {
  EXPECT_EQ(store_->Get("/r/missing").status().code(), Code::kNotFound);
  MustCreate("/r/a", "a");
  EXPECT_EQ(store_->Get("/r/a/").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Get("/r/").status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, UpdatePreconditions) {
  struct Case {
    std::string name;
    std::string key;
    int64_t expected;  // -1: the key's current mod_revision
    Code code;
  };
  const std::vector<Case> cases = {
      {"unconditional", "/r/a", 0, Code::kOk},
      {"matching revision", "/r/a", -1, Code::kOk},
      {"stale revision", "/r/a", 1, Code::kConflict},
      {"future revision", "/r/a", 1000, Code::kConflict},
      {"missing key unconditional", "/r/missing", 0, Code::kNotFound},
      {"missing key conditional", "/r/missing", 1, Code::kNotFound},
  };
  MustCreate("/r/a", "v");
  MustUpdate("/r/a", "v");  // mod_revision 2, so 1 is stale
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const int64_t before = store_->CurrentRevision();
    auto current = store_->Get("/r/a");
    ASSERT_TRUE(current.ok());
    const int64_t expected = c.expected == -1 ? current->mod_revision : c.expected;
    auto r = store_->Update(c.key, expected, Enc(c.name));
    EXPECT_EQ(r.status().code(), c.code) << r.status().message();
    if (c.code == Code::kOk) {
      EXPECT_EQ(*r, before + 1);
      auto kv = store_->Get(c.key);
      ASSERT_TRUE(kv.ok());
      EXPECT_EQ(kv->value, Val(c.name, before + 1));
      EXPECT_EQ(kv->mod_revision, before + 1);
      EXPECT_EQ(kv->create_revision, 1);  // updates keep the create revision
    } else {
      EXPECT_EQ(store_->CurrentRevision(), before);  // a refused write consumes no revision
      EXPECT_EQ(store_->Get("/r/a")->mod_revision, current->mod_revision);
    }
  }
}

TEST_P(StoreConformanceTest, DeletePreconditions) {
  struct Case {
    std::string name;
    int64_t expected;  // -1: the key's current mod_revision
    Code code;
  };
  const std::vector<Case> cases = {
      {"stale revision", 1, Code::kConflict},
      {"matching revision", -1, Code::kOk},
      {"unconditional", 0, Code::kOk},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string key = "/r/" + c.name;
    MustCreate(key, "v");
    MustUpdate(key, "w");
    const int64_t mod = store_->Get(key)->mod_revision;
    const int64_t before = store_->CurrentRevision();
    auto r = store_->Delete(key, c.expected == -1 ? mod : c.expected, nullptr);
    EXPECT_EQ(r.status().code(), c.code) << r.status().message();
    if (c.code == Code::kOk) {
      EXPECT_EQ(*r, before + 1);
      EXPECT_EQ(store_->Get(key).status().code(), Code::kNotFound);
      // Deleting it again: it is gone.
      EXPECT_EQ(store_->Delete(key, 0, nullptr).status().code(), Code::kNotFound);
      EXPECT_EQ(store_->CurrentRevision(), before + 1);
    } else {
      EXPECT_EQ(store_->CurrentRevision(), before);
      EXPECT_TRUE(store_->Get(key).ok());
    }
  }
  EXPECT_EQ(store_->Delete("/r/never", 0, nullptr).status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, RevisionsAreStrictlyPlusOneAndRefusedWritesTakeNone) {
  int64_t last = 0;
  auto expect_next = [&](const StatusOr<int64_t>& r, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, last + 1);
    last = *r;
    EXPECT_EQ(store_->CurrentRevision(), last);
  };
  for (int i = 0; i < 5; ++i) {
    const std::string key = "/r/k" + std::to_string(i);
    expect_next(store_->Create(key, Enc("c")), "create " + key);
    EXPECT_FALSE(store_->Create(key, Enc("dup")).ok());
    expect_next(store_->Update(key, last, Enc("u")), "update " + key);
    EXPECT_FALSE(store_->Update(key, last - 1, Enc("stale")).ok());
    if (i % 2 == 0) expect_next(store_->Delete(key, 0, nullptr), "delete " + key);
    EXPECT_FALSE(store_->Delete("/r/none", 0, nullptr).ok());
  }
  EXPECT_EQ(last, 13);
}

TEST_P(StoreConformanceTest, EncoderReceivesTheRevisionOfItsWrite) {
  if (GetParam().etcd()) {
    GTEST_SKIP() << "etcd assigns revisions at commit: its encoder sees 0 and values are "
                    "stamped instead (EtcdStoreTest.ValuesAreStampedWithTheirRevision)";
  }
  std::vector<int64_t> seen;
  auto recording = [&](std::string body) -> Encoder {
    return [&seen, body](int64_t rev) {
      seen.push_back(rev);
      return body + "@" + std::to_string(rev);
    };
  };
  auto c = store_->Create("/r/a", recording("c"));
  auto u = store_->Update("/r/a", 0, recording("u"));
  auto w = MustWatch("/r/", store_->CurrentRevision());
  auto d = store_->Delete("/r/a", 0, recording("tombstone"));
  ASSERT_TRUE(c.ok() && u.ok() && d.ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{*c, *u, *d}));
  auto events = Collect(w.get(), 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].value, Val("tombstone", *d));
}

TEST_P(StoreConformanceTest, EncoderFailureWritesNothing) {
  MustCreate("/r/a", "a");
  Encoder throwing = [](int64_t) -> std::string { throw std::runtime_error("boom"); };
  auto c = store_->Create("/r/b", throwing);
  EXPECT_EQ(c.status().code(), Code::kInternal);
  EXPECT_NE(c.status().message().find("boom"), std::string::npos) << c.status().message();
  EXPECT_EQ(store_->Update("/r/a", 0, throwing).status().code(), Code::kInternal);
  EXPECT_EQ(store_->Delete("/r/a", 0, throwing).status().code(), Code::kInternal);
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(store_->Get("/r/b").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Get("/r/a")->value, "a@1");
  // The store still works.
  EXPECT_EQ(MustCreate("/r/b", "b"), 2);
}

TEST_P(StoreConformanceTest, InvalidArgumentsAreRefused) {
  EXPECT_EQ(store_->Create("", Enc("x")).status().code(), Code::kBadRequest);
  EXPECT_EQ(store_->Create("/r/a", nullptr).status().code(), Code::kInternal);
  EXPECT_EQ(store_->Update("/r/a", -1, Enc("x")).status().code(), Code::kBadRequest);
  EXPECT_EQ(store_->List("/r/", "", 0, -1).status().code(), Code::kBadRequest);
  EXPECT_EQ(store_->Watch("/r/", -1).status().code(), Code::kBadRequest);
  EXPECT_EQ(store_->CurrentRevision(), 0);
}

TEST_P(StoreConformanceTest, ListByPrefixStartAfterAndLimit) {
  for (const char* key : {"/a/3", "/a/1", "/b/1", "/a/5", "/ab", "/a/2", "/a/4", "/"}) {
    MustCreate(key, key);
  }
  const int64_t rev = store_->CurrentRevision();
  struct Case {
    std::string prefix, start_after;
    size_t limit;
    std::vector<std::string> keys;
    bool more;
  };
  const std::vector<Case> cases = {
      {"/a/", "", 0, {"/a/1", "/a/2", "/a/3", "/a/4", "/a/5"}, false},
      {"/a", "", 0, {"/a/1", "/a/2", "/a/3", "/a/4", "/a/5", "/ab"}, false},
      {"", "", 0, {"/", "/a/1", "/a/2", "/a/3", "/a/4", "/a/5", "/ab", "/b/1"}, false},
      {"/a/", "", 2, {"/a/1", "/a/2"}, true},
      {"/a/", "/a/2", 0, {"/a/3", "/a/4", "/a/5"}, false},
      {"/a/", "/a/3", 2, {"/a/4", "/a/5"}, false},
      {"/a/", "/a/3", 1, {"/a/4"}, true},
      {"/a/", "/a/5", 0, {}, false},
      {"/a/", "/a/25", 0, {"/a/3", "/a/4", "/a/5"}, false},  // start_after need not exist
      {"/a/", "/", 0, {"/a/1", "/a/2", "/a/3", "/a/4", "/a/5"}, false},  // before the prefix
      {"/a/", "/z", 0, {}, false},
      {"/c/", "", 0, {}, false},
      {"/a/", "", 5, {"/a/1", "/a/2", "/a/3", "/a/4", "/a/5"}, false},  // exactly full
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("prefix=" + c.prefix + " start_after=" + c.start_after +
                 " limit=" + std::to_string(c.limit));
    auto r = store_->List(c.prefix, c.start_after, c.limit, 0);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(Keys(*r), c.keys);
    EXPECT_EQ(r->more, c.more);
    EXPECT_EQ(r->revision, rev);
    for (const auto& kv : r->items) {
      EXPECT_EQ(kv.value, Val(kv.key, kv.mod_revision));
      EXPECT_EQ(kv.create_revision, kv.mod_revision);
    }
  }
}

TEST_P(StoreConformanceTest, ListPrefixesWithHighBytes) {
  const std::string ff = "\xff";
  for (const std::string& key : std::vector<std::string>{"/x" + ff, "/x" + ff + "a", "/x" + ff + ff,
                                                         "/y", ff + ff, ff + ff + "z", "/x\x7f"}) {
    MustCreate(key, "v");
  }
  EXPECT_EQ(Keys(*store_->List("/x" + ff, "", 0, 0)),
            (std::vector<std::string>{"/x" + ff, "/x" + ff + "a", "/x" + ff + ff}));
  EXPECT_EQ(Keys(*store_->List(ff + ff, "", 0, 0)),
            (std::vector<std::string>{ff + ff, ff + ff + "z"}));
  EXPECT_EQ(Keys(*store_->List("/x", "", 0, 0)),
            (std::vector<std::string>{"/x\x7f", "/x" + ff, "/x" + ff + "a", "/x" + ff + ff}));
}

TEST_P(StoreConformanceTest, PagingVisitsEveryKeyOnceAtOneRevision) {
  for (int i = 0; i < 25; ++i) MustCreate("/p/" + std::to_string(100 + i), "v");
  auto first = store_->List("/p/", "", 4, 0);
  ASSERT_TRUE(first.ok());
  const int64_t rev = first->revision;
  std::vector<std::string> keys = Keys(*first);
  // Writes between pages must not show in later pages of the same snapshot.
  MustCreate("/p/999", "late");
  MustDelete("/p/110");
  ListResult page = *first;
  while (page.more) {
    auto next = store_->List("/p/", page.items.back().key, 4, rev);
    ASSERT_TRUE(next.ok()) << next.status().message();
    EXPECT_EQ(next->revision, rev);
    for (const auto& k : Keys(*next)) keys.push_back(k);
    page = *next;
  }
  ASSERT_EQ(keys.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(keys[i], "/p/" + std::to_string(100 + i));
}

TEST_P(StoreConformanceTest, SnapshotListAtOlderRevisionIsWhatItWas) {
  std::mt19937 rng(42);  // fixed seed: a failure reproduces
  std::map<int64_t, std::vector<KeyValue>> snapshots;
  snapshots[0] = {};
  std::set<std::string> live;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "/s/" + std::to_string(rng() % 20);
    const std::string body = "v" + std::to_string(i);
    StatusOr<int64_t> r = Status(Code::kInternal, "unset");
    if (!live.count(key)) {
      r = store_->Create(key, Enc(body));
      live.insert(key);
    } else if (rng() % 3 == 0) {
      r = store_->Delete(key, 0, rng() % 2 ? Enc("gone") : Encoder());
      live.erase(key);
    } else {
      r = store_->Update(key, 0, Enc(body));
    }
    ASSERT_TRUE(r.ok()) << r.status().message();
    if (i % 7 == 0) MustCreate("/other/" + std::to_string(i), "noise");  // outside the prefix
    auto now = store_->List("/s/", "", 0, 0);
    ASSERT_TRUE(now.ok());
    snapshots[now->revision] = now->items;
  }
  for (const auto& [rev, items] : snapshots) {
    SCOPED_TRACE("revision " + std::to_string(rev));
    // rev 0 means "latest" to List; the empty store before the first write is revision 0.
    if (rev == 0) continue;
    auto then = store_->List("/s/", "", 0, rev);
    ASSERT_TRUE(then.ok()) << then.status().message();
    EXPECT_EQ(then->revision, rev);
    ASSERT_EQ(then->items.size(), items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      EXPECT_EQ(then->items[i].key, items[i].key);
      EXPECT_EQ(then->items[i].value, items[i].value);
      EXPECT_EQ(then->items[i].create_revision, items[i].create_revision);
      EXPECT_EQ(then->items[i].mod_revision, items[i].mod_revision);
    }
    // The same snapshot in pages of 3, starting in the middle.
    if (items.size() > 4) {
      auto page = store_->List("/s/", items[1].key, 3, rev);
      ASSERT_TRUE(page.ok());
      ASSERT_EQ(page->items.size(), 3u);
      EXPECT_EQ(page->items[0].key, items[2].key);
      EXPECT_EQ(page->items[2].value, items[4].value);
      EXPECT_EQ(page->more, items.size() > 5);
    }
  }
}

TEST_P(StoreConformanceTest, ListAtFutureRevisionTimesOut) {
  MustCreate("/r/a", "a");
  auto start = std::chrono::steady_clock::now();
  auto r = store_->List("/r/", "", 0, 5);
  EXPECT_EQ(r.status().code(), Code::kTimeout) << r.status().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);  // it waited, briefly
}

TEST_P(StoreConformanceTest, ListAtFutureRevisionServedOnceItArrives) {
  MustCreate("/r/a", "a");
  std::thread writer([&] {
    std::this_thread::sleep_for(30ms);
    MustCreate("/r/b", "b");
  });
  auto r = store_->List("/r/", "", 0, 2);
  writer.join();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->revision, 2);
  EXPECT_EQ(Keys(*r), (std::vector<std::string>{"/r/a", "/r/b"}));
}

TEST_P(StoreConformanceTest, CompactedHistoryIsExpired) {
  if (GetParam().etcd()) {
    GTEST_SKIP() << "etcd compacts by its own revision, not by these retention options "
                    "(EtcdStoreTest.CompactedRevisionsAreExpired)";
  }
  StoreOptions o = DefaultOptions();
  o.watch_history_events = 5;
  o.log_retention_events = 5;
  o.log_retention_age = 0ms;
  o.compaction_interval = 10ms;
  Open(o);
  std::map<int64_t, std::vector<std::string>> lists;
  for (int i = 1; i <= 20; ++i) {
    MustCreate("/c/" + std::to_string(100 + i), "v");
    lists[i] = Keys(*store_->List("/c/", "", 0, 0));
  }
  ASSERT_TRUE(WaitFor([&] { return store_->CompactedRevision() >= 15; }))
      << "compacted " << store_->CompactedRevision();
  const int64_t compacted = store_->CompactedRevision();
  EXPECT_LE(compacted, 15) << "retention of 5 events must keep the last 5";

  EXPECT_EQ(store_->List("/c/", "", 0, compacted - 1).status().code(), Code::kExpired);
  EXPECT_EQ(store_->List("/c/", "", 0, 1).status().code(), Code::kExpired);
  EXPECT_EQ(store_->Watch("/c/", compacted - 1).status().code(), Code::kExpired);
  EXPECT_EQ(store_->Watch("/c/", 1).status().code(), Code::kExpired);

  auto at = store_->List("/c/", "", 0, compacted);
  ASSERT_TRUE(at.ok()) << at.status().message();
  EXPECT_EQ(Keys(*at), lists[compacted]);
  auto w = MustWatch("/c/", compacted);
  ASSERT_NE(w, nullptr);
  auto events = Collect(w.get(), 20 - compacted);
  ASSERT_EQ(events.size(), static_cast<size_t>(20 - compacted));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].revision, compacted + 1 + i);
  // Latest reads are unaffected by compaction.
  EXPECT_EQ(store_->List("/c/", "", 0, 0)->items.size(), 20u);
}

TEST_P(StoreConformanceTest, WatchReplaysRetainedEventsThenGoesLive) {
  const int64_t r1 = MustCreate("/w/a", "a1");
  const int64_t r2 = MustUpdate("/w/a", "a2");
  const int64_t r3 = MustCreate("/w/b", "b1");
  auto w = MustWatch("/w/", r1);
  ASSERT_NE(w, nullptr);
  auto replay = Collect(w.get(), 2);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].revision, r2);
  EXPECT_EQ(replay[0].type, EventType::kModified);
  EXPECT_EQ(replay[0].value, Val("a2", r2));
  EXPECT_EQ(replay[0].prev_value, Val("a1", r1));
  EXPECT_EQ(replay[0].prev_revision, r1);
  EXPECT_EQ(replay[0].create_revision, r1);
  EXPECT_EQ(replay[1].revision, r3);
  EXPECT_EQ(replay[1].type, EventType::kAdded);
  EXPECT_EQ(replay[1].prev_value, "");
  EXPECT_EQ(replay[1].create_revision, r3);

  const int64_t r4 = MustUpdate("/w/b", "b2", r3);
  auto live = Collect(w.get(), 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].revision, r4);
  EXPECT_EQ(live[0].value, Val("b2", r4));
  EXPECT_EQ(live[0].prev_value, Val("b1", r3));
  // Nothing else arrives.
  std::vector<Event> more;
  EXPECT_TRUE(w->Next(50ms, &more, nullptr));
  EXPECT_TRUE(more.empty());
}

TEST_P(StoreConformanceTest, WatchFromZeroStartsAtTheCurrentRevision) {
  MustCreate("/w/a", "a");
  MustCreate("/w/b", "b");
  auto w = MustWatch("/w/", 0);
  EXPECT_EQ(w->ProgressRevision(), 2);
  const int64_t r = MustCreate("/w/c", "c");
  auto events = Collect(w.get(), 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, r);
  EXPECT_EQ(events[0].key, "/w/c");
}

TEST_P(StoreConformanceTest, WatchFromCurrentRevisionOfEmptyStore) {
  auto w = MustWatch("/w/", 0);
  const int64_t r = MustCreate("/w/a", "a");
  auto events = Collect(w.get(), 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, r);
}

TEST_P(StoreConformanceTest, WatchSeesOnlyItsPrefix) {
  auto w_a = MustWatch("/w/a/", 0);
  auto w_all = MustWatch("/w/", 0);
  auto w_one = MustWatch("/w/a/x", 0);  // a prefix may be a whole key
  MustCreate("/w/a/x", "1");
  MustCreate("/w/b/x", "2");
  MustCreate("/w/a/y", "3");
  MustCreate("/v/a/x", "4");
  MustCreate("/w/a/xy", "5");
  EXPECT_EQ(Collect(w_all.get(), 4).size(), 4u);
  auto a = Collect(w_a.get(), 3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].key, "/w/a/x");
  EXPECT_EQ(a[1].key, "/w/a/y");
  EXPECT_EQ(a[2].key, "/w/a/xy");
  auto one = Collect(w_one.get(), 2);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[1].key, "/w/a/xy");
  std::vector<Event> none;
  EXPECT_TRUE(w_a->Next(30ms, &none, nullptr));
  EXPECT_TRUE(none.empty());
}

TEST_P(StoreConformanceTest, WatchAfterFutureRevisionSkipsUpToIt) {
  MustCreate("/w/0", "v");
  auto w = MustWatch("/w/", 4);
  for (int i = 1; i <= 6; ++i) MustCreate("/w/" + std::to_string(i), "v");
  auto events = Collect(w.get(), 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].revision, 5);
  EXPECT_EQ(events[2].revision, 7);
}

TEST_P(StoreConformanceTest, DeletedEventCarriesTombstoneAndPrevValue) {
  if (GetParam().etcd()) {
    GTEST_SKIP() << "on etcd a tombstone that differs is written before the delete, as "
                    "upstream does (EtcdStoreTest.DeleteWithChangedTombstoneIsTwoEvents)";
  }
  const int64_t c = MustCreate("/d/a", "v1");
  const int64_t u = MustUpdate("/d/a", "v2");
  MustCreate("/d/b", "b1");
  auto w = MustWatch("/d/", store_->CurrentRevision());
  auto d1 = store_->Delete("/d/a", u, Enc("tombstone"));
  ASSERT_TRUE(d1.ok());
  auto d2 = store_->Delete("/d/b", 0, nullptr);  // no encoder: the last stored value
  ASSERT_TRUE(d2.ok());
  auto events = Collect(w.get(), 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kDeleted);
  EXPECT_EQ(events[0].key, "/d/a");
  EXPECT_EQ(events[0].revision, *d1);
  EXPECT_EQ(events[0].value, Val("tombstone", *d1));
  EXPECT_EQ(events[0].prev_value, Val("v2", u));
  EXPECT_EQ(events[0].prev_revision, u);
  EXPECT_EQ(events[0].create_revision, c);
  EXPECT_EQ(events[1].type, EventType::kDeleted);
  EXPECT_EQ(events[1].value, Val("b1", c + 2));
  EXPECT_EQ(events[1].prev_value, Val("b1", c + 2));
}

TEST_P(StoreConformanceTest, RecreatedKeyHasANewCreateRevision) {
  MustCreate("/r/a", "a");
  MustDelete("/r/a");
  const int64_t r = MustCreate("/r/a", "again");
  auto kv = store_->Get("/r/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->create_revision, r);
  EXPECT_EQ(kv->mod_revision, r);
  // And the snapshot in between does not have it.
  EXPECT_TRUE(store_->List("/r/", "", 0, 2)->items.empty());
  EXPECT_EQ(store_->List("/r/", "", 0, 1)->items.at(0).value, "a@1");
}

// GetRecent/ListRecent may lag other processes' writes, never this store's acknowledged ones.
TEST_P(StoreConformanceTest, RecentReadsSeeEveryAcknowledgedWriteOfThisStore) {
  const int64_t a = MustCreate("/r/a", "a");
  MustCreate("/r/b", "b");
  auto got = store_->GetRecent("/r/a");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->value, "a@" + std::to_string(a));
  EXPECT_EQ(got->mod_revision, a);
  EXPECT_EQ(got->create_revision, a);
  auto u = store_->Update("/r/a", a, Enc("a2"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(store_->GetRecent("/r/a")->mod_revision, *u);
  EXPECT_GE(store_->RecentRevision(), *u);
  auto recent = store_->ListRecent("/r/", "", 0);
  auto consistent = store_->List("/r/", "", 0, 0);
  ASSERT_TRUE(recent.ok());
  ASSERT_TRUE(consistent.ok());
  ASSERT_EQ(recent->items.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(recent->items[i].key, consistent->items[i].key);
    EXPECT_EQ(recent->items[i].value, consistent->items[i].value);
    EXPECT_EQ(recent->items[i].mod_revision, consistent->items[i].mod_revision);
  }
  auto page = store_->ListRecent("/r/", "", 1);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_TRUE(page->more);
  MustDelete("/r/a");
  EXPECT_EQ(store_->GetRecent("/r/a").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->ListRecent("/r/", "", 0)->items.size(), 1u);
}

TEST_P(StoreConformanceTest, NoGapsOrDuplicatesWhileWatchesStartUnderConcurrentWriters) {
  constexpr int kWriters = 4;
  constexpr int kWritesEach = 150;
  std::atomic<bool> go{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kWritesEach; ++i) {
        // Spread the writes over the time the watches are being started (memory:// would
        // otherwise be done before the second watch starts).
        if (i % 5 == 0) std::this_thread::sleep_for(1ms);
        const std::string key = "/c/" + std::to_string(t) + "/" + std::to_string(i % 10);
        if (i < 10) {
          MustCreate(key, "v");
        } else {
          MustUpdate(key, "v" + std::to_string(i));
        }
      }
    });
  }
  // Start watches at assorted points behind the head while writes race with the replay.
  struct Started {
    std::unique_ptr<Watcher> watcher;
    int64_t after;
  };
  std::vector<Started> watches;
  go = true;
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    const int64_t head = store_->CurrentRevision();
    const int64_t after = std::max<int64_t>(0, head - static_cast<int64_t>(rng() % 50));
    auto w = store_->Watch("/c/", after);
    ASSERT_TRUE(w.ok()) << w.status().message();
    // after == 0 means "from now": record where that was.
    watches.push_back({std::move(w.value()), after});
    std::this_thread::sleep_for(1ms);
  }
  for (auto& t : writers) t.join();
  const int64_t last = store_->CurrentRevision();
  ASSERT_EQ(last, kWriters * kWritesEach);
  for (auto& s : watches) {
    if (s.after == 0) continue;
    SCOPED_TRACE("watch after " + std::to_string(s.after));
    auto events = Collect(s.watcher.get(), static_cast<size_t>(last - s.after));
    ASSERT_EQ(events.size(), static_cast<size_t>(last - s.after));
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].revision, s.after + 1 + static_cast<int64_t>(i));
    }
    std::vector<Event> extra;
    EXPECT_TRUE(s.watcher->Next(10ms, &extra, nullptr));
    EXPECT_TRUE(extra.empty()) << "duplicate or stray event " << Describe(extra[0]);
    EXPECT_EQ(s.watcher->ProgressRevision(), last);
  }
}

TEST_P(StoreConformanceTest, AThousandWatchersAllGetEveryEvent) {
  constexpr int kWatchers = 1000;
  std::vector<std::unique_ptr<Watcher>> same_prefix;
  std::vector<std::unique_ptr<Watcher>> own_prefix;
  for (int i = 0; i < kWatchers; ++i) {
    same_prefix.push_back(MustWatch("/t/", 0));
    own_prefix.push_back(MustWatch("/u/" + std::to_string(i) + "/", 0));
  }
  EXPECT_EQ(store_->Stats().watchers, 2 * kWatchers);
  // Readers block in Next() meanwhile, as HTTP watch handlers do.
  std::atomic<int> complete{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      for (int i = r; i < kWatchers; i += 4) {
        auto events = Collect(same_prefix[i].get(), 10);
        if (events.size() == 10 && events[9].key == "/t/9") ++complete;
      }
    });
  }
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) MustCreate("/t/" + std::to_string(i), "v");
  MustCreate("/u/7/x", "v");
  auto elapsed = std::chrono::steady_clock::now() - start;
  for (auto& t : readers) t.join();
  EXPECT_EQ(complete.load(), kWatchers);
  // 11 writes fanned out to 1,000 watchers must not take long (no per-watcher sleeps).
  EXPECT_LT(elapsed, 5s);
  auto seven = Collect(own_prefix[7].get(), 1);
  ASSERT_EQ(seven.size(), 1u);
  EXPECT_EQ(seven[0].key, "/u/7/x");
  std::vector<Event> none;
  EXPECT_TRUE(own_prefix[8]->Next(1ms, &none, nullptr));
  EXPECT_TRUE(none.empty());
}

TEST_P(StoreConformanceTest, CloseEndsWatchersAndRefusesCalls) {
  MustCreate("/r/a", "a");
  auto w = MustWatch("/r/", 0);
  std::atomic<bool> returned{false};
  bool alive = true;
  std::thread blocked([&] {
    std::vector<Event> out;
    alive = w->Next(30s, &out, nullptr);
    returned = true;
  });
  std::this_thread::sleep_for(20ms);
  auto start = std::chrono::steady_clock::now();
  store_->Close();
  blocked.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(returned);
  EXPECT_FALSE(alive);
  std::vector<Event> out;
  EXPECT_FALSE(w->Next(1ms, &out, nullptr));
  EXPECT_EQ(store_->Create("/r/b", Enc("b")).status().code(), Code::kUnavailable);
  EXPECT_EQ(store_->Update("/r/a", 0, Enc("b")).status().code(), Code::kUnavailable);
  EXPECT_EQ(store_->Delete("/r/a", 0, nullptr).status().code(), Code::kUnavailable);
  EXPECT_EQ(store_->Get("/r/a").status().code(), Code::kUnavailable);
  EXPECT_EQ(store_->List("/r/", "", 0, 0).status().code(), Code::kUnavailable);
  EXPECT_EQ(store_->Watch("/r/", 0).status().code(), Code::kUnavailable);
  store_->Close();  // idempotent
}

TEST_P(StoreConformanceTest, StopEndsOneWatcher) {
  auto stopped = MustWatch("/r/", 0);
  auto other = MustWatch("/r/", 0);
  std::thread blocked([&] {
    std::vector<Event> out;
    EXPECT_FALSE(stopped->Next(30s, &out, nullptr));
  });
  std::this_thread::sleep_for(10ms);
  stopped->Stop();
  blocked.join();
  MustCreate("/r/a", "a");
  EXPECT_EQ(Collect(other.get(), 1).size(), 1u);
  std::vector<Event> out;
  EXPECT_FALSE(stopped->Next(1ms, &out, nullptr));
  EXPECT_TRUE(out.empty());
}

TEST_P(StoreConformanceTest, SlowWatcherExpiresWithoutBlockingWriters) {
  StoreOptions o = DefaultOptions();
  o.watcher_queue_limit = 8;
  Open(o);
  auto slow = MustWatch("/q/", 0);
  auto fast = MustWatch("/q/", 0);
  std::vector<Event> fast_events;
  for (int i = 0; i < 40; ++i) {
    MustCreate("/q/" + std::to_string(i), "v");
    if (i % 4 == 3) {
      // The fast reader drains as it goes and never holds more than 8.
      ASSERT_TRUE(fast->Next(1s, &fast_events, nullptr));
    }
  }
  std::vector<Event> out;
  bool expired = false;
  EXPECT_FALSE(slow->Next(1s, &out, &expired));
  EXPECT_TRUE(expired);
  EXPECT_TRUE(out.empty());
  auto rest = Collect(fast.get(), 40 - fast_events.size());
  EXPECT_EQ(fast_events.size() + rest.size(), 40u);
  auto stats = store_->Stats();
  EXPECT_EQ(stats.expired_watchers, 1);
}

TEST_P(StoreConformanceTest, NextWaitsForItsTimeoutWhenIdle) {
  auto w = MustWatch("/r/", 0);
  std::vector<Event> out;
  auto start = std::chrono::steady_clock::now();
  bool expired = true;
  EXPECT_TRUE(w->Next(60ms, &out, &expired));
  EXPECT_FALSE(expired);
  EXPECT_TRUE(out.empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST_P(StoreConformanceTest, ProgressRevisionCountsFilteredAndDeliveredEvents) {
  MustCreate("/x/0", "v");
  auto w = MustWatch("/p/", 0);
  EXPECT_EQ(w->ProgressRevision(), 1);
  MustCreate("/x/1", "v");  // filtered out: progress moves anyway
  EXPECT_EQ(w->ProgressRevision(), 2);
  const int64_t r = MustCreate("/p/1", "v");
  EXPECT_EQ(w->ProgressRevision(), r - 1);  // queued, not yet delivered
  MustCreate("/x/2", "v");
  EXPECT_EQ(w->ProgressRevision(), r - 1);
  EXPECT_EQ(Collect(w.get(), 1).size(), 1u);
  EXPECT_EQ(w->ProgressRevision(), r + 1);
}

TEST_P(StoreConformanceTest, StatsCountWrites) {
  MustCreate("/r/a", "a");
  MustUpdate("/r/a", "b");
  EXPECT_FALSE(store_->Create("/r/a", Enc("dup")).ok());
  auto s = store_->Stats();
  EXPECT_EQ(s.writes, 2);
  EXPECT_EQ(s.failed_writes, 1);
  EXPECT_GE(s.transactions, 1);
  EXPECT_LE(s.transactions, 2);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformanceTest,
    ::testing::Values(
        Backend{"memory", [](const std::string&) { return std::string("memory://"); }, nullptr},
        Backend{"sqlite",
                [](const std::string& dir) {
                  return "sqlite://" + dir + "/store.db";  // dir is absolute
                },
                nullptr},
        // Debian's etcd-server (3.4): consistent lists go to etcd.
        Backend{"etcd34", nullptr, [] { return testing::EtcdBinary("CSDR_ETCD_BIN"); }},
        // etcd 3.6 (built by test/e2e/build_kube.sh): lists from the cache.
        Backend{"etcd36", nullptr, [] { return testing::EtcdBinary("CSDR_ETCD36_BIN"); }}),
    BackendName);

}  // namespace
}  // namespace csdr::storage
