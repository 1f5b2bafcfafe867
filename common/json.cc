#include "common/json.h"

// RapidJSON scans strings 16 bytes at a time with SSE2 (x86-64 always has it) when reading
// from a NUL-terminated buffer. Its aligned loads may read past the terminator within the
// same 16 bytes, which AddressSanitizer reports: sanitized builds scan a byte at a time.
#if defined(__SSE2__) && !defined(__SANITIZE_ADDRESS__)
#if defined(__has_feature)
#if !__has_feature(address_sanitizer)
#define RAPIDJSON_SSE2
#endif
#else
#define RAPIDJSON_SSE2
#endif
#endif

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <unordered_map>

namespace csdr::json {

// ---------------------------------------------------------------------------------------------
// Value

int64_t Value::DoubleToInt(double d) {
  constexpr double kTwo63 = 9223372036854775808.0;  // exactly representable
  if (std::isnan(d)) return 0;
  if (d >= kTwo63) return std::numeric_limits<int64_t>::max();
  if (d < -kTwo63) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

const std::string& Value::EmptyString() {
  static const std::string empty;
  return empty;
}
const Value::Array& Value::EmptyArray() {
  static const Array empty;
  return empty;
}
const Value::Object& Value::EmptyObject() {
  static const Object empty;
  return empty;
}
std::string& Value::ScratchString() {
  thread_local std::string scratch;
  scratch.clear();
  return scratch;
}
Value::Array& Value::ScratchArray() {
  thread_local Array scratch;
  scratch.clear();
  return scratch;
}
Value::Object& Value::ScratchObject() {
  thread_local Object scratch;
  scratch.clear();
  return scratch;
}

void Value::Destroy() noexcept {
  switch (type_) {
    case Type::kString:
      string_.~basic_string();
      break;
    case Type::kArray:
      array_.~Array();
      break;
    case Type::kObject:
      object_.~Object();
      break;
    default:
      break;
  }
  type_ = Type::kNull;
}

// Copies or moves `other`'s content into this Value, whose union holds nothing yet.
template <typename Other>
void Value::Take(Other&& other) {
  switch (other.type_) {
    case Type::kBool:
      bool_ = other.bool_;
      break;
    case Type::kInt:
      int_ = other.int_;
      break;
    case Type::kDouble:
      double_ = other.double_;
      break;
    case Type::kString:
      new (&string_) std::string(std::forward<Other>(other).string_);
      break;
    case Type::kArray:
      new (&array_) Array(std::forward<Other>(other).array_);
      break;
    case Type::kObject:
      new (&object_) Object(std::forward<Other>(other).object_);
      break;
    case Type::kNull:
      break;
  }
  type_ = other.type_;
}

void Value::CopyFrom(const Value& other) { Take(other); }

void Value::MoveFrom(Value&& other) noexcept { Take(std::move(other)); }

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const Member& m : object_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

const Value* Value::FindPath(std::initializer_list<std::string_view> path) const {
  const Value* v = this;
  for (std::string_view key : path) {
    v = v->Find(key);
    if (v == nullptr) return nullptr;
  }
  return v;
}

Value* Value::FindPath(std::initializer_list<std::string_view> path) {
  return const_cast<Value*>(static_cast<const Value*>(this)->FindPath(path));
}

std::string Value::GetString(std::initializer_list<std::string_view> path,
                             std::string_view fallback) const {
  const Value* v = FindPath(path);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return v->string_;
}

Value& Value::Set(std::string_view key, Value v) {
  if (Value* existing = Find(key)) {
    *existing = std::move(v);
    return *existing;
  }
  if (type_ != Type::kObject) {
    assert(type_ == Type::kNull && "Set on a non-object Value");
    *this = MakeObject();
  }
  object_.emplace_back(std::string(key), std::move(v));
  return object_.back().second;
}

Value& Value::operator[](std::string_view key) {
  if (Value* existing = Find(key)) return *existing;
  return Set(key, Value());
}

bool Value::Erase(std::string_view key) {
  if (type_ != Type::kObject) return false;
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (it->first == key) {
      object_.erase(it);
      return true;
    }
  }
  return false;
}

void Value::PushBack(Value v) {
  if (type_ != Type::kArray) {
    assert(type_ == Type::kNull && "PushBack on a non-array Value");
    *this = MakeArray();
  }
  array_.push_back(std::move(v));
}

size_t Value::size() const {
  switch (type_) {
    case Type::kArray:
      return array_.size();
    case Type::kObject:
      return object_.size();
    default:
      return 0;
  }
}

namespace {

// Objects with more members than this find a key through a hash index instead of a linear
// scan (equality, and the duplicate checks of both parse paths), so that an object of
// 100,000 keys costs linear time instead of quadratic.
constexpr size_t kMemberIndexThreshold = 16;

// True when the double is exactly the integer (so 1 == 1.0 but 2^53+1 != 2^53).
bool IntEqualsDouble(int64_t i, double d) {
  // 2^63 is exactly representable; anything at or past it cannot equal an int64.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!(d >= -kTwo63 && d < kTwo63)) return false;  // also false for NaN
  if (std::trunc(d) != d) return false;
  return static_cast<int64_t>(d) == i;
}

}  // namespace

bool Value::operator==(const Value& other) const {
  if (is_number() && other.is_number()) {
    if (is_int() && other.is_int()) return int_ == other.int_;
    if (is_double() && other.is_double()) return double_ == other.double_;
    return is_int() ? IntEqualsDouble(int_, other.double_) : IntEqualsDouble(other.int_, double_);
  }
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return bool_ == other.bool_;
    case Type::kString:
      return string_ == other.string_;
    case Type::kArray:
      return array_ == other.array_;
    case Type::kObject: {
      if (object_.size() != other.object_.size()) return false;
      // Small objects (the common case: metadata, spec) compare fastest by linear search;
      // large ones get an index so that comparison stays linear, not quadratic.
      if (object_.size() <= kMemberIndexThreshold) {
        for (const Member& m : object_) {
          const Value* o = other.Find(m.first);
          if (o == nullptr || !(m.second == *o)) return false;
        }
        return true;
      }
      std::unordered_map<std::string_view, const Value*> index;
      index.reserve(other.object_.size());
      for (const Member& m : other.object_) index.emplace(m.first, &m.second);
      for (const Member& m : object_) {
        auto it = index.find(m.first);
        if (it == index.end() || !(m.second == *it->second)) return false;
      }
      return true;
    }
    default:
      return false;  // numbers handled above
  }
}

