// SummarizeSecret: what the engine may know about a Secret, and nothing more.
#include "webhook/policy/facts.h"

#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using policytest::J;

TEST(SummarizeSecretTest, KeysAndEmptiness) {
  struct Case {
    const char* name;
    const char* secret;
    std::map<std::string, bool, std::less<>> keys;
  };
  const Case cases[] = {
      {"base64 data",
       R"({"data":{"access-key-id":"TFRBSWV4YW1wbGVpZA==","access-key-secret":"c2VjcmV0"}})",
       {{"access-key-id", true}, {"access-key-secret", true}}},
      {"empty value",
       R"({"data":{"access-key-id":"","access-key-secret":"c2VjcmV0"}})",
       {{"access-key-id", false}, {"access-key-secret", true}}},
      {"blank decoded value (\"  \")",
       R"({"data":{"access-key-id":"ICA="}})",
       {{"access-key-id", false}}},
      {"newline only", R"({"data":{"access-key-id":"Cg=="}})", {{"access-key-id", false}}},
      {"invalid base64", R"({"data":{"access-key-id":"not base64!"}})", {{"access-key-id", false}}},
      {"bad length", R"({"data":{"access-key-id":"abc"}})", {{"access-key-id", false}}},
      {"padding inside", R"({"data":{"access-key-id":"a=bc"}})", {{"access-key-id", false}}},
      {"non-string value", R"({"data":{"access-key-id":5}})", {{"access-key-id", false}}},
      {"one byte", R"({"data":{"k":"eA=="}})", {{"k", true}}},
      {"stringData plain",
       R"({"stringData":{"access-key-id":"LTAI","access-key-secret":" "}})",
       {{"access-key-id", true}, {"access-key-secret", false}}},
      {"stringData overrides data",
       R"({"data":{"access-key-id":"TFRBSQ=="},"stringData":{"access-key-id":""}})",
       {{"access-key-id", false}}},
      {"no data", R"({"metadata":{"name":"x"}})", {}},
      {"data not an object", R"({"data":"x"})", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const SecretFact f = SummarizeSecret(J(c.secret));
    EXPECT_EQ(f.presence, Presence::kPresent);
    EXPECT_EQ(f.keys, c.keys);
  }
}

TEST(SummarizeSecretTest, HasNonEmpty) {
  const SecretFact f = SummarizeSecret(J(R"({"data":{"a":"eA==","b":""}})"));
  EXPECT_TRUE(f.HasNonEmpty("a"));
  EXPECT_FALSE(f.HasNonEmpty("b"));
  EXPECT_FALSE(f.HasNonEmpty("c"));
}

}  // namespace
}  // namespace csdr::webhook
