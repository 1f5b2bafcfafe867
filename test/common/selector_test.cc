#include "common/selector.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace csdr {
namespace {

json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? std::move(v).value() : json::Value();
}

TEST(ParseLabelSelector, CanonicalForms) {
  struct Case {
    std::string in, canonical;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {" \t\n", ""},
      {"app=shop", "app=shop"},
      {"app==shop", "app==shop"},
      {"  app = shop ,  tier != gold ", "app=shop,tier!=gold"},
      {"tier!=gold,app=shop", "app=shop,tier!=gold"},  // sorted by key
      {"app in (shop,web)", "app in (shop,web)"},
      {"app in (web, shop, web)", "app in (shop,web)"},  // a set: sorted, unique
      {"tier notin (gold)", "tier notin (gold)"},
      {"tier", "tier"},
      {"!tier", "!tier"},
      {"! tier", "!tier"},
      {"x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"},  // upstream's example
      {"x in (,a)", "x in (,a)"},
      {"x in (a,)", "x in (,a)"},
      {"a=", "a="},
      {"a=,b", "a=,b"},
      {"n>3", "n>3"},
      {"n<3", "n<3"},
      {"in in (in,notin)", "in in (in,notin)"},  // keywords are values in the values context
      {"a=in", "a=in"},
      {"example.com/app=x", "example.com/app=x"},
      {std::string("a=b\0", 4), "a=b"},  // upstream's lexer reads a NUL as the end of a token
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.in + "'");
    StatusOr<LabelSelector> s = ParseLabelSelector(c.in);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->String(), c.canonical);
    EXPECT_EQ(s->empty(), c.canonical.empty());
  }
}

TEST(ParseLabelSelector, UpstreamErrors) {
  const std::string name_part_regex =
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
      "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  struct Case {
    std::string in, message;
  };
  const std::vector<Case> cases = {
      // kube-captures/20 and 29, byte for byte.
      {"app in (shop", "unable to parse requirement: found '', expected: ',' or ')'"},
      {"a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"},
      {"app=-bad-",
       "unable to parse requirement: values[0][app]: Invalid value: \"-bad-\": a valid label must "
       "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
       "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
       "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
      {"app in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"},
      // The other parser paths.
      {"a,", "found '', expected: identifier after ','"},
      {"a,,b", "found ',', expected: identifier after ','"},
      {"a=b c", "found 'c', expected: ',' or 'end of string'"},
      {std::string("a=b\0c=d", 7), "found 'c', expected: ',' or 'end of string'"},
      {"!a=b", "found '=', expected: ',' or 'end of string'"},
      {"=a", "found '=', expected: !, identifier, or 'end of string'"},
      {"(a)", "found '(', expected: !, identifier, or 'end of string'"},
      {"!", "unable to parse requirement: found '', expected: identifier"},
      {"!!a", "unable to parse requirement: found '!', expected: identifier"},
      {"a in b", "unable to parse requirement: found 'b' expected: '('"},
      {"a=(b)", "unable to parse requirement: found '(', expected: identifier"},
      {"a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"},
      {"a in (x=)", "unable to parse requirement: found '=', expected: ',' or ')'"},
      {"a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
      {"-bad", "unable to parse requirement: : Invalid value: \"-bad\": " + name_part_regex},
      {"/a=b",
       "unable to parse requirement: : Invalid value: \"/a\": prefix part must be non-empty"},
      {"n>abc",
       "unable to parse requirement: values[0]: Invalid value: \"abc\": for 'Gt', 'Lt' operators, "
       "the value must be an integer"},
      {"a=" + std::string(64, 'x'), "unable to parse requirement: values[0][a]: Invalid value: \"" +
                                        std::string(64, 'x') +
                                        "\": must be no more than 63 characters"},
      {"a in (-x,-y)",
       "unable to parse requirement: [values[0][a]: Invalid value: \"-x\": a valid label must be "
       "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
       "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
       "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), values[1][a]: "
       "Invalid value: \"-y\": a valid label must be an empty string or consist of alphanumeric "
       "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
       "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.in + "'");
    StatusOr<LabelSelector> s = ParseLabelSelector(c.in);
    ASSERT_FALSE(s.ok()) << s->String();
    EXPECT_EQ(s.status().code(), Code::kBadRequest);
    EXPECT_EQ(s.status().message(), c.message);
  }
}

TEST(LabelSelector, Matches) {
  const json::Value labels = J(R"({"app":"shop","tier":"gold","n":"5","empty":""})");
  struct Case {
    std::string selector;
    bool with_labels;     // against `labels`
    bool without_labels;  // against an object with no labels (nullptr)
  };
  const std::vector<Case> cases = {
      {"", true, true},
      {"app=shop", true, false},
      {"app==shop", true, false},
      {"app=web", false, false},
      {"app!=web", true, true},
      {"app!=shop", false, true},
      {"app in (web,shop)", true, false},
      {"app in (web)", false, false},
      {"app notin (web)", true, true},
      {"app notin (shop)", false, true},
      {"tier", true, false},
      {"!tier", false, true},
      {"missing", false, false},
      {"!missing", true, true},
      {"empty=", true, false},
      {"missing=", false, false},  // an absent key is not an empty value
      {"app=shop,tier!=gold", false, false},
      {"app=shop,tier!=silver", true, false},
      {"n>4", true, false},
      {"n>5", false, false},
      {"n<6", true, false},
      {"app>1", false, false},  // not an integer
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.selector);
    StatusOr<LabelSelector> s = ParseLabelSelector(c.selector);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->Matches(&labels), c.with_labels);
    EXPECT_EQ(s->Matches(nullptr), c.without_labels);
    const json::Value empty_labels = json::Value::MakeObject();
    EXPECT_EQ(s->Matches(&empty_labels), c.without_labels);
  }
}

