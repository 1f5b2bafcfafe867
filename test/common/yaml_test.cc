#include "common/yaml.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace csdr {
namespace {

struct Case {
  std::string name;
  std::string yaml;
  std::string json;  // expected compact JSON
};

void ExpectDecodes(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name + ": " + c.yaml);
    StatusOr<json::Value> v = ParseYaml(c.yaml);
    ASSERT_TRUE(v.ok()) << v.status().message();
    EXPECT_EQ(json::Serialize(*v), c.json);
  }
}

TEST(ParseYaml, Scalars) {
  ExpectDecodes({
      {"basic", "a: 1\nb: two\nc: 2.5\nd: true\ne: null\nf: ~\ng:\n",
       R"({"a":1,"b":"two","c":2.5,"d":true,"e":null,"f":null,"g":null})"},
      // A lone carriage return is a line break, as in go-yaml and YAML 1.2 (finding F3).
      {"carriage returns", "\r\r\r\r\r2\n", "2"},
      {"carriage return line ends", "a: 1\rb: two\r\nc: [x,\rz]",
       R"({"a":1,"b":"two","c":["x","z"]})"},
      {"YAML 1.1 booleans, as go-yaml v2 resolves them",
       "a: yes\nb: no\nc: on\nd: off\ne: y\nf: N\ng: True\nh: FALSE\ni: Yes\nj: OFF",
       R"({"a":true,"b":false,"c":true,"d":false,"e":true,"f":false,"g":true,"h":false,"i":true,"j":false})"},
      {"quoted scalars stay strings",
       "a: 'yes'\nb: \"on\"\nc: '123'\nd: \"1.5\"\ne: 'null'\nf: ''\ng: \"~\"",
       R"({"a":"yes","b":"on","c":"123","d":"1.5","e":"null","f":"","g":"~"})"},
      {"not booleans in go-yaml v2", "a: yES\nb: tRUE\nc: nil\nd: None",
       R"({"a":"yES","b":"tRUE","c":"nil","d":"None"})"},
      {"integers", "a: 0x1F\nb: 017\nc: 0o17\nd: 0b101\ne: -0b101\nf: 1_000\ng: +5\nh: -0\ni: -42",
       R"({"a":31,"b":15,"c":15,"d":5,"e":-5,"f":1000,"g":5,"h":0,"i":-42})"},
      {"int64 limits", "a: 9223372036854775807\nb: -9223372036854775808\nc: 9223372036854775808",
       R"({"a":9223372036854775807,"b":-9223372036854775808,"c":9223372036854776000})"},
      {"floats", "a: 1.5\nb: 1.\nc: .5\nd: -.5\ne: 1e3\nf: 08\ng: 1_2.5\nh: 6.02e+23\ni: 1.0",
       R"({"a":1.5,"b":1,"c":0.5,"d":-0.5,"e":1000,"f":8,"g":12.5,"h":6.02e+23,"i":1})"},
      {"not numbers", "a: 1e400\nb: 0x\nc: 1.2.3\nd: v1.8.4\ne: 12abc\nf: 0xZZ\ng: '-'\nh: +",
       R"({"a":"1e400","b":"0x","c":"1.2.3","d":"v1.8.4","e":"12abc","f":"0xZZ","g":"-","h":"+"})"},
      {"timestamps stay strings", "a: 2024-01-01\nb: 2001-12-14t21:59:43.10-05:00",
       R"({"a":"2024-01-01","b":"2001-12-14t21:59:43.10-05:00"})"},
      {"block scalars", "a: |\n  line1\n  line2\nb: >\n  folded\n  text\nc: |-\n  keep\n",
       R"({"a":"line1\nline2\n","b":"folded text\n","c":"keep"})"},
      {"double-quoted escapes", "a: \"tab\\there\\u00e9\\n\"", "{\"a\":\"tab\\there\xC3\xA9\\n\"}"},
      {"explicit tags",
       "a: !!str 123\nb: !!int \"42\"\nc: !!float 1\nd: !!bool \"yes\"\ne: !!null ''\n"
       "f: !custom x\ng: !!binary aGk=\nh: !!str true",
       R"({"a":"123","b":42,"c":1,"d":true,"e":null,"f":"x","g":"hi","h":"true"})"},
      {"binary that is not UTF-8 gets U+FFFD", "a: !!binary /w==", "{\"a\":\"\xEF\xBF\xBD\"}"},
      {"merge marker as a value is a string", "a: <<", R"({"a":"\u003c\u003c"})"},
      {"root scalar", "hello", R"("hello")"},
      {"root list", "- 1\n- a\n- [x, {k: v}]", R"([1,"a",["x",{"k":"v"}]])"},
      {"flow mapping that is not JSON", "{a: 1, b: [x, z], c: {d: yes}}",
       R"({"a":1,"b":["x","z"],"c":{"d":true}})"},
      {"y and n are booleans too, even as keys", "[x, y, n]\n", R"(["x",true,false])"},
      {"JSON input", R"({"a": 1, "b": [1.5, "yes", null], "c": {"d": true}})",
       R"({"a":1,"b":[1.5,"yes",null],"c":{"d":true}})"},
      {"UTF-8 BOM",
       "\xEF\xBB\xBF"
       "a: 1",
       R"({"a":1})"},
      {"a Kubernetes object",
       "apiVersion: csdr.io/v1alpha1\nkind: Backup\nmetadata:\n  name: b1\n  namespace: csdr\n"
       "  labels:\n    app: shop\nspec:\n  vaultName: vault1\n  includedNamespaces:\n  - a\n  - b\n"
       "  ttl: 720h0m0s\n",
       R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr","labels":{"app":"shop"}},)"
       R"("spec":{"vaultName":"vault1","includedNamespaces":["a","b"],"ttl":"720h0m0s"}})"},
  });
}

