#include "webhook/policy/semver.h"

#include <gtest/gtest.h>

namespace csdr::webhook {
namespace {

TEST(ParseSemverTest, AcceptsAndRejects) {
  struct Case {
    const char* text;
    bool ok;
  };
  const Case cases[] = {
      {"v1.8.4", true},
      {"v1.8.10", true},
      {"v0.0.0", true},
      {"v10.20.30", true},
      {"v1.8.4-rc.1", true},
      {"v1.8.4+build.5", true},
      {"v1.8.4-rc.1+b", true},
      {"v1.8.4-0.3.7", true},
      {"v1.8.4-x-y-z.-", true},
      {"1.8.4", false},
      {"V1.8.4", false},
      {"v1.8", false},
      {"v1", false},
      {"v1.8.4.1", false},
      {"v01.8.4", false},
      {"v1.08.4", false},
      {"v1.8.04", false},
      {"v1.8.4-", false},
      {"v1.8.4+", false},
      {"v1.8.4-rc..1", false},
      {"v1.8.4-01", false},
      {"v1.8.4-rc_1", false},
      {"", false},
      {"v", false},
      {"v1..4", false},
      {"v-1.8.4", false},
      {"v1.8.4 ", false},
      {" v1.8.4", false},
      {"v1.8.x", false},
      {"v1234567890123456789.0.0", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(ParseSemver(c.text).has_value(), c.ok);
  }
}

TEST(ParseSemverTest, Fields) {
  const std::optional<Semver> v = ParseSemver("v1.8.10-rc.2+abc");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->major, 1u);
  EXPECT_EQ(v->minor, 8u);
  EXPECT_EQ(v->patch, 10u);
  EXPECT_EQ(v->prerelease, "rc.2");
}

TEST(CompareSemverTest, NumericNotLexical) {
  struct Case {
    const char* a;
    const char* b;
    int want;  // sign of a - b
  };
  const Case cases[] = {
      {"v1.8.10", "v1.8.4", 1},  // the reason this helper exists
      {"v1.8.4", "v1.8.10", -1},
      {"v1.8.3", "v1.8.4", -1},
      {"v1.8.4", "v1.8.4", 0},
      {"v1.7.6", "v1.7.7", -1},
      {"v1.7.7", "v1.7.7", 0},
      {"v1.10.0", "v1.9.99", 1},
      {"v2.0.0", "v1.99.99", 1},
      {"v1.8.4-rc.1", "v1.8.4", -1},  // a pre-release comes before its release
      {"v1.8.4-rc.1", "v1.8.3", 1},
      {"v1.8.4+build", "v1.8.4", 0},  // build metadata never counts
      {"v1.0.0-alpha", "v1.0.0-alpha.1", -1},
      {"v1.0.0-alpha.1", "v1.0.0-alpha.beta", -1},  // numeric identifiers first
      {"v1.0.0-alpha.beta", "v1.0.0-beta", -1},
      {"v1.0.0-beta.2", "v1.0.0-beta.11", -1},  // numerically
      {"v1.0.0-beta.11", "v1.0.0-rc.1", -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " vs " + c.b);
    const auto a = ParseSemver(c.a), b = ParseSemver(c.b);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(CompareSemver(*a, *b), c.want);
    EXPECT_EQ(CompareSemver(*b, *a), -c.want);
  }
}

TEST(ParseMajorMinorTest, KubernetesAndCsiVersions) {
  struct Case {
    const char* text;
    bool ok;
    uint64_t major, minor;
  };
  const Case cases[] = {
      {"v1.18.3", true, 1, 18},
      {"1.18", true, 1, 18},
      {"v1.30.1-aliyun.1", true, 1, 30},
      {"v1.18.8.47-906bd535-aliyun", true, 1, 18},
      {"1.18+", true, 1, 18},
      {"v1.180.0", true, 1, 180},
      {"v1", false, 0, 0},
      {"", false, 0, 0},
      {"va.b", false, 0, 0},
      {"1.", false, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const auto v = ParseMajorMinor(c.text);
    ASSERT_EQ(v.has_value(), c.ok);
    if (v) {
      EXPECT_EQ(v->major, c.major);
      EXPECT_EQ(v->minor, c.minor);
    }
  }
  EXPECT_TRUE(Less(MajorMinor{1, 17}, MajorMinor{1, 18}));
  EXPECT_FALSE(Less(MajorMinor{1, 18}, MajorMinor{1, 18}));
  EXPECT_TRUE(Less(MajorMinor{1, 99}, MajorMinor{2, 0}));
  EXPECT_FALSE(Less(MajorMinor{1, 100}, MajorMinor{1, 18}));
}

}  // namespace
}  // namespace csdr::webhook
