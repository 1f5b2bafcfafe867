#include "apiserver/endpoints/openapi_proto.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

std::string Encode(const char* json_text) {
  auto v = json::Parse(json_text);
  EXPECT_TRUE(v.ok());
  return EncodeOpenAPIV2Proto(*v);
}

TEST(OpenAPIProtoTest, Swagger) {
  // Document.swagger is field 1, length-delimited: tag 0x0a.
  EXPECT_EQ(Encode(R"({"swagger":"2.0"})"), std::string("\x0a\x03"
                                                        "2.0",
                                                        5));
}

TEST(OpenAPIProtoTest, DefinitionWithTypeAndVendorExtension) {
  std::string got = Encode(R"({"definitions":{"a":{"type":"string","x-k":[1]}}})");
  // Schema: type(22) = TypeItem{value(1)="string"}; vendor_extension(31) =
  // NamedAny{name(1)="x-k", value(2)=Any{yaml(2)="[1]"}}.
  std::string type_item = std::string("\x0a\x06", 2) + "string";
  std::string any = std::string("\x12\x03", 2) + "[1]";
  std::string named_any = std::string("\x0a\x03", 2) + "x-k" + std::string("\x12", 1) +
                          static_cast<char>(any.size()) + any;
  std::string schema = std::string("\xb2\x01", 2) + static_cast<char>(type_item.size()) +
                       type_item + std::string("\xfa\x01", 2) +
                       static_cast<char>(named_any.size()) + named_any;
  std::string named_schema = std::string("\x0a\x01", 2) + "a" + std::string("\x12", 1) +
                             static_cast<char>(schema.size()) + schema;
  std::string definitions =
      std::string("\x0a", 1) + static_cast<char>(named_schema.size()) + named_schema;
  std::string doc = std::string("\x4a", 1) + static_cast<char>(definitions.size()) + definitions;
  EXPECT_EQ(got, doc);
}

TEST(OpenAPIProtoTest, QueryParameterUsesShiftedLayout) {
  std::string got = Encode(
      R"({"paths":{"/p":{"patch":{"parameters":[{"name":"dryRun","in":"query","type":"string","uniqueItems":true}]}}}})");
  // uniqueItems of a query parameter is field 20 (varint): tag 0xa0 0x01, value 1.
  EXPECT_NE(got.find(std::string("\xa0\x01\x01", 3)), std::string::npos);
  // type is field 6 in a query parameter: tag 0x32.
  EXPECT_NE(got.find(std::string("\x32\x06", 2) + "string"), std::string::npos);
}

}  // namespace
}  // namespace csdr::apiserver