TEST(LabelSelectorFromJson, Conversions) {
  struct Case {
    std::string json;
    std::string canonical;  // String() of the result, or the error message
    bool ok;
  };
  const std::string key_regex =
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
      "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  const std::vector<Case> cases = {
      {"{}", "", true},
      {R"({"matchLabels":{},"matchExpressions":[]})", "", true},
      {R"({"matchLabels":null})", "", true},
      {R"({"matchLabels":{"tier":"gold","app":"shop"},"matchExpressions":[
           {"key":"env","operator":"DoesNotExist"},
           {"key":"zone","operator":"In","values":["b","a"]},
           {"key":"x","operator":"NotIn","values":["1"]},
           {"key":"y","operator":"Exists","values":[]}]})",
       "app=shop,!env,tier=gold,x notin (1),y,zone in (a,b)", true},
      {R"({"matchExpressions":[{"key":"a","operator":"Foo"}]})",
       "\"Foo\" is not a valid label selector operator", false},
      {R"({"matchExpressions":[{"key":"a","operator":"in","values":["x"]}]})",
       "\"in\" is not a valid label selector operator", false},
      {R"({"matchExpressions":[null]})", "\"\" is not a valid label selector operator", false},
      {R"({"matchExpressions":[{"key":"a","operator":"In"}]})",
       "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
       false},
      {R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})",
       "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist",
       false},
      {R"({"matchLabels":{"bad key":"x"}})", "key: Invalid value: \"bad key\": " + key_regex,
       false},
      {R"({"matchLabels":{"a":"-x"}})",
       "values[0][a]: Invalid value: \"-x\": a valid label must be an empty string or consist of "
       "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
       "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
       false},
      {R"({"matchExpressions":[{"key":"-a","operator":"NotIn"}]})",
       "[key: Invalid value: \"-a\": " + key_regex +
           ", values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty]",
       false},
      {R"({"matchLabels":["a"]})",
       "json: cannot unmarshal array into Go struct field LabelSelector.matchLabels of type "
       "map[string]string",
       false},
      {R"({"matchLabels":{"a":1}})",
       "json: cannot unmarshal number into Go struct field LabelSelector.matchLabels of type "
       "string",
       false},
      {R"("app=shop")", "json: cannot unmarshal string into Go value of type v1.LabelSelector",
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    StatusOr<LabelSelector> s = LabelSelectorFromJson(J(c.json));
    ASSERT_EQ(s.ok(), c.ok) << (s.ok() ? s->String() : s.status().message());
    if (s.ok()) {
      EXPECT_EQ(s->String(), c.canonical);
      EXPECT_FALSE(s->matches_nothing());
    } else {
      EXPECT_EQ(s.status().code(), Code::kBadRequest);
      EXPECT_EQ(s.status().message(), c.canonical);
    }
  }

  // null is labels.Nothing(): it matches no object at all; {} matches every object.
  StatusOr<LabelSelector> nothing = LabelSelectorFromJson(json::Value());
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->matches_nothing());
  EXPECT_FALSE(nothing->empty());
  EXPECT_FALSE(nothing->Matches(nullptr));
  StatusOr<LabelSelector> everything = LabelSelectorFromJson(J("{}"));
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->Matches(nullptr));

  const json::Value labels = J(R"({"app":"shop","zone":"a"})");
  StatusOr<LabelSelector> s = LabelSelectorFromJson(J(R"({"matchLabels":{"app":"shop"},
      "matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]},{"key":"env","operator":"DoesNotExist"}]})"));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches(&labels));
  const json::Value other = J(R"({"app":"shop","zone":"c"})");
  EXPECT_FALSE(s->Matches(&other));
}

