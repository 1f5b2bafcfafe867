#include "common/json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "test/common/json_identical.h"

namespace csdr::json {
namespace {

Value MustParse(std::string_view text) {
  StatusOr<Value> v = Parse(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().message();
  return v.ok() ? std::move(v).value() : Value();
}

TEST(JsonParse, RoundTripsCompactly) {
  struct Case {
    std::string in;
    std::string out;  // compact serialization of the parsed value
  };
  const std::vector<Case> cases = {
      {R"({"a":1,"b":[true,false,null],"c":"x"})", R"({"a":1,"b":[true,false,null],"c":"x"})"},
      {"  {\n \"z\" : 1 , \"a\" : 2 }\n ", R"({"z":1,"a":2})"},  // order kept, whitespace dropped
      {"[]", "[]"},
      {"{}", "{}"},
      {R"("a\"b\\c\/d\n\t\u0001")", R"("a\"b\\c/d\n\t\u0001")"},
      {R"("\u00e9\ud83d\ude00")", "\"\xC3\xA9\xF0\x9F\x98\x80\""},  // escapes decode to UTF-8
      {"\"\xC3\xA9\"", "\"\xC3\xA9\""},                             // UTF-8 passes through
      {"0", "0"},
      {"-1", "-1"},
      {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-9223372036854775808"},
      // Doubles print as Go's encoding/json prints float64.
      {"1.0", "1"},
      {"1.5", "1.5"},
      {"-2.50", "-2.5"},
      {"1e2", "100"},
      {"0.1", "0.1"},
      {"0.000001", "0.000001"},
      {"1e-7", "1e-7"},
      {"1.5e-10", "1.5e-10"},
      {"1e20", "100000000000000000000"},
      {"1e21", "1e+21"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"9223372036854775808", "9223372036854776000"},  // past int64: a double, Go's digits
      {"123456789012345678901234567890", "1.2345678901234568e+29"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    Value v = MustParse(c.in);
    EXPECT_EQ(Serialize(v), c.out);
    // What we write reads back to an equal value.
    EXPECT_EQ(MustParse(Serialize(v)), v);
  }
}

TEST(JsonParse, NumberTypes) {
  struct Case {
    std::string in;
    Type type;
  };
  const std::vector<Case> cases = {
      {"0", Type::kInt},
      {"-0", Type::kInt},
      {"4294967296", Type::kInt},
      {"9223372036854775807", Type::kInt},
      {"-9223372036854775808", Type::kInt},
      {"9223372036854775808", Type::kDouble},
      {"18446744073709551616", Type::kDouble},
      {"-9223372036854775809", Type::kDouble},
      {"1.0", Type::kDouble},
      {"1e3", Type::kDouble},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(MustParse(c.in).type(), c.type);
  }
  EXPECT_EQ(MustParse("9223372036854775807").as_int(), INT64_MAX);
  EXPECT_EQ(MustParse("-9223372036854775808").as_int(), INT64_MIN);
  // Full precision: the nearest double, not an approximation off by an ulp.
  EXPECT_EQ(MustParse("0.30000000000000004").as_double(), 0.1 + 0.2);
  EXPECT_EQ(MustParse("2.2250738585072011e-308").as_double(), 2.2250738585072011e-308);
}

TEST(JsonParse, RejectsMalformedInput) {
  struct Case {
    std::string in;
    std::string message;  // expected message, or a prefix of it
  };
  const std::vector<Case> cases = {
      {"", "invalid JSON at offset 0: The document is empty"},
      {"   ", "invalid JSON at offset 3: The document is empty"},
      {R"({"a":1,})", "invalid JSON at offset 7: Missing a name for object member"},
      {R"({"a" 1})", "invalid JSON at offset 5: Missing a colon after a name of object member"},
      {"[1 2]", "invalid JSON at offset 3: Missing a comma or ']' after an array element"},
      {"{} {}", "invalid JSON at offset 3: The document root must not be followed by other values"},
      {"nul", "invalid JSON at offset"},
      {"NaN", "invalid JSON at offset 0: Invalid value"},
      {"Infinity", "invalid JSON at offset 0: Invalid value"},
      {"-Infinity", "invalid JSON at offset"},
      {"1e400", "invalid JSON at offset 0: Number too big to be stored in double"},
      {"01", "invalid JSON at offset 1"},
      {"'a'", "invalid JSON at offset 0: Invalid value"},
      {"{\"a\":1 // c\n}", "invalid JSON at offset"},
      {"[1,]", "invalid JSON at offset"},
      {"\"abc", "invalid JSON at offset"},
      {"\"a\tb\"", "invalid JSON at offset"},  // raw control character in a string
      {R"("\x")", "invalid JSON at offset"},
      {R"("\ud800")", "invalid JSON at offset"},  // lone high surrogate
      // Invalid UTF-8 inside strings is refused, not passed on.
      {"\"\xFF\"", "invalid JSON at offset 1: Invalid encoding in string"},
      {"\"\xC3\"", "invalid JSON at offset"},          // truncated sequence
      {"\"\xC0\xAF\"", "invalid JSON at offset"},      // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid JSON at offset"},  // encoded surrogate
      {"{\"\xFE\":1}", "invalid JSON at offset"},      // in a key too
      {std::string("{}\0{}", 5),
       "invalid JSON at offset 2: unexpected data after the top-level value"},
      {std::string("\"a\0b\"", 5), "invalid JSON at offset"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    StatusOr<Value> v = Parse(c.in);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), Code::kBadRequest);
    EXPECT_EQ(v.status().message().substr(0, c.message.size()), c.message) << v.status().message();
  }
}

TEST(JsonParse, LoneLowSurrogateEscapeBecomesReplacementCharacter) {
  // As Go's decoder does; the stored string must stay valid UTF-8.
  EXPECT_EQ(MustParse(R"("a\udc00b")").as_string(),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(MustParse(R"({"\udfff":1})").object()[0].first, "\xEF\xBF\xBD");
}

std::string Nested(int depth, std::string_view open, std::string_view close,
                   std::string_view leaf = "") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += leaf;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

TEST(JsonParse, EnforcesMaxDepth) {
  struct Case {
    std::string name;
    std::string in;
    int max_depth;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"arrays at the default limit", Nested(100, "[", "]"), 100, true},
      {"arrays past the default limit", Nested(101, "[", "]"), 100, false},
      {"objects at the limit", Nested(100, "{\"a\":", "}", "1"), 100, true},
      {"objects past the limit", Nested(101, "{\"a\":", "}", "1"), 100, false},
      {"mixed past a small limit", R"({"a":[{"b":[1]}]})", 3, false},
      {"mixed at a small limit", R"({"a":[{"b":[1]}]})", 4, true},
      {"scalars have depth 0", "1", 0, true},
      {"one level over zero", "[]", 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ParseOptions options;
    options.max_depth = c.max_depth;
    StatusOr<Value> v = Parse(c.in, options);
    EXPECT_EQ(v.ok(), c.ok) << (v.ok() ? "" : v.status().message());
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), Code::kBadRequest);
      EXPECT_NE(v.status().message().find("maximum depth of " + std::to_string(c.max_depth)),
                std::string::npos)
          << v.status().message();
    }
  }
}

TEST(JsonParse, HugeNestingFailsFastWithoutRecursion) {
  // 10 million brackets: a recursive parser would overflow the stack long before the end.
  const std::string deep(10'000'000, '[');
  const auto start = std::chrono::steady_clock::now();
  StatusOr<Value> v = Parse(deep);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(),
            "invalid JSON at offset 100: nesting exceeds the maximum depth of 100");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(JsonParse, CollectsDuplicateKeysLastWins) {
  std::vector<std::string> dups;
  ParseOptions options;
  options.duplicate_fields = &dups;
  StatusOr<Value> v = Parse(
      R"({"a":1,"b":{"c":1,"c":{"d":2}},"a":3,"l":[0,{"x":1,"x":2}],"m":{"n":[{"o":{"p":1,"p":2}}]}})",
      options);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(dups, (std::vector<std::string>{".b.c", ".a", ".l[1].x", ".m.n[0].o.p"}));
  EXPECT_EQ(Serialize(*v),
            R"({"a":3,"b":{"c":{"d":2}},"l":[0,{"x":2}],"m":{"n":[{"o":{"p":2}}]}})");

  // Without a collector the same input parses to the same value.
  EXPECT_EQ(MustParse(R"({"a":1,"a":2})"), MustParse(R"({"a":2})"));
}

TEST(JsonParse, DuplicateDetectionInLargeObjects) {
  // Past the indexing threshold, detection must still find every duplicate.
  std::string text = "{";
  for (int i = 0; i < 1000; ++i)
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k5\":-5,\"k999\":-999,\"k500\":-500}";
  std::vector<std::string> dups;
  ParseOptions options;
  options.duplicate_fields = &dups;
  StatusOr<Value> v = Parse(text, options);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(dups, (std::vector<std::string>{".k5", ".k999", ".k500"}));
  EXPECT_EQ(v->size(), 1000u);
  EXPECT_EQ(v->Find("k5")->as_int(), -5);
  EXPECT_EQ(v->Find("k999")->as_int(), -999);
  EXPECT_EQ(v->object()[500].first, "k500");
  EXPECT_EQ(v->object()[500].second.as_int(), -500);
}

const Fields kInnerFields{{{"c"}, {"list"}}};
const Fields kKeepFields{{{"a"}, {"inner", &kInnerFields}, {"z"}}};

TEST(JsonParse, KeepBuildsOnlyTheNamedMembers) {
  ParseOptions options;
  options.keep = &kKeepFields;
  // Skipped values of every shape, before, between and after kept ones; a kept member with a
  // field table whose value is not an object, and one whose value is an array of objects.
  StatusOr<Value> v = Parse(
      R"({"s":"x","a":1,"o":{"p":[1,{"q":[[],{}]}],"r":null},"inner":{"b":2,"c":{"d":3},)"
      R"("e":[{"c":1}],"list":[{"c":1,"x":2}]},"n":-1.5e3,"t":true,"z":[{"a":1,"y":2}],"u":[]})",
      options);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(Serialize(*v),
            R"({"a":1,"inner":{"c":{"d":3},"list":[{"c":1,"x":2}]},"z":[{"a":1,"y":2}]})");

  // A kept name whose value is a scalar, with a table for an object it is not.
  StatusOr<Value> scalar = Parse(R"({"inner":"text","b":{}})", options);
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(Serialize(*scalar), R"({"inner":"text"})");
  // The table applies to objects at the root only; an array root is kept whole.
  StatusOr<Value> array = Parse(R"([{"b":1}])", options);
  ASSERT_TRUE(array.ok());
  EXPECT_EQ(Serialize(*array), R"([{"b":1}])");
  // Duplicates of a kept member: the last wins, as without a table.
  StatusOr<Value> dup = Parse(R"({"a":1,"x":{"a":0},"a":2})", options);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(Serialize(*dup), R"({"a":2})");
}

TEST(JsonParse, KeepStillChecksWhatItSkips) {
  ParseOptions options;
  options.keep = &kKeepFields;
  options.max_depth = 5;
  struct Case {
    std::string name;
    std::string in;
    std::string error;  // "" when it parses
  };
  const std::vector<Case> cases = {
      {"grammar in a skipped value", R"({"s":{"p":[1,]},"a":1})", "invalid JSON at offset"},
      {"number out of range in a skipped value", R"({"s":[1e400],"a":1})", "Number too big"},
      {"depth inside a skipped value", R"({"s":[[[[[1]]]]]})", "maximum depth of 5"},
      {"depth just within the limit", R"({"s":[[[[1]]]]})", ""},
      {"trailing data", R"({"s":1} x)", "must not be followed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<Value> kept = Parse(c.in, options);
    ParseOptions plain_options;
    plain_options.max_depth = options.max_depth;
    StatusOr<Value> plain = Parse(c.in, plain_options);
    EXPECT_EQ(kept.ok(), c.error.empty());
    EXPECT_EQ(kept.ok(), plain.ok());  // the same verdict as a full parse
    if (!kept.ok()) {
      EXPECT_NE(kept.status().message().find(c.error), std::string::npos)
          << kept.status().message();
      EXPECT_EQ(kept.status().message(), plain.status().message());
    }
  }
  // Invalid UTF-8 in a skipped string is refused as in a kept one.
  EXPECT_FALSE(Parse("{\"s\":\"\xff\"}", options).ok());
}

// Equal in every respect a reader of the tree could see (json_identical.h).
::testing::AssertionResult Identical(const Value& a, const Value& b) {
  const std::string difference = testing::FirstDifference(a, b);
  if (difference.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << difference;
}

TEST(JsonParse, SimdPathDecidesAsTheReader) {
  std::string many = "{";  // past the 16 members where duplicates go through an index
  for (int i = 0; i < 40; ++i)
    many += "\"k" + std::to_string(i % 25) + "\":" + std::to_string(i) + ",";
  many += "\"last\":[]}";
  const std::vector<std::string> inputs = {
      R"({"a":1,"b":-0,"c":-0.0,"d":1.0,"e":1e2,"f":9223372036854775807,"g":-9223372036854775808})",
      R"([9223372036854775808,18446744073709551615])",  // simdjson's uint64: doubles here
      R"([9223372036854775808,18446744073709551615,18446744073709551616,-9223372036854775809])",
      R"([1e-400,-1e-400,0.1e-320,4.9e-324,2.2250738585072014e-308,1e308,1e400])",
      R"([-1e400])",
      R"(["\u0000","\ud83d\ude00","\u00e9","é","\udc00","x\ud800"])",
      R"(["\ud800"])",
      R"(["\ud800\u0041"])",
      R"({"\u0061":1,"a":2,"b":{"x":1,"x":[2]},"b":3})",
      "[\"tab\there\"]",
      "[\"raw\x01\"]",
      "\t[1,\n2]\r\n ",
      " {\"a\" : [ 1 , 2 ] } ",
      "\xEF\xBB\xBF[1]",
      "[\"\xff\"]",
      "[\"\xed\xa0\x80\"]",
      "[\"\xc0\xaf\"]",
      "[1] x",
      "[1]\x00",
      "",
      "   ",
      "1",
      "\"s\"",
      "null",
      "[tru]",
      "[01]",
      "[1.]",
      "{\"a\":}",
      many,
      "[1" + std::string(400, '0') + "e-300]",  // the reader refuses it, simdjson would not
      "[0e2112,0.0,-0.0]",                      // likewise the first
      R"({"skipped":[0e2112],"a":1})",          // also where a keep table skips it
      std::string(100, '[') + std::string(100, ']'),
      std::string(101, '[') + std::string(101, ']'),
      R"({"s":{"p":[1,{"q":[[],{}]}]},"a":{"b":[{"c":1}],"x":2},"inner":{"c":1,"z":2},"a":{"b":3}})",
  };
  const ParseOptions* tables[] = {nullptr, nullptr};
  ParseOptions keep;
  keep.keep = &kKeepFields;
  tables[1] = &keep;
  for (const ParseOptions* base : tables) {
    for (const std::string& in : inputs) {
      SCOPED_TRACE(::testing::Message() << (base ? "keep: " : "") << in.substr(0, 80));
      ParseOptions reader = base ? *base : ParseOptions{};
      ParseOptions simd = reader;
      simd.simd = true;
      StatusOr<Value> a = Parse(in, reader);
      StatusOr<Value> b = Parse(in, simd);
      ASSERT_EQ(a.ok(), b.ok()) << (a.ok() ? b.status().message() : a.status().message());
      if (!a.ok()) {
        EXPECT_EQ(a.status().message(), b.status().message());
        EXPECT_EQ(a.status().code(), b.status().code());
        continue;
      }
      EXPECT_TRUE(Identical(*a, *b));
    }
  }
  // The depth limit is the reader's, whatever it is set to.
  for (int depth : {1, 2, 5, 600}) {
    for (int nesting : {depth - 1, depth, depth + 1}) {
      ParseOptions reader;
      reader.max_depth = depth;
      ParseOptions simd = reader;
      simd.simd = true;
      const std::string in = std::string(nesting, '[') + std::string(nesting, ']');
      SCOPED_TRACE(::testing::Message() << "depth " << depth << ", nesting " << nesting);
      StatusOr<Value> a = Parse(in, reader);
      StatusOr<Value> b = Parse(in, simd);
      ASSERT_EQ(a.ok(), b.ok());
      if (!a.ok()) {
        EXPECT_EQ(a.status().message(), b.status().message());
      }
    }
  }
}

TEST(JsonSerialize, PrettyUsesTwoSpacesLikeMarshalIndent) {
  Value v = MustParse(R"({"a":[1,{}],"b":{},"c":[],"d":{"e":"f","g":null},"h":1.5})");
  EXPECT_EQ(Serialize(v, /*pretty=*/true),
            "{\n"
            "  \"a\": [\n"
            "    1,\n"
            "    {}\n"
            "  ],\n"
            "  \"b\": {},\n"
            "  \"c\": [],\n"
            "  \"d\": {\n"
            "    \"e\": \"f\",\n"
            "    \"g\": null\n"
            "  },\n"
            "  \"h\": 1.5\n"
            "}");
  EXPECT_EQ(Serialize(Value(7), true), "7");
}

TEST(JsonSerialize, BuiltValues) {
  Value v;
  v["kind"] = "Status";
  v["code"] = 404;
  v["ratio"] = 0.5;
  v["whole"] = 3.0;
  v["nan"] = std::nan("");
  v["list"].PushBack(true);
  v["list"].PushBack(Value());
  v["empty"] = Value::MakeObject();
  v["ctl"] = std::string("\x01\x1f\x7f", 3);
  EXPECT_EQ(Serialize(v),
            R"({"kind":"Status","code":404,"ratio":0.5,"whole":3,"nan":null,"list":[true,null],)"
            R"("empty":{},"ctl":"\u0001\u001f)"
            "\x7f"
            R"("})");
}

TEST(JsonSerialize, EscapesStringsLikeGo) {
  // Go's encoding/json (and so kube-apiserver): HTML-safe, lowercase hex, U+2028/9 escaped,
  // invalid UTF-8 bytes replaced by U+FFFD, everything else printable passes through.
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"plain", R"("plain")"},
      {"", R"("")"},
      {"q\"b\\s/", R"("q\"b\\s/")"},
      {"<a href=\"x\">&amp;</a>", R"("\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e")"},
      {"\b\f\n\r\t", R"("\b\f\n\r\t")"},
      {std::string("\0\x01\x1b\x1f", 4), R"("\u0000\u0001\u001b\u001f")"},
      {"\x7f", "\"\x7f\""},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
       "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
      {"a\xE2\x80\xA8"
       "b\xE2\x80\xA9"
       "c",
       R"("a\u2028b\u2029c")"},
      {"a\xFF"
       "b",
       R"("a\ufffdb")"},
      {"\xC3", R"("\ufffd")"},                      // truncated sequence
      {"\xED\xA0\x80", R"("\ufffd\ufffd\ufffd")"},  // encoded surrogate
      {"\xC0\xAF", R"("\ufffd\ufffd")"},            // overlong
      {std::string(100, '<'), "\"" +
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 100; ++i) s += "\\u003c";
                                    return s;
                                  }() +
                                  "\""},  // all escapes: the sink grows as needed
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.out);
    EXPECT_EQ(Serialize(Value(c.in)), c.out);
    Value obj;
    obj[c.in] = c.in;  // keys take the same path
    EXPECT_EQ(Serialize(obj), "{" + c.out + ":" + c.out + "}");
    EXPECT_EQ(Serialize(obj, true), "{\n  " + c.out + ": " + c.out + "\n}");
  }
}

