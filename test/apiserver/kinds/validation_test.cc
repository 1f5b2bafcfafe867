#include "apiserver/kinds/validation.h"

#include <gtest/gtest.h>

#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(ParseRFC3339Test, Table) {
  using namespace std::chrono;
  const auto base = sys_days(year(2026) / 11 / 24) + hours(9) + minutes(4) + seconds(57);
  struct Case {
    const char* in;
    std::optional<system_clock::time_point> want;
  };
  const Case cases[] = {
      {"2026-11-24T09:04:57Z", base},
      {"2026-11-24T09:04:57.5Z", base + milliseconds(500)},
      {"2026-11-24T09:04:57.123456789Z", base + nanoseconds(123456789)},
      {"2026-11-24T17:04:57+08:00", base},
      {"2026-11-24T08:04:57-01:00", base},
      {"1970-01-01T00:00:00Z", system_clock::time_point{}},
      {"2026-11-24 09:04:57Z", std::nullopt},
      {"2026-11-24T09:04:57", std::nullopt},
      {"2026-02-30T09:04:57Z", std::nullopt},
      {"2026-13-01T09:04:57Z", std::nullopt},
      {"2026-11-24T24:00:00Z", std::nullopt},
      {"2026-11-24T09:04:57.Z", std::nullopt},
      {"2026-11-24T09:04:57Zjunk", std::nullopt},
      {"2026-11-24T09:04:57+0800", std::nullopt},
      {"yesterday", std::nullopt},
      {"", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto got = ParseRFC3339(c.in);
    ASSERT_EQ(got.has_value(), c.want.has_value());
    if (got) {
      EXPECT_EQ(*got, *c.want);
    }
  }
}

TEST(NameIsDNSSubdomainTest, GenerateNamePrefix) {
  // generateName prefixes may end in '-'.
  EXPECT_TRUE(NameIsDNSSubdomain("daily-", true).empty());
  EXPECT_FALSE(NameIsDNSSubdomain("daily-", false).empty());
}

TEST(ObjectMetaTest, Table) {
  const json::Value base = Json(R"({"metadata":{"name":"b1","namespace":"csdr"}})");
  const ValidationCase cases[] = {
      {"valid", "", {}},
      {"no name", R"({"metadata":{"name":null}})", {{kRequired, "metadata.name"}}},
      {"generateName only",
       R"({"metadata":{"name":null,"generateName":"daily-"}})",
       {{kRequired, "metadata.name"}}},
      {"bad generateName",
       R"({"metadata":{"generateName":"Daily-"}})",
       {{kInvalid, "metadata.generateName"}}},
      {"bad name", R"({"metadata":{"name":"Bad_Name"}})", {{kInvalid, "metadata.name"}}},
      {"no namespace", R"({"metadata":{"namespace":null}})", {{kRequired, "metadata.namespace"}}},
      {"bad namespace", R"({"metadata":{"namespace":"a.b"}})", {{kInvalid, "metadata.namespace"}}},
      {"bad label key",
       R"({"metadata":{"labels":{"bad key!":"x"}}})",
       {{kInvalid, "metadata.labels"}}},
      {"bad label value", R"({"metadata":{"labels":{"k":"-x"}}})", {{kInvalid, "metadata.labels"}}},
      {"good labels", R"({"metadata":{"labels":{"csdr.io/vault":"v1","app":""}}})", {}},
      {"annotation key case-insensitive",
       R"({"metadata":{"annotations":{"Example.COM/Key":"x"}}})",
       {}},
      {"bad annotation key",
       R"({"metadata":{"annotations":{"a b":"x"}}})",
       {{kInvalid, "metadata.annotations"}}},
      {"negative generation",
       R"({"metadata":{"generation":-1}})",
       {{kInvalid, "metadata.generation"}}},
      {"bad finalizer",
       R"({"metadata":{"finalizers":["csdr.io/cleanup","bad finalizer"]}})",
       {{kInvalid, "metadata.finalizers"}}},
      {"owner reference without uid",
       R"({"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"K","name":"n"}]}})",
       {{kInvalid, "metadata.ownerReferences.uid"}}},
  };
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    FieldErrors got = ValidateObjectMeta(Patched(base, c.patch), /*namespaced=*/true);
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
  // The capture's wording for a missing name.
  FieldErrors missing = ValidateObjectMeta(Json("{}"), true);
  ASSERT_FALSE(missing.empty());
  EXPECT_EQ(missing.front().message, "Required value: name or generateName is required");
  // Cluster-scoped kinds may not carry a namespace.
  FieldErrors cluster = ValidateObjectMeta(base, false);
  ASSERT_EQ(cluster.size(), 1u);
  EXPECT_EQ(cluster.front().type, kForbidden);
  EXPECT_EQ(cluster.front().message, "Forbidden: not allowed on this type");
}

TEST(ObjectMetaTest, AnnotationsSizeLimit) {
  json::Value obj = Json(R"({"metadata":{"name":"b1","namespace":"csdr"}})");
  obj["metadata"]["annotations"].Set("big", std::string(kTotalAnnotationSizeLimit, 'x'));
  FieldErrors got = ValidateObjectMeta(obj, true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.front().type, kTooLong);
  EXPECT_EQ(got.front().field, "metadata.annotations");
}