// ---------------------------------------------------------------------------------------------
// Parse

namespace {

// Builds a Value from RapidJSON SAX events with an explicit stack of open containers, so
// that the nesting of the input never turns into recursion here either.
class Builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
 public:
  // `escapes`: whether the text has any \u escape. Without one, every string is valid UTF-8
  // as it stands (raw bytes are validated) and needs no Sanitize.
  Builder(const ParseOptions& options, bool escapes) : options_(options), escapes_(escapes) {}

  bool Null() { return Add(Value()); }
  bool Bool(bool b) { return Add(Value(b)); }
  bool Int(int i) { return Add(Value(static_cast<int64_t>(i))); }
  bool Uint(unsigned u) { return Add(Value(static_cast<int64_t>(u))); }
  bool Int64(int64_t i) { return Add(Value(i)); }
  bool Uint64(uint64_t u) {
    // Past int64 the number is kept as a double, as Go's unstructured decoding does.
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Add(Value(static_cast<int64_t>(u)));
    }
    return Add(Value(static_cast<double>(u)));
  }
  bool Double(double d) { return Add(Value(d)); }
  // Numbers arrive as their text (kParseNumbersAsStringsFlag) and are converted here with
  // std::from_chars: RapidJSON 1.1.0's own conversion of long or extreme numbers reads out
  // of bounds (a few hundred digits with an exponent crashed it) and has undefined behaviour
  // for zero significands with exponents. The reader has already checked the grammar.
  bool RawNumber(const char* s, rapidjson::SizeType len, bool /*copy*/) {
    const char* end = s + len;
    bool integral =
        std::find_if(s, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; }) == end;
    if (integral) {
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s, end, i);
      if (ec == std::errc() && p == end) return Add(Value(i));
      // Past int64 the number is kept as a double, as Go's unstructured decoding does.
    }
    double d = 0;
    auto [p, ec] = std::from_chars(s, end, d);
    if (ec == std::errc::result_out_of_range) {
      // Underflow rounds to zero as Go's strconv.ParseFloat does; overflow is an error there.
      bool negative_exponent =
          std::search(s, end, "e-", "e-" + 2) != end || std::search(s, end, "E-", "E-" + 2) != end;
      if (!negative_exponent) {
        number_out_of_range_ = true;
        return false;
      }
      return Add(Value(len > 0 && s[0] == '-' ? -0.0 : 0.0));
    }
    if (ec != std::errc() || p != end || !std::isfinite(d)) {
      number_out_of_range_ = true;
      return false;
    }
    return Add(Value(d));
  }
  bool String(const char* s, rapidjson::SizeType len, bool /*copy*/) {
    if (skip_ != 0) return SkipScalar();
    return Add(Value(escapes_ ? Sanitize(std::string(s, len)) : std::string(s, len)));
  }

  bool StartObject() { return Open(false); }
  bool Key(const char* s, rapidjson::SizeType len, bool /*copy*/) {
    if (skip_ != 0) return true;
    Frame& f = stack_.back();
    if (f.keep != nullptr) {
      // Looked up before any copy: a key that is not kept costs no allocation.
      const Fields::Field* field = f.keep->Find(std::string_view(s, len));
      if (field == nullptr) {
        skip_ = 1;  // the member's value is read and dropped
        return true;
      }
      child_keep_ = field->fields;
    }
    std::string key = escapes_ ? Sanitize(std::string(s, len)) : std::string(s, len);
    size_t existing = FindMember(f, key);
    if (existing != kNone) {
      // Last occurrence wins, in the position of the first (Go's map semantics).
      if (options_.duplicate_fields != nullptr) {
        options_.duplicate_fields->push_back(PathOf(stack_.size() - 1, key));
      }
      f.target = existing;
      return true;
    }
    members_.emplace_back(std::move(key), Value());
    f.target = members_.size() - 1;
    if (f.index || members_.size() - f.begin > kMemberIndexThreshold) IndexMember(f, f.target);
    return true;
  }
  bool EndObject(rapidjson::SizeType /*count*/) { return Close(); }
  bool StartArray() { return Open(true); }
  bool EndArray(rapidjson::SizeType /*count*/) { return Close(); }

  bool depth_exceeded() const { return depth_exceeded_; }
  bool number_out_of_range() const { return number_out_of_range_; }
  Value TakeRoot() { return std::move(root_); }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  // An open container. Its elements or members collect on one stack shared by all open
  // arrays (elements_) or objects (members_), from `begin`; when it closes they move into a
  // container allocated once at its final size.
  struct Frame {
    bool is_array = false;
    size_t begin = 0;
    size_t target = 0;  // objects: index in members_ of the member that receives the next value
    const Fields* keep = nullptr;  // objects: the members to build (null: all)
    // Hash of key -> index in members_; built once the object grows past
    // kMemberIndexThreshold.
    // Keys are not referenced by view because member strings move when the vector grows.
    // Behind a pointer: most objects never need it, and a frame is then trivial to move.
    std::unique_ptr<std::unordered_multimap<size_t, size_t>> index;
  };

  bool Open(bool is_array) {
    // A skipped value's containers count towards the depth as built ones do.
    const int depth = static_cast<int>(stack_.size()) + (skip_ != 0 ? skip_ - 1 : 0);
    if (depth >= options_.max_depth) {
      depth_exceeded_ = true;
      return false;  // stops the reader with kParseErrorTermination
    }
    if (skip_ != 0) {
      ++skip_;
      return true;
    }
    Frame f;
    f.is_array = is_array;
    f.begin = is_array ? elements_.size() : members_.size();
    if (!is_array) f.keep = stack_.empty() ? options_.keep : child_keep_;
    child_keep_ = nullptr;
    stack_.push_back(std::move(f));
    return true;
  }

  // A scalar inside a skipped value; the skipped value itself when it is a scalar.
  bool SkipScalar() {
    if (skip_ == 1) skip_ = 0;
    return true;
  }

  bool Close() {
    if (skip_ != 0) {
      if (--skip_ == 1) skip_ = 0;  // the skipped value's outermost container ended
      return true;
    }
    Frame& f = stack_.back();
    Value done;
    if (f.is_array) {
      done = Value::MakeArray();
      Value::Array& out = done.array();
      out.reserve(elements_.size() - f.begin);
      for (size_t i = f.begin; i < elements_.size(); ++i) out.push_back(std::move(elements_[i]));
      elements_.resize(f.begin);
    } else {
      done = Value::MakeObject();
      Value::Object& out = done.object();
      out.reserve(members_.size() - f.begin);
      for (size_t i = f.begin; i < members_.size(); ++i) out.push_back(std::move(members_[i]));
      members_.resize(f.begin);
    }
    stack_.pop_back();
    return Add(std::move(done));
  }

  bool Add(Value v) {
    if (skip_ != 0) return SkipScalar();  // scalars only: Close() has handled containers
    child_keep_ = nullptr;
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.is_array) {
      elements_.push_back(std::move(v));
    } else {
      members_[f.target].second = std::move(v);
    }
    return true;
  }

  size_t FindMember(Frame& f, const std::string& key) {
    if (!f.index) {
      // Sizes and first bytes first: most keys of an object differ in one or the other.
      for (size_t i = f.begin; i < members_.size(); ++i) {
        const std::string& other = members_[i].first;
        if (other.size() == key.size() && (key.empty() || other[0] == key[0]) && other == key) {
          return i;
        }
      }
      return kNone;
    }
    auto [begin, end] = f.index->equal_range(std::hash<std::string>{}(key));
    for (auto it = begin; it != end; ++it) {
      if (members_[it->second].first == key) return it->second;
    }
    return kNone;
  }

  void IndexMember(Frame& f, size_t added) {
    if (!f.index) {
      // First time past the threshold: index everything collected so far.
      f.index = std::make_unique<std::unordered_multimap<size_t, size_t>>();
      for (size_t i = f.begin; i < members_.size(); ++i) {
        f.index->emplace(std::hash<std::string>{}(members_[i].first), i);
      }
      return;
    }
    f.index->emplace(std::hash<std::string>{}(members_[added].first), added);
  }

  // ".spec.bucket" style path of `key` inside the object at stack_[level].
  std::string PathOf(size_t level, const std::string& key) const {
    std::string path;
    for (size_t i = 0; i < level; ++i) {
      const Frame& f = stack_[i];
      if (f.is_array) {
        // Its elements so far: up to where the next open array's begin, or the stack's end.
        size_t end = elements_.size();
        for (size_t j = i + 1; j < stack_.size(); ++j) {
          if (stack_[j].is_array) {
            end = stack_[j].begin;
            break;
          }
        }
        path += '[';
        path += std::to_string(end - f.begin);
        path += ']';
      } else {
        path += '.';
        path += members_[f.target].first;
      }
    }
    path += '.';
    path += key;
    return path;
  }

  // RapidJSON decodes a lone \uDC00-\uDFFF escape into CESU bytes (ED B0..BF xx), which is
  // not UTF-8. Go's decoder turns such escapes into U+FFFD; do the same so every string we
  // hold is valid UTF-8. Raw invalid bytes never get here (kParseValidateEncodingFlag).
  static std::string Sanitize(std::string s) {
    if (s.find('\xED') == std::string::npos) return s;
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\xED' && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0xA0) {
        out += "\xEF\xBF\xBD";
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  const ParseOptions& options_;
  const bool escapes_;
  // The stacks are the thread's, kept between parses so that they are allocated once.
  struct Stacks {
    std::vector<Frame> frames;
    std::vector<Value> elements;
    Value::Object members;
  };
  static Stacks& ThreadStacks() {
    thread_local Stacks stacks;
    return stacks;
  }
  struct Reset {
    explicit Reset(Stacks& s) : s(s) { Clear(); }
    ~Reset() {
      Clear();
      // What a large document made them grow to is not kept by the thread.
      // (Every worker thread has its own: what stays is bounded to a few tens of KiB.)
      if (s.elements.capacity() > 256) std::vector<Value>().swap(s.elements);
      if (s.members.capacity() > 256) Value::Object().swap(s.members);
      if (s.frames.capacity() > 64) std::vector<Frame>().swap(s.frames);
    }
    void Clear() {
      s.frames.clear();
      s.elements.clear();
      s.members.clear();
    }
    Stacks& s;
  };
  Reset reset_{ThreadStacks()};
  std::vector<Frame>& stack_ = reset_.s.frames;
  std::vector<Value>& elements_ = reset_.s.elements;
  Value::Object& members_ = reset_.s.members;
  Value root_;
  // Inside a member that is not kept: 1 while its value has not started, then 1 + the number
  // of its containers open; 0 when building.
  int skip_ = 0;
  const Fields* child_keep_ = nullptr;  // for the value of the member just keyed
  bool depth_exceeded_ = false;
  bool number_out_of_range_ = false;
};

constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseValidateEncodingFlag;
// For text that is all ASCII: nothing to validate. RapidJSON checks encodings a byte at a
// time, which was a sixth of the time spent parsing an AdmissionReview.
constexpr unsigned kParseFlagsAscii = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                      rapidjson::kParseNumbersAsStringsFlag;

bool IsAscii(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  uint64_t high = 0;
  for (; end - p >= 8; p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    high |= word;
  }
  for (; p < end; ++p) high |= static_cast<unsigned char>(*p);
  return (high & 0x8080808080808080ULL) == 0;
}

std::string ParseErrorMessage(size_t offset, std::string_view what) {
  std::string msg = "invalid JSON at offset " + std::to_string(offset) + ": ";
  msg += what;
  if (!msg.empty() && msg.back() == '.') msg.pop_back();
  return msg;
}

// ---- ParseOptions::simd: simdjson in front of the reader. ----
//
// simdjson's document parser checks all of the text (grammar, UTF-8, escapes, raw control
// bytes in strings, numbers, depth) before anything is built, several times faster than
// RapidJSON's reader. Where the two could differ the text goes to the reader instead, which
// decides:
//   - everything simdjson refuses: its errors carry no offset, and some of what it refuses
//     the reader takes (integers past 64 bits become doubles, a lone low surrogate U+FFFD);
//   - a leading byte-order mark, which simdjson versions treat differently;
//   - zero and subnormal doubles (the reader refuses "0e2112", and may round subnormals to
//     zero), and text with 309 digits in a row (HasLongDigitRun);
//   - duplicate_fields, which only the reader's builder reports;
//   - text over 64 KiB, so that no thread keeps a large parser, and depth limits over 512.
// Numbers keep the reader's types: an integer within int64 is an int, past it (simdjson's
// uint64) a double, anything with a fraction or exponent a double.
constexpr size_t kSimdMaxBytes = 64u << 10;
// SimdBuilder recurses once per level: deeper limits go to the reader, which does not.
constexpr int kSimdMaxDepth = 512;

