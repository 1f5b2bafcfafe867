// sqlite:// beyond the shared contract: durability across reopen, group commit, compaction
// persisted on disk, damaged and foreign files, and the one-process lock.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
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

// Runs one SQL statement on the file directly, bypassing the store (to inspect or tamper).
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += "\n";
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  static StoreOptions Options() {
    StoreOptions o;
    o.future_revision_wait = 100ms;
    o.open_lock_wait = 100ms;
    return o;
  }
  // In a directory that does not exist yet: opening creates it.
  std::string path() const { return dir_.path() + "/data/csdr.db"; }
  std::string url() const { return "sqlite://" + path(); }

  std::unique_ptr<Store> MustOpen(const StoreOptions& options = Options()) {
    auto s = OpenStore(url(), options);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  TempDir dir_;
};

TEST_F(SqliteStoreTest, CreatesTheFileInWalMode) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(path()));
  ASSERT_TRUE(store->Create("/k", Enc("v")).ok());
  // journal_mode=WAL is stored in the file; synchronous is per connection (checked in review).
  EXPECT_EQ(RawQuery(path(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(path(), "SELECT value FROM meta WHERE name = 'revision'"), "1");
  EXPECT_EQ(RawQuery(path(), "SELECT count(*) FROM log"), "1");
  store->Close();
}

TEST_F(SqliteStoreTest, ReopenKeepsDataRevisionAndWatchHistory) {
  std::vector<Event> all;
  std::map<int64_t, std::vector<KeyValue>> snapshots;
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    auto w = store->Watch("/o/", 0);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 30; ++i) {
      const std::string key = "/o/" + std::to_string(i % 7);
      StatusOr<int64_t> r = store->Create(key, Enc("c" + std::to_string(i)));
      if (r.status().code() == Code::kAlreadyExists) {
        r = i % 5 == 0 ? store->Delete(key, 0, Enc("gone")) : store->Update(key, 0, Enc("u"));
      }
      ASSERT_TRUE(r.ok()) << r.status().message();
      snapshots[*r] = store->List("/o/", "", 0, 0)->items;
    }
    all = Collect(w->get(), 30);
    ASSERT_EQ(all.size(), 30u);
    store->Close();
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), 30);
  EXPECT_EQ(store->CompactedRevision(), 0);
  // The data, with its revisions.
  auto now = store->List("/o/", "", 0, 0);
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->items.size(), snapshots[30].size());
  for (size_t i = 0; i < now->items.size(); ++i) {
    EXPECT_EQ(now->items[i].key, snapshots[30][i].key);
    EXPECT_EQ(now->items[i].value, snapshots[30][i].value);
    EXPECT_EQ(now->items[i].create_revision, snapshots[30][i].create_revision);
    EXPECT_EQ(now->items[i].mod_revision, snapshots[30][i].mod_revision);
  }
  // Snapshots from before the restart.
  for (int64_t rev : {1, 10, 17, 29}) {
    SCOPED_TRACE(rev);
    auto then = store->List("/o/", "", 0, rev);
    ASSERT_TRUE(then.ok()) << then.status().message();
    ASSERT_EQ(then->items.size(), snapshots[rev].size());
    for (size_t i = 0; i < then->items.size(); ++i) {
      EXPECT_EQ(then->items[i].value, snapshots[rev][i].value);
    }
  }
  // A watch resumed from a revision before the restart: exactly the events after it.
  for (int64_t after : {1, 12, 29, 30}) {
    SCOPED_TRACE("resume after " + std::to_string(after));
    auto w = store->Watch("/o/", after);
    ASSERT_TRUE(w.ok()) << w.status().message();
    const size_t want = static_cast<size_t>(30 - after);
    auto got = Collect(w->get(), want, 2s);
    std::vector<Event> expected(all.end() - static_cast<long>(want), all.end());
    EXPECT_EQ(Describe(got), Describe(expected));
  }
  // Revisions continue where they stopped.
  auto w = store->Watch("/o/", 25);
  ASSERT_TRUE(w.ok());
  auto next = store->Create("/o/new", Enc("n"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 31);
  auto tail = Collect(w->get(), 6);
  ASSERT_EQ(tail.size(), 6u);
  EXPECT_EQ(tail.back().revision, 31);
  EXPECT_EQ(tail.back().value, Val("n", 31));
  std::vector<Event> extra;
  EXPECT_TRUE((*w)->Next(30ms, &extra, nullptr));
  EXPECT_TRUE(extra.empty());
}

