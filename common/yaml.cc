#include "common/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <new>
#include <optional>
#include <streambuf>
#include <unordered_map>

namespace csdr {
namespace {

constexpr std::string_view kErrorPrefix = "error converting YAML to JSON: ";
constexpr std::string_view kLongTagPrefix = "tag:yaml.org,2002:";

// Thrown from inside the yaml-cpp event callbacks (which cannot return an error) and
// caught in ParseYaml; it never leaves this file.
struct YamlFailure {
  std::string message;  // without kErrorPrefix
};

[[noreturn]] void Fail(std::string message) { throw YamlFailure{std::move(message)}; }

std::string LinePrefix(const YAML::Mark& mark) {
  if (mark.is_null()) return "yaml: ";
  return "yaml: line " + std::to_string(mark.line + 1) + ": ";
}

// ---------------------------------------------------------------------------------------------
// Input checks

// Decodes one UTF-8 sequence at s[i]; returns its length (0 if invalid) and the code point.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xD800 && v <= 0xDFFF) ||
      v > 0x10FFFF) {
    return 0;
  }
  *cp = v;
  return n;
}

// YAML's printable set, which go-yaml enforces on its input: TAB, LF, CR, 0x20-0x7E, NEL,
// and everything from U+00A0 up except U+FFFE and U+FFFF (surrogates cannot be decoded).
bool IsYamlPrintable(uint32_t cp) {
  if (cp < 0x80) return cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp != 0x7F);
  if (cp < 0xA0) return cp == 0x85;
  return cp != 0xFFFE && cp != 0xFFFF;
}

Status CheckInput(std::string_view text, const YamlOptions& options) {
  size_t flow_indicators = 0;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0) {
      return Status(Code::kBadRequest, std::string(kErrorPrefix) +
                                           "yaml: invalid UTF-8 at byte offset " +
                                           std::to_string(i) + " (only UTF-8 is supported)");
    }
    if (!IsYamlPrintable(cp)) {
      return Status(Code::kBadRequest,
                    std::string(kErrorPrefix) + "yaml: control characters are not allowed");
    }
    if (cp == '[' || cp == '{' || cp == ',') ++flow_indicators;
    i += n;
  }
  if (flow_indicators > options.max_flow_indicators) {
    return Status(Code::kBadRequest,
                  std::string(kErrorPrefix) + "yaml: document has " +
                      std::to_string(flow_indicators) +
                      " flow-style indicators ('[', '{', ','), more than the limit of " +
                      std::to_string(options.max_flow_indicators) +
                      "; send large documents as JSON or in block style");
  }
  return Status::Ok();
}

