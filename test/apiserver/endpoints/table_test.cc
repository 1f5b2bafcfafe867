// TableList (rows written from the stored bytes) against Table (rows from parsed objects):
// the same bytes for every kind, every includeObject, and objects that do not split; and
// TableRowCache, which keeps rows per stored revision, against TableList.
#include "apiserver/endpoints/table.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

using std::chrono::system_clock;

// Objects as the store keeps them: compact JSON from our serializer.
std::vector<std::string> Stored(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) {
    auto v = json::Parse(t);
    EXPECT_TRUE(v.ok()) << t;
    out.push_back(v.ok() ? json::Serialize(*v) : t);
  }
  return out;
}

std::string Expected(const KindStrategy& kind, const std::vector<std::string>& items,
                     const std::string& include, const json::Value& meta,
                     system_clock::time_point now) {
  std::vector<json::Value> parsed;
  for (const auto& i : items) {
    auto v = json::Parse(i);
    if (v.ok()) parsed.push_back(std::move(*v));
  }
  std::vector<const json::Value*> ptrs;
  for (const auto& p : parsed) ptrs.push_back(&p);
  auto t = Table(kind, "v1", ptrs, include, &meta, now);
  EXPECT_TRUE(t.ok());
  return t.ok() ? json::Serialize(*t) : "";
}

const std::vector<std::string> kObjects = {
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr","uid":"u1","resourceVersion":"7","creationTimestamp":"2026-12-01T10:00:00Z","labels":{"app":"shop","tricky\"key":"v}]"},"annotations":{"note":"has \\\" and } and ] and \u00e9 and <tag>"},"managedFields":[{"manager":"kubectl","operation":"Update","fieldsV1":{"f:spec":{".":{}}}}]},"spec":{"vaultName":"prod-vault","backupType":"AppAndPvBackup","ttl":"720h"},"status":{"phase":"Completed","errors":2,"warnings":0,"startTimestamp":"2026-12-01T10:01:00Z","expiration":"2026-12-31T10:00:00Z"}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"no-status","namespace":"csdr"},"spec":{"vaultName":"v"}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","spec":{"vaultName":"no-metadata"}})",
    R"({"metadata":{"name":"n","creationTimestamp":"2020-01-01T00:00:00Z","generation":1.5e3},"status":{"phase":"InProgress","errors":[1,2,3]},"spec":{"backupType":{"odd":"type"}}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":{"name":"v1","creationTimestamp":"2026-11-01T00:00:00Z"},"spec":{"bucket":"b","region":"cn-heyuan","network":"internal","accessMode":"ReadWrite"},"status":{"phase":"Available","lastValidationTime":"2026-12-05T00:00:00Z"}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule","metadata":{"name":"nightly"},"spec":{"schedule":"0 2 * * *","paused":true,"template":{"vaultName":"v"}},"status":{"lastBackup":{"name":"x","phase":"Failed"},"nextRunTime":"2026-12-07T02:00:00Z"}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},"spec":{"clusterType":"ACKManaged","regionID":"cn-heyuan","componentVersion":"v1.8.4"},"status":{"capabilities":{"backupCenter":true}}})",
    R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"r"},"spec":{"backupName":"b1"},"status":{"phase":"Completed","errors":0}})",
};

TEST(TableListTest, SameBytesAsTheParsedTableForEveryKindAndIncludeObject) {
  const auto now = system_clock::now();
  const std::vector<std::string> items = Stored(kObjects);
  json::Value meta = json::Value::MakeObject();
  meta.Set("continue", "");
  meta.Set("resourceVersion", "42");
  for (const KindStrategy* kind : AllKinds()) {
    for (const std::string include : {"", "None", "Metadata", "Object"}) {
      auto got = TableList(*kind, "v1", items, include, meta, now);
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(*got, Expected(*kind, items, include, meta, now))
          << kind->info().resource << " includeObject=" << include;
      EXPECT_TRUE(json::Parse(*got).ok());
    }
  }
}

