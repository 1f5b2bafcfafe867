#include "common/validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace csdr::validation {
namespace {

using Errors = std::vector<std::string>;

const std::string kNameRegex =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kSubdomainRegex =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

TEST(Validation, IsQualifiedName) {
  struct Case {
    std::string in;
    Errors errors;
  };
  const std::vector<Case> cases = {
      {"app", {}},
      {"a", {}},
      {"app.kubernetes.io/name", {}},
      {"A_b.c-D9", {}},
      {std::string(63, 'a'), {}},
      // kube-captures/35 (invalid label key), byte for byte.
      {"bad key!", {"name part " + kNameRegex}},
      {"", {"name part must be non-empty", "name part " + kNameRegex}},
      {std::string(64, 'a'), {"name part must be no more than 63 characters"}},
      {"/app", {"prefix part must be non-empty"}},
      {"Example.com/app", {"prefix part " + kSubdomainRegex}},
      {"example.com/", {"name part must be non-empty", "name part " + kNameRegex}},
      {"a/b/c",
       {"a qualified name " + kNameRegex +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"}},
      {"-app", {"name part " + kNameRegex}},
      {"app-", {"name part " + kNameRegex}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(IsQualifiedName(c.in), c.errors);
  }
}

TEST(Validation, IsValidLabelValue) {
  const std::string regex =
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
      "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
      "'my_value',  or '12345', regex used for validation is "
      "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  EXPECT_EQ(IsValidLabelValue(""), Errors{});
  EXPECT_EQ(IsValidLabelValue("shop"), Errors{});
  EXPECT_EQ(IsValidLabelValue("-bad-"), Errors{regex});
  EXPECT_EQ(IsValidLabelValue(std::string(64, 'a')), Errors{MaxLenError(63)});
  EXPECT_EQ(IsValidLabelValue(std::string(64, '-')), (Errors{MaxLenError(63), regex}));
}

TEST(Validation, Dns1123) {
  // kube-captures/35 (metadata.name "Bad_Name"), byte for byte.
  EXPECT_EQ(IsDNS1123Subdomain("Bad_Name"), Errors{kSubdomainRegex});
  EXPECT_EQ(IsDNS1123Subdomain("b1"), Errors{});
  EXPECT_EQ(IsDNS1123Subdomain("a.b-c.d"), Errors{});
  EXPECT_EQ(IsDNS1123Subdomain("a..b"), Errors{kSubdomainRegex});
  EXPECT_EQ(IsDNS1123Subdomain("a."), Errors{kSubdomainRegex});
  EXPECT_EQ(IsDNS1123Subdomain(""), Errors{kSubdomainRegex});
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')).front(), MaxLenError(253));
  EXPECT_EQ(IsDNS1123Label("csdr"), Errors{});
  EXPECT_EQ(IsDNS1123Label("a.b").size(), 1u);
  EXPECT_EQ(IsDNS1123Label(std::string(64, 'a')).front(), MaxLenError(63));
}

// Moved from the API server's kinds tests, from when kinds had its own copy of these.
// The exact texts of kube-captures/35-error-422-invalid.txt.
TEST(NameValidationTest, UpstreamMessages) {
  EXPECT_EQ(IsDNS1123Subdomain("Bad_Name"),
            std::vector<std::string>{
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                "for validation "
                "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"});
  EXPECT_EQ(IsQualifiedName("bad key!"),
            std::vector<std::string>{"name part must consist of alphanumeric characters, '-', '_' "
                                     "or '.', and must start and end with an "
                                     "alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                                     "'123-abc', regex used for validation is "
                                     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"});
  // kube-captures/20-list-errors.txt
  EXPECT_EQ(IsValidLabelValue("-bad-"),
            std::vector<std::string>{
                "a valid label must be an empty string or consist of alphanumeric characters, '-', "
                "'_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                "'my_value',  or '12345', "
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
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')).front(),
            "must be no more than 253 characters");
  EXPECT_EQ(IsQualifiedName("/x").front(), "prefix part must be non-empty");
}

}  // namespace
}  // namespace csdr::validation
