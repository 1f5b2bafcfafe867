// BackupSqliteDatabase: an online copy of a serving sqlite:// store that opens as a store with
// every write acknowledged before it started, one snapshot, and nothing left behind on error.
#include "storage/sqlite/sqlite_backup.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "test/storage/store_test_util.h"

namespace csdr::storage {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// A value of about 1 KiB, so that a few hundred keys span many database pages.
std::string Body(const std::string& key, int64_t revision) {
  return "{\"key\":\"" + key + "\",\"rev\":" + std::to_string(revision) + ",\"pad\":\"" +
         std::string(1000, 'x') + "\"}";
}
Encoder BodyEncoder(const std::string& key) {
  return [key](int64_t revision) { return Body(key, revision); };
}

std::map<std::string, KeyValue> ListAll(Store* store, int64_t at_revision = 0) {
  auto r = store->List("/", "", 0, at_revision);
  EXPECT_TRUE(r.ok()) << r.status().message();
  std::map<std::string, KeyValue> out;
  if (r.ok()) {
    for (auto& kv : r->items) out[kv.key] = kv;
  }
  return out;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SqliteBackupTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return dir_.path() + "/data/csdr.db"; }
  std::string BackupDir() const { return dir_.path() + "/backup"; }
  std::string BackupPath() const { return BackupDir() + "/csdr-backup.db"; }

  std::unique_ptr<Store> OpenAt(const std::string& path) {
    auto s = OpenStore("sqlite://" + path);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  TempDir dir_;
};

TEST_F(SqliteBackupTest, BackupWhileWritingHoldsEverythingAcknowledgedBefore) {
  auto store = OpenAt(DbPath());
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 400; ++i) {
    const std::string key = "/registry/csdr.io/backups/csdr/seed-" + std::to_string(i);
    ASSERT_TRUE(store->Create(key, BodyEncoder(key)).ok());
  }
  for (int i = 0; i < 400; i += 7) {  // some updates and deletes, so the log has every kind
    const std::string key = "/registry/csdr.io/backups/csdr/seed-" + std::to_string(i);
    ASSERT_TRUE(store->Update(key, 0, BodyEncoder(key)).ok());
  }
  for (int i = 3; i < 400; i += 50) {
    ASSERT_TRUE(
        store->Delete("/registry/csdr.io/backups/csdr/seed-" + std::to_string(i), 0, nullptr).ok());
  }

  // A writer that keeps creating and updating; it records what the store acknowledged.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int64_t> acked;  // guarded by mu: key -> acknowledged revision
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string key = "/registry/csdr.io/backups/csdr/w-" + std::to_string(i);
      auto rev = store->Create(key, BodyEncoder(key));
      ASSERT_TRUE(rev.ok()) << rev.status().message();
      std::lock_guard<std::mutex> lock(mu);
      acked[key] = *rev;
    }
  });
  ASSERT_TRUE(testing::WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size() >= 20;
  }));

  std::map<std::string, int64_t> acked_before;
  {
    std::lock_guard<std::mutex> lock(mu);
    acked_before = acked;
  }
  const int64_t revision_before = store->CurrentRevision();
  SqliteBackupOptions options;
  options.pages_per_step = 8;  // many small steps, so the writer commits between them
  options.pause = 2ms;
  auto result = BackupSqliteDatabase(DbPath(), BackupPath(), options);
  const int64_t revision_after = store->CurrentRevision();
  stop = true;
  writer.join();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_GT(result->steps, 10) << "the copy should take many steps";
  EXPECT_GT(revision_after, revision_before) << "the writer did not write during the backup";
  EXPECT_GE(result->revision, revision_before);
  EXPECT_LE(result->revision, revision_after);
  EXPECT_GT(result->bytes, 400 * 1000);
  EXPECT_EQ(FilesIn(BackupDir()), std::vector<std::string>{"csdr-backup.db"})
      << "temporary or journal files left beside the backup";

  // The backup is the source as of its revision: every key, value and revision, no more.
  const auto at_backup = ListAll(store.get(), result->revision);
  auto copy = OpenAt(BackupPath());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->CurrentRevision(), result->revision);
  const auto restored = ListAll(copy.get());
  EXPECT_EQ(static_cast<int64_t>(restored.size()), result->objects);
  ASSERT_EQ(restored.size(), at_backup.size());
  for (const auto& [key, kv] : at_backup) {
    SCOPED_TRACE(key);
    auto it = restored.find(key);
    ASSERT_NE(it, restored.end());
    EXPECT_EQ(it->second.value, kv.value);
    EXPECT_EQ(it->second.mod_revision, kv.mod_revision);
    EXPECT_EQ(it->second.create_revision, kv.create_revision);
  }
  for (const auto& [key, rev] : acked_before) {
    SCOPED_TRACE(key);
    auto it = restored.find(key);
    ASSERT_NE(it, restored.end()) << "acknowledged before the backup started, missing from it";
    EXPECT_EQ(it->second.mod_revision, rev);
  }
  // The copy serves as a store: its revision goes on from the backup's.
  auto next = copy->Create("/registry/csdr.io/backups/csdr/after-restore",
                           BodyEncoder("/registry/csdr.io/backups/csdr/after-restore"));
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(*next, result->revision + 1);
}