TEST(JsonSerialize, SerializeToAppends) {
  std::string out = "prefix:";
  SerializeTo(MustParse(R"([1,"two"])"), &out);
  out += "\n";
  SerializeTo(Value(), &out);
  EXPECT_EQ(out, "prefix:[1,\"two\"]\nnull");
}

TEST(JsonSerialize, DeepBuiltValueDoesNotRecurse) {
  // Values built in code are not bounded by max_depth; serialization must still not recurse.
  // (Destroying such a Value does recurse, so keep it moderate: the point is the writer.)
  Value root = Value::MakeArray();
  Value* cur = &root;
  for (int i = 0; i < 5000; ++i) {
    cur->PushBack(Value::MakeArray());
    cur = &cur->array().back();
  }
  EXPECT_EQ(Serialize(root), Nested(5001, "[", "]"));
}

TEST(JsonSerialize, LargeListRoundTrips) {
  Value list;
  list["kind"] = "BackupList";
  Value& items = list["items"];
  items = Value::MakeArray();
  for (int i = 0; i < 10000; ++i) {
    Value item;
    item["metadata"]["name"] = "b" + std::to_string(i);
    item["metadata"]["labels"]["app"] = "shop";
    item["spec"]["ttl"] = "720h";
    item["spec"]["n"] = i;
    items.PushBack(std::move(item));
  }
  std::string compact = Serialize(list);
  std::string pretty = Serialize(list, true);
  EXPECT_EQ(MustParse(compact), list);
  EXPECT_EQ(MustParse(pretty), list);
  EXPECT_NE(compact.find(R"({"metadata":{"name":"b9999","labels":{"app":"shop"}},)"),
            std::string::npos);
}