TEST(ObjectMetaTest, NameAndNamespaceAreImmutable) {
  const json::Value old = Json(R"({"metadata":{"name":"b1","namespace":"csdr"}})");
  EXPECT_TRUE(ValidateObjectMetaUpdate(old, old).empty());
  FieldErrors got =
      ValidateObjectMetaUpdate(Json(R"({"metadata":{"name":"b2","namespace":"csdr"}})"), old);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.front().field, "metadata.name");
  EXPECT_EQ(got.front().message, "Invalid value: \"b2\": field is immutable");
}

TEST(LabelSelectorTest, Table) {
  const ValidationCase cases[] = {
      {"empty", "{}", {}},
      {"matchLabels", R"({"matchLabels":{"app":"shop"}})", {}},
      {"bad matchLabels", R"({"matchLabels":{"bad key":"shop"}})", {{kInvalid, "sel.matchLabels"}}},
      {"In with values",
       R"({"matchExpressions":[{"key":"app","operator":"In","values":["a"]}]})",
       {}},
      {"In without values",
       R"({"matchExpressions":[{"key":"app","operator":"In"}]})",
       {{kRequired, "sel.matchExpressions[0].values"}}},
      {"Exists with values",
       R"({"matchExpressions":[{"key":"app","operator":"Exists","values":["a"]}]})",
       {{kForbidden, "sel.matchExpressions[0].values"}}},
      {"bad operator",
       R"({"matchExpressions":[{"key":"app","operator":"Equals"}]})",
       {{kInvalid, "sel.matchExpressions[0].operator"}}},
      {"bad key and value",
       R"({"matchExpressions":[{"key":"app","operator":"In","values":["a"]},{"key":"a b","operator":"NotIn","values":["-x"]}]})",
       {{kInvalid, "sel.matchExpressions[1].key"},
        {kInvalid, "sel.matchExpressions[1].values[0]"}}},
  };
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value sel = Json(c.patch);
    FieldErrors got = ValidateLabelSelector(&sel, "sel");
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
  FieldErrors msg =
      ValidateLabelSelector(&static_cast<const json::Value&>(
                                Json(R"({"matchExpressions":[{"key":"app","operator":"In"}]})")),
                            "s");
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_EQ(msg.front().message,
            "Required value: must be specified when `operator` is 'In' or 'NotIn'");
}

TEST(ConditionsTest, Table) {
  const std::string good =
      R"({"type":"Ready","status":"True","reason":"Ok","message":"","lastTransitionTime":"2026-11-24T09:00:00Z"})";
  const ValidationCase cases[] = {
      {"valid", "[" + good + "]", {}},
      {"duplicate type", "[" + good + "," + good + "]", {{kDuplicate, "c[1].type"}}},
      {"bad status",
       R"([{"type":"Ready","status":"Yes","reason":"Ok","lastTransitionTime":"2026-11-24T09:00:00Z"}])",
       {{kNotSupported, "c[0].status"}}},
      {"missing everything",
       R"([{}])",
       {{kInvalid, "c[0].type"},
        {kInvalid, "c[0].type"},
        {kNotSupported, "c[0].status"},
        {kRequired, "c[0].lastTransitionTime"},
        {kRequired, "c[0].reason"}}},
      {"bad reason",
       R"([{"type":"Ready","status":"True","reason":"not ok","lastTransitionTime":"2026-11-24T09:00:00Z"}])",
       {{kInvalid, "c[0].reason"}}},
      {"negative observedGeneration",
       R"([{"type":"Ready","status":"True","reason":"Ok","observedGeneration":-1,"lastTransitionTime":"2026-11-24T09:00:00Z"}])",
       {{kInvalid, "c[0].observedGeneration"}}},
  };
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value conds = Json(c.patch);
    FieldErrors got = ValidateConditions(&conds, "c");
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
}

TEST(BucketNameTest, Table) {
  for (const char* ok : {"abc", "cnfs-oss-prod-backup", "0bucket9", "a-b"}) {
    EXPECT_EQ(BucketNameError(ok), "") << ok;
  }
  for (const char* bad : {"ab", "-abc", "abc-", "Abc", "a_b", "a.b.c", ""}) {
    EXPECT_NE(BucketNameError(bad), "") << bad;
  }
  EXPECT_EQ(BucketNameError(std::string(63, 'a')), "");
  EXPECT_NE(BucketNameError(std::string(64, 'a')), "");
}

TEST(CheckEnumTest, Messages) {
  FieldErrors errors;
  const json::Value bad("Weekly");
  CheckEnum(&bad, "spec.x", {"A", "B"}, false, &errors);
  CheckEnum(nullptr, "spec.y", {"A"}, true, &errors);
  CheckEnum(nullptr, "spec.z", {"A"}, false, &errors);
  const json::Value number(3);
  CheckEnum(&number, "spec.w", {"A"}, false, &errors);  // the schema check's business
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].type, kNotSupported);
  EXPECT_EQ(errors[0].message, "Unsupported value: \"Weekly\": supported values: \"A\", \"B\"");
  EXPECT_EQ(errors[1].type, kRequired);
  EXPECT_EQ(errors[1].message, "Required value");
}

TEST(PathsTest, LikeFieldPath) {
  EXPECT_EQ(ChildPath("", "spec"), "spec");
  EXPECT_EQ(ChildPath("spec", "ttl"), "spec.ttl");
  EXPECT_EQ(IndexPath("spec.x", 2), "spec.x[2]");
  EXPECT_EQ(KeyPath("spec.m", "k"), "spec.m[k]");
}

}  // namespace
}  // namespace csdr::apiserver