// RapidJSON refuses a number whose integer part passes 1.8e307 before its last digit (309
// digits and more: "Number too big"), even when an exponent brings it back into range; simdjson
// reads it. Such text has a run of at least 309 digits, so at least 36 consecutive 8-byte words
// of digits only: found without looking at each byte.
bool HasLongDigitRun(std::string_view text) {
  constexpr uint64_t kHigh = 0xF0F0F0F0F0F0F0F0ULL, kLow = 0x0F0F0F0F0F0F0F0FULL;
  int run = 0;
  for (size_t i = 0; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, sizeof(w));
    // Every byte 0x30-0x39: high nibble 3, low nibble at most 9 (adding 6 carries from 10 up).
    const bool digits =
        (w & kHigh) == 0x3030303030303030ULL && (((w & kLow) + 0x0606060606060606ULL) & kHigh) == 0;
    run = digits ? run + 1 : 0;
    if (run >= 36) return true;
  }
  return false;
}

class SimdBuilder {
 public:
  // The Value of `e`; when the reader must decide instead, failed() turns true and the
  // result is to be dropped.
  Value Make(simdjson::dom::element e, const Fields* keep) {
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY: {
        simdjson::dom::array in = e.get_array().value_unsafe();
        Value out = Value::MakeArray();
        Value::Array& arr = out.array();
        arr.reserve(in.size());
        for (simdjson::dom::element item : in) arr.push_back(Make(item, nullptr));
        return out;
      }
      case simdjson::dom::element_type::OBJECT:
        return MakeObject(e.get_object().value_unsafe(), keep);
      case simdjson::dom::element_type::INT64:
        return Value(e.get_int64().value_unsafe());
      case simdjson::dom::element_type::UINT64:
        // Only past int64: kept as a double, as the reader (and Go) do.
        return Value(static_cast<double>(e.get_uint64().value_unsafe()));
      case simdjson::dom::element_type::DOUBLE: {
        const double d = e.get_double().value_unsafe();
        if (!DoubleIsOurs(d)) failed_ = true;
        return Value(d);
      }
      case simdjson::dom::element_type::STRING:
        return Value(e.get_string().value_unsafe());
      case simdjson::dom::element_type::BOOL:
        return Value(e.get_bool().value_unsafe());
      case simdjson::dom::element_type::NULL_VALUE:
        return Value();
    }
    failed_ = true;
    return Value();
  }
  bool failed() const { return failed_; }

 private:
  // Zero and subnormal doubles go to the reader: it refuses a zero with an exponent past
  // RapidJSON's range ("0e2112", which simdjson and Go read as 0) and may round subnormals
  // to zero.
  static bool DoubleIsOurs(double d) { return std::fabs(d) >= std::numeric_limits<double>::min(); }
  // The same for a value that is not built (a member the keep table skips).
  static bool NumbersAreOurs(simdjson::dom::element e) {
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY: {
        const simdjson::dom::array items = e.get_array().value_unsafe();
        for (simdjson::dom::element item : items) {
          if (!NumbersAreOurs(item)) return false;
        }
        return true;
      }
      case simdjson::dom::element_type::OBJECT: {
        const simdjson::dom::object members = e.get_object().value_unsafe();
        for (simdjson::dom::key_value_pair member : members) {
          if (!NumbersAreOurs(member.value)) return false;
        }
        return true;
      }
      case simdjson::dom::element_type::DOUBLE:
        return DoubleIsOurs(e.get_double().value_unsafe());
      default:
        return true;
    }
  }

  // Members in order; a repeated key's last value wins, in the first one's position (the
  // reader's rule). Past kMemberIndexThreshold members, keys are found through a hash index.
  Value MakeObject(simdjson::dom::object in, const Fields* keep) {
    Value out = Value::MakeObject();
    Value::Object& obj = out.object();
    // Never outgrown (a kept member is one of keep's), so the keys' views below stay valid.
    obj.reserve(keep != nullptr ? std::min(in.size(), keep->list.size()) : in.size());
    std::unordered_map<std::string_view, size_t> index;
    for (simdjson::dom::key_value_pair member : in) {
      const Fields* child = nullptr;
      if (keep != nullptr) {
        const Fields::Field* field = keep->Find(member.key);
        if (field == nullptr) {  // checked by simdjson, not built; but its numbers are ours
          if (!NumbersAreOurs(member.value)) failed_ = true;
          continue;
        }
        child = field->fields;
      }
      size_t at = obj.size();
      if (index.empty()) {
        for (size_t i = 0; i < obj.size(); ++i) {
          if (obj[i].first == member.key) at = i;
        }
        if (at == obj.size() && obj.size() == kMemberIndexThreshold) {
          for (size_t i = 0; i < obj.size(); ++i) index.emplace(obj[i].first, i);
        }
      } else if (auto it = index.find(member.key); it != index.end()) {
        at = it->second;
      }
      if (at < obj.size()) {
        obj[at].second = Make(member.value, child);
        continue;
      }
      obj.emplace_back(std::string(member.key), Make(member.value, child));
      if (!index.empty()) index.emplace(obj.back().first, at);
    }
    return out;
  }

  bool failed_ = false;
};

