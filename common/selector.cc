#include "common/selector.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <tuple>
#include <utility>
#include <variant>

#include "common/validation.h"

namespace csdr {
namespace {

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// utilerrors.NewAggregate(...).Error(): one message as is, several deduplicated in brackets.
std::string Aggregate(const std::vector<std::string>& errors) {
  std::vector<std::string> unique;
  for (const std::string& e : errors) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  }
  if (unique.size() == 1) return unique[0];
  return "[" + Join(unique, ", ") + "]";
}

// How field.Error renders a []string bad value: json.Marshal, so a nil slice is "null".
std::string StringsRepr(const std::vector<std::string>& values) {
  if (values.empty()) return "null";
  json::Value array = json::Value::MakeArray();
  for (const std::string& v : values) array.PushBack(v);
  return json::Serialize(array);
}

// strconv.ParseInt(s, 10, 64).
std::optional<int64_t> ParseInt64(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string InvalidKeyError(std::string_view path, const std::string& key) {
  std::vector<std::string> errs = validation::IsQualifiedName(key);
  if (errs.empty()) return "";
  // field.Error.Error() is "<path>: <body>", even for the empty path the parser uses.
  return std::string(path) + ": Invalid value: " + Quote(key) + ": " + Join(errs, "; ");
}

// labels.NewRequirement's checks; returns the aggregated error message, or "" when valid.
std::string ValidateRequirement(const LabelRequirement& r) {
  std::vector<std::string> errors;
  if (std::string e = InvalidKeyError("key", r.key); !e.empty()) errors.push_back(std::move(e));
  const std::string values_repr = StringsRepr(r.values);
  switch (r.op) {
    case SelectorOp::kIn:
    case SelectorOp::kNotIn:
      if (r.values.empty()) {
        errors.push_back("values: Invalid value: " + values_repr +
                         ": for 'in', 'notin' operators, values set can't be empty");
      }
      break;
    case SelectorOp::kEquals:
    case SelectorOp::kDoubleEquals:
    case SelectorOp::kNotEquals:
      if (r.values.size() != 1) {
        errors.push_back("values: Invalid value: " + values_repr +
                         ": exact-match compatibility requires one single value");
      }
      break;
    case SelectorOp::kExists:
    case SelectorOp::kDoesNotExist:
      if (!r.values.empty()) {
        errors.push_back("values: Invalid value: " + values_repr +
                         ": values set must be empty for exists and does not exist");
      }
      break;
    case SelectorOp::kGreaterThan:
    case SelectorOp::kLessThan:
      if (r.values.size() != 1) {
        errors.push_back("values: Invalid value: " + values_repr +
                         ": for 'Gt', 'Lt' operators, exactly one value is required");
      }
      for (size_t i = 0; i < r.values.size(); ++i) {
        if (!ParseInt64(r.values[i])) {
          errors.push_back("values[" + std::to_string(i) +
                           "]: Invalid value: " + Quote(r.values[i]) +
                           ": for 'Gt', 'Lt' operators, the value must be an integer");
        }
      }
      break;
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    std::vector<std::string> errs = validation::IsValidLabelValue(r.values[i]);
    if (!errs.empty()) {
      errors.push_back("values[" + std::to_string(i) + "][" + r.key +
                       "]: Invalid value: " + Quote(r.values[i]) + ": " + Join(errs, "; "));
    }
  }
  return errors.empty() ? "" : Aggregate(errors);
}

void SortByKey(std::vector<LabelRequirement>& requirements) {
  std::stable_sort(
      requirements.begin(), requirements.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
}

// ---------------------------------------------------------------------------------------------
// labels.Parse: lexer and parser, kept close to upstream's so the messages match.

enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Token token;
  std::string literal;
};

std::optional<Token> LiteralToken(std::string_view s) {
  if (s == ")") return Token::kClosedPar;
  if (s == ",") return Token::kComma;
  if (s == "!") return Token::kDoesNotExist;
  if (s == "==") return Token::kDoubleEquals;
  if (s == "=") return Token::kEquals;
  if (s == ">") return Token::kGreaterThan;
  if (s == "in") return Token::kIn;
  if (s == "<") return Token::kLessThan;
  if (s == "!=") return Token::kNotEquals;
  if (s == "notin") return Token::kNotIn;
  if (s == "(") return Token::kOpenPar;
  return std::nullopt;
}

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsSpecialSymbol(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Item Lex() {
    char c = Read();
    while (IsWhitespace(c)) c = Read();
    if (c == 0) return {Token::kEndOfString, ""};
    Unread();
    return IsSpecialSymbol(c) ? ScanSpecialSymbol() : ScanIdOrKeyword();
  }

 private:
  // Like upstream, a NUL byte reads as the end of the string.
  char Read() { return pos_ < s_.size() ? s_[pos_++] : '\0'; }
  void Unread() { --pos_; }

  Item ScanIdOrKeyword() {
    std::string buffer;
    while (true) {
      const char c = Read();
      if (c == 0) break;
      if (IsSpecialSymbol(c) || IsWhitespace(c)) {
        Unread();
        break;
      }
      buffer.push_back(c);
    }
    if (std::optional<Token> t = LiteralToken(buffer)) return {*t, buffer};
    return {Token::kIdentifier, buffer};
  }

  // The longest run of special symbols that is still a token ("!=", "==", else one char).
  Item ScanSpecialSymbol() {
    std::optional<Item> last;
    std::string buffer;
    while (true) {
      const char c = Read();
      if (c == 0) break;
      if (!IsSpecialSymbol(c)) {
        Unread();
        break;
      }
      buffer.push_back(c);
      if (std::optional<Token> t = LiteralToken(buffer)) {
        last = Item{*t, buffer};
      } else if (last) {
        Unread();
        break;
      }
    }
    if (!last) return {Token::kError, "error expected: keyword found '" + buffer + "'"};
    return *last;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

struct ParseError {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view selector) {
    Lexer lexer(selector);
    while (true) {
      items_.push_back(lexer.Lex());
      if (items_.back().token == Token::kEndOfString) break;
    }
  }

  // Returns the requirements, or the error message upstream would give.
  std::variant<std::vector<LabelRequirement>, std::string> Parse() {
    std::vector<LabelRequirement> requirements;
    while (true) {
      const Item next = Lookahead(true);
      switch (next.token) {
        case Token::kIdentifier:
        case Token::kDoesNotExist: {
          std::variant<LabelRequirement, std::string> r = ParseRequirement();
          if (auto* error = std::get_if<std::string>(&r)) {
            return "unable to parse requirement: " + *error;
          }
          requirements.push_back(std::move(std::get<LabelRequirement>(r)));
          const Item after = Consume(true);
          if (after.token == Token::kEndOfString) return requirements;
          if (after.token == Token::kComma) {
            const Item following = Lookahead(true);
            if (following.token != Token::kIdentifier && following.token != Token::kDoesNotExist) {
              return "found '" + following.literal + "', expected: identifier after ','";
            }
            break;
          }
          return "found '" + after.literal + "', expected: ',' or 'end of string'";
        }
        case Token::kEndOfString:
          return requirements;
        default:
          return "found '" + next.literal + "', expected: !, identifier, or 'end of string'";
      }
    }
  }

 private:
  // In the values context "in" and "notin" are plain identifiers ("x in (in)").
  Item AsContext(Item item, bool values) const {
    if (values && (item.token == Token::kIn || item.token == Token::kNotIn)) {
      item.token = Token::kIdentifier;
    }
    return item;
  }
  Item Lookahead(bool values) const { return AsContext(items_[position_], values); }
  Item Consume(bool values) { return AsContext(items_[position_++], values); }

  std::variant<LabelRequirement, std::string> ParseRequirement() {
    LabelRequirement r;
    // parseKeyAndInferOperator
    std::optional<SelectorOp> op;
    Item item = Consume(true);
    if (item.token == Token::kDoesNotExist) {
      op = SelectorOp::kDoesNotExist;
      item = Consume(true);
    }
    if (item.token != Token::kIdentifier) {
      return "found '" + item.literal + "', expected: identifier";
    }
    if (std::string e = InvalidKeyError("", item.literal); !e.empty()) return e;
    r.key = item.literal;
    const Token t = Lookahead(true).token;
    if ((t == Token::kEndOfString || t == Token::kComma) && !op) op = SelectorOp::kExists;
    if (op == SelectorOp::kExists || op == SelectorOp::kDoesNotExist) {
      r.op = *op;
      if (std::string e = ValidateRequirement(r); !e.empty()) return e;
      return r;
    }
    // parseOperator
    const Item op_item = Consume(false);
    switch (op_item.token) {
      case Token::kIn:
        r.op = SelectorOp::kIn;
        break;
      case Token::kEquals:
        r.op = SelectorOp::kEquals;
        break;
      case Token::kDoubleEquals:
        r.op = SelectorOp::kDoubleEquals;
        break;
      case Token::kGreaterThan:
        r.op = SelectorOp::kGreaterThan;
        break;
      case Token::kLessThan:
        r.op = SelectorOp::kLessThan;
        break;
      case Token::kNotIn:
        r.op = SelectorOp::kNotIn;
        break;
      case Token::kNotEquals:
        r.op = SelectorOp::kNotEquals;
        break;
      default:
        return "found '" + op_item.literal + "', expected: in, notin, =, ==, !=, gt, lt";
    }
    std::set<std::string> values;  // sets.String: sorted and unique
    std::optional<std::string> error = (r.op == SelectorOp::kIn || r.op == SelectorOp::kNotIn)
                                           ? ParseValues(values)
                                           : ParseExactValue(values);
    if (error) return *error;
    r.values.assign(values.begin(), values.end());
    if (std::string e = ValidateRequirement(r); !e.empty()) return e;
    return r;
  }

  // "(" values ")"
  std::optional<std::string> ParseValues(std::set<std::string>& values) {
    const Item open = Consume(true);
    if (open.token != Token::kOpenPar) return "found '" + open.literal + "' expected: '('";
    const Item first = Lookahead(true);
    switch (first.token) {
      case Token::kIdentifier:
      case Token::kComma: {
        if (std::optional<std::string> e = ParseIdentifiersList(values)) return e;
        if (Consume(true).token != Token::kClosedPar) {
          return "found '" + first.literal + "', expected: ')'";
        }
        return std::nullopt;
      }
      case Token::kClosedPar:
        Consume(true);
        values.insert("");
        return std::nullopt;
      default:
        return "found '" + first.literal + "', expected: ',', ')' or identifier";
    }
  }

  // A possibly empty list of comma-separated, possibly empty identifiers.
  std::optional<std::string> ParseIdentifiersList(std::set<std::string>& values) {
    while (true) {
      const Item item = Consume(true);
      switch (item.token) {
        case Token::kIdentifier: {
          values.insert(item.literal);
          const Item next = Lookahead(true);
          if (next.token == Token::kComma) continue;
          if (next.token == Token::kClosedPar) return std::nullopt;
          return "found '" + next.literal + "', expected: ',' or ')'";
        }
        case Token::kComma: {
          if (values.empty()) values.insert("");  // "(,"
          const Token next = Lookahead(true).token;
          if (next == Token::kClosedPar) {
            values.insert("");  // ",)"
            return std::nullopt;
          }
          if (next == Token::kComma) {
            Consume(true);
            values.insert("");  // ",,"
          }
          break;
        }
        default:
          return "found '" + item.literal + "', expected: ',', or identifier";
      }
    }
  }

  std::optional<std::string> ParseExactValue(std::set<std::string>& values) {
    const Token next = Lookahead(true).token;
    if (next == Token::kEndOfString || next == Token::kComma) {
      values.insert("");
      return std::nullopt;
    }
    const Item item = Consume(true);
    if (item.token == Token::kIdentifier) {
      values.insert(item.literal);
      return std::nullopt;
    }
    return "found '" + item.literal + "', expected: identifier";
  }

  std::vector<Item> items_;
  size_t position_ = 0;
};

std::string_view OpString(SelectorOp op) {
  switch (op) {
    case SelectorOp::kEquals:
      return "=";
    case SelectorOp::kDoubleEquals:
      return "==";
    case SelectorOp::kNotEquals:
      return "!=";
    case SelectorOp::kIn:
      return " in ";
    case SelectorOp::kNotIn:
      return " notin ";
    case SelectorOp::kGreaterThan:
      return ">";
    case SelectorOp::kLessThan:
      return "<";
    default:
      return "";
  }
}

Status UnmarshalError(const json::Value& v, std::string_view target) {
  return Status(Code::kBadRequest, "json: cannot unmarshal " + std::string(json::GoKindName(v)) +
                                       " into Go " + std::string(target));
}

// One UTF-8 character starting at s[i] (the whole sequence, for error messages).
std::string_view RuneAt(std::string_view s, size_t i) {
  // As Go's utf8.DecodeRuneInString: a well-formed sequence is one rune; anything else (a
  // stray continuation byte, a lead byte whose continuation is missing or wrong, an overlong
  // form, a surrogate) is one byte. Taking a lead byte's length on trust would swallow the
  // bytes after it, an unescaped '=' among them (finding F2).
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n = 1;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  }
  if (n == 1 || i + n > s.size()) return s.substr(i, 1);
  if (byte(i + 1) < lo || byte(i + 1) > hi) return s.substr(i, 1);
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return s.substr(i, 1);
  }
  return s.substr(i, n);
}

// fields.UnescapeValue.
std::variant<std::string, Status> UnescapeFieldValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_slash = false;
  for (size_t i = 0; i < s.size();) {
    const std::string_view rune = RuneAt(s, i);
    i += rune.size();
    if (in_slash) {
      if (rune == "\\" || rune == "," || rune == "=") {
        out += rune;
      } else {
        return Status(Code::kBadRequest,
                      "invalid field selector: invalid escape sequence: \\" + std::string(rune));
      }
      in_slash = false;
      continue;
    }
    if (rune == "\\") {
      in_slash = true;
    } else if (rune == "," || rune == "=") {
      // Upstream prints the rune with %v, i.e. its code point number.
      return Status(Code::kBadRequest, "invalid field selector: unescaped character in value: " +
                                           std::to_string(static_cast<int>(rune[0])));
    } else {
      out += rune;
    }
  }
  if (in_slash) {
    return Status(Code::kBadRequest, "invalid field selector: invalid escape sequence: \\");
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LabelRequirement / LabelSelector

bool LabelRequirement::Matches(const json::Value* labels) const {
  const json::Value* found = labels != nullptr ? labels->Find(key) : nullptr;
  const std::string* value = found != nullptr && found->is_string() ? &found->as_string() : nullptr;
  const auto has_value = [&] {
    return value != nullptr && std::find(values.begin(), values.end(), *value) != values.end();
  };
  switch (op) {
    case SelectorOp::kIn:
    case SelectorOp::kEquals:
    case SelectorOp::kDoubleEquals:
      return found != nullptr && has_value();
    case SelectorOp::kNotIn:
    case SelectorOp::kNotEquals:
      return found == nullptr || !has_value();
    case SelectorOp::kExists:
      return found != nullptr;
    case SelectorOp::kDoesNotExist:
      return found == nullptr;
    case SelectorOp::kGreaterThan:
    case SelectorOp::kLessThan: {
      if (value == nullptr || values.size() != 1) return false;
      std::optional<int64_t> have = ParseInt64(*value);
      std::optional<int64_t> want = ParseInt64(values[0]);
      if (!have || !want) return false;
      return op == SelectorOp::kGreaterThan ? *have > *want : *have < *want;
    }
  }
  return false;
}

std::string LabelRequirement::String() const {
  std::string out;
  if (op == SelectorOp::kDoesNotExist) out += '!';
  out += key;
  if (op == SelectorOp::kExists || op == SelectorOp::kDoesNotExist) return out;
  out += OpString(op);
  const bool set = op == SelectorOp::kIn || op == SelectorOp::kNotIn;
  if (set) out += '(';
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  out += Join(sorted, ",");
  if (set) out += ')';
  return out;
}

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

LabelSelector::LabelSelector(std::vector<LabelRequirement> requirements)
    : requirements_(std::move(requirements)) {
  SortByKey(requirements_);
}

bool LabelSelector::Matches(const json::Value* labels_object) const {
  if (nothing_) return false;
  for (const LabelRequirement& r : requirements_) {
    if (!r.Matches(labels_object)) return false;
  }
  return true;
}

std::string LabelSelector::String() const {
  std::vector<std::string> parts;
  for (const LabelRequirement& r : requirements_) parts.push_back(r.String());
  return Join(parts, ",");
}

StatusOr<LabelSelector> ParseLabelSelector(std::string_view selector) {
  Parser parser(selector);
  auto result = parser.Parse();
  if (auto* error = std::get_if<std::string>(&result)) return Status(Code::kBadRequest, *error);
  return LabelSelector(std::move(std::get<std::vector<LabelRequirement>>(result)));
}

StatusOr<LabelSelector> LabelSelectorFromJson(const json::Value& label_selector) {
  if (label_selector.is_null()) return LabelSelector::Nothing();
  if (!label_selector.is_object())
    return UnmarshalError(label_selector, "value of type v1.LabelSelector");
  std::vector<LabelRequirement> requirements;
  const json::Value* match_labels = label_selector.Find("matchLabels");
  if (match_labels != nullptr && !match_labels->is_null()) {
    if (!match_labels->is_object()) {
      return UnmarshalError(*match_labels,
                            "struct field LabelSelector.matchLabels of type map[string]string");
    }
    for (const auto& [key, value] : match_labels->object()) {
      if (!value.is_string()) {
        return UnmarshalError(value, "struct field LabelSelector.matchLabels of type string");
      }
      LabelRequirement r{key, SelectorOp::kEquals, {value.as_string()}};
      if (std::string e = ValidateRequirement(r); !e.empty()) return Status(Code::kBadRequest, e);
      requirements.push_back(std::move(r));
    }
  }
  const json::Value* expressions = label_selector.Find("matchExpressions");
  if (expressions != nullptr && !expressions->is_null()) {
    if (!expressions->is_array()) {
      return UnmarshalError(
          *expressions,
          "struct field LabelSelector.matchExpressions of type []v1.LabelSelectorRequirement");
    }
    for (const json::Value& expr : expressions->array()) {
      // null decodes to a zero requirement, whose empty operator is refused below.
      if (!expr.is_null() && !expr.is_object()) {
        return UnmarshalError(expr,
                              "struct field LabelSelector.matchExpressions of type "
                              "v1.LabelSelectorRequirement");
      }
      LabelRequirement r;
      std::string op;
      static const json::Value::Object kNoMembers;
      const json::Value::Object& members = expr.is_object() ? expr.object() : kNoMembers;
      for (const auto& [name, value] : members) {
        if (name == "key" || name == "operator") {
          if (value.is_null()) continue;
          if (!value.is_string()) {
            return UnmarshalError(value, "struct field LabelSelectorRequirement.matchExpressions." +
                                             name + " of type string");
          }
          (name == "key" ? r.key : op) = value.as_string();
        } else if (name == "values" && !value.is_null()) {
          if (!value.is_array()) {
            return UnmarshalError(value,
                                  "struct field LabelSelectorRequirement.matchExpressions."
                                  "values of type []string");
          }
          for (const json::Value& v : value.array()) {
            if (!v.is_string()) {
              return UnmarshalError(v,
                                    "struct field LabelSelectorRequirement.matchExpressions."
                                    "values of type string");
            }
            r.values.push_back(v.as_string());
          }
        }
      }
      if (op == "In") {
        r.op = SelectorOp::kIn;
      } else if (op == "NotIn") {
        r.op = SelectorOp::kNotIn;
      } else if (op == "Exists") {
        r.op = SelectorOp::kExists;
      } else if (op == "DoesNotExist") {
        r.op = SelectorOp::kDoesNotExist;
      } else {
        return Status(Code::kBadRequest, Quote(op) + " is not a valid label selector operator");
      }
      if (std::string e = ValidateRequirement(r); !e.empty()) return Status(Code::kBadRequest, e);
      requirements.push_back(std::move(r));
    }
  }
  // No requirements at all is labels.Everything().
  return LabelSelector(std::move(requirements));
}

// ---------------------------------------------------------------------------------------------
// FieldSelector

FieldSelector::FieldSelector(std::vector<FieldRequirement> requirements)
    : requirements_(std::move(requirements)) {}

bool FieldSelector::Matches(
    const std::function<std::optional<std::string>(std::string_view field)>& get) const {
  for (const FieldRequirement& r : requirements_) {
    const std::string actual = get(r.field).value_or("");
    const bool equal = actual == r.value;
    if (r.op == SelectorOp::kNotEquals ? equal : !equal) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::RequiresExactMatch(std::string_view field) const {
  for (const FieldRequirement& r : requirements_) {
    if (r.field == field && r.op != SelectorOp::kNotEquals) return r.value;
  }
  return std::nullopt;
}

std::string FieldSelector::String() const {
  std::vector<std::string> parts;
  for (const FieldRequirement& r : requirements_) {
    parts.push_back(r.field + (r.op == SelectorOp::kNotEquals ? "!=" : "=") +
                    EscapeFieldValue(r.value));
  }
  return Join(parts, ",");
}

std::string EscapeFieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

StatusOr<FieldSelector> ParseFieldSelector(std::string_view selector) {
  // splitTerms: split on commas that are not escaped; the backslashes stay for now.
  std::vector<std::string> terms;
  if (!selector.empty()) {
    size_t start = 0;
    bool in_slash = false;
    for (size_t i = 0; i < selector.size(); ++i) {
      if (in_slash) {
        in_slash = false;
      } else if (selector[i] == '\\') {
        in_slash = true;
      } else if (selector[i] == ',') {
        terms.emplace_back(selector.substr(start, i - start));
        start = i + 1;
      }
    }
    terms.emplace_back(selector.substr(start));
  }
  std::sort(terms.begin(), terms.end());

  std::vector<FieldRequirement> requirements;
  for (const std::string& term : terms) {
    if (term.empty()) continue;
    // splitTerm: the first operator found scanning left to right; "!=" and "==" before "=".
    std::optional<FieldRequirement> r;
    for (size_t i = 0; i < term.size() && !r; ++i) {
      const std::string_view rest = std::string_view(term).substr(i);
      for (auto [text, op] : {std::pair<std::string_view, SelectorOp>{"!=", SelectorOp::kNotEquals},
                              {"==", SelectorOp::kDoubleEquals},
                              {"=", SelectorOp::kEquals}}) {
        if (rest.substr(0, text.size()) == text) {
          r = FieldRequirement{term.substr(0, i), op, std::string(rest.substr(text.size()))};
          break;
        }
      }
    }
    if (!r) {
      return Status(Code::kBadRequest, "invalid selector: '" + std::string(selector) +
                                           "'; can't understand '" + term + "'");
    }
    auto unescaped = UnescapeFieldValue(r->value);
    if (auto* status = std::get_if<Status>(&unescaped)) return *status;
    r->value = std::move(std::get<std::string>(unescaped));
    // Transform with the identity function drops terms that have neither field nor value.
    if (r->field.empty() && r->value.empty()) continue;
    requirements.push_back(std::move(*r));
  }
  // Terms were sorted as written; "a==b" and "a=b" are one term in canonical form, so sort again
  // by that form, which makes String() a fixed point of parsing (the order has no meaning: the
  // terms are ANDed).
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const FieldRequirement& a, const FieldRequirement& b) {
                     const bool a_not = a.op == SelectorOp::kNotEquals;
                     const bool b_not = b.op == SelectorOp::kNotEquals;
                     return std::tie(a.field, a_not, a.value) < std::tie(b.field, b_not, b.value);
                   });
  return FieldSelector(std::move(requirements));
}

}  // namespace csdr
