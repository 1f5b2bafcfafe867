// --controllers as kube-controller-manager reads it, and a manager that leads runs the
// controllers and stops them with its lease.
#include "controllers/manager.h"

#include <gtest/gtest.h>

#include "test/controllers/controllers_test_util.h"

namespace csdr::controllers {
namespace {

using namespace std::chrono_literals;

TEST(ParseControllersTest, StarNamesAndMinus) {
  using Set = std::set<std::string>;
  EXPECT_EQ(*ParseControllers({"*"}), (Set{"discovery", "expiry", "schedule"}));
  EXPECT_EQ(*ParseControllers({"*", "-expiry"}), (Set{"discovery", "schedule"}));
  EXPECT_EQ(*ParseControllers({"-schedule", "-expiry"}), Set{});
  EXPECT_EQ(*ParseControllers({"schedule"}), (Set{"schedule"}));
  EXPECT_EQ(*ParseControllers({}), Set{});
  auto bad = ParseControllers({"*", "garbage-collector"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown controller \"garbage-collector\""),
            std::string::npos);
}

class ControllerManagerTest : public testing::ControllerWorld {};

TEST_F(ControllerManagerTest, LeadsRunsTheSchedulesAndReleasesOnStop) {
  SetNow("2026-12-07T10:00:00Z");
  CreateSchedule("s", R"({"schedule":"*/5 * * * *","template":{"vaultName":"v"}})");
  ControllerManagerOptions options;
  options.clock = [this] { return now_.load(); };
  options.events = &events_;
  options.election.identity = "replica-a";
  ControllerManager manager(registry_.get(), store_.get(), options);
  manager.Start();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && BackupNames().empty()) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(manager.Leading());
  EXPECT_EQ(BackupNames(), std::vector<std::string>{"s-20261207100000"});
  manager.Stop();
  EXPECT_FALSE(manager.Leading());
  // The lease is released: no holder.
  auto lease = store_->Get(LeaseKey("csdr-controllers"));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(json::Parse(lease->value)->GetString({"holderIdentity"}), "");
}

}  // namespace
}  // namespace csdr::controllers
