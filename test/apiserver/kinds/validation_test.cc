#include "apiserver/kinds/validation.h"

#include <gtest/gtest.h>

#include "test/apiserver/kinds/test_util.h"

namespace csdr::apiserver {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr int64_t kNs = 1;
constexpr int64_t kUs = 1000 * kNs;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHr = 60 * kMin;

// Go's src/time/time_test.go parseDurationTests.
TEST(ParseGoDurationTest, GoTable) {
  struct Case {
    const char* in;
    int64_t want;
  };
  const Case cases[] = {
      {"0", 0},
      {"5s", 5 * kSec},
      {"30s", 30 * kSec},
      {"1478s", 1478 * kSec},
      {"-5s", -5 * kSec},
      {"+5s", 5 * kSec},
      {"-0", 0},
      {"+0", 0},
      {"5.0s", 5 * kSec},
      {"5.6s", 5 * kSec + 600 * kMs},
      {"5.s", 5 * kSec},
      {".5s", 500 * kMs},
      {"1.0s", kSec},
      {"1.00s", kSec},
      {"1.004s", kSec + 4 * kMs},
      {"1.0040s", kSec + 4 * kMs},
      {"100.00100s", 100 * kSec + kMs},
      {"10ns", 10},
      {"11us", 11 * kUs},
      {"12\xC2\xB5s", 12 * kUs},  // U+00B5
      {"12\xCE\xBCs", 12 * kUs},  // U+03BC
      {"13ms", 13 * kMs},
      {"14s", 14 * kSec},
      {"15m", 15 * kMin},
      {"16h", 16 * kHr},
      {"3h30m", 3 * kHr + 30 * kMin},
      {"10.5s4m", 4 * kMin + 10 * kSec + 500 * kMs},
      {"-2m3.4s", -(2 * kMin + 3 * kSec + 400 * kMs)},
      {"1h2m3s4ms5us6ns", kHr + 2 * kMin + 3 * kSec + 4 * kMs + 5 * kUs + 6},
      {"39h9m14.425s", 39 * kHr + 9 * kMin + 14 * kSec + 425 * kMs},
      {"52763797000ns", 52763797000},
      {"0.3333333333333333333h", 20 * kMin},
      {"9007199254740993ns", (int64_t{1} << 53) + 1},
      {"9223372036854775807ns", INT64_MAX},
      {"9223372036854775.807us", INT64_MAX},
      {"9223372036s854ms775us807ns", INT64_MAX},
      {"-9223372036854775808ns", INT64_MIN},
      {"-9223372036854775.808us", INT64_MIN},
      {"-9223372036s854ms775us808ns", INT64_MIN},
      {"-2562047h47m16.854775808s", INT64_MIN},
      {"0.100000000000000000000h", 6 * kMin},
      {"0.830103483285477580700h", 49 * kMin + 48 * kSec + 372539827},
      {"720h", 720 * kHr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    StatusOr<int64_t> got = ParseGoDuration(c.in);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, c.want);
  }
}

// parseDurationErrorTests, plus the three messages' wording.
TEST(ParseGoDurationTest, GoErrors) {
  for (const char* in : {"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "\xff" "ff", "1h 30m",
                         "9223372036854775810ns", "9223372036854775808ns", "-9223372036854775809ns",
                         "9223372036854776us", "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns"}) {
    SCOPED_TRACE(in);
    StatusOr<int64_t> got = ParseGoDuration(in);
    EXPECT_FALSE(got.ok());
  }
  EXPECT_EQ(ParseGoDuration("x").status().message(), "time: invalid duration \"x\"");
  EXPECT_EQ(ParseGoDuration("3").status().message(), "time: missing unit in duration \"3\"");
  EXPECT_EQ(ParseGoDuration("1d").status().message(), "time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_EQ(ParseGoDuration("3000000h").status().message(), "time: invalid duration \"3000000h\"");
}

TEST(ValidateCronTest, Table) {
  struct Case {
    const char* schedule;
    bool ok;
    const char* error;  // substring, when not ok
  };
  const Case cases[] = {
      {"1 4 * * *", true, ""},
      {"*/15 * * * *", true, ""},
      {"0 0 1 1 *", true, ""},
      {"0 9-17 * * MON-FRI", true, ""},
      {"0 0 * jan,Jul sun", true, ""},
      {"5,10,15 0-23/2 1-31 1-12 0-6", true, ""},
      {"0 0 ? * *", true, ""},
      {"30 2 * * 1/2", true, ""},
      {"  1   4 * * *  ", true, ""},
      {"CRON_TZ=Asia/Shanghai 1 4 * * *", true, ""},
      {"TZ=UTC 0 0 * * 0", true, ""},
      {"CRON_TZ=America/Argentina/Buenos_Aires 0 0 * * *", true, ""},
      {"CRON_TZ=Etc/GMT+8 0 0 * * *", true, ""},
      {"", false, "expected exactly 5 fields, found 0"},
      {"* * * *", false, "expected exactly 5 fields, found 4"},
      {"0 * * * * *", false, "expected exactly 5 fields, found 6"},
      {"@daily", false, "expected exactly 5 fields, found 1"},
      {"60 * * * *", false, "minute: end of range (60) above maximum (59): 60"},
      {"* 24 * * *", false, "hour: end of range (24) above maximum (23)"},
      {"* * 0 * *", false, "day of month: beginning of range (0) below minimum (1)"},
      {"* * * 13 *", false, "month: end of range (13) above maximum (12)"},
      {"* * * * 7", false, "day of week: end of range (7) above maximum (6)"},
      {"*/0 * * * *", false, "step of range should be a positive number"},
      {"5-1 * * * *", false, "beginning of range (5) beyond end of range (1)"},
      {"1-2-3 * * * *", false, "too many hyphens"},
      {"a * * * *", false, "failed to parse int from a"},
      {"1,,2 * * * *", false, "failed to parse int from "},
      {"* * * * funday", false, "failed to parse int from funday"},
      {"CRON_TZ=Asia/Shanghai", false, "missing schedule after time zone"},
      {"CRON_TZ= 1 4 * * *", false, "provided bad location"},
      {"CRON_TZ=../etc/passwd 1 4 * * *", false, "provided bad location ../etc/passwd"},
      {"CRON_TZ=/Asia 1 4 * * *", false, "provided bad location"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schedule);
    Status s = ValidateCron(c.schedule);
    EXPECT_EQ(s.ok(), c.ok) << s.message();
    if (!c.ok) {
      EXPECT_NE(s.message().find(c.error), std::string::npos) << s.message();
    }
  }
}

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

// The exact texts of kube-captures/35-error-422-invalid.txt.
TEST(NameValidationTest, UpstreamMessages) {
  EXPECT_EQ(IsDNS1123Subdomain("Bad_Name"),
            std::vector<std::string>{
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"});
  EXPECT_EQ(IsQualifiedName("bad key!"),
            std::vector<std::string>{
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"});
  // kube-captures/20-list-errors.txt
  EXPECT_EQ(IsValidLabelValue("-bad-"),
            std::vector<std::string>{
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"});
}

TEST(NameValidationTest, Table) {
  struct Case {
    std::string value;
    size_t subdomain_errors, label_errors, qualified_errors, label_value_errors;
  };
  const Case cases[] = {
      {"a", 0, 0, 0, 0},
      {"my-name.example.com", 0, 1, 0, 0},
      {"123-abc", 0, 0, 0, 0},
      {"-a", 1, 1, 1, 1},
      {"a-", 1, 1, 1, 1},
      {"a..b", 1, 1, 0, 0},
      {"UPPER", 1, 1, 0, 0},
      {"example.com/MyName", 1, 1, 0, 1},
      {"/x", 1, 1, 1, 1},
      {"a/b/c", 1, 1, 1, 1},
      {"", 1, 1, 2, 0},
      {std::string(64, 'a'), 0, 1, 1, 1},
      {std::string(254, 'a'), 1, 1, 1, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(IsDNS1123Subdomain(c.value).size(), c.subdomain_errors);
    EXPECT_EQ(IsDNS1123Label(c.value).size(), c.label_errors);
    EXPECT_EQ(IsQualifiedName(c.value).size(), c.qualified_errors);
    EXPECT_EQ(IsValidLabelValue(c.value).size(), c.label_value_errors);
  }
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')).front(), "must be no more than 253 characters");
  EXPECT_EQ(IsQualifiedName("/x").front(), "prefix part must be non-empty");
  // generateName prefixes may end in '-'.
  EXPECT_TRUE(NameIsDNSSubdomain("daily-", true).empty());
  EXPECT_FALSE(NameIsDNSSubdomain("daily-", false).empty());
}

TEST(ObjectMetaTest, Table) {
  const json::Value base = Json(R"({"metadata":{"name":"b1","namespace":"csdr"}})");
  const ValidationCase cases[] = {
      {"valid", "", {}},
      {"no name", R"({"metadata":{"name":null}})", {{kRequired, "metadata.name"}}},
      {"generateName only", R"({"metadata":{"name":null,"generateName":"daily-"}})", {{kRequired, "metadata.name"}}},
      {"bad generateName", R"({"metadata":{"generateName":"Daily-"}})", {{kInvalid, "metadata.generateName"}}},
      {"bad name", R"({"metadata":{"name":"Bad_Name"}})", {{kInvalid, "metadata.name"}}},
      {"no namespace", R"({"metadata":{"namespace":null}})", {{kRequired, "metadata.namespace"}}},
      {"bad namespace", R"({"metadata":{"namespace":"a.b"}})", {{kInvalid, "metadata.namespace"}}},
      {"bad label key", R"({"metadata":{"labels":{"bad key!":"x"}}})", {{kInvalid, "metadata.labels"}}},
      {"bad label value", R"({"metadata":{"labels":{"k":"-x"}}})", {{kInvalid, "metadata.labels"}}},
      {"good labels", R"({"metadata":{"labels":{"csdr.io/vault":"v1","app":""}}})", {}},
      {"annotation key case-insensitive", R"({"metadata":{"annotations":{"Example.COM/Key":"x"}}})", {}},
      {"bad annotation key", R"({"metadata":{"annotations":{"a b":"x"}}})", {{kInvalid, "metadata.annotations"}}},
      {"negative generation", R"({"metadata":{"generation":-1}})", {{kInvalid, "metadata.generation"}}},
      {"bad finalizer", R"({"metadata":{"finalizers":["csdr.io/cleanup","bad finalizer"]}})",
       {{kInvalid, "metadata.finalizers"}}},
      {"owner reference without uid", R"({"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"K","name":"n"}]}})",
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
  FieldErrors got = ValidateObjectMetaUpdate(Json(R"({"metadata":{"name":"b2","namespace":"csdr"}})"), old);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.front().field, "metadata.name");
  EXPECT_EQ(got.front().message, "Invalid value: \"b2\": field is immutable");
}

TEST(LabelSelectorTest, Table) {
  const ValidationCase cases[] = {
      {"empty", "{}", {}},
      {"matchLabels", R"({"matchLabels":{"app":"shop"}})", {}},
      {"bad matchLabels", R"({"matchLabels":{"bad key":"shop"}})", {{kInvalid, "sel.matchLabels"}}},
      {"In with values", R"({"matchExpressions":[{"key":"app","operator":"In","values":["a"]}]})", {}},
      {"In without values", R"({"matchExpressions":[{"key":"app","operator":"In"}]})",
       {{kRequired, "sel.matchExpressions[0].values"}}},
      {"Exists with values", R"({"matchExpressions":[{"key":"app","operator":"Exists","values":["a"]}]})",
       {{kForbidden, "sel.matchExpressions[0].values"}}},
      {"bad operator", R"({"matchExpressions":[{"key":"app","operator":"Equals"}]})",
       {{kInvalid, "sel.matchExpressions[0].operator"}}},
      {"bad key and value",
       R"({"matchExpressions":[{"key":"app","operator":"In","values":["a"]},{"key":"a b","operator":"NotIn","values":["-x"]}]})",
       {{kInvalid, "sel.matchExpressions[1].key"}, {kInvalid, "sel.matchExpressions[1].values[0]"}}},
  };
  for (const ValidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    json::Value sel = Json(c.patch);
    FieldErrors got = ValidateLabelSelector(&sel, "sel");
    EXPECT_EQ(Keys(got), Sorted(c.want)) << Describe(got);
  }
  FieldErrors msg = ValidateLabelSelector(
      &static_cast<const json::Value&>(Json(R"({"matchExpressions":[{"key":"app","operator":"In"}]})")), "s");
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_EQ(msg.front().message, "Required value: must be specified when `operator` is 'In' or 'NotIn'");
}

TEST(ConditionsTest, Table) {
  const std::string good = R"({"type":"Ready","status":"True","reason":"Ok","message":"","lastTransitionTime":"2026-11-24T09:00:00Z"})";
  const ValidationCase cases[] = {
      {"valid", "[" + good + "]", {}},
      {"duplicate type", "[" + good + "," + good + "]", {{kDuplicate, "c[1].type"}}},
      {"bad status", R"([{"type":"Ready","status":"Yes","reason":"Ok","lastTransitionTime":"2026-11-24T09:00:00Z"}])",
       {{kNotSupported, "c[0].status"}}},
      {"missing everything", R"([{}])",
       {{kInvalid, "c[0].type"}, {kInvalid, "c[0].type"}, {kNotSupported, "c[0].status"},
        {kRequired, "c[0].lastTransitionTime"}, {kRequired, "c[0].reason"}}},
      {"bad reason", R"([{"type":"Ready","status":"True","reason":"not ok","lastTransitionTime":"2026-11-24T09:00:00Z"}])",
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