// Go's json.Marshal turns bytes that are not UTF-8 into U+FFFD; !!binary data can be any bytes.
std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// base64.StdEncoding.DecodeString, which skips CR and LF and requires padding.
std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    const bool last = i + 4 == clean.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = clean[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad > 0) return std::nullopt;  // data after padding
        v[k] = sextet(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    const uint32_t triple = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>((triple >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((triple >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(triple & 0xFF));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scalar resolution, after go-yaml v2's resolve.go

// What a scalar resolved to; map keys need more than the json::Value says (go-yaml keeps
// uint64 and big.Int apart from float64, and sigs.k8s.io/yaml refuses them as keys).
enum class Kind { kNull, kBool, kInt, kUint, kBig, kFloat, kString, kMerge, kSequence, kMapping };

struct Resolved {
  json::Value value;
  Kind kind;
};

enum class IntResult { kOk, kSyntax, kRange };

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// strconv.ParseUint(s, base, 64); base 0 means "from the prefix" (0x, 0o, 0b, 0 = octal).
IntResult ParseGoUint(std::string_view s, int base, uint64_t* out) {
  if (s.empty()) return IntResult::kSyntax;
  if (base == 0) {
    base = 10;
    if (s[0] == '0') {
      const char p = s.size() >= 3 ? static_cast<char>(s[1] | 0x20) : 0;
      if (p == 'b') {
        base = 2;
        s.remove_prefix(2);
      } else if (p == 'o') {
        base = 8;
        s.remove_prefix(2);
      } else if (p == 'x') {
        base = 16;
        s.remove_prefix(2);
      } else {
        base = 8;
        s.remove_prefix(1);
      }
    }
  }
  uint64_t n = 0;
  for (char c : s) {
    const int d = DigitValue(c);
    if (d >= base) return IntResult::kSyntax;
    // Go returns ErrRange at the first overflow, before looking at later characters.
    if (n > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      return IntResult::kRange;
    }
    n = n * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *out = n;
  return IntResult::kOk;
}

// strconv.ParseInt(s, base, 64).
IntResult ParseGoInt(std::string_view s, int base, int64_t* out) {
  if (s.empty()) return IntResult::kSyntax;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  uint64_t u = 0;
  const IntResult r = ParseGoUint(s, base, &u);
  if (r != IntResult::kOk) return r;
  constexpr uint64_t kCutoff = uint64_t{1} << 63;
  if (!negative && u >= kCutoff) return IntResult::kRange;
  if (negative && u > kCutoff) return IntResult::kRange;
  *out = negative ? static_cast<int64_t>(~u + 1) : static_cast<int64_t>(u);
  return IntResult::kOk;
}

// go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool IsYamlStyleFloat(std::string_view s) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// strconv.ParseFloat for strings already known to be plain decimal syntax: overflow is an
// error, underflow rounds to zero (as in Go).
std::optional<double> ParseDecimalFloat(const std::string& s) {
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(d)) return std::nullopt;
  return d;
}

// big.Int.SetString(s, 0) for the unsigned integers past uint64 that reach it, as a double
// (that is what the JSON number becomes in an unstructured object anyway).
std::optional<double> ParseBigUnsigned(std::string_view s) {
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    if (p == 'x') {
      base = 16;
      s.remove_prefix(2);
    } else if (p == 'o') {
      base = 8;
      s.remove_prefix(2);
    } else if (p == 'b') {
      base = 2;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  if (s.empty()) return std::nullopt;
  long double v = 0;
  for (char c : s) {
    const int d = DigitValue(c);
    if (d >= base) return std::nullopt;
    v = v * base + d;
  }
  const double d = static_cast<double>(v);
  if (std::isinf(d)) return std::nullopt;
  return d;
}

Resolved IntValue(int64_t i) { return {json::Value(i), Kind::kInt}; }
Resolved UintValue(uint64_t u) {
  // Past int64 the JSON number decodes to a float64 in unstructured content.
  if (u <= static_cast<uint64_t>(INT64_MAX)) return IntValue(static_cast<int64_t>(u));
  return {json::Value(static_cast<double>(u)), Kind::kUint};
}

// Resolves an untagged plain scalar as go-yaml v2's resolve("", in) does.
Resolved ResolvePlain(const std::string& in) {
  static const std::unordered_map<std::string_view, Resolved> kTable = [] {
    std::unordered_map<std::string_view, Resolved> t;
    for (std::string_view s :
         {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}) {
      t.emplace(s, Resolved{json::Value(true), Kind::kBool});
    }
    for (std::string_view s :
         {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}) {
      t.emplace(s, Resolved{json::Value(false), Kind::kBool});
    }
    for (std::string_view s : {"", "~", "null", "Null", "NULL"}) {
      t.emplace(s, Resolved{json::Value(), Kind::kNull});
    }
    for (std::string_view s : {".nan", ".NaN", ".NAN"}) {
      t.emplace(s, Resolved{json::Value(std::nan("")), Kind::kFloat});
    }
    for (std::string_view s : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}) {
      t.emplace(s, Resolved{json::Value(HUGE_VAL), Kind::kFloat});
    }
    for (std::string_view s : {"-.inf", "-.Inf", "-.INF"}) {
      t.emplace(s, Resolved{json::Value(-HUGE_VAL), Kind::kFloat});
    }
    return t;
  }();

  if (in == "<<") return {json::Value(in), Kind::kMerge};  // only meaningful as a key
  if (in.empty()) return {json::Value(), Kind::kNull};
  // The first byte decides what the scalar may be (go-yaml's resolveTable); anything else
  // is a string without further ado.
  const char first = in[0];
  const bool sign = first == '+' || first == '-';
  const bool digit = first >= '0' && first <= '9';
  const bool in_map = std::string_view("yYnNtTfFoO~").find(first) != std::string_view::npos;
  if (!sign && !digit && !in_map && first != '.') return {json::Value(in), Kind::kString};

  if (auto it = kTable.find(in); it != kTable.end()) return it->second;

  if (first == '.') {
    // strconv.ParseFloat without a sign or digits before the point: ".5", ".5e3".
    if (IsYamlStyleFloat(in)) {
      if (auto d = ParseDecimalFloat(in)) return {json::Value(*d), Kind::kFloat};
    }
    return {json::Value(in), Kind::kString};
  }
  if (!sign && !digit) return {json::Value(in), Kind::kString};

  // Integers, then floats. (Timestamps resolve too in go-yaml, but decoding into interface{}
  // keeps them as the original string, which is what falling through gives.)
  std::string plain;
  plain.reserve(in.size());
  for (char c : in) {
    if (c != '_') plain.push_back(c);
  }
  int64_t i = 0;
  if (ParseGoInt(plain, 0, &i) == IntResult::kOk) return IntValue(i);
  uint64_t u = 0;
  const IntResult uint_result = ParseGoUint(plain, 0, &u);
  if (uint_result == IntResult::kOk) return UintValue(u);
  if (IsYamlStyleFloat(plain)) {
    if (auto d = ParseDecimalFloat(plain)) return {json::Value(*d), Kind::kFloat};
  }
  if (plain.rfind("0b", 0) == 0) {
    if (ParseGoInt(std::string_view(plain).substr(2), 2, &i) == IntResult::kOk) {
      return IntValue(i);
    }
    if (ParseGoUint(std::string_view(plain).substr(2), 2, &u) == IntResult::kOk) {
      return UintValue(u);
    }
  } else if (plain.rfind("-0b", 0) == 0) {
    if (ParseGoInt("-" + plain.substr(3), 2, &i) == IntResult::kOk) return IntValue(i);
  }
  if (uint_result == IntResult::kRange) {
    if (auto d = ParseBigUnsigned(plain)) return {json::Value(*d), Kind::kBig};
  }
  return {json::Value(in), Kind::kString};
}

std::string ShortTag(std::string_view tag) {
  if (tag.substr(0, kLongTagPrefix.size()) == kLongTagPrefix) {
    return "!!" + std::string(tag.substr(kLongTagPrefix.size()));
  }
  return std::string(tag);
}

std::string_view KindTag(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "!!null";
    case Kind::kBool:
      return "!!bool";
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kBig:
      return "!!int";
    case Kind::kFloat:
      return "!!float";
    case Kind::kMerge:
      return "!!merge";
    default:
      return "!!str";
  }
}

// Resolves a scalar with its yaml-cpp tag: "?" for plain, "!" for quoted and block scalars,
// the long form for !!tags, anything else for application tags.
Resolved ResolveScalar(const std::string& tag, const std::string& value, const YAML::Mark& mark) {
  if (tag == "?") return ResolvePlain(value);
  if (tag == "!") return {json::Value(value), Kind::kString};
  const std::string short_tag = ShortTag(tag);
  if (short_tag == "!!str" || short_tag == "!!timestamp")
    return {json::Value(value), Kind::kString};
  if (short_tag == "!!binary") {
    std::optional<std::string> data = DecodeBase64(value);
    if (!data) Fail(LinePrefix(mark) + "!!binary value contains invalid base64 data");
    return {json::Value(ReplaceInvalidUtf8(*data)), Kind::kString};
  }
  if (short_tag == "!!null" || short_tag == "!!bool" || short_tag == "!!int" ||
      short_tag == "!!float") {
    Resolved r = ResolvePlain(value);
    const std::string_view got = KindTag(r.kind);
    if (got == short_tag) return r;
    if (short_tag == "!!float" && got == "!!int") {
      return {json::Value(r.value.as_double()), Kind::kFloat};
    }
    Fail(LinePrefix(mark) + "cannot decode " + std::string(got) + " `" + value + "` as a " +
         short_tag);
  }
  if (short_tag == "!!merge") return {json::Value(value), Kind::kMerge};
  // Application tags (!foo) are not resolvable: go-yaml hands over the string.
  return {json::Value(value), Kind::kString};
}

// strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml renders float map keys.
std::string FormatFloat32Key(double d) {
  const float f = static_cast<float>(d);
  if (std::isnan(f)) return ".nan";
  if (std::isinf(f)) return f > 0 ? ".inf" : "-.inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);
  const size_t e = sci.find('e');
  int exp = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  if (exp < -4 || exp >= 6) return sci;  // to_chars writes at least two exponent digits, as Go
  std::string out;
  std::string digits;
  bool negative = false;
  for (size_t k = 0; k < e; ++k) {
    if (sci[k] == '-') {
      negative = true;
    } else if (sci[k] != '.') {
      digits.push_back(sci[k]);
    }
  }
  if (negative) out.push_back('-');
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
    return out;
  }
  const size_t integer_digits = static_cast<size_t>(exp) + 1;
  for (size_t k = 0; k < integer_digits; ++k) out.push_back(k < digits.size() ? digits[k] : '0');
  if (digits.size() > integer_digits) {
    out.push_back('.');
    out.append(digits, integer_digits);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building the document from yaml-cpp events

// Node counts shared by all documents of one stream.
struct Budget {
  size_t decoded = 0;  // nodes produced, alias expansions included (go-yaml's decodeCount)
  size_t aliased = 0;  // of which through aliases (go-yaml's aliasCount)
  size_t copied = 0;   // nodes copied to remember anchored values
};

// go-yaml's allowedAliasRatio: small documents may be 99% alias expansion, large ones 10%.
double AllowedAliasRatio(size_t decoded) {
  constexpr double kLow = 400'000, kHigh = 4'000'000;
  if (decoded <= kLow) return 0.99;
  if (decoded >= kHigh) return 0.10;
  return 0.99 - 0.89 * ((static_cast<double>(decoded) - kLow) / (kHigh - kLow));
}

class Builder : public YAML::EventHandler {
 public:
  Builder(const YamlOptions& options, Budget* budget) : options_(options), budget_(budget) {}

  json::Value TakeRoot() { return std::move(root_); }

  // Where the last document began; yaml-cpp can loop forever on a stray ',' at document
  // level, producing empty documents that all start at the same place.
  const YAML::Mark& document_start() const { return document_start_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    document_start_ = mark;
    stack_.clear();
    anchors_.clear();
    root_ = json::Value();
  }
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark&, const std::string& name) override { next_anchor_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Charge(1, false, mark);
    Remember(anchor, json::Value(), Kind::kNull, 1, 0, mark);
    Add(json::Value(), Kind::kNull, 0, mark);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Charge(1, false, mark);
    Resolved r = ResolveScalar(tag, value, mark);
    Remember(anchor, r.value, r.kind, 1, 0, mark);
    Add(std::move(r.value), r.kind, 0, mark);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      // yaml-cpp has already refused unknown names, so this anchor is still open: the
      // alias sits inside the node it names.
      Fail(LinePrefix(mark) + "anchor '" + anchor_names_[anchor] + "' value contains itself");
    }
    const Anchored& a = it->second;
    Charge(a.nodes, true, mark);
    if (static_cast<int>(stack_.size()) + a.height > options_.max_depth) FailDepth(mark);
    Add(json::Value(a.value), a.kind, a.height, mark);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(false, anchor, mark);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(true, anchor, mark);
  }
  void OnMapEnd() override { Close(); }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);
  // Mappings above this many keys get a hash index for duplicate detection.
  static constexpr size_t kIndexThreshold = 16;

  struct Frame {
    json::Value container;
    bool is_map = false;
    YAML::anchor_t anchor = 0;
    size_t decoded_before = 0;  // budget_->decoded before this node was opened
    int height = 1;             // containers on the longest path down, this one included
    YAML::Mark mark;
    // Mapping state: the key waiting for its value.
    bool have_key = false;
    bool merge = false;
    std::string key;
    std::unordered_map<std::string, size_t> index;
  };

  struct Anchored {
    json::Value value;
    Kind kind;
    size_t nodes;
    int height;
  };

  void Charge(size_t nodes, bool via_alias, const YAML::Mark& mark) {
    budget_->decoded += nodes;
    if (via_alias) budget_->aliased += nodes;
    if (budget_->decoded + budget_->copied > options_.max_nodes) {
      Fail(LinePrefix(mark) + "document has more than " + std::to_string(options_.max_nodes) +
           " nodes (counting alias expansions)");
    }
    // go-yaml's rule, checked before the copy is made so a bomb costs almost nothing.
    if (budget_->aliased > 100 && budget_->decoded > 1000 &&
        static_cast<double>(budget_->aliased) / static_cast<double>(budget_->decoded) >
            AllowedAliasRatio(budget_->decoded)) {
      Fail("yaml: document contains excessive aliasing");
    }
  }

  [[noreturn]] void FailDepth(const YAML::Mark& mark) {
    Fail(LinePrefix(mark) + "exceeded max depth of " + std::to_string(options_.max_depth));
  }

  void Remember(YAML::anchor_t anchor, const json::Value& value, Kind kind, size_t nodes,
                int height, const YAML::Mark& mark) {
    if (anchor == 0) return;
    budget_->copied += nodes;
    if (budget_->decoded + budget_->copied > options_.max_nodes) {
      Fail(LinePrefix(mark) + "document has more than " + std::to_string(options_.max_nodes) +
           " nodes (counting alias expansions)");
    }
    anchors_[anchor] = Anchored{value, kind, nodes, height};
  }

  void Open(bool is_map, YAML::anchor_t anchor, const YAML::Mark& mark) {
    if (!stack_.empty() && stack_.back().is_map && !stack_.back().have_key) {
      Fail(LinePrefix(mark) + "invalid map key: a mapping or sequence cannot be a key");
    }
    if (static_cast<int>(stack_.size()) >= options_.max_depth) FailDepth(mark);
    if (anchor != 0) anchor_names_[anchor] = next_anchor_name_;
    const size_t before = budget_->decoded;
    Charge(1, false, mark);
    Frame f;
    f.container = is_map ? json::Value::MakeObject() : json::Value::MakeArray();
    f.is_map = is_map;
    f.anchor = anchor;
    f.decoded_before = before;
    f.mark = mark;
    stack_.push_back(std::move(f));
  }

  void Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    const Kind kind = f.is_map ? Kind::kMapping : Kind::kSequence;
    Remember(f.anchor, f.container, kind, budget_->decoded - f.decoded_before, f.height, f.mark);
    Add(std::move(f.container), kind, f.height, f.mark);
  }

  // The string a scalar key becomes in JSON, as sigs.k8s.io/yaml's convertToJSONableObject.
  static std::string KeyString(const json::Value& v, Kind kind, const YAML::Mark& mark) {
    switch (kind) {
      case Kind::kString:
      case Kind::kMerge:
        return v.as_string();
      case Kind::kInt:
        return std::to_string(v.as_int());
      case Kind::kFloat:
        return FormatFloat32Key(v.as_double());
      case Kind::kBool:
        return v.as_bool() ? "true" : "false";
      case Kind::kNull:
        Fail(LinePrefix(mark) + "unsupported map key of type: <nil>");
      case Kind::kUint:
      case Kind::kBig:
        Fail(LinePrefix(mark) +
             "unsupported map key of type: " + (kind == Kind::kUint ? "uint64" : "*big.Int"));
      default:
        Fail(LinePrefix(mark) + "invalid map key: a mapping or sequence cannot be a key");
    }
  }

  void Add(json::Value v, Kind kind, int height, const YAML::Mark& mark) {
    const bool is_key = !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
    if (!is_key && v.is_double() && !std::isfinite(v.as_double())) {
      // json.Marshal refuses these; so does sigs.k8s.io/yaml.
      const double d = v.as_double();
      Fail(std::string("json: unsupported value: ") +
           (std::isnan(d) ? "NaN" : (d > 0 ? "+Inf" : "-Inf")));
    }
    if (stack_.empty()) {
      root_ = std::move(v);
      return;
    }
    Frame& f = stack_.back();
    f.height = std::max(f.height, height + 1);
    if (!f.is_map) {
      f.container.array().push_back(std::move(v));
      return;
    }
    if (is_key) {
      f.merge = kind == Kind::kMerge;
      if (!f.merge) f.key = KeyString(v, kind, mark);
      f.have_key = true;
      return;
    }
    f.have_key = false;
    if (f.merge) {
      Merge(f, std::move(v), mark);
      return;
    }
    SetMember(f, std::move(f.key), std::move(v));
  }

  // go-yaml v2 merges by decoding the merged mapping(s) into the same map: merged keys
  // replace keys seen before the "<<", later keys replace merged ones, and in a sequence of
  // mappings the earlier ones win. Every such collision is a duplicate for v2's strict mode
  // ("key already set in map"), so it is reported as one too.
  void Merge(Frame& f, json::Value v, const YAML::Mark& mark) {
    if (v.is_object()) {
      for (auto& [key, value] : v.object()) SetMember(f, std::move(key), std::move(value));
      return;
    }
    if (v.is_array()) {
      for (const json::Value& e : v.array()) {
        if (!e.is_object())
          Fail(LinePrefix(mark) + "map merge requires map or sequence of maps as the value");
      }
      for (auto it = v.array().rbegin(); it != v.array().rend(); ++it) {
        for (auto& [key, value] : it->object()) SetMember(f, std::move(key), std::move(value));
      }
      return;
    }
    Fail(LinePrefix(mark) + "map merge requires map or sequence of maps as the value");
  }

  void SetMember(Frame& f, std::string key, json::Value v) {
    json::Value::Object& members = f.container.object();
    size_t existing = kNone;
    if (f.index.empty()) {
      for (size_t i = 0; i < members.size(); ++i) {
        if (members[i].first == key) {
          existing = i;
          break;
        }
      }
    } else if (auto it = f.index.find(key); it != f.index.end()) {
      existing = it->second;
    }
    if (existing != kNone) {
      if (options_.duplicate_fields != nullptr) {
        options_.duplicate_fields->push_back(PathOf(key));
      }
      members[existing].second = std::move(v);
      return;
    }
    members.emplace_back(std::move(key), std::move(v));
    if (!f.index.empty()) {
      f.index.emplace(members.back().first, members.size() - 1);
    } else if (members.size() > kIndexThreshold) {
      for (size_t i = 0; i < members.size(); ++i) f.index.emplace(members[i].first, i);
    }
  }

  // ".spec.bucket" style path of `key` in the innermost mapping.
  std::string PathOf(const std::string& key) const {
    std::string path;
    for (size_t i = 0; i + 1 < stack_.size(); ++i) {
      const Frame& f = stack_[i];
      if (f.is_map) {
        path += '.';
        path += f.merge ? "<<" : f.key;
      } else {
        path += '[' + std::to_string(f.container.array().size()) + ']';
      }
    }
    return path + "." + key;
  }

  const YamlOptions& options_;
  Budget* budget_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  std::unordered_map<YAML::anchor_t, std::string> anchor_names_;
  std::string next_anchor_name_;
  YAML::Mark document_start_;
  json::Value root_;
};

