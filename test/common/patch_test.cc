#include "common/patch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace csdr {
namespace {

json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().message();
  return v.ok() ? std::move(v).value() : json::Value();
}

constexpr std::string_view kRejected =
    "the server rejected our request due to an error in our request";

TEST(MergePatch, Rfc7386AppendixA) {
  struct Case {
    std::string target, patch, result;
  };
  const std::vector<Case> cases = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {"[1,2]", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {"{}", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
      // RFC 7386 section 3.
      {R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"})",
       R"({"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]})",
       R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target + " + " + c.patch);
    const json::Value target = J(c.target);
    StatusOr<json::Value> got = ApplyMergePatch(target, J(c.patch));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(json::Serialize(*got), c.result);
    EXPECT_EQ(target, J(c.target));  // the target is not modified
  }
}

TEST(MergePatch, KubeCapture) {
  // kube-captures/24: add a label, set spec.ttl, replace a list; then null deletes spec.ttl.
  const json::Value b2 = J(R"({"metadata":{"name":"b2","labels":{"app":"shop"}},
      "spec":{"backupType":"AppBackup","vaultName":"vault1"}})");
  StatusOr<json::Value> v = ApplyMergePatch(
      b2,
      J(R"({"metadata":{"labels":{"tier":"bronze"}},"spec":{"ttl":"48h","includedNamespaces":["a","b"]}})"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, J(R"({"metadata":{"name":"b2","labels":{"app":"shop","tier":"bronze"}},
      "spec":{"backupType":"AppBackup","vaultName":"vault1","ttl":"48h","includedNamespaces":["a","b"]}})"));
  v = ApplyMergePatch(*v, J(R"({"spec":{"ttl":null}})"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Find("spec")->Find("ttl"), nullptr);
  EXPECT_NE(v->Find("spec")->Find("includedNamespaces"), nullptr);
}

TEST(MergePatch, CheckBody) {
  struct Case {
    std::string patch;
    Code code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"a":1})", Code::kOk, ""},
      {"{}", Code::kOk, ""},
      {"null", Code::kBadRequest, "Invalid JSON Patch"},
      {"[1]", Code::kBadRequest,
       "error decoding patch: json: cannot unmarshal array into Go value of type "
       "map[string]interface {}"},
      {R"("s")", Code::kBadRequest,
       "error decoding patch: json: cannot unmarshal string into Go value of type "
       "map[string]interface {}"},
      {"5", Code::kBadRequest,
       "error decoding patch: json: cannot unmarshal number into Go value of type "
       "map[string]interface {}"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.patch);
    Status s = CheckMergePatchBody(J(c.patch));
    EXPECT_EQ(s.code(), c.code);
    EXPECT_EQ(s.message(), c.message);
  }
}

struct PatchCase {
  std::string name, target, ops;
  std::string result;  // empty: the patch must fail with 422
};

void RunPatchCases(const std::vector<PatchCase>& cases) {
  for (const PatchCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::string detail;
    JsonPatchOptions options;
    options.failure_detail = &detail;
    StatusOr<json::Value> got = ApplyJsonPatch(J(c.target), J(c.ops), options);
    if (c.result.empty()) {
      ASSERT_FALSE(got.ok()) << json::Serialize(*got);
      EXPECT_EQ(got.status().code(), Code::kInvalid);
      EXPECT_EQ(got.status().message(), kRejected);
      EXPECT_TRUE(got.status().causes().empty());
      EXPECT_FALSE(detail.empty());
    } else {
      ASSERT_TRUE(got.ok()) << got.status().message() << " / " << detail;
      EXPECT_EQ(json::Serialize(*got), c.result);
    }
  }
}

