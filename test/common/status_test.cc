#include "common/status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace csdr {
namespace {

TEST(FieldErrors, UpstreamMessageShapes) {
  struct Case {
    FieldError got;
    std::string type, field, message;
  };
  const std::vector<Case> cases = {
      {RequiredField("spec.vaultName"), "FieldValueRequired", "spec.vaultName", "Required value"},
      {RequiredField("metadata.name", "name or generateName is required"), "FieldValueRequired",
       "metadata.name", "Required value: name or generateName is required"},
      {ForbiddenField("spec", "may not be changed"), "FieldValueForbidden", "spec",
       "Forbidden: may not be changed"},
      {ForbiddenField("spec", ""), "FieldValueForbidden", "spec", "Forbidden"},
      {InvalidField("metadata.name", Quote("Bad_Name"), "a lowercase RFC 1123 subdomain"),
       "FieldValueInvalid", "metadata.name",
       "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"},
      {InvalidField("spec.ttl", "-5", ""), "FieldValueInvalid", "spec.ttl", "Invalid value: -5"},
      {NotSupportedField("spec.backupType", Quote("x"), {"AppBackup", "AppAndPvBackup"}),
       "FieldValueNotSupported", "spec.backupType",
       "Unsupported value: \"x\": supported values: \"AppBackup\", \"AppAndPvBackup\""},
      {NotSupportedField("spec.a", Quote("x"), {}), "FieldValueNotSupported", "spec.a",
       "Unsupported value: \"x\""},
      {DuplicateField("metadata.finalizers[1]", Quote("f")), "FieldValueDuplicate",
       "metadata.finalizers[1]", "Duplicate value: \"f\""},
      {TooLongField("metadata.labels", 63), "FieldValueTooLong", "metadata.labels",
       "Too long: may not be more than 63 bytes"},
      {TooLongField("x", 1), "FieldValueTooLong", "x", "Too long: may not be more than 1 byte"},
      {TypeInvalidField("spec.backupType", Quote("integer"),
                        "spec.backupType in body must be of type string: \"integer\""),
       "FieldValueTypeInvalid", "spec.backupType",
       "Invalid value: \"integer\": spec.backupType in body must be of type string: \"integer\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_EQ(c.got.type, c.type);
    EXPECT_EQ(c.got.field, c.field);
    EXPECT_EQ(c.got.message, c.message);
  }
}

TEST(Quote, MatchesGoStrconvQuote) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"", R"("")"},
      {"abc", R"("abc")"},
      {"a\"b", R"("a\"b")"},
      {"a\\b", R"("a\\b")"},
      {"a\nb\tc\r", R"("a\nb\tc\r")"},
      {std::string("\0\x01\x7f", 3), R"("\x00\x01\x7f")"},
      {"\a\b\f\v", R"("\a\b\f\v")"},
      {"caf\xC3\xA9", "\"caf\xC3\xA9\""},  // printable UTF-8 kept
      {"\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\""},
      {"a\xFFz", R"("a\xffz")"},              // invalid byte escaped
      {"\xC3", R"("\xc3")"},                  // truncated sequence
      {"\xED\xA0\x80", R"("\xed\xa0\x80")"},  // surrogate
      {"\xC0\xAF", R"("\xc0\xaf")"},          // overlong
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.out);
    EXPECT_EQ(Quote(c.in), c.out);
  }
}

TEST(Status, Basics) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status inv = Status::Invalid("bad", {RequiredField("a")});
  EXPECT_EQ(inv.code(), Code::kInvalid);
  ASSERT_EQ(inv.causes().size(), 1u);
  StatusOr<int> v = 3;
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(*v, 3);
  StatusOr<int> e = Status(Code::kNotFound, "x");
  EXPECT_EQ(e.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace csdr
