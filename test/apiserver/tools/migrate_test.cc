// MigrateStore: every key under /registry/ copied at one revision, every field but
// resourceVersion kept, an occupied target refused untouched, a bad copy caught by the
// verification.
#include "apiserver/tools/migrate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "storage/store.h"
#include "test/apiserver/tools/tools_test_util.h"
#include "test/storage/store_test_util.h"

namespace csdr::apiserver {
namespace {

using storage::Store;
using storage::testing::TempDir;
using testing::ExpectSameContent;
using testing::Fill;
using testing::ListPrefix;
using testing::ObjectEncoder;

std::unique_ptr<Store> Open(const std::string& url) {
  auto s = storage::OpenStore(url);
  EXPECT_TRUE(s.ok()) << url << ": " << s.status().message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

// Forwards to another store; a hook runs before every List and every Create.
class HookedStore : public Store {
 public:
  explicit HookedStore(Store* inner) : inner_(inner) {}
  std::function<void(int64_t at_revision)> before_list;
  std::function<storage::Encoder(const std::string& key, const storage::Encoder&)> wrap_create;

  StatusOr<int64_t> Create(const std::string& key, const storage::Encoder& encode) override {
    if (wrap_create) return inner_->Create(key, wrap_create(key, encode));
    return inner_->Create(key, encode);
  }
  StatusOr<storage::KeyValue> Get(const std::string& key) override { return inner_->Get(key); }
  StatusOr<storage::ListResult> List(const std::string& prefix, const std::string& start_after,
                                     size_t limit, int64_t at_revision) override {
    ++lists;
    if (before_list) before_list(at_revision);
    if (at_revision != 0 && expire_pinned_lists > 0) {
      --expire_pinned_lists;
      return Status(Code::kExpired, "compacted (injected)");
    }
    return inner_->List(prefix, start_after, limit, at_revision);
  }
  StatusOr<int64_t> Update(const std::string& key, int64_t expected,
                           const storage::Encoder& encode) override {
    return inner_->Update(key, expected, encode);
  }
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected,
                           const storage::Encoder& encode) override {
    return inner_->Delete(key, expected, encode);
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_->CompactedRevision(); }
  StatusOr<std::unique_ptr<storage::Watcher>> Watch(const std::string& prefix,
                                                    int64_t after) override {
    return inner_->Watch(prefix, after);
  }
  void Close() override { inner_->Close(); }

  std::atomic<int> lists{0};
  // The next this many Lists at a pinned revision answer kExpired, as after a compaction.
  std::atomic<int> expire_pinned_lists{0};

 private:
  Store* inner_;
};

TEST(ResourceOfKeyTest, NamesResourceAndGroup) {
  struct Case {
    const char* key;
    const char* want;
  };
  const Case cases[] = {
      {"/registry/csdr.io/backups/csdr/nightly-1", "backups.csdr.io"},
      {"/registry/csdr.io/clusterprofiles/cluster", "clusterprofiles.csdr.io"},
      {"/registry/csdr.io/_backupvault_tombstones/csdr/v", "_backupvault_tombstones.csdr.io"},
      {"/registry/csdr.io/odd", "csdr.io"},
      {"/registry/top", "top"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    EXPECT_EQ(ResourceOfKey(c.key, "/registry/"), c.want);
  }
}

struct Backends {
  const char* name;
  const char* source;  // "memory://" or "sqlite" (a file in the test's directory)
  const char* target;
};

void PrintTo(const Backends& b, std::ostream* os) { *os << b.name; }

class MigrateTest : public ::testing::TestWithParam<Backends> {
 protected:
  std::string Url(const std::string& kind, const std::string& file) {
    return kind == "sqlite" ? "sqlite://" + dir_.path() + "/" + file : kind;
  }
  TempDir dir_;
};

TEST_P(MigrateTest, CopiesEveryKeyKeepingEverythingButResourceVersion) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  const size_t keys = Fill(source.get());
  // The target's revisions are not the source's: some unrelated history first.
  ASSERT_TRUE(target->Create("/elsewhere/a", [](int64_t) { return std::string("x"); }).ok());
  ASSERT_TRUE(target->Update("/elsewhere/a", 0, [](int64_t) { return std::string("y"); }).ok());

  MigrateOptions options;
  options.page_size = 4;  // many pages
  auto report = MigrateStore(source.get(), target.get(), options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->source_revision, source->CurrentRevision());
  EXPECT_EQ(report->keys, keys);
  EXPECT_EQ(report->target_revision, target->CurrentRevision());
  const std::map<std::string, size_t> want_counts = {
      {"_backupvault_tombstones.csdr.io", 1},
      {"_raw.csdr.io", 1},
      {"backups.csdr.io", 23},
      {"backupschedules.csdr.io", 2},
      {"backupvaults.csdr.io", 2},
      {"clusterprofiles.csdr.io", 1},
      {"restores.csdr.io", 2},
  };
  EXPECT_EQ(report->per_resource, want_counts);
  ExpectSameContent(source.get(), report->source_revision, target.get());
  EXPECT_FALSE(target->Get("/elsewhere/not-copied").ok()) << "a key outside /registry/ was copied";

  if (std::string(GetParam().target) == "sqlite") {  // durable: the copy survives a reopen
    target->Close();
    target.reset();
    auto reopened = Open(Url("sqlite", "target.db"));
    ASSERT_NE(reopened, nullptr);
    ExpectSameContent(source.get(), report->source_revision, reopened.get());
  }
}

TEST_P(MigrateTest, RefusesANonEmptyTargetAndWritesNothing) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  Fill(source.get());
  const std::string occupant = "/registry/csdr.io/backups/csdr/already-here";
  ASSERT_TRUE(target->Create(occupant, ObjectEncoder("Backup", "csdr", "already-here", 7)).ok());
  const int64_t revision = target->CurrentRevision();
  const auto before = ListPrefix(target.get(), 0, "/");