TEST_F(SqliteStoreTest, WatchOlderThanMemoryHistoryIsReplayedFromTheLog) {
  StoreOptions o = Options();
  o.watch_history_events = 4;  // memory keeps 4, the log keeps everything
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "live" : "after reopen");
    auto store = MustOpen(o);
    ASSERT_NE(store, nullptr);
    const int64_t base = store->CurrentRevision();
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          store->Create("/h/" + std::to_string(round) + "/" + std::to_string(i), Enc("v")).ok());
      if (i % 3 == 0) {
        ASSERT_TRUE(store->Create("/other/" + std::to_string(base + i), Enc("x")).ok());
      }
    }
    const int64_t head = store->CurrentRevision();
    auto w = store->Watch("/h/", 2);
    ASSERT_TRUE(w.ok()) << w.status().message();
    // Live events continue the replay without a gap or a repeat.
    ASSERT_TRUE(store->Create("/h/live" + std::to_string(round), Enc("l")).ok());
    // Every /h/ event after revision 2 (all but the very first), each round's live one too.
    const size_t want = static_cast<size_t>(20 * (round + 1) + round);
    auto got = Collect(w->get(), want);
    ASSERT_EQ(got.size(), want);
    int64_t prev = 2;
    for (const auto& e : got) {
      EXPECT_GT(e.revision, prev) << Describe(e);
      prev = e.revision;
      EXPECT_EQ(e.key.rfind("/h/", 0), 0u) << Describe(e);
    }
    EXPECT_EQ(got.back().revision, head + 1);
    std::vector<Event> extra;
    EXPECT_TRUE((*w)->Next(30ms, &extra, nullptr));
    EXPECT_TRUE(extra.empty());
    store->Close();
  }
}

// Opening warms only the log's newest events (start-up does not grow with the retained
// history); a watch resumed from before them, with the default history size, replays the rest
// from the log, in order, and goes on live.
TEST_F(SqliteStoreTest, WatchResumedAfterReopenFromBeforeTheWarmedTail) {
  constexpr int kWrites = 1600;  // more than the 1,000 events warmed at open
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    std::vector<std::thread> writers;
    std::atomic<int> failed{0};
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        for (int i = t; i < kWrites; i += 8) {
          if (!store->Create("/r/" + std::to_string(i), Enc("v")).ok()) ++failed;
        }
      });
    }
    for (auto& w : writers) w.join();
    ASSERT_EQ(failed.load(), 0);
    store->Close();
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->CurrentRevision(), kWrites);
  for (int64_t after : {int64_t{10}, int64_t{kWrites} - 5}) {
    SCOPED_TRACE("resume after " + std::to_string(after));
    auto w = store->Watch("/r/", after);
    ASSERT_TRUE(w.ok()) << w.status().message();
    const size_t want = static_cast<size_t>(kWrites - after);
    auto got = Collect(w->get(), want);
    ASSERT_EQ(got.size(), want);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].revision, after + 1 + static_cast<int64_t>(i));
    }
  }
  auto w = store->Watch("/r/", 10);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(Collect(w->get(), kWrites - 10).size(), static_cast<size_t>(kWrites - 10));
  ASSERT_TRUE(store->Create("/r/live", Enc("l")).ok());
  auto live = Collect(w->get(), 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].revision, kWrites + 1);
}