TEST(ParseYaml, KeysBecomeStrings) {
  ExpectDecodes({
      {"int key", "1: a", R"({"1":"a"})"},
      {"hex key", "0x10: a", R"({"16":"a"})"},
      {"bool key from on", "on: push", R"({"true":"push"})"},
      {"bool key from no", "no: x", R"({"false":"x"})"},
      {"float key", "1.5: a", R"({"1.5":"a"})"},
      {"float key with integral value", "1.0: a", R"({"1":"a"})"},
      {"float key in exponent form", "1e6: a", R"({"1e+06":"a"})"},
      {"float key at float32 precision", "123456789.0: a", R"({"1.2345679e+08":"a"})"},
      {"small float key", "0.0001: a", R"({"0.0001":"a"})"},
      {"infinite key", ".inf: a\n-.Inf: b\n.nan: c", R"({".inf":"a","-.inf":"b",".nan":"c"})"},
      {"quoted key stays", "'1': a\n\"on\": b", R"({"1":"a","on":"b"})"},
  });
}

TEST(ParseYaml, AnchorsAndMerges) {
  ExpectDecodes({
      {"alias", "a: &x [1, 2]\nb: *x\nc: &s str\nd: *s",
       R"({"a":[1,2],"b":[1,2],"c":"str","d":"str"})"},
      {"alias as key", "k: &k name\n*k : v", R"({"k":"name","name":"v"})"},
      {"merge after keys overrides them, later keys override merged",
       "base: &b {a: 1, b: 2}\nm:\n  b: 0\n  <<: *b\n  c: 3\n  a: 9",
       R"({"base":{"a":1,"b":2},"m":{"b":2,"a":9,"c":3}})"},
      {"merge sequence: earlier maps win", "x: &x {a: 1}\nz: &z {a: 2, b: 2}\nm:\n  <<: [*x, *z]",
       R"({"x":{"a":1},"z":{"a":2,"b":2},"m":{"a":1,"b":2}})"},
      {"merge inline map", "m: {<<: {a: 1}, b: 2}", R"({"m":{"a":1,"b":2}})"},
      {"quoted << is a key", "m: {'<<': {a: 1}}", R"({"m":{"\u003c\u003c":{"a":1}}})"},
      {"anchor redefined", "a: &x 1\nb: *x\nc: &x 2\nd: *x", R"({"a":1,"b":1,"c":2,"d":2})"},
  });
}

TEST(ParseYaml, Documents) {
  ExpectDecodes({
      {"empty input", "", "null"},
      {"only a comment", "# nothing\n", "null"},
      {"trailing empty document", "a: 1\n---\n", R"({"a":1})"},
      {"leading empty documents", "---\n---\na: 1\n", R"({"a":1})"},
      {"explicit document end", "---\na: 1\n...\n", R"({"a":1})"},
      {"null document ignored", "a: 1\n--- null\n", R"({"a":1})"},
  });
}

