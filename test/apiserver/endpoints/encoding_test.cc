#include "apiserver/endpoints/encoding.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

TEST(NegotiateOutputTest, KubectlTableAccept) {
  auto f = NegotiateOutput(
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/"
      "json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
      true);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, OutputKind::kTable);
  EXPECT_EQ(f->meta_version, "v1");
}

TEST(NegotiateOutputTest, Table) {
  struct Case {
    const char* accept;
    bool is_list;
    bool ok;
    OutputKind kind;
    const char* version;
  };
  const Case cases[] = {
      {"", false, true, OutputKind::kJson, "v1"},
      {"application/json", false, true, OutputKind::kJson, "v1"},
      {"*/*", true, true, OutputKind::kJson, "v1"},
      {"application/yaml", false, true, OutputKind::kYaml, "v1"},
      {"application/json;as=Table;v=v1beta1;g=meta.k8s.io", true, true, OutputKind::kTable,
       "v1beta1"},
      {"application/vnd.kubernetes.protobuf, */*", false, true, OutputKind::kJson, "v1"},
      {"application/vnd.kubernetes.protobuf", false, false, OutputKind::kJson, ""},
      {"application/xml", false, false, OutputKind::kJson, ""},
      {"application/cbor", false, false, OutputKind::kJson, ""},
      {"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", true,
       true, OutputKind::kPartialObjectMetadataList, "v1"},
      // A list media type on a single-object request falls through to the next clause.
      {"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", false,
       true, OutputKind::kJson, "v1"},
      {"application/json;as=Table;v=v2;g=meta.k8s.io", false, false, OutputKind::kJson, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.accept);
    auto f = NegotiateOutput(c.accept, c.is_list);
    ASSERT_EQ(f.ok(), c.ok);
    if (!c.ok) {
      EXPECT_EQ(f.status().code(), Code::kNotAcceptable);
      continue;
    }
    EXPECT_EQ(f->kind, c.kind);
    EXPECT_EQ(f->meta_version, c.version);
  }
}

TEST(StatusJsonTest, NotFoundShape) {
  StatusDetails d{"b1", "csdr.io", "backups", ""};
  json::Value v = StatusJson(Status(Code::kNotFound, "backups.csdr.io \"b1\" not found"), d);
  EXPECT_EQ(
      json::Serialize(v),
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"backups.csdr.io \"b1\" not found","reason":"NotFound","details":{"name":"b1","group":"csdr.io","kind":"backups"},"code":404})");
}

TEST(StatusJsonTest, InvalidCarriesCauses) {
  Status s = Status::Invalid("Backup.csdr.io \"b\" is invalid: spec.vaultName: Required value",
                             {{"FieldValueRequired", "spec.vaultName", "Required value"}});
  json::Value v = StatusJson(s, StatusDetails{"b", "csdr.io", "Backup", ""});
  EXPECT_EQ(v.GetString({"reason"}), "Invalid");
  EXPECT_EQ(v.Find("code")->as_int(), 422);
  const json::Value* causes = v.FindPath({"details", "causes"});
  ASSERT_NE(causes, nullptr);
  ASSERT_EQ(causes->size(), 1u);
  EXPECT_EQ(causes->array()[0].GetString({"reason"}), "FieldValueRequired");
  EXPECT_EQ(causes->array()[0].GetString({"field"}), "spec.vaultName");
}

TEST(StatusJsonTest, RetryAfter) {
  Status s(Code::kTimeout, "Timeout: Too large resource version: 9, current: 3");
  s.set_retry_after_seconds(1);
  json::Value v = StatusJson(s, {});
  EXPECT_EQ(v.Find("code")->as_int(), 504);
  EXPECT_EQ(v.FindPath({"details", "retryAfterSeconds"})->as_int(), 1);
}

TEST(WarningHeaderTest, Escapes) {
  EXPECT_EQ(WarningHeaderValue("unknown field \"spec.x\""),
            "299 - \"unknown field \\\"spec.x\\\"\"");
}

TEST(ParseQueryTest, SplitsAtTheFirstEqualsSign) {
  httplib::Params p =
      ParseQuery("/apis/x?labelSelector=-bad-=x&watch=True&a=%41+b&flag&dryRun=All&dryRun=x");
  EXPECT_EQ(p.find("labelSelector")->second, "-bad-=x");
  EXPECT_EQ(p.find("watch")->second, "True");
  EXPECT_EQ(p.find("a")->second, "A b");
  EXPECT_EQ(p.find("flag")->second, "");
  EXPECT_EQ(p.count("dryRun"), 2u);
  EXPECT_TRUE(ParseQuery("/apis/x").empty());
}

// Strings that would read back as numbers, booleans, null or timestamps are quoted (as
// kubectl's YAML has resourceVersion: "42"); others stay plain; keys are left alone.
TEST(ToYamlTest, StringsThatReadAsAnotherTypeAreQuoted) {
  auto v = json::Parse(
      R"({"rv":"42","ts":"2026-01-01T00:00:00Z","t":"true","No":"no","n":"null","e":"",)"
      R"("f":"1.5","neg":"-3","name":"nightly","mixed":"v1.8.4","int":42,"b":false})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(ToYaml(*v),
            "rv: \"42\"\nts: \"2026-01-01T00:00:00Z\"\nt: \"true\"\nNo: \"no\"\nn: \"null\"\n"
            "e: \"\"\nf: \"1.5\"\nneg: \"-3\"\nname: nightly\nmixed: v1.8.4\nint: 42\n"
            "b: false\n");
}

TEST(ToYamlTest, BlockStyle) {
  auto v = json::Parse(R"({"a":{"b":[1,"x"]},"c":true})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(ToYaml(*v), "a:\n  b:\n    - 1\n    - x\nc: true\n");
}

}  // namespace
}  // namespace csdr::apiserver
