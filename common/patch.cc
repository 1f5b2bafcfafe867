#include "common/patch.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace csdr {
namespace {

// ---------------------------------------------------------------------------------------------
// Merge patch

// RFC 7386 MergePatch(Target, Patch) with Target updated in place. Recursion follows the
// patch, whose depth json::Parse has bounded.
void MergeInto(json::Value& target, const json::Value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::Value::MakeObject();
  for (const auto& [name, value] : patch.object()) {
    if (value.is_null()) {
      target.Erase(name);
      continue;
    }
    json::Value* existing = target.Find(name);
    if (existing == nullptr) {
      // Merging into a fresh null strips the patch's nulls, as the RFC algorithm does.
      existing = &target.Set(name, json::Value());
    }
    MergeInto(*existing, value);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON patch

constexpr std::string_view kRejected =
    "the server rejected our request due to an error in our request";

// One operation as handlers.jsonPatchOp decodes it: missing or null strings are empty.
struct Operation {
  std::string op;
  std::string path;
  std::string from;
  const json::Value* value = nullptr;  // null when absent
};

// Failure of one operation; becomes the generic 422 with `detail` for logs.
struct OpError {
  std::string detail;
};

// RFC 6901 reference tokens of a JSON Pointer.
std::optional<std::vector<std::string>> ParsePointer(std::string_view pointer, std::string* error) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') {
    *error = "JSON pointer \"" + std::string(pointer) + "\" does not start with '/'";
    return std::nullopt;
  }
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] == '~') {
      const char next = i + 1 < pointer.size() ? pointer[i + 1] : '\0';
      if (next != '0' && next != '1') {
        *error = "JSON pointer \"" + std::string(pointer) + "\" has an invalid '~' escape";
        return std::nullopt;
      }
      token.push_back(next == '0' ? '~' : '/');
      ++i;
      continue;
    }
    token.push_back(pointer[i]);
  }
  return tokens;
}

// An array index token: digits without leading zeros (RFC 6901), or "-" (one past the end)
// when `allow_end`. Returns nullopt when malformed or out of [0, size] / [0, size).
std::optional<size_t> ParseIndex(const std::string& token, size_t size, bool allow_end) {
  if (token == "-") return allow_end ? std::optional<size_t>(size) : std::nullopt;
  if (token.empty() || token.size() > 18) return std::nullopt;  // 18 digits cannot overflow
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  if (allow_end ? index > size : index >= size) return std::nullopt;
  return index;
}

