#include "apiserver/endpoints/openapi_proto.h"

#include <cstring>

namespace csdr::apiserver {
namespace {

// Field numbers are gnostic's openapiv2/OpenAPIv2.proto.
class Writer {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void Tag(int field, int wire) {
    Varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire));
  }
  void Bytes(int field, const std::string& s) {
    Tag(field, 2);
    Varint(s.size());
    out_ += s;
  }
  void String(int field, const json::Value* v) {
    if (v && v->is_string() && !v->as_string().empty()) Bytes(field, v->as_string());
  }
  void Bool(int field, const json::Value* v) {
    if (v && v->is_bool() && v->as_bool()) {
      Tag(field, 0);
      Varint(1);
    }
  }
  void Int64(int field, const json::Value* v) {
    if (v && v->is_number() && v->as_int() != 0) {
      Tag(field, 0);
      Varint(static_cast<uint64_t>(v->as_int()));
    }
  }
  void Double(int field, const json::Value* v) {
    if (v && v->is_number() && v->as_double() != 0) {
      Tag(field, 1);
      double d = v->as_double();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof(bits));
      for (int i = 0; i < 8; ++i) out_ += static_cast<char>((bits >> (8 * i)) & 0xff);
    }
  }
  void Strings(int field, const json::Value* v) {
    if (!v || !v->is_array()) return;
    for (const auto& s : v->array()) {
      if (s.is_string()) Bytes(field, s.as_string());
    }
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// openapi.v2.Any {yaml = 2}
std::string AnyMsg(const json::Value& v) {
  Writer w;
  w.Bytes(2, json::Serialize(v));
  return w.out();
}

// Repeated NamedAny {name = 1, value = 2} for every x- member of `obj`.
void VendorExtensions(Writer& w, int field, const json::Value& obj) {
  if (!obj.is_object()) return;
  for (const auto& [k, v] : obj.object()) {
    if (k.rfind("x-", 0) != 0) continue;
    Writer named;
    named.Bytes(1, k);
    named.Bytes(2, AnyMsg(v));
    w.Bytes(field, named.out());
  }
}

std::string SchemaMsg(const json::Value& s);

std::string NamedSchemas(const json::Value& obj) {
  Writer w;
  if (!obj.is_object()) return w.out();
  for (const auto& [k, v] : obj.object()) {
    Writer named;
    named.Bytes(1, k);
    named.Bytes(2, SchemaMsg(v));
    w.Bytes(1, named.out());
  }
  return w.out();
}

std::string SchemaMsg(const json::Value& s) {
  Writer w;
  if (!s.is_object()) return w.out();
  w.String(1, s.Find("$ref"));
  w.String(2, s.Find("format"));
  w.String(3, s.Find("title"));
  w.String(4, s.Find("description"));
  if (const json::Value* d = s.Find("default")) w.Bytes(5, AnyMsg(*d));
  w.Double(6, s.Find("multipleOf"));
  w.Double(7, s.Find("maximum"));
  w.Bool(8, s.Find("exclusiveMaximum"));
  w.Double(9, s.Find("minimum"));
  w.Bool(10, s.Find("exclusiveMinimum"));
  w.Int64(11, s.Find("maxLength"));
  w.Int64(12, s.Find("minLength"));
  w.String(13, s.Find("pattern"));
  w.Int64(14, s.Find("maxItems"));
  w.Int64(15, s.Find("minItems"));
  w.Bool(16, s.Find("uniqueItems"));
  w.Int64(17, s.Find("maxProperties"));
  w.Int64(18, s.Find("minProperties"));
  w.Strings(19, s.Find("required"));
  if (const json::Value* e = s.Find("enum"); e && e->is_array()) {
    for (const auto& v : e->array()) w.Bytes(20, AnyMsg(v));
  }
  if (const json::Value* ap = s.Find("additionalProperties")) {
    Writer item;  // AdditionalPropertiesItem {schema = 1 | boolean = 2}
    if (ap->is_bool()) {
      item.Tag(2, 0);
      item.Varint(ap->as_bool() ? 1 : 0);
    } else {
      item.Bytes(1, SchemaMsg(*ap));
    }
    w.Bytes(21, item.out());
  }
  if (const json::Value* t = s.Find("type")) {
    Writer type;  // TypeItem {repeated value = 1}
    if (t->is_string())
      type.Bytes(1, t->as_string());
    else
      type.Strings(1, t);
    w.Bytes(22, type.out());
  }
  if (const json::Value* items = s.Find("items")) {
    Writer it;  // ItemsItem {repeated schema = 1}
    if (items->is_array()) {
      for (const auto& i : items->array()) it.Bytes(1, SchemaMsg(i));
    } else {
      it.Bytes(1, SchemaMsg(*items));
    }
    w.Bytes(23, it.out());
  }
  if (const json::Value* all = s.Find("allOf"); all && all->is_array()) {
    for (const auto& a : all->array()) w.Bytes(24, SchemaMsg(a));
  }
  if (const json::Value* p = s.Find("properties")) w.Bytes(25, NamedSchemas(*p));
  w.String(26, s.Find("discriminator"));
  w.Bool(27, s.Find("readOnly"));
  if (const json::Value* ex = s.Find("example")) w.Bytes(30, AnyMsg(*ex));
  VendorExtensions(w, 31, s);
  return w.out();
}

// Query/path/header/formData parameter sub-schemas share a layout that differs only by
// the presence of allow_empty_value (query and formData), which shifts later fields by one.
std::string NonBodyParameterMsg(const json::Value& p) {
  std::string in = p.GetString({"in"});
  bool shifted = in == "query" || in == "formData";
  int o = shifted ? 1 : 0;
  Writer sub;
  sub.Bool(1, p.Find("required"));
  sub.String(2, p.Find("in"));
  sub.String(3, p.Find("description"));
  sub.String(4, p.Find("name"));
  if (shifted) sub.Bool(5, p.Find("allowEmptyValue"));
  sub.String(5 + o, p.Find("type"));
  sub.String(6 + o, p.Find("format"));
  sub.String(8 + o, p.Find("collectionFormat"));
  if (const json::Value* d = p.Find("default")) sub.Bytes(9 + o, AnyMsg(*d));
  sub.Bool(19 + o, p.Find("uniqueItems"));
  if (const json::Value* e = p.Find("enum"); e && e->is_array()) {
    for (const auto& v : e->array()) sub.Bytes(20 + o, AnyMsg(v));
  }
  VendorExtensions(sub, 22 + o, p);
  int which = in == "header" ? 1 : in == "formData" ? 2 : in == "query" ? 3 : 4;
  Writer nb;  // NonBodyParameter oneof
  nb.Bytes(which, sub.out());
  return nb.out();
}

std::string ParametersItemMsg(const json::Value& p) {
  Writer item;
  if (const json::Value* ref = p.Find("$ref")) {
    Writer jr;  // JsonReference {_ref = 1, description = 2}
    jr.String(1, ref);
    jr.String(2, p.Find("description"));
    item.Bytes(2, jr.out());
    return item.out();
  }
  Writer param;  // Parameter {body_parameter = 1 | non_body_parameter = 2}
  if (p.GetString({"in"}) == "body") {
    Writer body;
    body.String(1, p.Find("description"));
    body.String(2, p.Find("name"));
    body.String(3, p.Find("in"));
    body.Bool(4, p.Find("required"));
    if (const json::Value* s = p.Find("schema")) body.Bytes(5, SchemaMsg(*s));
    VendorExtensions(body, 6, p);
    param.Bytes(1, body.out());
  } else {
    param.Bytes(2, NonBodyParameterMsg(p));
  }
  item.Bytes(1, param.out());
  return item.out();
}

std::string ResponsesMsg(const json::Value& responses) {
  Writer w;
  if (!responses.is_object()) return w.out();
  for (const auto& [code, r] : responses.object()) {
    if (code.rfind("x-", 0) == 0) continue;
    Writer resp;  // Response
    resp.String(1, r.Find("description"));
    if (const json::Value* s = r.Find("schema")) {
      Writer item;  // SchemaItem {schema = 1}
      item.Bytes(1, SchemaMsg(*s));
      resp.Bytes(2, item.out());
    }
    VendorExtensions(resp, 5, r);
    Writer value;  // ResponseValue {response = 1}
    value.Bytes(1, resp.out());
    Writer named;  // NamedResponseValue
    named.Bytes(1, code);
    named.Bytes(2, value.out());
    w.Bytes(1, named.out());
  }
  VendorExtensions(w, 2, responses);
  return w.out();
}

std::string OperationMsg(const json::Value& op) {
  Writer w;
  w.Strings(1, op.Find("tags"));
  w.String(2, op.Find("summary"));
  w.String(3, op.Find("description"));
  w.String(5, op.Find("operationId"));
  w.Strings(6, op.Find("produces"));
  w.Strings(7, op.Find("consumes"));
  if (const json::Value* ps = op.Find("parameters"); ps && ps->is_array()) {
    for (const auto& p : ps->array()) w.Bytes(8, ParametersItemMsg(p));
  }
  if (const json::Value* r = op.Find("responses")) w.Bytes(9, ResponsesMsg(*r));
  w.Strings(10, op.Find("schemes"));
  w.Bool(11, op.Find("deprecated"));
  VendorExtensions(w, 13, op);
  return w.out();
}

std::string PathItemMsg(const json::Value& item) {
  Writer w;
  w.String(1, item.Find("$ref"));
  static const std::pair<const char*, int> kOps[] = {{"get", 2},    {"put", 3},     {"post", 4},
                                                     {"delete", 5}, {"options", 6}, {"head", 7},
                                                     {"patch", 8}};
  for (const auto& [name, field] : kOps) {
    if (const json::Value* op = item.Find(name)) w.Bytes(field, OperationMsg(*op));
  }
  if (const json::Value* ps = item.Find("parameters"); ps && ps->is_array()) {
    for (const auto& p : ps->array()) w.Bytes(9, ParametersItemMsg(p));
  }
  VendorExtensions(w, 10, item);
  return w.out();
}

}  // namespace