// Lets yaml-cpp read the caller's bytes in place instead of a copy in a stringstream.
class MemoryBuf : public std::streambuf {
 public:
  explicit MemoryBuf(std::string_view s) {
    // The get area is only read; std::streambuf wants non-const pointers regardless.
    char* p = const_cast<char*>(s.data());
    setg(p, p, p + s.size());
  }
};

}  // namespace

bool LooksLikeJson(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{' || c == '[';
  }
  return false;
}

StatusOr<json::Value> ParseYaml(std::string_view text, const YamlOptions& options) {
  if (LooksLikeJson(text)) {
    // JSON is YAML, and json::Parse is much faster and has no flow-collection memory cost.
    std::vector<std::string> duplicates;
    json::ParseOptions json_options;
    json_options.max_depth = options.max_depth;
    json_options.duplicate_fields = options.duplicate_fields ? &duplicates : nullptr;
    StatusOr<json::Value> v = json::Parse(text, json_options);
    if (v.ok()) {
      if (options.duplicate_fields) {
        options.duplicate_fields->insert(options.duplicate_fields->end(), duplicates.begin(),
                                         duplicates.end());
      }
      return v;
    }
    // Not JSON after all (flow-style YAML such as "{a: 1}"): decode it as YAML.
  }
  CSDR_RETURN_IF_ERROR(CheckInput(text, options));

  // YAML 1.2 (and go-yaml, which kube-apiserver decodes with) takes a lone carriage return as
  // a line break; yaml-cpp takes it as part of a plain scalar ("\r2" would be the string
  // "\r2", not 2: finding F3). Line breaks are normalised to "\n" in scalar content anyway
  // (YAML 1.2 section 5.4), so normalising them first changes nothing else.
  std::string normalized;
  if (text.find('\r') != std::string_view::npos) {
    normalized.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '\r') {
        normalized += text[i];
      } else if (i + 1 >= text.size() || text[i + 1] != '\n') {
        normalized += '\n';
      }
    }
    text = normalized;
  }

  // yaml-cpp reports errors by exception; none may leave this function.
  try {
    MemoryBuf buf(text);
    std::istream in(&buf);
    YAML::Parser parser(in);
    Budget budget;
    Builder builder(options, &budget);
    std::optional<json::Value> result;
    std::optional<int> previous_start;
    while (parser.HandleNextDocument(builder)) {
      const YAML::Mark& start = builder.document_start();
      if (previous_start == start.pos) {
        return Status(Code::kBadRequest, std::string(kErrorPrefix) + "yaml: line " +
                                             std::to_string(start.line + 1) + ", column " +
                                             std::to_string(start.column + 1) +
                                             ": did not find expected node content");
      }
      previous_start = start.pos;
      json::Value doc = builder.TakeRoot();
      if (doc.is_null()) continue;  // "---" with nothing (or only null) in it
      if (result.has_value()) {
        return Status(Code::kBadRequest,
                      std::string(kErrorPrefix) +
                          "yaml: the stream has more than one non-empty document; send one "
                          "object per request");
      }
      result = std::move(doc);
    }
    return result.has_value() ? std::move(*result) : json::Value();
  } catch (const YamlFailure& e) {
    return Status(Code::kBadRequest, std::string(kErrorPrefix) + e.message);
  } catch (const YAML::Exception& e) {
    std::string where = "yaml: ";
    if (!e.mark.is_null()) {
      where += "line " + std::to_string(e.mark.line + 1) + ", column " +
               std::to_string(e.mark.column + 1) + ": ";
    }
    return Status(Code::kBadRequest, std::string(kErrorPrefix) + where + e.msg);
  } catch (const std::bad_alloc&) {
    return Status(Code::kTooLarge, std::string(kErrorPrefix) + "document too large to decode");
  } catch (const std::exception& e) {
    return Status(Code::kBadRequest, std::string(kErrorPrefix) + "yaml: " + e.what());
  } catch (...) {
    return Status(Code::kInternal, std::string(kErrorPrefix) + "unexpected failure in yaml-cpp");
  }
}

}  // namespace csdr