TEST_F(SqliteStoreTest, CompactedRevisionSurvivesRestart) {
  StoreOptions o = Options();
  o.log_retention_events = 5;
  o.log_retention_age = 0ms;
  o.compaction_interval = 5ms;
  {
    auto store = MustOpen(o);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(store->Create("/c/" + std::to_string(i), Enc("v")).ok());
    ASSERT_TRUE(WaitFor([&] { return store->CompactedRevision() == 15; }))
        << store->CompactedRevision();
    EXPECT_EQ(store->Stats().compacted_events, 15);
    store->Close();
  }
  EXPECT_EQ(RawQuery(path(), "SELECT min(rev) || '..' || max(rev) FROM log"), "16..20");
  auto store = MustOpen(o);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CompactedRevision(), 15);
  EXPECT_EQ(store->Watch("/c/", 14).status().code(), Code::kExpired);
  EXPECT_EQ(store->List("/c/", "", 0, 14).status().code(), Code::kExpired);
  auto w = store->Watch("/c/", 15);
  ASSERT_TRUE(w.ok());
  auto events = Collect(w->get(), 5);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().revision, 16);
  EXPECT_EQ(events.back().revision, 20);
}

TEST_F(SqliteStoreTest, AgeCompactionDropsOldHistoryOnly) {
  StoreOptions o = Options();
  o.log_retention_events = 1000;
  o.log_retention_age = 300ms;
  o.compaction_interval = 10ms;
  auto store = MustOpen(o);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Create("/a/" + std::to_string(i), Enc("v")).ok());
  EXPECT_EQ(store->CompactedRevision(), 0);  // young history stays
  ASSERT_TRUE(WaitFor([&] { return store->CompactedRevision() == 5; }));
  ASSERT_TRUE(store->Create("/a/new", Enc("v")).ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(store->CompactedRevision(), 5);
  auto w = store->Watch("/a/", 5);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Collect(w->get(), 1).size(), 1u);
  EXPECT_EQ(store->Watch("/a/", 4).status().code(), Code::kExpired);
}

TEST_F(SqliteStoreTest, RevisionNeverGoesBackwardsAfterEverythingIsDeletedAndCompacted) {
  StoreOptions o = Options();
  o.log_retention_events = 0;  // no count limit: the age limit below empties the log
  o.log_retention_age = 1ms;
  o.compaction_interval = 5ms;
  {
    auto store = MustOpen(o);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(store->Create("/r/" + std::to_string(i), Enc("v")).ok());
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(store->Delete("/r/" + std::to_string(i), 0, nullptr).ok());
    ASSERT_TRUE(WaitFor([&] { return store->CompactedRevision() == 8; }));
    store->Close();
  }
  EXPECT_EQ(RawQuery(path(), "SELECT count(*) FROM log"), "0");
  EXPECT_EQ(RawQuery(path(), "SELECT count(*) FROM kv"), "0");
  auto store = MustOpen(o);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), 8);
  EXPECT_EQ(store->List("/r/", "", 0, 0)->revision, 8);
  auto r = store->Create("/r/0", Enc("again"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 9);
}

