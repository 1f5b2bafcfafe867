// Registry semantics against the memory store: the REST behaviour kubectl relies on,
// independent of HTTP.
#include "apiserver/registry/registry.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

json::Value Parse(const std::string& s) {
  auto v = json::Parse(s);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? v.value() : json::Value();
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::OpenStore("memory://");
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    registry_ = std::make_unique<Registry>(store_.get(), &admission_, [] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(1764000000));
    });
    backups_ = FindKindByResource("backups");
    ASSERT_NE(backups_, nullptr);
    user_.name = "admin";
    user_.groups = {"system:masters", "system:authenticated"};
  }

  Scope BackupScope(const std::string& name = "", const std::string& sub = "") {
    Scope s;
    s.kind = backups_;
    s.namespace_ = "csdr";
    s.name = name;
    s.subresource = sub;
    s.user = &user_;
    return s;
  }

  json::Value Backup(const std::string& name, const std::string& labels = "{}") {
    return Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":")" + name +
                 R"(","labels":)" + labels +
                 R"(},"spec":{"vaultName":"v1","includedNamespaces":["shop"]}})");
  }

  // BackupSchedule: a kind whose spec may change (a Backup's spec is immutable).
  Scope ScheduleScope(const std::string& name = "", const std::string& sub = "") {
    Scope s = BackupScope(name, sub);
    s.kind = FindKindByResource("backupschedules");
    return s;
  }

  json::Value MustCreateSchedule(const std::string& name) {
    auto r = registry_->Create(
        ScheduleScope(),
        Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule","metadata":{"name":")" +
              name + R"("},"spec":{"schedule":"1 4 * * *","template":{"vaultName":"v1"}}})"),
        Opts());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->object : json::Value();
  }

  WriteOptions Opts(const std::string& manager = "test") {
    WriteOptions o;
    o.field_manager = manager;
    return o;
  }

  json::Value MustCreate(const std::string& name, const std::string& labels = "{}") {
    auto r = registry_->Create(BackupScope(), Backup(name, labels), Opts());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->object : json::Value();
  }

  AdmitAll admission_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Registry> registry_;
  const KindStrategy* backups_ = nullptr;
  UserInfo user_;
};