  auto report = MigrateStore(source.get(), target.get());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kAlreadyExists);
  EXPECT_NE(report.status().message().find(occupant), std::string::npos)
      << report.status().message();
  EXPECT_NE(report.status().message().find("wrote nothing"), std::string::npos);
  EXPECT_EQ(target->CurrentRevision(), revision) << "the target was written to";
  const auto after = ListPrefix(target.get(), 0, "/");
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after.begin()->second.value, before.begin()->second.value);
}

TEST_P(MigrateTest, KeysOutsideTheRegistryDoNotMakeATargetNonEmpty) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  Fill(source.get());
  ASSERT_TRUE(target->Create("/elsewhere/kept", [](int64_t) { return std::string("k"); }).ok());
  auto report = MigrateStore(source.get(), target.get());
  ASSERT_TRUE(report.ok()) << report.status().message();
  auto kept = target->Get("/elsewhere/kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->value, "k");
}

// The source changes between every two pages of the read (creates in the part not read yet,
// updates behind and ahead, deletes ahead) and a writer thread keeps writing: the copy is the
// source as of the first page's revision, nothing later.
TEST_P(MigrateTest, CopiesOneRevisionWhileTheSourceKeepsChanging) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  Fill(source.get());
  auto backup_key = [](int i) {
    char name[32];
    std::snprintf(name, sizeof(name), "b-%03d", i);
    return std::string("/registry/csdr.io/backups/csdr/") + name;
  };
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(source->Create(backup_key(i), ObjectEncoder("Backup", "csdr", "b", i)).ok());
  }

  HookedStore churning(source.get());
  int pages = 0;
  churning.before_list = [&](int64_t at_revision) {
    if (at_revision == 0) return;  // the first page fixes the revision
    ++pages;
    // Even keys are updated, odd ones deleted (behind and ahead of the read), new keys created.
    const int k = 2 * pages;
    EXPECT_TRUE(
        source->Update(backup_key(k % 60), 0, ObjectEncoder("Backup", "csdr", "b", 500 + k)).ok());
    EXPECT_TRUE(
        source->Update(backup_key((k + 30) % 60), 0, ObjectEncoder("Backup", "csdr", "b", 600 + k))
            .ok());
    EXPECT_TRUE(source->Delete(backup_key((k + 31) % 60), 0, nullptr).ok());
    EXPECT_TRUE(
        source->Create(backup_key(k + 30) + "-late", ObjectEncoder("Backup", "csdr", "l", k)).ok());
  };
  std::atomic<bool> stop{false};
  std::atomic<int> background_writes{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      const std::string key = "/registry/csdr.io/backups/other/w-" + std::to_string(i);
      if (source->Create(key, ObjectEncoder("Backup", "other", "w", i)).ok()) ++background_writes;
      if (i % 2 == 0) {
        source->Update(backup_key(i % 60), 0, ObjectEncoder("Backup", "csdr", "u", i))
            .status()
            .IgnoreError();
      }
      // A busy server, not a flood: unthrottled, a memory:// source would drop the history the
      // snapshot is rebuilt from within a second (StoreOptions::watch_history_bytes).
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  // Let the writer get going, so that it also writes while the snapshot is read.
  ASSERT_TRUE(storage::testing::WaitFor([&] { return background_writes >= 10; }));

  MigrateOptions options;
  options.page_size = 7;
  auto report = MigrateStore(&churning, target.get(), options);
  stop = true;
  writer.join();
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_GE(pages, 10) << "the snapshot was read in too few pages to test anything";
  EXPECT_GT(source->CurrentRevision(), report->source_revision + 4 * pages)
      << "the source did not change while it was read";
  ExpectSameContent(source.get(), report->source_revision, target.get());
  EXPECT_FALSE(target->Get(backup_key(34) + "-late").ok()) << "a key created after the snapshot";
}