std::optional<Value> SimdParse(std::string_view text, const ParseOptions& options) {
  if (options.duplicate_fields != nullptr || text.empty() || text.size() > kSimdMaxBytes ||
      static_cast<unsigned char>(text[0]) == 0xEF || options.max_depth < 1 ||
      options.max_depth > kSimdMaxDepth || HasLongDigitRun(text)) {
    return std::nullopt;
  }
  // The parser and the padded copy of the text are the thread's, sized for the largest
  // text it has seen (at most kSimdMaxBytes) and for this depth limit.
  thread_local simdjson::dom::parser parser(kSimdMaxBytes);
  thread_local size_t capacity = 0;
  thread_local int depth = 0;
  thread_local std::string padded;
  if (text.size() > capacity || options.max_depth != depth) {
    const size_t want = std::max<size_t>(std::bit_ceil(text.size()), 4096);
    if (parser.allocate(want, options.max_depth) != simdjson::SUCCESS) {
      capacity = 0;
      return std::nullopt;
    }
    capacity = want;
    depth = options.max_depth;
  }
  padded.assign(text.data(), text.size());
  padded.resize(text.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  if (parser.parse(padded.data(), text.size(), false).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  SimdBuilder builder;
  Value out = builder.Make(root, options.keep);
  if (builder.failed()) return std::nullopt;
  return out;
}

}  // namespace

StatusOr<Value> Parse(std::string_view text, const ParseOptions& options) {
  if (options.simd) {
    if (std::optional<Value> value = SimdParse(text, options)) return std::move(*value);
  }
  // StringStream reads up to a NUL: the text is copied into a NUL-terminated buffer (reused
  // by the thread) first; an embedded NUL is caught by the trailing-data check below.
  thread_local std::string buffer;
  buffer.assign(text.data(), text.size());
  struct Release {
    // A large document's buffer is not kept by the thread.
    ~Release() {
      if (buffer.capacity() > (16u << 10)) std::string().swap(buffer);
    }
  } release;
  // In situ: strings are unescaped within the buffer and handed over from there, instead of
  // being copied to the reader's own stack first.
  rapidjson::InsituStringStream stream(buffer.data());
  Builder builder(options, text.find("\\u") != std::string_view::npos);
  rapidjson::Reader reader;
  rapidjson::ParseResult result = IsAscii(text) ? reader.Parse<kParseFlagsAscii>(stream, builder)
                                                : reader.Parse<kParseFlags>(stream, builder);
  if (!result) {
    if (builder.number_out_of_range()) {
      return Status(Code::kBadRequest,
                    ParseErrorMessage(result.Offset(), "number is out of the range of a float64"));
    }
    if (builder.depth_exceeded()) {
      return Status(Code::kBadRequest,
                    ParseErrorMessage(result.Offset(), "nesting exceeds the maximum depth of " +
                                                           std::to_string(options.max_depth)));
    }
    return Status(Code::kBadRequest,
                  ParseErrorMessage(result.Offset(), rapidjson::GetParseError_En(result.Code())));
  }
  if (stream.Tell() != text.size()) {
    return Status(Code::kBadRequest,
                  ParseErrorMessage(stream.Tell(), "unexpected data after the top-level value"));
  }
  return builder.TakeRoot();
}

// ---------------------------------------------------------------------------------------------
// Serialize

namespace {

// A RapidJSON output stream that writes straight into the caller's std::string. The
// Writer announces how many bytes it is about to put (PutReserve), so the buffer grows
// geometrically once per token and each byte is one store through a cursor (PutUnsafe);
// indexing the string instead costs three times as much, since every char store may alias
// the string's own fields and forces them to be reloaded.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string* out) : out_(out), start_(out->size()), used_(start_) {
    Grow(256);
  }
  ~StringSink() { out_->resize(static_cast<size_t>(cursor_ - out_->data())); }
  StringSink(const StringSink&) = delete;
  StringSink& operator=(const StringSink&) = delete;

  void Reserve(size_t count) {
    if (static_cast<size_t>(end_ - cursor_) < count) Grow(count);
  }
  void PutUnsafe(char c) { *cursor_++ = c; }
  void AppendUnsafe(const char* data, size_t n) {
    std::memcpy(cursor_, data, n);
    cursor_ += n;
  }
  void Put(char c) {
    Reserve(1);
    PutUnsafe(c);
  }
  void Flush() {}

 private:
  // Makes room for `count` more bytes. The string's size is its capacity in use while the
  // sink is alive; the destructor trims it to what was written.
  // Growth is geometric in what this sink has written, not in what the string held before:
  // appending a small value to a large document (a list's metadata, a table row) must not
  // zero-fill as much again as the document holds.
  void Grow(size_t count) {
    if (cursor_ != nullptr) used_ = static_cast<size_t>(cursor_ - out_->data());
    out_->resize(used_ + std::max(count, std::max<size_t>(used_ - start_, 256)));
    cursor_ = out_->data() + used_;
    end_ = out_->data() + out_->size();
  }

  std::string* out_;
  size_t start_;  // the string's size when the sink began
  size_t used_;
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

// Found by argument-dependent lookup from rapidjson::Writer (they live in StringSink's
// namespace for that reason) and preferred over RapidJSON's generic templates.
inline void PutReserve(StringSink& sink, size_t count) { sink.Reserve(count); }
inline void PutUnsafe(StringSink& sink, char c) { sink.PutUnsafe(c); }

// Shortest round-trip decimal digits of a finite double and its decimal exponent, such that
// d == 0.<digits> * 10^(exponent+1) (i.e. exponent is that of scientific notation).
struct ShortestDigits {
  bool negative = false;
  char digits[32];
  int count = 0;
  int exponent = 0;
};

ShortestDigits Shortest(double d) {
  ShortestDigits out;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const char* p = buf;
  if (*p == '-') {
    out.negative = true;
    ++p;
  }
  for (; p < res.ptr && *p != 'e'; ++p) {
    if (*p != '.') out.digits[out.count++] = *p;
  }
  std::from_chars(p + (*(p + 1) == '+' ? 2 : 1), res.ptr, out.exponent);
  return out;
}

// Formats a double as Go's strconv 'f' or 'e' with precision -1: the shortest digits that
// round-trip, written out in full ("9223372036854776000", as Go does, not the exact
// binary value) or in exponent form with at least two exponent digits ("1e+21", "1e-07").
size_t FormatShortest(double d, bool exponent_form, char* buf) {
  ShortestDigits s = Shortest(d);
  char* out = buf;
  if (s.negative) *out++ = '-';
  if (exponent_form) {
    *out++ = s.digits[0];
    if (s.count > 1) {
      *out++ = '.';
      for (int i = 1; i < s.count; ++i) *out++ = s.digits[i];
    }
    *out++ = 'e';
    int e = s.exponent;
    *out++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    if (e < 10) *out++ = '0';
    out = std::to_chars(out, out + 8, e).ptr;
    return static_cast<size_t>(out - buf);
  }
  if (s.exponent < 0) {
    *out++ = '0';
    *out++ = '.';
    for (int i = 0; i < -s.exponent - 1; ++i) *out++ = '0';
    for (int i = 0; i < s.count; ++i) *out++ = s.digits[i];
    return static_cast<size_t>(out - buf);
  }
  const int integer_digits = s.exponent + 1;
  for (int i = 0; i < integer_digits; ++i) *out++ = i < s.count ? s.digits[i] : '0';
  if (s.count > integer_digits) {
    *out++ = '.';
    for (int i = integer_digits; i < s.count; ++i) *out++ = s.digits[i];
  }
  return static_cast<size_t>(out - buf);
}

// Formats a finite double as Go's encoding/json does: plain decimal notation for
// 1e-6 <= |d| < 1e21 (so 1.0 prints as "1"), exponent notation outside that range with
// "e-7" rather than "e-07". buf must hold 64 bytes (the longest, ~1e-6 in full, is 26).
size_t FormatJsonDouble(double d, char* buf) {
  const double abs = std::fabs(d);
  const bool exponent = abs != 0 && (abs < 1e-6 || abs >= 1e21);
  size_t n = FormatShortest(d, exponent, buf);
  if (exponent && n >= 4 && buf[n - 4] == 'e' && buf[n - 3] == '-' && buf[n - 2] == '0') {
    buf[n - 2] = buf[n - 1];
    --n;
  }
  return n;
}

template <typename Writer>
void WriteDouble(Writer& writer, double d) {
  if (!std::isfinite(d)) {
    // JSON has no NaN or infinity (Go's encoder refuses them); Serialize cannot fail, so
    // write null rather than an unparseable token. Parse never produces such values.
    writer.Null();
    return;
  }
  char buf[64];
  size_t n = FormatJsonDouble(d, buf);
  writer.RawValue(buf, n, rapidjson::kNumberType);
}

// Bytes that a JSON string can carry as they are, as Go's encoding/json decides: not '"',
// '\\', control characters, or '<', '>', '&' (Go escapes these by default so JSON can sit in
// HTML, and kube-apiserver's output does). Bytes >= 0x80 need a look at the whole sequence.
constexpr std::array<bool, 256> kSafeByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = true;
  for (char c : {'"', '\\', '<', '>', '&'}) t[static_cast<unsigned char>(c)] = false;
  return t;
}();