std::string JoinPointer(const std::vector<std::string>& tokens, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out += '/';
    for (char c : tokens[i]) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

// Nesting of arrays/objects in v (0 for a scalar). Bounded by the document's depth.
int Height(const json::Value& v) {
  int h = 0;
  if (v.is_array()) {
    for (const json::Value& e : v.array()) h = std::max(h, Height(e));
    return h + 1;
  }
  if (v.is_object()) {
    for (const auto& m : v.object()) h = std::max(h, Height(m.second));
    return h + 1;
  }
  return 0;
}

size_t CountNodes(const json::Value& v) {
  size_t n = 1;
  if (v.is_array()) {
    for (const json::Value& e : v.array()) n += CountNodes(e);
  } else if (v.is_object()) {
    for (const auto& m : v.object()) n += CountNodes(m.second);
  }
  return n;
}

class Patcher {
 public:
  Patcher(json::Value doc, const JsonPatchOptions& options)
      : doc_(std::move(doc)), options_(options) {}

  void Apply(const Operation& op) {
    if (op.op == "add") {
      const std::vector<std::string> to = Pointer(op.path);
      Charge(RequireValue(op), to);
      Insert(to, json::Value(RequireValue(op)));
    } else if (op.op == "remove") {
      Remove(Pointer(op.path));
    } else if (op.op == "replace") {
      Replace(Pointer(op.path), RequireValue(op));
    } else if (op.op == "move") {
      Move(Pointer(op.from), Pointer(op.path));
    } else if (op.op == "copy") {
      const std::vector<std::string> from = Pointer(op.from);
      const json::Value* source = Get(from);
      if (source == nullptr) throw OpError{"copy from a missing path " + op.from};
      const std::vector<std::string> to = Pointer(op.path);
      Charge(*source, to);  // before the copy is made, so a runaway copy costs nothing
      Insert(to, json::Value(*source));
    } else if (op.op == "test") {
      const json::Value* actual = Get(Pointer(op.path));
      if (actual == nullptr || *actual != RequireValue(op)) {
        throw OpError{"testing value " + op.path + " failed"};
      }
    } else {
      throw OpError{"unexpected kind: " + op.op};
    }
  }

  json::Value TakeDocument() { return std::move(doc_); }

 private:
  static std::vector<std::string> Pointer(const std::string& pointer) {
    std::string error;
    std::optional<std::vector<std::string>> tokens = ParsePointer(pointer, &error);
    if (!tokens) throw OpError{error};
    return std::move(*tokens);
  }

  static const json::Value& RequireValue(const Operation& op) {
    if (op.value == nullptr) throw OpError{"missing value"};
    return *op.value;
  }

  // The value at the first `count` tokens, or nullptr.
  json::Value* Walk(const std::vector<std::string>& tokens, size_t count) {
    json::Value* v = &doc_;
    for (size_t i = 0; i < count; ++i) {
      if (v->is_object()) {
        v = v->Find(tokens[i]);
      } else if (v->is_array()) {
        std::optional<size_t> index = ParseIndex(tokens[i], v->array().size(), false);
        v = index ? &v->array()[*index] : nullptr;
      } else {
        v = nullptr;
      }
      if (v == nullptr) return nullptr;
    }
    return v;
  }

  json::Value* Get(const std::vector<std::string>& tokens) { return Walk(tokens, tokens.size()); }

  // The container that holds the last token; throws when it is missing or a scalar.
  json::Value& Parent(const std::vector<std::string>& tokens) {
    json::Value* parent = Walk(tokens, tokens.size() - 1);
    if (parent == nullptr || !(parent->is_object() || parent->is_array())) {
      throw OpError{"missing path " + JoinPointer(tokens, tokens.size() - 1)};
    }
    return *parent;
  }

  // Charges an inserted value against the budgets: node count, and the depth it reaches when
  // placed under `tokens.size()` containers.
  void Charge(const json::Value& value, const std::vector<std::string>& tokens) {
    copied_ += CountNodes(value);
    if (copied_ > options_.max_copied_nodes) {
      throw OpError{"the patch inserts more than " + std::to_string(options_.max_copied_nodes) +
                    " nodes"};
    }
    if (static_cast<int>(tokens.size()) + Height(value) > options_.max_depth) {
      throw OpError{"the result would nest deeper than " + std::to_string(options_.max_depth)};
    }
  }

  // The "add" operation once the value has been charged.
  void Insert(const std::vector<std::string>& tokens, json::Value value) {
    if (tokens.empty()) {
      doc_ = std::move(value);
      return;
    }
    json::Value& parent = Parent(tokens);
    const std::string& last = tokens.back();
    if (parent.is_object()) {
      parent.Set(last, std::move(value));
      return;
    }
    std::optional<size_t> index = ParseIndex(last, parent.array().size(), true);
    if (!index) throw OpError{"invalid array index " + JoinPointer(tokens, tokens.size())};
    parent.array().insert(parent.array().begin() + static_cast<ptrdiff_t>(*index),
                          std::move(value));
  }

  json::Value Remove(const std::vector<std::string>& tokens) {
    if (tokens.empty()) throw OpError{"cannot remove the whole document"};
    json::Value& parent = Parent(tokens);
    const std::string& last = tokens.back();
    if (parent.is_object()) {
      json::Value::Object& members = parent.object();
      for (auto it = members.begin(); it != members.end(); ++it) {
        if (it->first == last) {
          json::Value removed = std::move(it->second);
          members.erase(it);
          return removed;
        }
      }
      throw OpError{"missing path " + JoinPointer(tokens, tokens.size())};
    }
    std::optional<size_t> index = ParseIndex(last, parent.array().size(), false);
    if (!index) throw OpError{"missing path " + JoinPointer(tokens, tokens.size())};
    json::Value removed = std::move(parent.array()[*index]);
    parent.array().erase(parent.array().begin() + static_cast<ptrdiff_t>(*index));
    return removed;
  }

  void Replace(const std::vector<std::string>& tokens, const json::Value& value) {
    json::Value* existing = Get(tokens);
    if (existing == nullptr) throw OpError{"missing path " + JoinPointer(tokens, tokens.size())};
    Charge(value, tokens);
    *existing = value;
  }

  void Move(const std::vector<std::string>& from, const std::vector<std::string>& to) {
    if (to.size() > from.size() && std::equal(from.begin(), from.end(), to.begin())) {
      throw OpError{"cannot move " + JoinPointer(from, from.size()) + " into its own child " +
                    JoinPointer(to, to.size())};
    }
    if (Get(from) == nullptr)
      throw OpError{"move from a missing path " + JoinPointer(from, from.size())};
    if (from == to) return;  // RFC 6902 4.4: a no-op, not an error
    // Moving does not duplicate, so it is not charged as a copy; the depth still counts.
    json::Value value = Remove(from);
    if (static_cast<int>(to.size()) + Height(value) > options_.max_depth) {
      throw OpError{"the result would nest deeper than " + std::to_string(options_.max_depth)};
    }
    Insert(to, std::move(value));
  }

  json::Value doc_;
  const JsonPatchOptions& options_;
  size_t copied_ = 0;
};

// Decodes the body as kube-apiserver's handlers.jsonPatchOp list; the error text is Go's.
StatusOr<std::vector<Operation>> DecodeOperations(const json::Value& patch_ops) {
  std::vector<Operation> ops;
  if (patch_ops.is_null()) return ops;
  const std::string prefix = "error decoding patch: json: cannot unmarshal ";
  if (!patch_ops.is_array()) {
    return Status(Code::kBadRequest, prefix + std::string(json::GoKindName(patch_ops)) +
                                         " into Go value of type []handlers.jsonPatchOp");
  }
  ops.reserve(patch_ops.size());
  for (const json::Value& element : patch_ops.array()) {
    Operation op;
    if (element.is_null()) {  // Go leaves a zero struct, which then fails to apply
      ops.push_back(std::move(op));
      continue;
    }
    if (!element.is_object()) {
      return Status(Code::kBadRequest, prefix + std::string(json::GoKindName(element)) +
                                           " into Go value of type handlers.jsonPatchOp");
    }
    for (const auto& [name, value] : element.object()) {
      std::string* field = name == "op"     ? &op.op
                           : name == "path" ? &op.path
                           : name == "from" ? &op.from
                                            : nullptr;
      if (field != nullptr) {
        if (value.is_string()) {
          *field = value.as_string();
        } else if (!value.is_null()) {
          return Status(Code::kBadRequest, prefix + std::string(json::GoKindName(value)) +
                                               " into Go struct field jsonPatchOp." + name +
                                               " of type string");
        }
      } else if (name == "value") {
        op.value = &value;
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

StatusOr<json::Value> ApplyMergePatch(const json::Value& target, const json::Value& patch) {
  if (!patch.is_object()) return patch;  // no need to copy the target first
  json::Value result = target;
  MergeInto(result, patch);
  return result;
}

Status CheckMergePatchBody(const json::Value& patch) {
  if (patch.is_object()) return Status::Ok();
  if (patch.is_null()) return Status(Code::kBadRequest, "Invalid JSON Patch");
  return Status(Code::kBadRequest, "error decoding patch: json: cannot unmarshal " +
                                       std::string(json::GoKindName(patch)) +
                                       " into Go value of type map[string]interface {}");
}

StatusOr<json::Value> ApplyJsonPatch(const json::Value& target, const json::Value& patch_ops,
                                     const JsonPatchOptions& options) {
  StatusOr<std::vector<Operation>> ops = DecodeOperations(patch_ops);
  if (!ops.ok()) return ops.status();
  if (ops->size() > options.max_operations) {
    return Status(Code::kTooLarge, "The allowed maximum operations in a JSON patch is " +
                                       std::to_string(options.max_operations) + ", got " +
                                       std::to_string(ops->size()));
  }
  Patcher patcher(target, options);
  for (size_t i = 0; i < ops->size(); ++i) {
    const Operation& op = (*ops)[i];
    try {
      patcher.Apply(op);
    } catch (const OpError& e) {
      if (options.failure_detail != nullptr) {
        *options.failure_detail =
            "operation " + std::to_string(i) + " (" + op.op + "): " + e.detail;
      }
      return Status(Code::kInvalid, std::string(kRejected));
    }
  }
  return patcher.TakeDocument();
}

}  // namespace csdr