TEST_F(SqliteStoreTest, ConcurrentWritersAreGroupCommittedAndDurable) {
  constexpr int kThreads = 16;
  constexpr int kEach = 100;
  std::vector<std::vector<int64_t>> revisions(kThreads);
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          const std::string key = "/g/" + std::to_string(t) + "/" + std::to_string(i);
          auto r = store->Create(key, Enc(key));
          if (r.ok()) revisions[t].push_back(*r);
        }
      });
    }
    for (auto& t : threads) t.join();
    auto stats = store->Stats();
    EXPECT_EQ(stats.writes, kThreads * kEach);
    EXPECT_EQ(stats.failed_writes, 0);
    // 16 writers that each wait for their commit queue up behind one fsync: far fewer
    // transactions than writes (one per write would mean no group commit at all).
    EXPECT_LE(stats.transactions, kThreads * kEach / 2) << "no group commit happened";
    EXPECT_GE(stats.transactions, 1);
    std::cout << "[ info ] " << stats.writes << " writes in " << stats.transactions
              << " transactions\n";
    store->Close();
  }
  std::set<int64_t> all;
  for (const auto& per_thread : revisions) {
    ASSERT_EQ(per_thread.size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(std::is_sorted(per_thread.begin(), per_thread.end()));
    all.insert(per_thread.begin(), per_thread.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));  // unique
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);  // and without gaps
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      const std::string key = "/g/" + std::to_string(t) + "/" + std::to_string(i);
      auto kv = store->Get(key);
      ASSERT_TRUE(kv.ok()) << key;
      EXPECT_EQ(kv->value, Val(key, revisions[t][i]));
      EXPECT_EQ(kv->mod_revision, revisions[t][i]);
    }
  }
}

// A latch the test opens once; waiters block until then.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST_F(SqliteStoreTest, ARefusedWriteDoesNotFailTheOthersInItsBatch) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->Create("/b/existing", Enc("v")), 1);
  const int64_t transactions_before = store->Stats().transactions;

  // Hold the writer inside the first batch (its encoder runs in the transaction) so that
  // the next writes queue up and go into ONE second batch together.
  Gate entered, release;
  std::thread first([&] {
    auto r = store->Create("/b/first", [&](int64_t rev) {
      entered.Open();
      release.Wait();
      return Val("first", rev);
    });
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(*r, 2);
  });
  entered.Wait();

  StatusOr<int64_t> ok_create = Status(Code::kInternal, "unset");
  StatusOr<int64_t> ok_update = Status(Code::kInternal, "unset");
  StatusOr<int64_t> dup = Status(Code::kInternal, "unset");
  StatusOr<int64_t> stale = Status(Code::kInternal, "unset");
  StatusOr<int64_t> bad_encoder = Status(Code::kInternal, "unset");
  std::vector<std::thread> batch;
  batch.emplace_back([&] { ok_create = store->Create("/b/ok", Enc("ok")); });
  batch.emplace_back([&] { dup = store->Create("/b/existing", Enc("dup")); });
  batch.emplace_back([&] { stale = store->Update("/b/existing", 99, Enc("stale")); });
  batch.emplace_back([&] { ok_update = store->Update("/b/existing", 1, Enc("fresh")); });
  batch.emplace_back([&] {
    bad_encoder = store->Create(
        "/b/bad", [](int64_t) -> std::string { throw std::runtime_error("cannot encode"); });
  });
  ASSERT_TRUE(WaitFor([&] { return store->Stats().pending_writes == 5; }))
      << store->Stats().pending_writes;
  // Reads are not blocked by the open write transaction (WAL).
  auto read = store->Get("/b/existing");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value, "v@1");
  EXPECT_TRUE(store->List("/b/", "", 0, 0).ok());

  release.Open();
  first.join();
  for (auto& t : batch) t.join();

  ASSERT_TRUE(ok_create.ok()) << ok_create.status().message();
  ASSERT_TRUE(ok_update.ok()) << ok_update.status().message();
  EXPECT_EQ(std::set<int64_t>({*ok_create, *ok_update}), std::set<int64_t>({3, 4}));
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(stale.status().code(), Code::kConflict);
  EXPECT_EQ(bad_encoder.status().code(), Code::kInternal);
  EXPECT_EQ(store->CurrentRevision(), 4);
  EXPECT_EQ(store->Stats().transactions, transactions_before + 2);
  EXPECT_EQ(store->Get("/b/bad").status().code(), Code::kNotFound);
  EXPECT_EQ(store->Get("/b/existing")->value, Val("fresh", *ok_update));
}