TEST_F(RegistryTest, CreateFillsSystemFields) {
  json::Value obj = MustCreate("b1");
  EXPECT_EQ(obj.GetString({"metadata", "namespace"}), "csdr");
  EXPECT_EQ(obj.GetString({"metadata", "uid"}).size(), 36u);
  EXPECT_EQ(obj.GetString({"metadata", "creationTimestamp"}), "2025-11-24T16:00:00Z");
  EXPECT_EQ(obj.FindPath({"metadata", "generation"})->as_int(), 1);
  EXPECT_EQ(obj.GetString({"metadata", "resourceVersion"}),
            std::to_string(store_->CurrentRevision()));
  // The stored bytes carry the same resourceVersion as the response.
  auto got = registry_->Get(BackupScope("b1"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, obj);
}

TEST_F(RegistryTest, CreateTwiceIsAlreadyExists) {
  MustCreate("b1");
  auto r = registry_->Create(BackupScope(), Backup("b1"), Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(r.status().message(), "backups.csdr.io \"b1\" already exists");
}

TEST_F(RegistryTest, GenerateName) {
  json::Value b = Backup("");
  b["metadata"].Erase("name");
  b["metadata"].Set("generateName", "daily-");
  auto r = registry_->Create(BackupScope(), b, Opts());
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string name = r->object.GetString({"metadata", "name"});
  EXPECT_EQ(name.rfind("daily-", 0), 0u);
  EXPECT_EQ(name.size(), 11u);
}

TEST_F(RegistryTest, NoNameIsInvalid) {
  json::Value b = Backup("");
  auto r = registry_->Create(BackupScope(), b, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  ASSERT_EQ(r.status().causes().size(), 1u);
  EXPECT_EQ(r.status().causes()[0].field, "metadata.name");
}

TEST_F(RegistryTest, NamespaceMismatchIsBadRequest) {
  json::Value b = Backup("b1");
  b["metadata"].Set("namespace", "other");
  auto r = registry_->Create(BackupScope(), b, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
}

TEST_F(RegistryTest, DryRunCreateStoresNothing) {
  WriteOptions o = Opts();
  o.dry_run = true;
  int64_t before = store_->CurrentRevision();
  auto r = registry_->Create(BackupScope(), Backup("dry"), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->object.FindPath({"metadata", "resourceVersion"}), nullptr);
  EXPECT_EQ(store_->CurrentRevision(), before);
  EXPECT_EQ(registry_->Get(BackupScope("dry")).status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, UpdateWithStaleVersionConflicts) {
  json::Value obj = MustCreateSchedule("s1");
  json::Value first = obj;
  first["spec"].Set("schedule", "2 4 * * *");
  auto r1 = registry_->Update(ScheduleScope("s1"), first, Opts());
  ASSERT_TRUE(r1.ok()) << r1.status().message();
  EXPECT_EQ(r1->object.FindPath({"metadata", "generation"})->as_int(), 2);
  json::Value stale = obj;  // still carries the first resourceVersion
  stale["spec"].Set("schedule", "3 4 * * *");
  auto r2 = registry_->Update(ScheduleScope("s1"), stale, Opts());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Code::kConflict);
}

TEST_F(RegistryTest, UpdateWithoutVersionIsInvalid) {
  json::Value obj = MustCreate("b1");
  obj["metadata"].Erase("resourceVersion");
  auto r = registry_->Update(BackupScope("b1"), obj, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
}

TEST_F(RegistryTest, BackupSpecIsImmutable) {
  json::Value obj = MustCreate("b1");
  obj["spec"].Set("vaultName", "v2");
  auto r = registry_->Update(BackupScope("b1"), obj, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
}

TEST_F(RegistryTest, NoOpUpdateKeepsResourceVersion) {
  json::Value obj = MustCreate("b1");
  int64_t before = store_->CurrentRevision();
  auto r = registry_->Update(BackupScope("b1"), obj, Opts());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->object.GetString({"metadata", "resourceVersion"}),
            obj.GetString({"metadata", "resourceVersion"}));
  EXPECT_EQ(store_->CurrentRevision(), before);
}

TEST_F(RegistryTest, StatusSubresourceSplitsTheObject) {
  json::Value obj = MustCreateSchedule("s1");
  // A status write ignores spec changes and leaves generation alone.
  json::Value s = obj;
  s["spec"].Set("schedule", "9 9 * * *");
  s.Set("status", Parse(R"({"phase":"Enabled"})"));
  auto r = registry_->Update(ScheduleScope("s1", "status"), s, Opts("controller"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->object.GetString({"spec", "schedule"}), "1 4 * * *");
  EXPECT_EQ(r->object.GetString({"status", "phase"}), "Enabled");
  EXPECT_EQ(r->object.FindPath({"metadata", "generation"})->as_int(), 1);
  // A main-resource write ignores status.
  json::Value m = r->object;
  m["status"].Set("phase", "Paused");
  m["spec"].Set("schedule", "2 4 * * *");
  auto r2 = registry_->Update(ScheduleScope("s1"), m, Opts());
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(r2->object.GetString({"status", "phase"}), "Enabled");
  EXPECT_EQ(r2->object.FindPath({"metadata", "generation"})->as_int(), 2);
}

TEST_F(RegistryTest, MergePatchWithStaleVersionConflicts) {
  MustCreate("b1");
  auto r =
      registry_->Patch(BackupScope("b1"), PatchType::kMerge,
                       Parse(R"({"metadata":{"resourceVersion":"1","labels":{"a":"b"}}})"), Opts());
  // Revision 1 is the create itself; patch again with it after another write.
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto r2 =
      registry_->Patch(BackupScope("b1"), PatchType::kMerge,
                       Parse(R"({"metadata":{"resourceVersion":"1","labels":{"a":"c"}}})"), Opts());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Code::kConflict);
}

TEST_F(RegistryTest, JsonPatchTestOperation) {
  MustCreateSchedule("s1");
  auto ok =
      registry_->Patch(ScheduleScope("s1"), PatchType::kJson,
                       Parse(R"([{"op":"test","path":"/spec/schedule","value":"1 4 * * *"},)"
                             R"({"op":"replace","path":"/spec/schedule","value":"5 4 * * *"}])"),
                       Opts());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->object.GetString({"spec", "schedule"}), "5 4 * * *");
  auto bad = registry_->Patch(
      ScheduleScope("s1"), PatchType::kJson,
      Parse(R"([{"op":"test","path":"/spec/schedule","value":"1 4 * * *"}])"), Opts());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalid);
}

TEST_F(RegistryTest, FinalizerFlow) {
  MustCreate("b1");
  auto p = registry_->Patch(BackupScope("b1"), PatchType::kMerge,
                            Parse(R"({"metadata":{"finalizers":["csdr.io/keep"]}})"), Opts());
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto d = registry_->Delete(BackupScope("b1"), DeleteOptions{});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->deleted);
  EXPECT_NE(d->object.FindPath({"metadata", "deletionTimestamp"}), nullptr);
  EXPECT_EQ(d->object.FindPath({"metadata", "deletionGracePeriodSeconds"})->as_int(), 0);
  // No new finalizers while deleting.
  auto add = registry_->Patch(
      BackupScope("b1"), PatchType::kMerge,
      Parse(R"({"metadata":{"finalizers":["csdr.io/keep","csdr.io/new"]}})"), Opts());
  ASSERT_FALSE(add.ok());
  EXPECT_EQ(add.status().code(), Code::kInvalid);
  // Removing the last finalizer completes the deletion.
  auto done = registry_->Patch(BackupScope("b1"), PatchType::kMerge,
                               Parse(R"({"metadata":{"finalizers":null}})"), Opts());
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(registry_->Get(BackupScope("b1")).status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, DeletePreconditions) {
  json::Value obj = MustCreate("b1");
  DeleteOptions o;
  o.precondition_uid = "00000000-0000-0000-0000-000000000000";
  auto r = registry_->Delete(BackupScope("b1"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kConflict);
  o.precondition_uid = obj.GetString({"metadata", "uid"});
  auto ok = registry_->Delete(BackupScope("b1"), o);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->deleted);
  EXPECT_EQ(ok->object.GetString({"metadata", "uid"}), obj.GetString({"metadata", "uid"}));
}

TEST_F(RegistryTest, ListPagesAreConsistent) {
  for (int i = 0; i < 5; ++i) MustCreate("b" + std::to_string(i));
  ListOptions o;
  o.limit = 2;
  std::vector<std::string> names;
  int64_t rv = 0;
  for (int page = 0; page < 10; ++page) {
    auto r = registry_->List(BackupScope(), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    if (rv == 0) rv = r->resource_version;
    EXPECT_EQ(r->resource_version, rv);
    for (const auto& kv : r->items)
      names.push_back(Parse(kv.value).GetString({"metadata", "name"}));
    if (page == 0) MustCreate("b9");  // created after the first page: not in this list
    if (r->continue_token.empty()) break;
    o.continue_token = r->continue_token;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"b0", "b1", "b2", "b3", "b4"}));
}

TEST_F(RegistryTest, ListWithSelectors) {
  MustCreate("a", R"({"tier":"gold"})");
  MustCreate("b", R"({"tier":"silver"})");
  MustCreate("c", R"({})");
  auto names = [&](const std::string& labels, const std::string& fields) {
    ListOptions o;
    o.label_selector = ParseLabelSelector(labels).value();
    o.field_selector = ParseFieldSelector(fields).value();
    auto r = registry_->List(BackupScope(), o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::string out;
    if (r.ok())
      for (const auto& kv : r->items) out += Parse(kv.value).GetString({"metadata", "name"});
    return out;
  };
  EXPECT_EQ(names("tier=gold", ""), "a");
  EXPECT_EQ(names("tier!=gold", ""), "bc");
  EXPECT_EQ(names("tier in (gold,silver)", ""), "ab");
  EXPECT_EQ(names("!tier", ""), "c");
  EXPECT_EQ(names("", "metadata.name=b"), "b");
  EXPECT_EQ(names("", "metadata.name!=b"), "ac");
  EXPECT_EQ(names("", "spec.vaultName=v1"), "abc");
  ListOptions bad;
  bad.field_selector = ParseFieldSelector("spec.bogus=1").value();
  EXPECT_EQ(registry_->List(BackupScope(), bad).status().code(), Code::kBadRequest);
}

TEST_F(RegistryTest, WatchFromVersionAndSelectorTransitions) {
  json::Value a = MustCreate("a", R"({"tier":"gold"})");
  WatchOptions o;
  o.resource_version = a.GetString({"metadata", "resourceVersion"});
  o.label_selector = ParseLabelSelector("tier=gold").value();
  auto w = registry_->Watch(BackupScope(), o);
  ASSERT_TRUE(w.ok());
  MustCreate("b", R"({"tier":"gold"})");
  ASSERT_TRUE(registry_
                  ->Patch(BackupScope("a"), PatchType::kMerge,
                          Parse(R"({"metadata":{"labels":{"tier":"silver"}}})"), Opts())
                  .ok());
  ASSERT_TRUE(registry_->Delete(BackupScope("b"), DeleteOptions{}).ok());
  std::vector<WatchEvent> events;
  for (int i = 0; i < 20 && events.size() < 3; ++i)
    (*w)->Next(std::chrono::milliseconds(100), &events);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].object.GetString({"metadata", "name"}), "b");
  EXPECT_EQ(events[1].type, "DELETED");  // a stopped matching
  EXPECT_EQ(events[1].object.GetString({"metadata", "name"}), "a");
  EXPECT_EQ(events[2].type, "DELETED");
  EXPECT_EQ(events[2].object.GetString({"metadata", "name"}), "b");
  // Event resourceVersions increase.
  EXPECT_LT(std::stoll(events[0].object.GetString({"metadata", "resourceVersion"})),
            std::stoll(events[2].object.GetString({"metadata", "resourceVersion"})));
}

// Two watchers of one write share the stored event (its bytes are not copied per watcher, and
// what one encodes the other reuses); initial events carry their own bytes.
TEST_F(RegistryTest, LiveWatchEventsShareTheStoredEvent) {
  MustCreate("old", "{}");
  WatchOptions wo;
  wo.raw_objects = true;
  wo.resource_version = "";  // the current objects first
  auto w1 = registry_->Watch(BackupScope(""), wo);
  auto w2 = registry_->Watch(BackupScope(""), wo);
  ASSERT_TRUE(w1.ok());
  ASSERT_TRUE(w2.ok());
  MustCreate("new", "{}");
  std::vector<WatchEvent> e1, e2;
  for (int i = 0; i < 20 && (e1.size() < 2 || e2.size() < 2); ++i) {
    (*w1)->Next(std::chrono::milliseconds(50), &e1);
    (*w2)->Next(std::chrono::milliseconds(50), &e2);
  }
  ASSERT_EQ(e1.size(), 2u);
  ASSERT_EQ(e2.size(), 2u);
  EXPECT_EQ(e1[0].source, nullptr);  // initial: read from the store, its own bytes
  EXPECT_FALSE(e1[0].raw.empty());
  ASSERT_NE(e1[1].source, nullptr);
  EXPECT_EQ(e1[1].source.get(), e2[1].source.get());
  EXPECT_TRUE(e1[1].raw.empty());
  EXPECT_NE(e1[1].RawObject().find("\"name\":\"new\""), std::string_view::npos);
}

// raw_objects hands the stored bytes through: the same events, and each object's bytes the
// ones its parsed tree serializes to, with and without selectors, initial events included.
TEST_F(RegistryTest, RawObjectWatchesCarryTheSerializedObjects) {
  MustCreate("a", R"({"tier":"gold"})");
  for (const char* selector : {"", "tier=gold"}) {
    for (const char* rv : {"0", ""}) {
      SCOPED_TRACE(std::string("selector '") + selector + "' resourceVersion '" + rv + "'");
      // "": from now (the list's revision), so that earlier rounds' events are not replayed.
      auto now = registry_->List(BackupScope(), ListOptions{});
      ASSERT_TRUE(now.ok());
      WatchOptions o;
      o.resource_version = *rv ? rv : std::to_string(now->resource_version);
      o.label_selector = ParseLabelSelector(selector).value();
      WatchOptions raw = o;
      raw.raw_objects = true;
      auto parsed_watch = registry_->Watch(BackupScope(), o);
      auto raw_watch = registry_->Watch(BackupScope(), raw);
      ASSERT_TRUE(parsed_watch.ok() && raw_watch.ok());
      const std::string b = std::string("b") + (*selector ? "s" : "") + (*rv ? "0" : "");
      MustCreate(b, R"({"tier":"gold"})");
      ASSERT_TRUE(registry_
                      ->Patch(BackupScope(b), PatchType::kMerge,
                              Parse(R"({"metadata":{"labels":{"tier":"silver"}}})"), Opts())
                      .ok());
      ASSERT_TRUE(registry_->Delete(BackupScope(b), DeleteOptions{}).ok());
      // Unfiltered: ADDED, MODIFIED, DELETED; filtered: ADDED, DELETED (stopped matching).
      const size_t want = (*rv ? 1u : 0u) + (*selector ? 2u : 3u);
      std::vector<WatchEvent> parsed_events, raw_events;
      for (int i = 0; i < 30 && (parsed_events.size() < want || raw_events.size() < want); ++i) {
        (*parsed_watch)->Next(std::chrono::milliseconds(50), &parsed_events);
        (*raw_watch)->Next(std::chrono::milliseconds(50), &raw_events);
      }
      ASSERT_EQ(parsed_events.size(), want);
      ASSERT_EQ(raw_events.size(), want);
      for (size_t i = 0; i < want; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(raw_events[i].type, parsed_events[i].type);
        EXPECT_TRUE(parsed_events[i].RawObject().empty());
        EXPECT_TRUE(raw_events[i].object.is_null());
        EXPECT_EQ(raw_events[i].RawObject(), json::Serialize(parsed_events[i].object));
      }
    }
  }
}

TEST_F(RegistryTest, WatchFromZeroSendsSyntheticAdded) {
  MustCreate("a");
  WatchOptions o;
  o.resource_version = "0";
  o.field_selector = ParseFieldSelector("metadata.name=a").value();
  auto w = registry_->Watch(BackupScope(), o);
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> events;
  (*w)->Next(std::chrono::milliseconds(100), &events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ADDED");
}

TEST_F(RegistryTest, BookmarksOnlyWhenAsked) {
  json::Value a = MustCreate("a");
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow);
    WatchOptions o;
    o.resource_version = a.GetString({"metadata", "resourceVersion"});
    o.allow_bookmarks = allow;
    o.bookmark_interval = std::chrono::milliseconds(20);
    auto w = registry_->Watch(BackupScope(), o);
    ASSERT_TRUE(w.ok());
    std::vector<WatchEvent> events;
    for (int i = 0; i < 5; ++i) (*w)->Next(std::chrono::milliseconds(30), &events);
    if (!allow) {
      EXPECT_TRUE(events.empty());
      continue;
    }
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].type, "BOOKMARK");
    EXPECT_EQ(events[0].object.GetString({"kind"}), "Backup");
    EXPECT_EQ(events[0].object.GetString({"metadata", "resourceVersion"}),
              a.GetString({"metadata", "resourceVersion"}));
    EXPECT_EQ(events[0].object.FindPath({"spec"}), nullptr);
  }
}