std::string EncodeOpenAPIV2Proto(const json::Value& doc) {
  Writer w;
  w.String(1, doc.Find("swagger"));
  if (const json::Value* info = doc.Find("info")) {
    Writer i;
    i.String(1, info->Find("title"));
    i.String(2, info->Find("version"));
    i.String(3, info->Find("description"));
    VendorExtensions(i, 7, *info);
    w.Bytes(2, i.out());
  }
  w.String(3, doc.Find("host"));
  w.String(4, doc.Find("basePath"));
  w.Strings(5, doc.Find("schemes"));
  w.Strings(6, doc.Find("consumes"));
  w.Strings(7, doc.Find("produces"));
  if (const json::Value* paths = doc.Find("paths"); paths && paths->is_object()) {
    Writer p;  // Paths {vendor_extension = 1, path = 2}
    VendorExtensions(p, 1, *paths);
    for (const auto& [k, v] : paths->object()) {
      if (k.rfind("x-", 0) == 0) continue;
      Writer named;
      named.Bytes(1, k);
      named.Bytes(2, PathItemMsg(v));
      p.Bytes(2, named.out());
    }
    w.Bytes(8, p.out());
  }
  if (const json::Value* defs = doc.Find("definitions")) w.Bytes(9, NamedSchemas(*defs));
  VendorExtensions(w, 16, doc);
  return w.out();
}

}  // namespace csdr::apiserver