TEST(ParseFieldSelector, Terms) {
  struct Case {
    std::string in, canonical;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"metadata.name=b1", "metadata.name=b1"},
      {"metadata.name==b1", "metadata.name=b1"},
      // Terms are sorted, as upstream sorts them.
      {"metadata.namespace=csdr,metadata.name!=b1", "metadata.name!=b1,metadata.namespace=csdr"},
      {"a=b\\,c", "a=b\\,c"},
      {"a=b\\=c\\\\", "a=b\\=c\\\\"},
      {"a=", "a="},
      {"=b", "=b"},
      {"=", ""},   // neither field nor value: dropped
      {",,", ""},  // empty terms are skipped
      {"a=!b", "a=!b"},
      {"status.phase!=", "status.phase!="},
      // Sorted by canonical form, so that String() parses back to itself (a fuzz finding:
      // "a==" sorted before "a=" as written, after it once both were written "a=").
      {"meia==,meia=\x07", "meia=,meia=\x07"},
      {"a.b==x,a=y,a==", "a=,a=y,a.b=x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    StatusOr<FieldSelector> s = ParseFieldSelector(c.in);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->String(), c.canonical);
  }

  StatusOr<FieldSelector> s = ParseFieldSelector("spec.vaultName=v\\,1,metadata.name!=b1");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->Requirements().size(), 2u);
  EXPECT_EQ(s->Requirements()[0].field, "metadata.name");
  EXPECT_EQ(s->Requirements()[0].op, SelectorOp::kNotEquals);
  EXPECT_EQ(s->Requirements()[1].field, "spec.vaultName");
  EXPECT_EQ(s->Requirements()[1].value, "v,1");
  EXPECT_EQ(s->RequiresExactMatch("spec.vaultName"), "v,1");
  EXPECT_EQ(s->RequiresExactMatch("metadata.name"), std::nullopt);
}

TEST(ParseFieldSelector, UpstreamErrors) {
  struct Case {
    std::string in, message;
  };
  const std::vector<Case> cases = {
      {"metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"},
      {"a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
      {"a=b=c", "invalid field selector: unescaped character in value: 61"},
      {"a=b\\x", "invalid field selector: invalid escape sequence: \\x"},
      {"a=b\\\xC3\xA9", "invalid field selector: invalid escape sequence: \\\xC3\xA9"},
      {"a=b\\", "invalid field selector: invalid escape sequence: \\"},
      // A lead byte without its continuation bytes is one byte (Go decodes it as U+FFFD of
      // width 1), so the '=' after it is seen (finding F2).
      {"a=\xE9=x", "invalid field selector: unescaped character in value: 61"},
      {"a=\xF0\x9F=", "invalid field selector: unescaped character in value: 61"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    StatusOr<FieldSelector> s = ParseFieldSelector(c.in);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kBadRequest);
    EXPECT_EQ(s.status().message(), c.message);
  }
}

TEST(FieldSelector, Matches) {
  const std::map<std::string, std::string, std::less<>> fields = {
      {"metadata.name", "b1"}, {"metadata.namespace", "csdr"}, {"status.phase", ""}};
  auto get = [&](std::string_view f) -> std::optional<std::string> {
    auto it = fields.find(f);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  };
  struct Case {
    std::string selector;
    bool match;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"metadata.name=b1", true},
      {"metadata.name==b1", true},
      {"metadata.name=b2", false},
      {"metadata.name!=b1", false},
      {"metadata.namespace=csdr,metadata.name!=b2", true},
      {"metadata.namespace=csdr,metadata.name!=b1", false},
      {"status.phase=", true},
      {"spec.unknown=", true},  // unknown fields read as "", as fields.Set.Get does
      {"spec.unknown!=", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.selector);
    StatusOr<FieldSelector> s = ParseFieldSelector(c.selector);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->Matches(get), c.match);
  }
  EXPECT_EQ(EscapeFieldValue("a\\b,c=d"), "a\\\\b\\,c\\=d");
}

}  // namespace
}  // namespace csdr