TEST_F(RegistryTest, WatchListEndsInitialEventsWithABookmark) {
  MustCreate("a");
  MustCreate("b");
  int64_t head = store_->CurrentRevision();
  WatchOptions o;
  o.send_initial_events = true;
  o.allow_bookmarks = true;
  auto w = registry_->Watch(BackupScope(), o);
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> events;
  (*w)->Next(std::chrono::milliseconds(50), &events);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[1].type, "ADDED");
  EXPECT_EQ(events[2].type, "BOOKMARK");
  EXPECT_EQ(
      json::Serialize(events[2].object),
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"annotations":{"k8s.io/initial-events-end":"true"},"resourceVersion":")" +
          std::to_string(head) + R"("}})");
  // Live changes follow.
  MustCreate("c");
  events.clear();
  for (int i = 0; i < 20 && events.empty(); ++i) (*w)->Next(std::chrono::milliseconds(50), &events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ADDED");
  // sendInitialEvents=false: nothing replayed.
  WatchOptions none;
  none.send_initial_events = false;
  auto w2 = registry_->Watch(BackupScope(), none);
  ASSERT_TRUE(w2.ok());
  events.clear();
  (*w2)->Next(std::chrono::milliseconds(30), &events);
  EXPECT_TRUE(events.empty());
}