TEST_F(SqliteBackupTest, BackupOfAStoppedStoreAndReplacingAnOldBackup) {
  {
    auto store = OpenAt(DbPath());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Create("/registry/a", BodyEncoder("/registry/a")).ok());
    store->Close();
  }
  std::filesystem::create_directories(BackupDir());
  std::ofstream(BackupPath()) << "an older backup";
  auto result = BackupSqliteDatabase(DbPath(), BackupPath());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->revision, 1);
  EXPECT_EQ(result->objects, 1);
  EXPECT_EQ(FilesIn(BackupDir()), std::vector<std::string>{"csdr-backup.db"});
  auto copy = OpenAt(BackupPath());
  ASSERT_NE(copy, nullptr);
  auto got = copy->Get("/registry/a");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->value, Body("/registry/a", 1));
  // The source still opens as it was.
  copy->Close();
  auto again = OpenAt(DbPath());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->CurrentRevision(), 1);
}

TEST_F(SqliteBackupTest, RefusesBadSourcesAndLeavesNothingBehind) {
  std::filesystem::create_directories(BackupDir());
  struct Case {
    const char* name;
    std::function<std::string()> make_source;  // returns the source path
    Code code;
  };
  const std::vector<Case> cases = {
      {"missing file", [&] { return dir_.path() + "/nope.db"; }, Code::kNotFound},
      {"not a csdr database",
       [&] {
         const std::string path = dir_.path() + "/other.db";
         sqlite3* db = nullptr;
         sqlite3_open(path.c_str(), &db);
         sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", nullptr, nullptr,
                      nullptr);
         sqlite3_close(db);
         return path;
       },
       Code::kInternal},
      {"not SQLite at all",
       [&] {
         const std::string path = dir_.path() + "/text.db";
         std::ofstream(path) << std::string(8192, 'z');
         return path;
       },
       Code::kInternal},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto result = BackupSqliteDatabase(c.make_source(), BackupPath());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), c.code) << result.status().message();
    EXPECT_TRUE(FilesIn(BackupDir()).empty()) << "left files beside the target";
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/nope.db"))
      << "the backup created its source";
}

TEST_F(SqliteBackupTest, RefusesToOverwriteItsSource) {
  auto store = OpenAt(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create("/registry/a", BodyEncoder("/registry/a")).ok());
  auto result = BackupSqliteDatabase(DbPath(), dir_.path() + "/data/../data/csdr.db");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kBadRequest) << result.status().message();
  auto got = store->Get("/registry/a");
  EXPECT_TRUE(got.ok()) << got.status().message();
}

}  // namespace
}  // namespace csdr::storage