// A snapshot compacted away while it is read is read again from its first page, a few times.
TEST_P(MigrateTest, ReadsTheSnapshotAgainWhenItWasCompactedAway) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  const size_t keys = Fill(source.get());
  HookedStore compacting(source.get());
  compacting.expire_pinned_lists = 2;
  MigrateOptions options;
  options.page_size = 5;
  auto report = MigrateStore(&compacting, target.get(), options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->keys, keys);
  EXPECT_EQ(compacting.expire_pinned_lists, 0);
  ExpectSameContent(source.get(), report->source_revision, target.get());

  auto again = Open(Url(GetParam().target, "target2.db"));
  ASSERT_NE(again, nullptr);
  compacting.expire_pinned_lists = 3;  // one more than the attempts: give up, write nothing
  auto failed = MigrateStore(&compacting, again.get(), options);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kExpired);
  EXPECT_NE(failed.status().message().find("cannot read the source"), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(again->CurrentRevision(), 0);
}

// A target that alters what it stores: the verification must notice.
TEST_P(MigrateTest, VerificationCatchesAValueThatDiffers) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  Fill(source.get());
  HookedStore tampering(target.get());
  const std::string victim = "/registry/csdr.io/backups/csdr/shop-4";
  tampering.wrap_create = [&](const std::string& key, const storage::Encoder& encode) {
    if (key != victim) return encode;
    return storage::Encoder([encode](int64_t revision) {
      auto v = json::Parse(encode(revision));
      EXPECT_TRUE(v.ok());
      (*v)["metadata"]["labels"].Set("tier", "silver");
      return json::Serialize(*v);
    });
  };
  auto report = MigrateStore(source.get(), &tampering);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kInternal);
  EXPECT_NE(report.status().message().find("verification failed"), std::string::npos)
      << report.status().message();
  EXPECT_NE(report.status().message().find(victim + " differs"), std::string::npos)
      << report.status().message();
}

TEST_P(MigrateTest, VerificationCatchesAResourceVersionThatIsNotTheRevision) {
  auto source = Open(Url(GetParam().source, "source.db"));
  auto target = Open(Url(GetParam().target, "target.db"));
  ASSERT_TRUE(source && target);
  Fill(source.get());
  HookedStore stale(target.get());
  stale.wrap_create = [](const std::string&, const storage::Encoder& encode) {
    // Keeps the source's resourceVersion: revision 0 never matches a mod_revision.
    return storage::Encoder([encode](int64_t) { return encode(0); });
  };
  auto report = MigrateStore(source.get(), &stale);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("not its revision in the target"), std::string::npos)
      << report.status().message();
}

INSTANTIATE_TEST_SUITE_P(Backends, MigrateTest,
                         ::testing::Values(Backends{"MemoryToSqlite", "memory://", "sqlite"},
                                           Backends{"SqliteToSqlite", "sqlite", "sqlite"},
                                           Backends{"SqliteToMemory", "sqlite", "memory://"}),
                         [](const ::testing::TestParamInfo<Backends>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace csdr::apiserver