TEST(ParseYaml, Errors) {
  struct ErrorCase {
    std::string name;
    std::string yaml;
    std::string message;  // expected prefix of the message
  };
  const std::string p = "error converting YAML to JSON: ";
  const std::vector<ErrorCase> cases = {
      {"syntax", "a: b: c", p + "yaml: line 1, column 5: illegal map value"},
      {"unclosed flow", "a: [1, 2", p + "yaml: line 1, column"},
      {"bad indentation", "a:\n  b: 1\n c: 2", p + "yaml: line"},
      {"unknown alias", "x: *nope",
       p + "yaml: line 1, column 4: the referenced anchor is not defined"},
      {"recursive alias", "a: &x [1, *x]", p + "yaml: line 1: anchor 'x' value contains itself"},
      {"NaN value", "a: .nan", p + "json: unsupported value: NaN"},
      {"infinite value", "a: [-.inf]", p + "json: unsupported value: -Inf"},
      {"null key", "~: 1", p + "yaml: line 1: unsupported map key of type: <nil>"},
      {"empty key", ": 1", p + "yaml: "},
      {"uint64 key", "18446744073709551615: a",
       p + "yaml: line 1: unsupported map key of type: uint64"},
      {"mapping key", "? {a: 1}\n: 2", p + "yaml: line 1: invalid map key"},
      {"sequence key", "? [1]\n: 2", p + "yaml: line 1: invalid map key"},
      {"alias to a mapping as key", "a: &m {b: 1}\n*m : 2", p + "yaml: line 2: invalid map key"},
      {"tag mismatch", "a: !!int abc", p + "yaml: line 1: cannot decode !!str `abc` as a !!int"},
      {"tag mismatch bool", "a: !!bool 1", p + "yaml: line 1: cannot decode !!int `1` as a !!bool"},
      {"bad base64", "a: !!binary '!!!'",
       p + "yaml: line 1: !!binary value contains invalid base64 data"},
      {"merge of a scalar", "<<: 1",
       p + "yaml: line 1: map merge requires map or sequence of maps as the value"},
      {"merge of a list of scalars", "<<: [1]",
       p + "yaml: line 1: map merge requires map or sequence"},
      {"control character", "a: \x01", p + "yaml: control characters are not allowed"},
      {"NUL byte", std::string("a: b\0", 5), p + "yaml: control characters are not allowed"},
      {"DEL", "a: \x7f", p + "yaml: control characters are not allowed"},
      {"C1 control", "a: \xC2\x80", p + "yaml: control characters are not allowed"},
      {"invalid UTF-8", "a: \xFF", p + "yaml: invalid UTF-8 at byte offset 3"},
      {"UTF-16",
       "\xFF\xFE"
       "a\0:\0",
       p + "yaml: invalid UTF-8 at byte offset 0"},
      {"two documents", "a: 1\n---\nb: 2",
       p + "yaml: the stream has more than one non-empty document"},
      {"invalid JSON falls back to YAML and fails there", R"({"a": [})",
       p + "yaml: line 1, column"},
      {"stray comma at document level (yaml-cpp would loop)", ",a",
       p + "yaml: line 1, column 1: did not find expected node content"},
      {"stray comma after a document", "a\n...\n,",
       p + "yaml: line 3, column 1: did not find expected node content"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name + ": " + c.yaml);
    StatusOr<json::Value> v = ParseYaml(c.yaml);
    ASSERT_FALSE(v.ok()) << json::Serialize(*v);
    EXPECT_EQ(v.status().code(), Code::kBadRequest);
    EXPECT_EQ(v.status().message().substr(0, c.message.size()), c.message) << v.status().message();
  }
}

std::string NestedBlockMaps(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += std::string(static_cast<size_t>(i) * 2, ' ') + "a:\n";
  s += std::string(static_cast<size_t>(depth) * 2, ' ') + "leaf";
  return s;
}

TEST(ParseYaml, DepthLimit) {
  struct DepthCase {
    std::string name;
    std::string yaml;
    bool ok;
  };
  // NestedBlockMaps(n) is n mappings nested in one another, the innermost holding a scalar.
  const std::vector<DepthCase> cases = {
      {"block maps at the limit", NestedBlockMaps(100), true},
      {"block maps past the limit", NestedBlockMaps(101), false},
      {"flow at the limit", std::string(100, '[') + std::string(100, ']'), true},
      {"flow past the limit", std::string(101, '[') + std::string(101, ']'), false},
      {"flow YAML past the limit", "a: " + std::string(100, '[') + std::string(100, ']'), false},
      {"huge flow nesting", std::string(40000, '['), false},
      {"alias pushes past the limit",
       "x: &d " + std::string(60, '[') + std::string(60, ']') + "\ny: " + std::string(40, '[') +
           "*d" + std::string(40, ']'),
       false},
      {"alias within the limit",
       "x: &d " + std::string(50, '[') + std::string(50, ']') + "\ny: " + std::string(40, '[') +
           "*d" + std::string(40, ']'),
       true},
  };
  for (const DepthCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto start = std::chrono::steady_clock::now();
    StatusOr<json::Value> v = ParseYaml(c.yaml);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    EXPECT_EQ(v.ok(), c.ok) << (v.ok() ? "" : v.status().message());
    if (!v.ok() && c.name != "huge flow nesting") {
      EXPECT_NE(v.status().message().find("exceeded max depth of 100"), std::string::npos)
          << v.status().message();
    }
  }
}