TEST(JsonValue, Equality) {
  struct Case {
    std::string a, b;
    bool equal;
  };
  const std::vector<Case> cases = {
      {R"({"a":1,"b":2})", R"({"b":2,"a":1})", true},  // objects are unordered
      {"[1,2]", "[2,1]", false},                       // arrays are not
      {"1", "1.0", true},
      {"1", "1.5", false},
      {"9007199254740993", "9007199254740992.0", false},  // no rounding through double
      {"0", "-0.0", true},
      {"null", "false", false},
      {"\"1\"", "1", false},
      {R"({"a":null})", "{}", false},
      {R"({"a":1})", R"({"b":1})", false},
      {"[]", "{}", false},
      {R"({"a":{"b":[1,{"c":true}]}})", R"({"a":{"b":[1,{"c":true}]}})", true},
      {R"({"a":{"b":[1,{"c":true}]}})", R"({"a":{"b":[1,{"c":false}]}})", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.a + " vs " + c.b);
    EXPECT_EQ(MustParse(c.a) == MustParse(c.b), c.equal);
    EXPECT_EQ(MustParse(c.b) == MustParse(c.a), c.equal);
  }
  // Large objects (indexed comparison path).
  std::string a = "{", b = "{";
  for (int i = 0; i < 100; ++i) a += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  for (int i = 99; i >= 0; --i) b += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  a += "\"z\":1}";
  b += "\"z\":1}";
  EXPECT_EQ(MustParse(a), MustParse(b));
  b[b.size() - 2] = '2';
  EXPECT_NE(MustParse(a), MustParse(b));
}