TEST(TableListTest, ObjectsThatDoNotSplitAreParsedWholeOrSkipped) {
  const auto now = system_clock::now();
  const KindStrategy& backups = *FindKindByResource("backups");
  json::Value meta = json::Value::MakeObject();
  // Not compact (blanks), metadata after spec, an unreadable item first, an array item.
  const std::vector<std::string> items = {
      "not json",
      R"( { "spec" : { "vaultName" : "v" } , "metadata" : { "name" : "spaced" } } )",
      "[1,2]",
      R"({"metadata":{"name":"ok"}})",
  };
  auto got = TableList(backups, "v1", items, "", meta, now);
  ASSERT_TRUE(got.ok());
  auto parsed = json::Parse(*got);
  ASSERT_TRUE(parsed.ok()) << *got;
  const json::Value& rows = *parsed->Find("rows");
  ASSERT_EQ(rows.size(), 3u) << *got;  // "not json" has no row
  EXPECT_EQ(rows.array()[0].Find("cells")->array()[0].as_string(), "spaced");
  EXPECT_EQ(rows.array()[2].Find("cells")->array()[0].as_string(), "ok");
  EXPECT_EQ(*rows.array()[0].FindPath({"object", "metadata"}),
            *json::Parse(R"({"name":"spaced"})"));
}

TEST(TableListTest, UnknownIncludeObjectIsA400) {
  auto got = TableList(*FindKindByResource("backups"), "v1", {}, "Everything",
                       json::Value::MakeObject(), system_clock::now());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kBadRequest);
}

// The items under the kind's own keys, as the registry lists them.
std::vector<storage::KeyValue> KeyValues(const KindStrategy& kind,
                                         const std::vector<std::string>& stored,
                                         int64_t first_rev) {
  std::vector<storage::KeyValue> out;
  for (size_t i = 0; i < stored.size(); ++i) {
    const int64_t rev = first_rev + static_cast<int64_t>(i);
    out.push_back({"/registry/csdr.io/" + kind.info().resource + "/" + std::to_string(i), stored[i],
                   rev, rev});
  }
  return out;
}

json::Value ListMeta() {
  json::Value meta = json::Value::MakeObject();
  meta.Set("resourceVersion", "42");
  return meta;
}

TEST(TableRowCacheTest, KeptRowsGiveTableListsBytesAtEveryLaterMoment) {
  const std::vector<std::string> stored = Stored(kObjects);
  TableRowCache cache;
  const auto t0 = system_clock::now();
  for (const KindStrategy* kind : AllKinds()) {
    const auto items = KeyValues(*kind, stored, 10);
    for (const std::string include : {"", "None", "Object"}) {
      // The first list prepares the rows; the later ones, hours and days on, reuse them and
      // must still count ages and countdowns from their own moment.
      for (auto now : {t0, t0 + std::chrono::hours(3), t0 + std::chrono::hours(24 * 40)}) {
        auto got = cache.List(*kind, "v1", items, include, ListMeta(), now);
        ASSERT_TRUE(got.ok()) << got.status().message();
        EXPECT_EQ(*got, *TableList(*kind, "v1", stored, include, ListMeta(), now))
            << kind->info().resource << " includeObject=" << include;
      }
    }
  }
  EXPECT_EQ(cache.size(), stored.size() * AllKinds().size());
}