TEST(JsonPatch, Rfc6902AppendixA) {
  RunPatchCases({
      {"A.1 add an object member", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/baz","value":"qux"}])", R"({"foo":"bar","baz":"qux"})"},
      {"A.2 add an array element", R"({"foo":["bar","baz"]})",
       R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})"},
      {"A.3 remove an object member", R"({"baz":"qux","foo":"bar"})",
       R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})"},
      {"A.4 remove an array element", R"({"foo":["bar","qux","baz"]})",
       R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})"},
      {"A.5 replace a value", R"({"baz":"qux","foo":"bar"})",
       R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})"},
      {"A.6 move a value", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
       R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
       R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
      {"A.7 move an array element", R"({"foo":["all","grass","cows","eat"]})",
       R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
       R"({"foo":["all","cows","eat","grass"]})"},
      {"A.8 test success", R"({"baz":"qux","foo":["a",2,"c"]})",
       R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
       R"({"baz":"qux","foo":["a",2,"c"]})"},
      {"A.9 test failure", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])",
       ""},
      {"A.10 add a nested member object", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
       R"({"foo":"bar","child":{"grandchild":{}}})"},
      {"A.11 ignore unrecognized elements", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})"},
      {"A.12 add to a nonexistent target", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/baz/bat","value":"qux"}])", ""},
      {"A.13 invalid patch document (duplicate op: the last wins, and remove fails)",
       R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux","op":"remove"}])", ""},
      {"A.14 ~ escape ordering", R"({"/":9,"~1":10})",
       R"([{"op":"test","path":"/~01","value":10}])", R"({"/":9,"~1":10})"},
      {"A.15 strings are not numbers", R"({"/":9,"~1":10})",
       R"([{"op":"test","path":"/~01","value":"10"}])", ""},
      {"A.16 add an array value", R"({"foo":["bar"]})",
       R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
       R"({"foo":["bar",["abc","def"]]})"},
  });
}

TEST(JsonPatch, Rfc6901Pointers) {
  const std::string doc =
      R"({"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8})";
  struct Case {
    std::string pointer, value;
  };
  const std::vector<Case> cases = {
      {"", doc},
      {"/foo", R"(["bar","baz"])"},
      {"/foo/0", R"("bar")"},
      {"/", "0"},
      {"/a~1b", "1"},
      {"/c%d", "2"},
      {"/e^f", "3"},
      {"/g|h", "4"},
      {R"(/i\\j)", "5"},
      {R"(/k\"l)", "6"},
      {"/ ", "7"},
      {"/m~0n", "8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pointer);
    const std::string ops =
        R"([{"op":"test","path":")" + c.pointer + R"(","value":)" + c.value + "}]";
    StatusOr<json::Value> got = ApplyJsonPatch(J(doc), J(ops));
    EXPECT_TRUE(got.ok()) << ops;
  }
}

