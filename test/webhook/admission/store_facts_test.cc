// StoreFacts reads the store's own objects for the rules, parsed once per store revision.
// A counting Store (our seam) around memory:// shows when the store is actually read, and
// that the facts read its recent view (the watch cache on etcd), not consistent reads.
#include <gtest/gtest.h>

#include <atomic>

#include "apiserver/kinds/kind.h"
#include "apiserver/registry/registry.h"
#include "common/json.h"
#include "storage/store.h"
#include "webhook/admission/policy_admission.h"
#include "webhook/cluster/cluster_facts.h"

namespace csdr::webhook {
namespace {

class CountingStore : public storage::Store {
 public:
  explicit CountingStore(std::unique_ptr<storage::Store> inner) : inner_(std::move(inner)) {}
  StatusOr<int64_t> Create(const std::string& k, const storage::Encoder& e) override {
    return inner_->Create(k, e);
  }
  StatusOr<storage::KeyValue> Get(const std::string& k) override {
    ++consistent_reads;
    return inner_->Get(k);
  }
  StatusOr<storage::ListResult> List(const std::string& p, const std::string& s, size_t l,
                                     int64_t r) override {
    ++consistent_reads;
    return inner_->List(p, s, l, r);
  }
  StatusOr<storage::KeyValue> GetRecent(const std::string& k) override {
    ++gets;
    return inner_->GetRecent(k);
  }
  StatusOr<storage::ListResult> ListRecent(const std::string& p, const std::string& s,
                                           size_t l) override {
    ++lists;
    return inner_->ListRecent(p, s, l);
  }
  int64_t RecentRevision() override {
    ++recent_revisions;
    return inner_->RecentRevision();
  }
  StatusOr<int64_t> Update(const std::string& k, int64_t r, const storage::Encoder& e) override {
    return inner_->Update(k, r, e);
  }
  StatusOr<int64_t> Delete(const std::string& k, int64_t r, const storage::Encoder& e) override {
    return inner_->Delete(k, r, e);
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_->CompactedRevision(); }
  StatusOr<std::unique_ptr<storage::Watcher>> Watch(const std::string& p, int64_t r) override {
    return inner_->Watch(p, r);
  }
  void Close() override { inner_->Close(); }

  std::atomic<int> gets{0}, lists{0};  // the recent view's reads
  std::atomic<int> consistent_reads{0}, recent_revisions{0};

 private:
  std::unique_ptr<storage::Store> inner_;
};

const apiserver::KindStrategy& Kind(std::string_view name) {
  for (const apiserver::KindStrategy* k : apiserver::AllKinds()) {
    if (k->info().kind == name) return *k;
  }
  ADD_FAILURE() << "no kind " << name;
  return *apiserver::AllKinds().front();
}

std::string VaultJson(const std::string& name, const std::string& bucket) {
  return R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":{"name":")" + name +
         R"(","namespace":"csdr"},"spec":{"bucket":")" + bucket + R"("}})";
}

class StoreFactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inner = storage::OpenStore("memory://");
    ASSERT_TRUE(inner.ok());
    store_ = std::make_unique<CountingStore>(std::move(*inner));
    cluster_ = std::make_unique<NoCluster>();
    facts_ = std::make_unique<StoreFacts>(store_.get(), cluster_.get());
  }
  std::string VaultKey(const std::string& name) {
    return apiserver::Registry::Key(Kind("BackupVault"), "csdr", name);
  }
  std::string Bucket(const ObjectFact& f) {
    return f.present() ? f.object->GetString({"spec", "bucket"}) : "<" + f.unknown_reason + ">";
  }

  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<ClusterFacts> cluster_;
  std::unique_ptr<StoreFacts> facts_;
};

TEST_F(StoreFactsTest, ReadsOncePerRevisionAndSeesEveryWrite) {
  EXPECT_TRUE(facts_->Get("BackupVault", "csdr", "v1").absent());
  EXPECT_TRUE(facts_->Get("BackupVault", "csdr", "v1").absent());
  EXPECT_EQ(store_->gets.load(), 1) << "an absent object is remembered too";

  ASSERT_TRUE(store_->Create(VaultKey("v1"), [](int64_t) { return VaultJson("v1", "b1"); }).ok());
  ObjectFact f = facts_->Get("BackupVault", "csdr", "v1");
  EXPECT_EQ(Bucket(f), "b1") << "a create moves the revision on: read again";
  EXPECT_EQ(Bucket(facts_->Get("BackupVault", "csdr", "v1")), "b1");
  EXPECT_EQ(store_->gets.load(), 2);

  auto kv = store_->Get(VaultKey("v1"));
  ASSERT_TRUE(kv.ok());
  const int gets = store_->gets.load();
  ASSERT_TRUE(
      store_
          ->Update(VaultKey("v1"), kv->mod_revision, [](int64_t) { return VaultJson("v1", "b2"); })
          .ok());
  EXPECT_EQ(Bucket(facts_->Get("BackupVault", "csdr", "v1")), "b2");
  EXPECT_EQ(store_->gets.load(), gets + 1);

  // A write to any other key also moves the revision: the next read goes to the store.
  ASSERT_TRUE(store_->Create(VaultKey("v2"), [](int64_t) { return VaultJson("v2", "x"); }).ok());
  EXPECT_EQ(Bucket(facts_->Get("BackupVault", "csdr", "v1")), "b2");
  EXPECT_EQ(store_->gets.load(), gets + 2);

  kv = store_->Get(VaultKey("v1"));
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE(store_->Delete(VaultKey("v1"), kv->mod_revision, nullptr).ok());
  EXPECT_TRUE(facts_->Get("BackupVault", "csdr", "v1").absent());
}

TEST_F(StoreFactsTest, ListsAreCachedAndRefreshed) {
  ASSERT_TRUE(store_->Create(VaultKey("a"), [](int64_t) { return VaultJson("a", "b"); }).ok());
  EXPECT_EQ(facts_->List("BackupVault", "").items.size(), 1u);
  EXPECT_EQ(facts_->List("BackupVault", "").items.size(), 1u);
  EXPECT_EQ(store_->lists.load(), 1);
  ASSERT_TRUE(store_->Create(VaultKey("b"), [](int64_t) { return VaultJson("b", "b"); }).ok());
  EXPECT_EQ(facts_->List("BackupVault", "").items.size(), 2u);
  EXPECT_EQ(store_->lists.load(), 2);
}

TEST_F(StoreFactsTest, FactsReadTheStoresRecentViewAndItsRevision) {
  ASSERT_TRUE(store_->Create(VaultKey("a"), [](int64_t) { return VaultJson("a", "b"); }).ok());
  const int consistent = store_->consistent_reads.load();
  EXPECT_TRUE(facts_->Get("BackupVault", "csdr", "a").present());
  EXPECT_EQ(facts_->List("BackupVault", "csdr").items.size(), 1u);
  EXPECT_TRUE(facts_->VaultTombstone("csdr", "a").absent());
  EXPECT_EQ(store_->consistent_reads.load(), consistent);
  EXPECT_EQ(store_->gets.load(), 2);
  EXPECT_EQ(store_->lists.load(), 1);
  EXPECT_GE(store_->recent_revisions.load(), 3);
}

TEST_F(StoreFactsTest, StorageErrorsAreNotRemembered) {
  store_->Close();
  ObjectFact f = facts_->Get("BackupVault", "csdr", "v1");
  EXPECT_TRUE(f.unknown());
  EXPECT_TRUE(facts_->Get("BackupVault", "csdr", "v1").unknown());
  EXPECT_EQ(store_->gets.load(), 2);
}

}  // namespace
}  // namespace csdr::webhook