TEST_F(SqliteStoreTest, CloseLosesNoAcknowledgedWrite) {
  std::mutex mu;
  std::map<std::string, int64_t> acknowledged;
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {
          const std::string key = "/l/" + std::to_string(t) + "/" + std::to_string(i);
          auto r = store->Create(key, Enc("v"));
          if (!r.ok()) {
            EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
            return;
          }
          std::lock_guard<std::mutex> l(mu);
          acknowledged[key] = *r;
        }
      });
    }
    std::this_thread::sleep_for(100ms);
    store->Close();  // while writes are queued and in flight
    stop = true;
    for (auto& t : writers) t.join();
  }
  ASSERT_FALSE(acknowledged.empty());
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  for (const auto& [key, rev] : acknowledged) {
    auto kv = store->Get(key);
    ASSERT_TRUE(kv.ok()) << key << " was acknowledged at " << rev << " but is lost";
    EXPECT_EQ(kv->mod_revision, rev);
  }
  EXPECT_EQ(store->List("/l/", "", 0, 0)->items.size(), acknowledged.size());
}

// Overwrites `size` bytes at the middle of `path` with a fixed pattern.
void Damage(const std::string& path, size_t size) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open());
  f.seekg(0, std::ios::end);
  const auto length = static_cast<size_t>(f.tellg());
  ASSERT_GT(length, size * 4) << "the file is too small to damage in the middle";
  f.seekp(static_cast<std::streamoff>(length / 2));
  std::string garbage(size, '\xa5');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  ASSERT_TRUE(f.good());
}

TEST_F(SqliteStoreTest, DamagedFileFailsToOpen) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) {
          const std::string key = "/x/" + std::to_string(t) + "/" + std::to_string(i);
          ASSERT_TRUE(store->Create(key, Enc(std::string(1000, 'a' + t))).ok());
        }
      });
    }
    for (auto& t : threads) t.join();
    store->Close();
  }
  // Close checkpointed the WAL into the file: the file alone holds the data.
  EXPECT_TRUE(!std::filesystem::exists(path() + "-wal") ||
              std::filesystem::file_size(path() + "-wal") == 0);
  Damage(path(), 8192);
  for (int attempt = 0; attempt < 2; ++attempt) {  // and it stays refused (no lock left behind)
    auto s = OpenStore(url(), Options());
    ASSERT_FALSE(s.ok()) << "a damaged file was opened";
    EXPECT_EQ(s.status().code(), Code::kInternal);
    EXPECT_NE(s.status().message().find(path()), std::string::npos) << s.status().message();
    EXPECT_NE(s.status().message().find("damaged"), std::string::npos) << s.status().message();
    if (attempt == 0) std::cout << "[ info ] " << s.status().message() << "\n";
  }
}