TEST(JsonPatch, Operations) {
  RunPatchCases({
      {"add replaces an existing member in place", R"({"a":1,"b":2})",
       R"([{"op":"add","path":"/a","value":3}])", R"({"a":3,"b":2})"},
      {"add at the array end by index", R"({"l":[1]})", R"([{"op":"add","path":"/l/1","value":2}])",
       R"({"l":[1,2]})"},
      {"add past the array end", R"({"l":[1]})", R"([{"op":"add","path":"/l/2","value":2}])", ""},
      {"add with a leading-zero index", R"({"l":[1,2]})",
       R"([{"op":"add","path":"/l/01","value":2}])", ""},
      {"add with a negative index", R"({"l":[1,2]})", R"([{"op":"add","path":"/l/-1","value":2}])",
       ""},
      {"add replaces the whole document", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])",
       "[1]"},
      {"add under a scalar", R"({"a":1})", R"([{"op":"add","path":"/a/b","value":1}])", ""},
      {"add without a value", R"({})", R"([{"op":"add","path":"/a"}])", ""},
      {"add null value", R"({})", R"([{"op":"add","path":"/a","value":null}])", R"({"a":null})"},
      {"remove with -", R"({"l":[1]})", R"([{"op":"remove","path":"/l/-"}])", ""},
      {"remove the root", R"({"a":1})", R"([{"op":"remove","path":""}])", ""},
      {"remove a missing path (kube capture)", R"({"spec":{}})",
       R"([{"op":"remove","path":"/spec/doesNotExist"}])", ""},
      {"replace a missing member", R"({"a":1})", R"([{"op":"replace","path":"/b","value":1}])", ""},
      {"replace an array element", R"({"l":[1,2]})",
       R"([{"op":"replace","path":"/l/1","value":9}])", R"({"l":[1,9]})"},
      {"replace out of range", R"({"l":[1,2]})", R"([{"op":"replace","path":"/l/2","value":9}])",
       ""},
      {"replace the root", R"({"a":1})", R"([{"op":"replace","path":"","value":{"b":2}}])",
       R"({"b":2})"},
      {"move to the same place", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])",
       R"({"a":1})"},
      {"move into its own child", R"({"a":{"b":1}})",
       R"([{"op":"move","from":"/a","path":"/a/b/c"}])", ""},
      {"move from a missing path", R"({"a":1})", R"([{"op":"move","from":"/x","path":"/y"}])", ""},
      {"move to a sibling prefix is fine", R"({"a":{"b":1}})",
       R"([{"op":"move","from":"/a","path":"/ab"}])", R"({"ab":{"b":1}})"},
      {"copy", R"({"a":{"b":[1]}})", R"([{"op":"copy","from":"/a","path":"/c"}])",
       R"({"a":{"b":[1]},"c":{"b":[1]}})"},
      {"copy into its own child", R"({"a":{"b":1}})",
       R"([{"op":"copy","from":"/a","path":"/a/c"}])", R"({"a":{"b":1,"c":{"b":1}}})"},
      {"copy from a missing path", R"({})", R"([{"op":"copy","from":"/x","path":"/y"}])", ""},
      {"test numbers compare numerically", R"({"a":1})",
       R"([{"op":"test","path":"/a","value":1.0}])", R"({"a":1})"},
      {"test objects compare unordered", R"({"a":{"x":1,"y":2}})",
       R"([{"op":"test","path":"/a","value":{"y":2,"x":1}}])", R"({"a":{"x":1,"y":2}})"},
      {"test a missing path", R"({})", R"([{"op":"test","path":"/a","value":null}])", ""},
      {"test without a value", R"({"a":null})", R"([{"op":"test","path":"/a"}])", ""},
      {"unknown op", R"({})", R"([{"op":"frobnicate","path":"/a"}])", ""},
      {"missing op", R"({})", R"([{"path":"/a","value":1}])", ""},
      {"null operation", R"({})", "[null]", ""},
      {"pointer without a leading slash", R"({"a":1})", R"([{"op":"remove","path":"a"}])", ""},
      {"bad escape", R"({"a":1})", R"([{"op":"remove","path":"/~2"}])", ""},
      {"trailing ~", R"({"a":1})", R"([{"op":"remove","path":"/a~"}])", ""},
      {"all or nothing: a later failure discards earlier ops", R"({"a":1})",
       R"([{"op":"remove","path":"/a"},{"op":"remove","path":"/a"}])", ""},
      {"empty list", R"({"a":1})", "[]", R"({"a":1})"},
      {"null list (Go decodes it as no operations)", R"({"a":1})", "null", R"({"a":1})"},
  });
}

TEST(JsonPatch, KubeCapture) {
  const json::Value b2 = J(
      R"({"spec":{"backupType":"AppBackup","includedNamespaces":["a","b"],"vaultName":"vault1"}})");
  // test (passes) + replace + add to the list end.
  StatusOr<json::Value> v = ApplyJsonPatch(b2, J(R"([
      {"op":"test","path":"/spec/vaultName","value":"vault1"},
      {"op":"replace","path":"/spec/vaultName","value":"vault7"},
      {"op":"add","path":"/spec/includedNamespaces/-","value":"c"}])"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(
      json::Serialize(*v),
      R"({"spec":{"backupType":"AppBackup","includedNamespaces":["a","b","c"],"vaultName":"vault7"}})");

  // A failing test op: 422 Invalid with the generic message and no causes.
  std::string detail;
  JsonPatchOptions options;
  options.failure_detail = &detail;
  v = ApplyJsonPatch(b2, J(R"([
      {"op":"test","path":"/spec/vaultName","value":"nope"},
      {"op":"replace","path":"/spec/vaultName","value":"vault8"}])"),
                     options);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kInvalid);
  EXPECT_EQ(v.status().message(), kRejected);
  EXPECT_TRUE(v.status().causes().empty());
  EXPECT_EQ(detail, "operation 0 (test): testing value /spec/vaultName failed");
}

