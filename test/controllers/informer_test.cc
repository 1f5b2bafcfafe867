// The informer: list then watch through the registry, the transform, shared objects.
#include "controllers/informer.h"

#include <gtest/gtest.h>

#include "test/controllers/controllers_test_util.h"

namespace csdr::controllers {
namespace {

using namespace std::chrono_literals;

class InformerTest : public testing::ControllerWorld {};

TEST_F(InformerTest, ListsThenFollowsEveryChange) {
  SetNow("2026-12-07T10:00:00Z");
  CreateBackup("a", "s");
  int changes = 0;
  Informer informer(
      registry_.get(), apiserver::FindKindByResource("backups"), [&] { ++changes; }, BackupFacts);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  ASSERT_EQ(informer.List().size(), 1u);
  // Only BackupFacts is kept.
  Informer::Object a = informer.Get("csdr", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->GetString({"metadata", "labels", "csdr.io/schedule"}), "s");
  EXPECT_EQ(a->Find("spec"), nullptr);
  EXPECT_NE(a->FindPath({"status", "expiration"}), nullptr);
  EXPECT_FALSE(a->GetString({"metadata", "uid"}).empty());
  // Creates, status writes and deletes arrive; readers keep what they took.
  CreateBackup("b", "");
  SetBackupStatus("a", R"({"phase":"Completed"})");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline &&
         !(informer.List().size() == 2 &&
           informer.Get("csdr", "a")->GetString({"status", "phase"}) == "Completed")) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(informer.Get("csdr", "a")->GetString({"status", "phase"}), "Completed");
  EXPECT_EQ(a->GetString({"status", "phase"}), "") << "a reader's object never changes";
  ASSERT_TRUE(registry_->Delete(ScopeOf("backups", "b"), {}).ok());
  deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline && informer.Get("csdr", "b") != nullptr) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(informer.Get("csdr", "b"), nullptr);
  EXPECT_EQ(informer.List("csdr").size(), 1u);
  EXPECT_TRUE(informer.List("other").empty());
  EXPECT_GE(changes, 3);
  informer.Stop();
}

TEST_F(InformerTest, BackupFactsKeepsWhatTheControllersRead) {
  auto full = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup",
    "metadata":{"name":"b","namespace":"csdr","uid":"u","resourceVersion":"7",
      "creationTimestamp":"2026-12-07T10:00:00Z","deletionTimestamp":"2026-12-07T11:00:00Z",
      "labels":{"csdr.io/schedule":"s"},"managedFields":[{"manager":"x"}],"finalizers":["f"]},
    "spec":{"vaultName":"v"},
    "status":{"phase":"Completed","expiration":"2027-01-01T00:00:00Z","volumes":[{"pvc":"p"}]}})");
  ASSERT_TRUE(full.ok());
  auto want = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup",
    "metadata":{"name":"b","namespace":"csdr","uid":"u","resourceVersion":"7",
      "creationTimestamp":"2026-12-07T10:00:00Z","deletionTimestamp":"2026-12-07T11:00:00Z",
      "labels":{"csdr.io/schedule":"s"}},
    "status":{"phase":"Completed","expiration":"2027-01-01T00:00:00Z"}})");
  EXPECT_EQ(json::Serialize(BackupFacts(*full)), json::Serialize(*want));
}

}  // namespace
}  // namespace csdr::controllers