TEST(JsonValue, AccessorsOnOtherTypes) {
  EXPECT_EQ(Value(1e300).as_int(), INT64_MAX);  // saturates instead of undefined behaviour
  EXPECT_EQ(Value(-1e300).as_int(), INT64_MIN);
  EXPECT_EQ(Value(std::nan("")).as_int(), 0);
  EXPECT_EQ(Value(-2.9).as_int(), -2);
  EXPECT_EQ(Value(7).as_double(), 7.0);
  EXPECT_FALSE(Value(1).as_bool());
  EXPECT_EQ(Value(true).as_int(), 0);
  EXPECT_EQ(Value(5).as_string(), "");
  EXPECT_TRUE(Value("s").array().empty());
  EXPECT_TRUE(Value(1).object().empty());
}

TEST(JsonValue, ObjectHelpers) {
  Value v = MustParse(R"({"metadata":{"name":"b1","labels":{"app":"shop"}},"n":1})");
  EXPECT_EQ(v.GetString({"metadata", "name"}), "b1");
  EXPECT_EQ(v.GetString({"metadata", "missing"}, "dflt"), "dflt");
  EXPECT_EQ(v.GetString({"n"}, "not a string"), "not a string");
  EXPECT_EQ(v.GetString({"n", "deeper"}), "");
  ASSERT_NE(v.FindPath({"metadata", "labels", "app"}), nullptr);
  EXPECT_EQ(v.FindPath({"metadata", "labels", "app", "x"}), nullptr);
  EXPECT_EQ(v.Find("metadata")->Find("nope"), nullptr);
  EXPECT_EQ(Value(5).Find("a"), nullptr);

  // Set replaces in place, keeping the member's position.
  v.Set("metadata", "flat");
  EXPECT_EQ(Serialize(v), R"({"metadata":"flat","n":1})");
  // operator[] appends a null member when absent.
  v["z"];
  EXPECT_EQ(Serialize(v), R"({"metadata":"flat","n":1,"z":null})");
  EXPECT_TRUE(v.Erase("n"));
  EXPECT_FALSE(v.Erase("n"));
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(Value("str").size(), 0u);

  Value arr;
  arr.PushBack(1);
  arr.PushBack("x");
  EXPECT_TRUE(arr.is_array());
  EXPECT_EQ(arr.size(), 2u);
  Value obj;
  obj.Set("a", 1);
  EXPECT_TRUE(obj.is_object());
}

TEST(JsonRepr, RendersLikeGoPercentV) {
  struct Case {
    Value v;
    std::string repr;
  };
  const std::vector<Case> cases = {
      {Value("x\"y"), R"("x\"y")"},
      {Value(42), "42"},
      {Value(-7), "-7"},
      {Value(1.5), "1.5"},
      {Value(2.0), "2"},
      {Value(123456.0), "123456"},
      {Value(1e6), "1e+06"},
      {Value(1234567.0), "1.234567e+06"},
      {Value(0.0001), "0.0001"},
      {Value(0.00001), "1e-05"},
      {Value(true), "true"},
      {Value(), "null"},
      {MustParse(R"({"a":[1,"b"]})"), R"({"a":[1,"b"]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.repr);
    EXPECT_EQ(Repr(c.v), c.repr);
  }
}

}  // namespace
}  // namespace csdr::json