TEST(RegistryExpiryTest, CompactedVersionIsAnExpiredErrorEvent) {
  storage::StoreOptions so;
  so.watch_history_events = 2;
  auto s = storage::OpenStore("memory://", so);
  ASSERT_TRUE(s.ok());
  AdmitAll admit;
  Registry registry(s->get(), &admit);
  UserInfo user;
  Scope scope;
  scope.kind = FindKindByResource("backups");
  scope.namespace_ = "csdr";
  scope.user = &user;
  for (int i = 0; i < 6; ++i) {
    auto r = registry.Create(
        scope,
        Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b)" +
              std::to_string(i) + R"("},"spec":{"vaultName":"v"}})"),
        WriteOptions{});
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  WatchOptions o;
  o.resource_version = "1";
  auto w = registry.Watch(scope, o);
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> events;
  (*w)->Next(std::chrono::milliseconds(50), &events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ERROR");
  EXPECT_EQ(events[0].object.GetString({"reason"}), "Expired");
  EXPECT_EQ(events[0].object.Find("code")->as_int(), 410);
  EXPECT_FALSE((*w)->Next(std::chrono::milliseconds(10), &events));
  // A list continued from a compacted snapshot is 410 too.
  ListOptions lo;
  lo.continue_token = EncodeContinue(1, "csdr/b0");
  EXPECT_EQ(registry.List(scope, lo).status().code(), Code::kExpired);
}

TEST(ContinueTokenTest, RoundTripAndGarbage) {
  std::string t = EncodeContinue(42, "csdr/b1");
  auto d = DecodeContinue(t);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->first, 42);
  EXPECT_EQ(d->second, "csdr/b1");
  for (const char* bad : {"bogus", "!!!", "e30", ""}) {
    SCOPED_TRACE(bad);
    auto r = DecodeContinue(bad);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kBadRequest);
  }
}

}  // namespace
}  // namespace csdr::apiserver