TEST(ParseYaml, AliasBombIsRefusedQuickly) {
  // The "billion laughs": 9^9 strings if expanded.
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
  }
  const auto start = std::chrono::steady_clock::now();
  StatusOr<json::Value> v = ParseYaml(bomb);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kBadRequest);
  EXPECT_EQ(v.status().message(),
            "error converting YAML to JSON: yaml: document contains excessive aliasing");
  EXPECT_LT(elapsed, std::chrono::milliseconds(200));
}

TEST(ParseYaml, NodeBudget) {
  // A wide alias fan-out that stays under go-yaml's ratio still hits max_nodes.
  std::string doc = "base: &b [";
  for (int i = 0; i < 3000; ++i) doc += std::string(i ? "," : "") + "x";
  doc += "]\nc1: *b\nc2: *b\nc3: *b\n";
  YamlOptions options;
  options.max_nodes = 10'000;
  StatusOr<json::Value> v = ParseYaml(doc, options);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("more than 10000 nodes"), std::string::npos)
      << v.status().message();

  // Without aliases too.
  options.max_nodes = 10;
  v = ParseYaml("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n# not JSON", options);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("more than 10 nodes"), std::string::npos);

  // A normal document with a few aliases is fine under the defaults.
  v = ParseYaml(doc);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->Find("c3")->size(), 3000u);
}

TEST(ParseYaml, FlowIndicatorLimit) {
  std::string flow = "a: [";
  for (int i = 0; i < 60000; ++i) flow += "1,";
  flow += "1]";
  StatusOr<json::Value> v = ParseYaml(flow);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("flow-style indicators"), std::string::npos)
      << v.status().message();

  // The same data as JSON takes the JSON parser and is accepted.
  v = ParseYaml(R"({"a":)" + flow.substr(3) + "}");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->Find("a")->size(), 60001u);
}

TEST(ParseYaml, CollectsDuplicateKeys) {
  std::vector<std::string> dups;
  YamlOptions options;
  options.duplicate_fields = &dups;
  StatusOr<json::Value> v = ParseYaml(
      "a: 1\nb:\n  c: 1\n  c: 2\na: 3\nl:\n- x: 1\n  x: 2\nm: {<<: {k: 1}, k: 2}\n", options);
  ASSERT_TRUE(v.ok()) << v.status().message();
  // A key set over a merged one counts, as in go-yaml v2's strict mode.
  EXPECT_EQ(dups, (std::vector<std::string>{".b.c", ".a", ".l[0].x", ".m.k"}));
  EXPECT_EQ(json::Serialize(*v), R"({"a":3,"b":{"c":2},"l":[{"x":2}],"m":{"k":2}})");

  // Large mappings (indexed) and the JSON path report too.
  dups.clear();
  std::string big;
  for (int i = 0; i < 100; ++i) big += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  big += "k42: again\n";
  v = ParseYaml(big, options);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(dups, (std::vector<std::string>{".k42"}));
  EXPECT_EQ(v->Find("k42")->as_string(), "again");
  dups.clear();
  v = ParseYaml(R"({"a":1,"a":2})", options);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(dups, (std::vector<std::string>{".a"}));
}

TEST(ParseYaml, GarbageNeverCrashes) {
  // yaml-cpp reports errors by exception; whatever it throws must come back as a Status.
  const std::string alphabet = "ab: -?[]{},&*!|>'\"%@`#\n\t  0.~<=\\\xC3\xA9";
  std::mt19937 rng(12345);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc;
    const size_t len = rng() % 40;
    for (size_t k = 0; k < len; ++k) doc += alphabet[rng() % alphabet.size()];
    StatusOr<json::Value> v = ParseYaml(doc);
    if (v.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(v.status().message().rfind("error converting YAML to JSON: ", 0), 0u) << doc;
    }
  }
  EXPECT_GT(ok, 0);
}

TEST(LooksLikeJson, FirstNonSpaceByte) {
  struct LCase {
    std::string text;
    bool json;
  };
  const std::vector<LCase> cases = {
      {"{}", true},   {"  \n\t{\"a\":1}", true},
      {"[1]", true},  {"a: 1", false},
      {"", false},    {"   ", false},
      {"# {", false}, {"\"{\"", false},
  };
  for (const LCase& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(LooksLikeJson(c.text), c.json);
  }
}

}  // namespace
}  // namespace csdr