// Writes s as a JSON string literal the way Go's encoding/json does, byte for byte: runs of
// safe bytes are copied at once, \b \f \n \r \t and \u00xx (lowercase hex) for other control
// characters, \u003c \u003e \u0026 for < > &, \u2028 and \u2029 escaped, and each byte of an
// invalid UTF-8 sequence replaced by \ufffd (Parse never yields one; built values might).
void AppendJsonString(StringSink& sink, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Room for the quotes and every byte unescaped; each escape reserves its own extra room.
  sink.Reserve(s.size() + 2);
  sink.PutUnsafe('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size() && kSafeByte[static_cast<unsigned char>(s[run])]) ++run;
    sink.AppendUnsafe(s.data() + i, run - i);
    if (run == s.size()) break;
    i = run;
    // An escape is at most 6 bytes for 1; the +1 keeps the closing quote's room.
    sink.Reserve(6 + 1 + (s.size() - i));
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      uint32_t cp = 0;
      size_t n = 0;
      if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
      } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
      }
      bool valid = n > 0 && i + n <= s.size();
      for (size_t k = 1; valid && k < n; ++k) {
        const unsigned char cc = static_cast<unsigned char>(s[i + k]);
        valid = (cc & 0xC0) == 0x80;
        cp = (cp << 6) | (cc & 0x3F);
      }
      valid = valid && !(n == 3 && cp < 0x800) && !(n == 4 && cp < 0x10000) &&
              !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
      if (!valid) {
        sink.AppendUnsafe("\\ufffd", 6);
        ++i;
      } else if (cp == 0x2028 || cp == 0x2029) {
        sink.AppendUnsafe(cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        i += n;
      } else {
        sink.AppendUnsafe(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        sink.AppendUnsafe("\\\"", 2);
        break;
      case '\\':
        sink.AppendUnsafe("\\\\", 2);
        break;
      case '\b':
        sink.AppendUnsafe("\\b", 2);
        break;
      case '\f':
        sink.AppendUnsafe("\\f", 2);
        break;
      case '\n':
        sink.AppendUnsafe("\\n", 2);
        break;
      case '\r':
        sink.AppendUnsafe("\\r", 2);
        break;
      case '\t':
        sink.AppendUnsafe("\\t", 2);
        break;
      default: {
        const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        sink.AppendUnsafe(escaped, 6);
      }
    }
    ++i;
  }
  sink.PutUnsafe('"');
}