// What a crash leaves behind, copied while the store is open and idle: the main file and a
// WAL holding committed writes that no checkpoint has moved into it yet.
TEST_F(SqliteStoreTest, WalOfACrashIsReplayedAndAWalWithoutAValidHeaderIsRefused) {
  namespace fs = std::filesystem;
  const std::string crashed = dir_.path() + "/crashed/csdr.db";
  fs::create_directories(fs::path(crashed).parent_path());
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(store->Create("/x/" + std::to_string(i), Enc("v")).ok());
    }
    ASSERT_GT(fs::file_size(path() + "-wal"), 32u);
    fs::copy_file(path(), crashed);
    fs::copy_file(path() + "-wal", crashed + "-wal");
    store->Close();
  }
  const std::string intact = dir_.path() + "/intact/csdr.db";
  fs::create_directories(fs::path(intact).parent_path());
  fs::copy_file(crashed, intact);
  fs::copy_file(crashed + "-wal", intact + "-wal");

  struct Case {
    const char* name;
    size_t offset;  // where one byte of the WAL header is flipped
  };
  for (const Case& c :
       {Case{"magic", 0}, Case{"salt (checksum mismatch)", 17}, Case{"checksum", 27}}) {
    SCOPED_TRACE(c.name);
    fs::copy_file(intact + "-wal", crashed + "-wal", fs::copy_options::overwrite_existing);
    {
      std::fstream f(crashed + "-wal", std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(static_cast<std::streamoff>(c.offset));
      const char byte = static_cast<char>(f.get() ^ 0x5a);
      f.seekp(static_cast<std::streamoff>(c.offset));
      f.put(byte);
    }
    const auto size = fs::file_size(crashed + "-wal");
    auto s = OpenStore("sqlite://" + crashed, Options());
    ASSERT_FALSE(s.ok()) << "a WAL without a valid header was taken for an empty one";
    EXPECT_EQ(s.status().code(), Code::kInternal);
    EXPECT_NE(s.status().message().find(crashed + "-wal"), std::string::npos)
        << s.status().message();
    // Left as it was for whoever recovers it.
    EXPECT_EQ(fs::file_size(crashed + "-wal"), size);
  }

  auto store = OpenStore("sqlite://" + intact, Options());
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->CurrentRevision(), 20);
  (*store)->Close();
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseFailsToOpen) {
  std::filesystem::create_directories(std::filesystem::path(path()).parent_path());
  {
    std::ofstream f(path());
    for (int i = 0; i < 1000; ++i) f << "this is not an SQLite database\n";
  }
  auto s = OpenStore(url(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInternal);
  EXPECT_NE(s.status().message().find(path()), std::string::npos) << s.status().message();
}

TEST_F(SqliteStoreTest, ForeignDatabaseIsRefused) {
  std::filesystem::create_directories(std::filesystem::path(path()).parent_path());
  RawQuery(path(), "CREATE TABLE users (name TEXT)");
  auto s = OpenStore(url(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInternal);
  EXPECT_NE(s.status().message().find("not a csdr-apiserver database"), std::string::npos)
      << s.status().message();
}

TEST_F(SqliteStoreTest, InconsistentRevisionsAreRefused) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(store->Create("/i/" + std::to_string(i), Enc("v")).ok());
    store->Close();
  }
  // As if the meta row had been rolled back: serving it would hand out revision 3 again.
  RawQuery(path(), "UPDATE meta SET value = 2 WHERE name = 'revision'");
  auto s = OpenStore(url(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInternal);
  EXPECT_NE(s.status().message().find("revision 2"), std::string::npos) << s.status().message();
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { ASSERT_NE(MustOpen(), nullptr); }
  RawQuery(path(), "PRAGMA user_version = 99");
  auto s = OpenStore(url(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("newer"), std::string::npos) << s.status().message();
}

TEST_F(SqliteStoreTest, OneProcessAtATime) {
  auto first = MustOpen();
  ASSERT_NE(first, nullptr);
  auto second = OpenStore(url(), Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().message();
  first->Close();
  EXPECT_NE(MustOpen(), nullptr);
}

TEST_F(SqliteStoreTest, RelativePathIsRelativeToTheWorkingDirectory) {
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  {
    auto s = OpenStore("sqlite://rel/dir/csdr.db", Options());
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_TRUE((*s)->Create("/k", Enc("v")).ok());
    (*s)->Close();
    auto dot = OpenStore("sqlite://./rel/dir/csdr.db", Options());
    ASSERT_TRUE(dot.ok()) << dot.status().message();
    EXPECT_EQ((*dot)->CurrentRevision(), 1);
  }
  std::filesystem::current_path(cwd);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/rel/dir/csdr.db"));
}

TEST_F(SqliteStoreTest, UncreatableDirectoryFailsToOpen) {
  // A regular file where the parent directory should be (permissions would not stop root).
  { std::ofstream(dir_.path() + "/file") << "x"; }
  auto s = OpenStore("sqlite://" + dir_.path() + "/file/csdr.db", Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable) << s.status().message();
  EXPECT_NE(s.status().message().find(dir_.path() + "/file"), std::string::npos)
      << s.status().message();
}

}  // namespace
}  // namespace csdr::storage
