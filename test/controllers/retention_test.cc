// DecideRetention as a table: keepLast, keepLastSuccessful, and what is never pruned.
#include "controllers/retention.h"

#include <gtest/gtest.h>

namespace csdr::controllers {
namespace {

using std::chrono::system_clock;

// "name:phase" newest last; "name:phase:deleting" marks one being deleted.
std::vector<RetainedBackup> Backups(const std::vector<std::string>& specs) {
  std::vector<RetainedBackup> out;
  int minute = 0;
  for (const std::string& s : specs) {
    RetainedBackup b;
    const size_t colon = s.find(':');
    b.name = s.substr(0, colon);
    std::string rest = colon == std::string::npos ? "" : s.substr(colon + 1);
    if (const size_t d = rest.find(":deleting"); d != std::string::npos) {
      b.deleting = true;
      rest = rest.substr(0, d);
    }
    b.phase = rest;
    b.created = system_clock::time_point(std::chrono::minutes(minute++));
    out.push_back(b);
  }
  return out;
}

RetentionPolicy Policy(std::optional<int64_t> last, std::optional<int64_t> successful) {
  return RetentionPolicy{last, successful};
}

TEST(RetentionTest, Table) {
  struct Case {
    const char* name;
    std::vector<std::string> backups;  // oldest first
    RetentionPolicy policy;
    std::vector<std::string> prune;  // newest first
    std::set<std::string> keep_from_expiry;
  };
  const std::vector<Case> cases = {
      {"no policy prunes nothing", {"a:Completed", "b:Failed"}, Policy({}, {}), {}, {}},
      {"keepLast keeps the newest N of any phase",
       {"a:Failed", "b:Failed", "c:Failed", "d:Failed"},
       Policy(2, {}),
       {"b", "a"},
       {}},
      {"keepLast never prunes the newest Completed one",
       {"a:Completed", "b:Failed", "c:Failed"},
       Policy(1, {}),
       {"b"},
       {}},
      {"in progress and deleting ones are never pruned nor counted as deleting",
       {"a:New", "b:InProgress", "c:Failed:deleting", "d:Failed", "e:Failed"},
       Policy(1, {}),
       {"d"},
       {}},
      {"an empty phase (no data controller yet) is prunable",
       {"a:", "b:", "c:"},
       Policy(1, {}),
       {"b", "a"},
       {}},
      {"keepLastSuccessful prunes older Completed ones and keeps N from expiry",
       {"a:Completed", "b:Completed", "c:Failed", "d:Completed"},
       Policy({}, 2),
       {"a"},
       {"b", "d"}},
      {"keepLastSuccessful's ones survive keepLast",
       {"a:Completed", "b:Completed", "c:Failed", "d:Failed"},
       Policy(1, 2),
       {"c"},
       {"a", "b"}},
  };
  for (const Case& c : cases) {
    RetentionDecision d = DecideRetention(Backups(c.backups), c.policy);
    EXPECT_EQ(d.prune, c.prune) << c.name;
    EXPECT_EQ(d.keep_from_expiry, c.keep_from_expiry) << c.name;
  }
}

TEST(RetentionTest, FromScheduleReadsSpecRetention) {
  auto s = json::Parse(R"({"spec":{"retention":{"keepLast":3,"keepLastSuccessful":1}}})");
  RetentionPolicy p = RetentionPolicy::FromSchedule(*s);
  EXPECT_EQ(p.keep_last, 3);
  EXPECT_EQ(p.keep_last_successful, 1);
  EXPECT_TRUE(RetentionPolicy::FromSchedule(*json::Parse(R"({"spec":{}})")).empty());
  EXPECT_TRUE(
      RetentionPolicy::FromSchedule(*json::Parse(R"({"spec":{"retention":{"keepLast":"x"}}})"))
          .empty());
}

}  // namespace
}  // namespace csdr::controllers