TEST(TableRowCacheTest, ANewRevisionOfAKeyIsPreparedAgain) {
  const KindStrategy& backups = *FindKindByResource("backups");
  TableRowCache cache;
  const auto now = system_clock::now();
  auto v1 = Stored({R"({"metadata":{"name":"b"},"status":{"phase":"InProgress"}})"});
  auto v2 = Stored({R"({"metadata":{"name":"b"},"status":{"phase":"Completed"}})"});
  std::vector<storage::KeyValue> items = {{"/registry/b", v1[0], 5, 5}};
  ASSERT_NE(cache.List(backups, "v1", items, "None", ListMeta(), now)->find("InProgress"),
            std::string::npos);
  items[0] = {"/registry/b", v2[0], 5, 9};
  auto got = cache.List(backups, "v1", items, "None", ListMeta(), now);
  EXPECT_EQ(*got, *TableList(backups, "v1", v2, "None", ListMeta(), now));
  EXPECT_EQ(got->find("InProgress"), std::string::npos);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(TableRowCacheTest, ItemsWithoutARevisionAreNotKeptAndAFullCacheStartsOver) {
  const KindStrategy& backups = *FindKindByResource("backups");
  const auto now = system_clock::now();
  const std::vector<std::string> stored = Stored(kObjects);
  TableRowCache small(3);
  std::vector<storage::KeyValue> unkept = {{"", stored[0], 0, 0}, {"/registry/x", stored[1], 0, 0}};
  EXPECT_EQ(*small.List(backups, "v1", unkept, "", ListMeta(), now),
            *TableList(backups, "v1", {stored[0], stored[1]}, "", ListMeta(), now));
  EXPECT_EQ(small.size(), 0u);
  auto items = KeyValues(backups, stored, 1);  // 8 rows into a cache of 3
  EXPECT_EQ(*small.List(backups, "v1", items, "", ListMeta(), now),
            *TableList(backups, "v1", stored, "", ListMeta(), now));
  EXPECT_LE(small.size(), 3u);
  EXPECT_GT(small.size(), 0u);
}

TEST(TableRowCacheTest, UnknownIncludeObjectIsA400) {
  TableRowCache cache;
  auto got =
      cache.List(*FindKindByResource("backups"), "v1", {}, "All", ListMeta(), system_clock::now());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kBadRequest);
  // Streamed, the same 400 before any byte.
  auto stream = cache.Stream(*FindKindByResource("backups"), "v1",
                             std::make_shared<const std::vector<storage::KeyValue>>(), "All",
                             ListMeta(), system_clock::now());
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.status().code(), Code::kBadRequest);
}

// A streamed list is the same bytes as the whole one, in pieces of about the chunk size
// (a piece ends at a row boundary, so it may pass the size by one row), for every kind,
// chunk size (one row per piece, a few rows, everything at once) and an empty list.
TEST(TableRowCacheTest, StreamedListIsTheSameBytesInPieces) {
  const std::vector<std::string> stored = Stored(kObjects);
  TableRowCache cache;
  const auto now = system_clock::now();
  for (const KindStrategy* kind : AllKinds()) {
    for (size_t n : {stored.size(), size_t{0}}) {
      auto items = std::make_shared<const std::vector<storage::KeyValue>>(
          KeyValues(*kind, std::vector<std::string>(stored.begin(), stored.begin() + n), 10));
      const std::string whole = *cache.List(*kind, "v1", *items, "", ListMeta(), now);
      for (size_t chunk : {size_t{1}, size_t{300}, size_t{1} << 30}) {
        auto stream = cache.Stream(*kind, "v1", items, "", ListMeta(), now);
        ASSERT_TRUE(stream.ok()) << stream.status().message();
        std::string joined;
        int pieces = 0;
        bool more = true;
        while (more) {
          std::string piece;
          more = (*stream)->Next(&piece, chunk);
          ++pieces;
          ASSERT_LT(pieces, 1000) << "Next never returned false";
          joined += piece;
        }
        EXPECT_EQ(joined, whole) << kind->info().resource << " chunk " << chunk;
        if (chunk == 1) {
          EXPECT_EQ(pieces, static_cast<int>(n) + 1);
        } else if (chunk == (size_t{1} << 30)) {
          EXPECT_EQ(pieces, 1);
        }
      }
    }
  }
}

}  // namespace
}  // namespace csdr::apiserver