// The Writer keeps the structure (commas, colons, indentation, the nesting bookkeeping); an
// empty raw value makes it emit exactly the separator a string needs here, and the string
// itself then goes straight into the sink, much faster than RapidJSON's byte-wise escaping.
template <typename Writer>
void WriteString(Writer& writer, StringSink& sink, std::string_view s) {
  writer.RawValue("", 0, rapidjson::kStringType);
  AppendJsonString(sink, s);
}

template <typename Writer>
void WriteScalar(Writer& writer, StringSink& sink, const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      writer.Null();
      break;
    case Type::kBool:
      writer.Bool(v.as_bool());
      break;
    case Type::kInt:
      writer.Int64(v.as_int());
      break;
    case Type::kDouble:
      WriteDouble(writer, v.as_double());
      break;
    case Type::kString:
      WriteString(writer, sink, v.as_string());
      break;
    default:
      assert(false);
  }
}

// Walks the tree with an explicit stack, so a deeply nested Value built in code (not only
// parsed ones, which are bounded by max_depth) cannot exhaust the call stack.
template <typename Writer>
void WriteValue(Writer& writer, StringSink& sink, const Value& root) {
  struct Open {
    const Value* container;
    size_t next;
  };
  std::vector<Open> stack;
  auto enter = [&](const Value& v) {
    if (v.is_array()) {
      writer.StartArray();
      stack.push_back({&v, 0});
    } else if (v.is_object()) {
      writer.StartObject();
      stack.push_back({&v, 0});
    } else {
      WriteScalar(writer, sink, v);
    }
  };
  enter(root);
  while (!stack.empty()) {
    Open& top = stack.back();
    const Value& c = *top.container;
    if (c.is_array()) {
      if (top.next == c.array().size()) {
        writer.EndArray(static_cast<rapidjson::SizeType>(c.array().size()));
        stack.pop_back();
        continue;
      }
      const Value& child = c.array()[top.next++];
      enter(child);  // may invalidate `top`
    } else {
      if (top.next == c.object().size()) {
        writer.EndObject(static_cast<rapidjson::SizeType>(c.object().size()));
        stack.pop_back();
        continue;
      }
      const Value::Member& m = c.object()[top.next++];
      WriteString(writer, sink, m.first);
      enter(m.second);  // may invalidate `top`
    }
  }
}

}  // namespace