TEST(JsonPatch, DecodeErrorsAreBadRequest) {
  struct Case {
    std::string ops;
    Code code;
    std::string message;
  };
  const std::string p = "error decoding patch: json: cannot unmarshal ";
  const std::vector<Case> cases = {
      {R"({"op":"add"})", Code::kBadRequest,
       p + "object into Go value of type []handlers.jsonPatchOp"},
      {R"("x")", Code::kBadRequest, p + "string into Go value of type []handlers.jsonPatchOp"},
      {"true", Code::kBadRequest, p + "bool into Go value of type []handlers.jsonPatchOp"},
      {R"(["x"])", Code::kBadRequest, p + "string into Go value of type handlers.jsonPatchOp"},
      {"[[]]", Code::kBadRequest, p + "array into Go value of type handlers.jsonPatchOp"},
      {R"([{"op":5,"path":"/a"}])", Code::kBadRequest,
       p + "number into Go struct field jsonPatchOp.op of type string"},
      {R"([{"op":"add","path":{}}])", Code::kBadRequest,
       p + "object into Go struct field jsonPatchOp.path of type string"},
      // A decode error anywhere wins over an apply error earlier in the list.
      {R"([{"op":"remove","path":"/missing"},{"op":"add","from":[]}])", Code::kBadRequest,
       p + "array into Go struct field jsonPatchOp.from of type string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ops);
    StatusOr<json::Value> v = ApplyJsonPatch(J("{}"), J(c.ops));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), c.code);
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(JsonPatch, Limits) {
  // Too many operations: 413 before anything is applied.
  std::string ops = "[";
  for (int i = 0; i < 10001; ++i) ops += std::string(i ? "," : "") + R"({"op":"test","path":""})";
  ops += "]";
  StatusOr<json::Value> v = ApplyJsonPatch(J("{}"), J(ops));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kTooLarge);
  EXPECT_EQ(v.status().message(),
            "The allowed maximum operations in a JSON patch is 10000, got 10001");

  // Copying the document into a member of itself nests it one level deeper each time.
  ops = "[";
  for (int i = 0; i < 150; ++i)
    ops += std::string(i ? "," : "") + R"({"op":"copy","from":"","path":"/a"})";
  ops += "]";
  std::string detail;
  JsonPatchOptions options;
  options.failure_detail = &detail;
  v = ApplyJsonPatch(J(R"({"x":[1,2,3]})"), J(ops), options);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kInvalid);
  EXPECT_NE(detail.find("nest deeper than 100"), std::string::npos) << detail;

  // Copying it into new members doubles it each time: 2^100 nodes unless the budget stops it.
  ops = "[";
  for (int i = 0; i < 100; ++i) {
    ops += std::string(i ? "," : "") + R"({"op":"copy","from":"","path":"/c)" + std::to_string(i) +
           R"("})";
  }
  ops += "]";
  const auto start = std::chrono::steady_clock::now();
  v = ApplyJsonPatch(J(R"({"x":[1,2,3]})"), J(ops), options);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(detail.find("inserts more than 1000000 nodes"), std::string::npos) << detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  // A smaller budget, as an option.
  options.max_copied_nodes = 10;
  v = ApplyJsonPatch(
      J(R"({"x":[1,2,3]})"),
      J(R"([{"op":"copy","from":"/x","path":"/y"},{"op":"copy","from":"/x","path":"/z"},
                           {"op":"copy","from":"/x","path":"/w"}])"),
      options);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(detail.find("operation 2 (copy): the patch inserts more than 10 nodes"),
            std::string::npos)
      << detail;

  // Depth: adding a nested value where it would exceed max_depth.
  options = {};
  options.max_depth = 3;
  options.failure_detail = &detail;
  v = ApplyJsonPatch(J(R"({"a":{}})"), J(R"([{"op":"add","path":"/a/b","value":{"c":{}}}])"),
                     options);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(detail.find("nest deeper than 3"), std::string::npos) << detail;
  v = ApplyJsonPatch(J(R"({"a":{}})"), J(R"([{"op":"add","path":"/a/b","value":{"c":1}}])"),
                     options);
  EXPECT_TRUE(v.ok());
}

}  // namespace
}  // namespace csdr
