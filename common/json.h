// json::Value: an owned, order-preserving JSON document model.
//
// Objects keep their members in insertion order (so that what we serve reads like what was
// written) and compare as unordered maps. Parsing goes through RapidJSON's iterative SAX
// reader, so attacker-controlled nesting never recurses inside the parser; the depth is
// bounded by ParseOptions::max_depth so that every recursive walk of a parsed Value in this
// codebase is bounded too. ParseOptions::simd puts simdjson in front of it for the hot
// path (the webhook's AdmissionReviews), with the same verdicts and values.
//
// Thread safety: a Value is a plain value type; concurrent reads are safe, writes are not.
#pragma once

#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace csdr::json {

enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

class Value {
 public:
  using Array = std::vector<Value>;
  using Member = std::pair<std::string, Value>;
  using Object = std::vector<Member>;

  Value() noexcept {}  // null
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : type_(Type::kBool), bool_(b) {}
  Value(int i) noexcept : type_(Type::kInt), int_(i) {}
  Value(int64_t i) noexcept : type_(Type::kInt), int_(i) {}
  Value(double d) noexcept : type_(Type::kDouble), double_(d) {}
  Value(std::string s) : type_(Type::kString) { new (&string_) std::string(std::move(s)); }
  Value(std::string_view s) : type_(Type::kString) { new (&string_) std::string(s); }
  Value(const char* s) : type_(Type::kString) { new (&string_) std::string(s); }
  Value(const Value& other) { CopyFrom(other); }
  Value(Value&& other) noexcept { MoveFrom(std::move(other)); }
  // Through a temporary, so that assigning a Value's own child to it is safe.
  Value& operator=(const Value& other) {
    if (this != &other) {
      Value copy(other);
      Destroy();
      MoveFrom(std::move(copy));
    }
    return *this;
  }
  Value& operator=(Value&& other) noexcept {
    if (this != &other) {
      Value taken(std::move(other));
      Destroy();
      MoveFrom(std::move(taken));
    }
    return *this;
  }
  ~Value() { Destroy(); }
  static Value MakeArray() {
    Value v;
    v.type_ = Type::kArray;
    new (&v.array_) Array();
    return v;
  }
  static Value MakeObject() {
    Value v;
    v.type_ = Type::kObject;
    new (&v.object_) Object();
    return v;
  }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_double() const { return type_ == Type::kDouble; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kDouble; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors do not check the type: on another type they give false, 0 or an empty string
  // or container (as_int truncates a double, saturating at the int64 limits; as_double widens
  // an int). Check the type first on untrusted input. The mutable string and containers of
  // another type are a scratch object: what is written to them is not kept.
  bool as_bool() const { return type_ == Type::kBool && bool_; }
  int64_t as_int() const {
    return type_ == Type::kDouble ? DoubleToInt(double_) : type_ == Type::kInt ? int_ : 0;
  }
  double as_double() const {
    return type_ == Type::kInt ? static_cast<double>(int_) : type_ == Type::kDouble ? double_ : 0;
  }
  const std::string& as_string() const { return type_ == Type::kString ? string_ : EmptyString(); }
  std::string& as_string() { return type_ == Type::kString ? string_ : ScratchString(); }
  const Array& array() const { return type_ == Type::kArray ? array_ : EmptyArray(); }
  Array& array() { return type_ == Type::kArray ? array_ : ScratchArray(); }
  const Object& object() const { return type_ == Type::kObject ? object_ : EmptyObject(); }
  Object& object() { return type_ == Type::kObject ? object_ : ScratchObject(); }

  // Object helpers. Find returns nullptr when this is not an object or the key is absent.
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // Walks nested objects; nullptr if any step is missing or not an object.
  const Value* FindPath(std::initializer_list<std::string_view> path) const;
  Value* FindPath(std::initializer_list<std::string_view> path);
  // The string at `path`, or `fallback` if absent or not a string.
  std::string GetString(std::initializer_list<std::string_view> path,
                        std::string_view fallback = "") const;
  // Sets key (turning a null into an object first); replaces an existing member in place.
  Value& Set(std::string_view key, Value v);
  // Returns the member, inserting a null one at the end if absent (null becomes an object).
  Value& operator[](std::string_view key);
  bool Erase(std::string_view key);
  void PushBack(Value v);  // null becomes an array
  size_t size() const;     // members or elements; 0 for scalars

  // Deep equality; objects compare as unordered maps, 1 == 1.0.
  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  // static_cast<int64_t> is undefined outside int64's range (a client can send 1e300).
  static int64_t DoubleToInt(double d);

  static const std::string& EmptyString();
  static const Array& EmptyArray();
  static const Object& EmptyObject();
  static std::string& ScratchString();
  static Array& ScratchArray();
  static Object& ScratchObject();
  void Destroy() noexcept;
  void CopyFrom(const Value& other);
  void MoveFrom(Value&& other) noexcept;
  template <typename Other>
  void Take(Other&& other);

  // A tagged union: 40 bytes a node (a string or a vector and the tag), where one field per
  // type made it 112. Parsing, copying and freeing trees is most of what a request costs.
  Type type_ = Type::kNull;
  union {
    bool bool_;
    int64_t int_;
    double double_;
    std::string string_;
    Array array_;
    Object object_;
  };
};

// The members of an object a parse keeps (ParseOptions::keep): a decoder that reads a few
// fields of a large envelope builds only those. A field with `fields` set keeps only those
// members of its value (when the value is an object); without, all of it. Static tables:
//   const Fields kKind{{{"group"}, {"kind"}}};
//   const Fields kReview{{{"apiVersion"}, {"request", &kRequest}}};
struct Fields {
  struct Field {
    std::string_view name;
    const Fields* fields = nullptr;
  };
  std::vector<Field> list;
  const Field* Find(std::string_view name) const {
    for (const Field& f : list) {
      if (f.name.size() == name.size() && (name.empty() || f.name[0] == name[0]) &&
          f.name == name) {
        return &f;
      }
    }
    return nullptr;
  }
};

struct ParseOptions {
  // Maximum nesting of arrays and objects; deeper input is refused with BadRequest.
  int max_depth = 100;
  // When set and the document is an object, members it does not name are read (the grammar,
  // the encoding, the depth limit and number ranges are checked as everywhere) but not
  // built, and their duplicates are not reported. Null: everything is kept.
  const Fields* keep = nullptr;
  // When set, duplicate object keys are collected here as paths (".spec.bucket", array
  // elements as ".spec.hooks[2].name") and the last occurrence wins, in the position of the
  // first; when null, duplicates are silently resolved the same way.
  std::vector<std::string>* duplicate_fields = nullptr;
  // Parse with simdjson first, where it decides exactly as the RapidJSON reader does: the
  // same verdict and the same Value, down to each number's type. Text it refuses, and text
  // where the two could differ (a leading byte-order mark, zero or subnormal doubles, 309
  // digits in a row, more than 64 KiB, a max_depth over 512, duplicate_fields requested),
  // goes through the reader, whose verdict and message the caller gets. A 1 KB
  // AdmissionReview parses in half the time (simdjson's checking alone takes a fifth of the
  // reader's); test/fuzz/fuzz_json checks that both paths agree.
  bool simd = false;
};

// Parses exactly one JSON value (trailing whitespace allowed). Errors are kBadRequest with
// a message that names the offset, e.g. "invalid JSON at offset 12: Missing a comma".
StatusOr<Value> Parse(std::string_view text, const ParseOptions& options = {});

// Serializes compactly, or with two-space indentation as Go's json.MarshalIndent does.
// Strings and numbers come out byte for byte as Go's encoding/json writes them (and so
// kube-apiserver): <, >, & escaped as \u003c \u003e \u0026, 1.0 as 1, 1e21 as 1e+21.
// NaN and infinities, which JSON cannot carry (Go refuses them), are written as null.
// SerializeTo appends to *out.
std::string Serialize(const Value& value, bool pretty = false);

// Go's name for a JSON value's kind, as encoding/json words "cannot unmarshal X into ...":
// null, bool, number, string, array, object.
std::string_view GoKindName(const Value& value);
void SerializeTo(const Value& value, std::string* out, bool pretty = false);

// Appends `s` as a JSON string literal, quotes included, escaped as Serialize escapes: for
// encoders that write a fixed shape directly.
void AppendString(std::string* out, std::string_view s);

// Go's %v-ish rendering used in error messages: strings quoted, numbers plain, objects JSON.
std::string Repr(const Value& value);

}  // namespace csdr::json