void SerializeTo(const Value& value, std::string* out, bool pretty) {
  StringSink sink(out);
  if (pretty) {
    rapidjson::PrettyWriter<StringSink> writer(sink);
    writer.SetIndent(' ', 2);
    WriteValue(writer, sink, value);
  } else {
    rapidjson::Writer<StringSink> writer(sink);
    WriteValue(writer, sink, value);
  }
}

std::string Serialize(const Value& value, bool pretty) {
  std::string out;
  SerializeTo(value, &out, pretty);
  return out;
}

void AppendString(std::string* out, std::string_view s) {
  StringSink sink(out);
  AppendJsonString(sink, s);
}

// ---------------------------------------------------------------------------------------------
// Repr

namespace {

// Go's %v for a float64: %g with the shortest digits, i.e. exponent notation when the
// decimal exponent is below -4 or at least 6 ("1e+06", "1.5e-05"), plain otherwise. This is
// strconv's 'g' with precision -1, whose threshold is 6, not encoding/json's 1e21.
std::string GoFormatV(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const int exp = d == 0 ? 0 : Shortest(d).exponent;
  return std::string(buf, FormatShortest(d, exp < -4 || exp >= 6, buf));
}

}  // namespace

std::string Repr(const Value& value) {
  switch (value.type()) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return value.as_bool() ? "true" : "false";
    case Type::kInt:
      return std::to_string(value.as_int());
    case Type::kDouble:
      return GoFormatV(value.as_double());
    case Type::kString:
      return Quote(value.as_string());
    default:
      return Serialize(value);
  }
}

std::string_view GoKindName(const Value& value) {
  switch (value.type()) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kInt:
    case Type::kDouble:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "null";
}

}  // namespace csdr::json
