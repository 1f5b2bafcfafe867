// The resource half of ApiHandler: decoding of bodies and options, the verbs, and the
// encoding of objects, lists and tables; plus discovery, OpenAPI and watch streaming.
#include <glog/logging.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <random>

#include "apiserver/endpoints/discovery.h"
#include "apiserver/endpoints/handler.h"
#include "apiserver/endpoints/openapi_proto.h"
#include "apiserver/endpoints/request_metrics.h"
#include "apiserver/endpoints/table.h"
#include "apiserver/kinds/schema.h"
#include "common/metrics.h"
#include "common/yaml.h"

namespace csdr::apiserver {
namespace {

constexpr const char* kAcceptedBodyTypes =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";
constexpr const char* kAcceptedPatchTypes =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

std::string MediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

// strconv.ParseBool's true spellings (the Python client sends "True").
bool ParseBool(const std::string& s) {
  return s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True";
}

// Whether the client of a watch went away: its socket reads as EOF or an error.
bool PeerClosed(const SSL* ssl) {
  if (ssl == nullptr) return false;
  int fd = SSL_get_fd(ssl);
  if (fd < 0) return true;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR)) return true;
  char c;
  return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void NotFoundPage(httplib::Response& res) {
  res.status = 404;
  res.set_content("404 page not found\n", "text/plain; charset=utf-8");
  res.set_header("X-Content-Type-Options", "nosniff");
}

void WriteBody(RequestContext& ctx, int code, std::string body,
               const char* type = "application/json") {
  ctx.res.status = code;
  ctx.res.set_content(std::move(body), type);
}

void WriteJsonValue(RequestContext& ctx, int code, const json::Value& v) {
  std::string body = json::Serialize(v, ctx.pretty);
  body += '\n';
  WriteBody(ctx, code, std::move(body));
}

void AddWarnings(RequestContext& ctx, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) ctx.res.set_header("Warning", WarningHeaderValue(w));
}

StatusDetails DetailsFor(const KindInfo& info, const std::string& name, Code code) {
  StatusDetails d;
  d.name = name;
  d.group = info.group;
  d.kind = code == Code::kInvalid ? info.kind : info.resource;
  return d;
}

void Fail(RequestContext& ctx, const KindInfo* info, const std::string& name, const Status& s) {
  StatusDetails d;
  switch (s.code()) {
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kConflict:
    case Code::kForbidden:
    case Code::kInvalid:
      if (info && s.message().rfind("Apply failed", 0) != 0 &&
          s.message().find(".meta.k8s.io") == std::string::npos) {
        d = DetailsFor(*info, name, s.code());
      }
      break;
    default:
      break;
  }
  WriteStatus(ctx.res, s, d, ctx.pretty);
}

json::Value ListMeta(int64_t rv, const std::string& cont, std::optional<int64_t> remaining) {
  json::Value m = json::Value::MakeObject();
  m.Set("continue", cont);
  if (remaining) m.Set("remainingItemCount", *remaining);
  m.Set("resourceVersion", std::to_string(rv));
  return m;
}

void RespondObject(RequestContext& ctx, const KindStrategy& kind, const OutputFormat& format,
                   const json::Value& obj, int code) {
  switch (format.kind) {
    case OutputKind::kTable: {
      auto t = Table(kind, format.meta_version, {&obj}, ctx.req.get_param_value("includeObject"),
                     nullptr, std::chrono::system_clock::now());
      if (!t.ok()) return Fail(ctx, &kind.info(), "", t.status());
      return WriteJsonValue(ctx, code, *t);
    }
    case OutputKind::kPartialObjectMetadata:
      return WriteJsonValue(ctx, code, PartialObjectMetadata(obj, format.meta_version));
    case OutputKind::kYaml:
      return WriteBody(ctx, code, ToYaml(obj), "application/yaml");
    case OutputKind::kPartialObjectMetadataList:
    case OutputKind::kJson:
      return WriteJsonValue(ctx, code, obj);
  }
}

// Lists larger than this are streamed (chunked) in pieces of about this size, as they are
// encoded, instead of built whole: a list of 10,000 Backups is 7 MiB as JSON.
constexpr size_t kListChunkBytes = 64 * 1024;

// Streams a 200 answer: `next` appends the next piece of the body and returns false after
// the last. It runs on the worker that writes the response; the client's disconnect ends it.
void WriteStreamed(RequestContext& ctx, std::function<bool(std::string*)> next,
                   const char* content_type = "application/json") {
  ctx.res.status = 200;
  ctx.res.set_chunked_content_provider(
      content_type, [next = std::move(next)](size_t, httplib::DataSink& sink) {
        std::string piece;
        piece.reserve(kListChunkBytes + 4096);
        for (bool more = true; more;) {
          piece.clear();
          more = next(&piece);
          if (!piece.empty() && !sink.write(piece.data(), piece.size())) return false;
        }
        sink.done();
        return true;
      });
}

// A list object written item by item in an encoding that has no splicing fast path (YAML,
// pretty JSON, a pretty Table), byte for byte as `encode` writes it whole: `skeleton` is the
// list object whose `array_key` ("items", or a Table's "rows") is set to each item alone;
// what the encoding puts before and after that one
// item is the same for every item, so it is learnt once (with a marker item) and each item's
// piece is its encoding with that head and tail taken off. Items are parsed as their piece
// is written. False (nothing written) when the encoding does not split that way.
bool StreamListByItem(RequestContext& ctx, json::Value skeleton, std::shared_ptr<ListResult> list,
                      std::function<json::Value(json::Value)> item_of,
                      std::function<std::string(const json::Value&)> encode, std::string separator,
                      const char* content_type, std::string array_key = "items") {
  static constexpr std::string_view kMarker = "csdr-list-item-marker-5f0c1d";
  json::Value marked = skeleton;
  json::Value one = json::Value::MakeArray();
  one.PushBack(json::Value(std::string(kMarker)));
  marked.Set(array_key, std::move(one));
  const std::string whole = encode(marked);
  const size_t at = whole.find(kMarker);
  if (at == std::string::npos) return false;
  const size_t line_start = whole.rfind('\n', at);
  const size_t line_end = whole.find('\n', at);
  if (line_start == std::string::npos || line_end == std::string::npos) return false;
  auto head = std::make_shared<const std::string>(whole.substr(0, line_start + 1));
  // YAML's item ends with its newline; pretty JSON's does not (the separator or the tail
  // brings it).
  const bool item_owns_newline = separator.empty();
  auto tail = std::make_shared<const std::string>(
      whole.substr(item_owns_newline ? line_end + 1 : line_end));
  auto shared_skeleton = std::make_shared<json::Value>(std::move(skeleton));
  auto next_item = std::make_shared<size_t>(0);
  auto wrote = std::make_shared<bool>(false);
  WriteStreamed(
      ctx,
      [list, head, tail, shared_skeleton, next_item, wrote, item_of = std::move(item_of),
       encode = std::move(encode), separator = std::move(separator),
       array_key = std::move(array_key)](std::string* out) {
        const auto& items = list->items;
        size_t& i = *next_item;
        if (i == 0) out->append(*head);
        json::ParseOptions po;
        po.max_depth = 200;
        while (i < items.size() && out->size() < kListChunkBytes) {
          auto v = json::Parse(items[i++].value, po);
          if (!v.ok()) continue;  // a damaged row: left out, as the whole list leaves it
          json::Value item = item_of(std::move(v.value()));
          if (item.is_null()) continue;  // nothing to write for it (a row that failed)
          json::Value one = json::Value::MakeArray();
          one.PushBack(std::move(item));
          shared_skeleton->Set(array_key, std::move(one));
          const std::string enc = encode(*shared_skeleton);
          if (enc.size() < head->size() + tail->size()) continue;  // cannot happen
          if (*wrote) out->append(separator);
          *wrote = true;
          out->append(enc, head->size(), enc.size() - head->size() - tail->size());
        }
        if (i < items.size()) return true;
        out->append(*tail);
        return false;
      },
      content_type);
  return true;
}

void RespondList(RequestContext& ctx, const KindStrategy& kind, const OutputFormat& format,
                 ListResult list, TableRowCache& table_rows) {
  const KindInfo& info = kind.info();
  json::Value meta =
      ListMeta(list.resource_version, list.continue_token, list.remaining_item_count);
  size_t stored_bytes = 0;
  for (const auto& kv : list.items) stored_bytes += kv.value.size() + 1;
  const bool stream = stored_bytes > kListChunkBytes;
  if (format.kind == OutputKind::kJson && !ctx.pretty) {
    // Fast path: splice the stored bytes; no object is parsed or re-encoded.
    std::string head = "{\"apiVersion\":\"" + info.api_version() + "\",\"items\":[";
    std::string tail = "],\"kind\":\"" + info.list_kind + "\",\"metadata\":";
    json::SerializeTo(meta, &tail);
    tail += "}\n";
    if (stream) {
      auto shared = std::make_shared<ListResult>(std::move(list));
      auto next_item = std::make_shared<size_t>(0);
      return WriteStreamed(ctx, [shared, next_item, head = std::move(head),
                                 tail = std::move(tail)](std::string* out) {
        const auto& items = shared->items;
        size_t& i = *next_item;
        if (i == 0) out->append(head);
        while (i < items.size() && out->size() < kListChunkBytes) {
          if (i) out->push_back(',');
          out->append(items[i++].value);
        }
        if (i < items.size()) return true;
        out->append(tail);
        return false;
      });
    }
    std::string body;
    body.reserve(head.size() + stored_bytes + tail.size());
    body += head;
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (i) body += ',';
      body += list.items[i].value;
    }
    body += tail;
    return WriteBody(ctx, 200, std::move(body));
  }
  if (format.kind == OutputKind::kTable && !ctx.pretty) {
    // Rows from the stored bytes, parsing only what the columns read (table.h).
    const std::string include_object = ctx.req.get_param_value("includeObject");
    const auto now = std::chrono::system_clock::now();
    if (stream) {
      auto shared = std::make_shared<ListResult>(std::move(list));
      auto rows = table_rows.Stream(
          kind, format.meta_version,
          std::shared_ptr<const std::vector<storage::KeyValue>>(shared, &shared->items),
          include_object, meta, now);
      if (!rows.ok()) return Fail(ctx, &info, "", rows.status());
      std::shared_ptr<TableListStream> table(std::move(rows.value()));
      return WriteStreamed(ctx, [table](std::string* out) {
        if (table->Next(out, kListChunkBytes)) return true;
        out->push_back('\n');
        return false;
      });
    }
    auto t = table_rows.List(kind, format.meta_version, list.items, include_object, meta, now);
    if (!t.ok()) return Fail(ctx, &info, "", t.status());
    t->push_back('\n');
    return WriteBody(ctx, 200, std::move(*t));
  }
  if (format.kind == OutputKind::kPartialObjectMetadataList && !ctx.pretty && stream) {
    // Each item parsed and reduced to its metadata as its piece is written.
    std::string head = "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/" +
                       format.meta_version + "\",\"metadata\":";
    json::SerializeTo(meta, &head);
    head += ",\"items\":[";
    auto shared = std::make_shared<ListResult>(std::move(list));
    auto next_item = std::make_shared<size_t>(0);
    auto wrote_item = std::make_shared<bool>(false);
    return WriteStreamed(ctx, [shared, next_item, wrote_item, head = std::move(head),
                               version = format.meta_version](std::string* out) {
      const auto& items = shared->items;
      size_t& i = *next_item;
      if (i == 0) out->append(head);
      json::ParseOptions po;
      po.max_depth = 200;
      while (i < items.size() && out->size() < kListChunkBytes) {
        auto v = json::Parse(items[i++].value, po);
        if (!v.ok()) continue;  // a damaged row: left out, as the whole list leaves it
        if (*wrote_item) out->push_back(',');
        *wrote_item = true;
        json::SerializeTo(PartialObjectMetadata(*v, version), out);
      }
      if (i < items.size()) return true;
      out->append("]}\n");
      return false;
    });
  }
  if (stream && !list.items.empty() &&
      (format.kind == OutputKind::kJson || format.kind == OutputKind::kYaml ||
       format.kind == OutputKind::kPartialObjectMetadataList)) {
    // Pretty JSON, YAML, pretty PartialObjectMetadata: item by item as well.
    const bool yaml = format.kind == OutputKind::kYaml;
    const bool pom = format.kind == OutputKind::kPartialObjectMetadataList;
    json::Value skeleton = json::Value::MakeObject();
    if (pom) {
      skeleton.Set("kind", "PartialObjectMetadataList");
      skeleton.Set("apiVersion", "meta.k8s.io/" + format.meta_version);
      skeleton.Set("metadata", meta);
      skeleton.Set("items", json::Value::MakeArray());
    } else {
      skeleton.Set("apiVersion", info.api_version());
      skeleton.Set("items", json::Value::MakeArray());
      skeleton.Set("kind", info.list_kind);
      skeleton.Set("metadata", meta);
    }
    std::function<json::Value(json::Value)> item_of = [](json::Value v) { return v; };
    if (pom) {
      item_of = [version = format.meta_version](json::Value v) {
        return PartialObjectMetadata(v, version);
      };
    }
    std::function<std::string(const json::Value&)> encode =
        yaml ? std::function<std::string(const json::Value&)>(
                   [](const json::Value& v) { return ToYaml(v); })
             : [](const json::Value& v) { return json::Serialize(v, true) + "\n"; };
    auto shared = std::make_shared<ListResult>(std::move(list));
    if (StreamListByItem(ctx, std::move(skeleton), shared, std::move(item_of), std::move(encode),
                         yaml ? "" : ",\n", yaml ? "application/yaml" : "application/json")) {
      return;
    }
    list = std::move(*shared);
  }
  if (stream && !list.items.empty() && format.kind == OutputKind::kTable) {
    // A pretty Table: row by row as well, each object's row computed as it is written.
    const std::string include_object = ctx.req.get_param_value("includeObject");
    const auto now = std::chrono::system_clock::now();
    auto skeleton = Table(kind, format.meta_version, {}, include_object, &meta, now);
    if (!skeleton.ok()) return Fail(ctx, &info, "", skeleton.status());
    std::function<json::Value(json::Value)> row_of = [&kind, version = format.meta_version,
                                                      include_object, meta, now](json::Value v) {
      auto t = Table(kind, version, {&v}, include_object, &meta, now);
      const json::Value* rows = t.ok() ? t->Find("rows") : nullptr;
      if (rows == nullptr || !rows->is_array() || rows->array().empty()) return json::Value();
      return rows->array()[0];
    };
    auto shared = std::make_shared<ListResult>(std::move(list));
    if (StreamListByItem(
            ctx, std::move(*skeleton), shared, std::move(row_of),
            [](const json::Value& v) { return json::Serialize(v, true) + "\n"; }, ",\n",
            "application/json", "rows")) {
      return;
    }
    list = std::move(*shared);
  }
  std::vector<json::Value> objects;
  objects.reserve(list.items.size());
  json::ParseOptions po;
  po.max_depth = 200;
  for (const auto& kv : list.items) {
    auto v = json::Parse(kv.value, po);
    if (v.ok()) objects.push_back(std::move(v.value()));
  }
  if (format.kind == OutputKind::kTable) {
    std::vector<const json::Value*> ptrs;
    for (const auto& o : objects) ptrs.push_back(&o);
    auto t = Table(kind, format.meta_version, ptrs, ctx.req.get_param_value("includeObject"), &meta,
                   std::chrono::system_clock::now());
    if (!t.ok()) return Fail(ctx, &info, "", t.status());
    return WriteJsonValue(ctx, 200, *t);
  }
  json::Value l = json::Value::MakeObject();
  if (format.kind == OutputKind::kPartialObjectMetadataList) {
    l.Set("kind", "PartialObjectMetadataList");
    l.Set("apiVersion", "meta.k8s.io/" + format.meta_version);
    l.Set("metadata", meta);
    json::Value items = json::Value::MakeArray();
    for (const auto& o : objects) items.PushBack(PartialObjectMetadata(o, format.meta_version));
    l.Set("items", std::move(items));
    return WriteJsonValue(ctx, 200, l);
  }
  l.Set("apiVersion", info.api_version());
  json::Value items = json::Value::MakeArray();
  for (auto& o : objects) items.PushBack(std::move(o));
  l.Set("items", std::move(items));
  l.Set("kind", info.list_kind);
  l.Set("metadata", meta);
  if (format.kind == OutputKind::kYaml) return WriteBody(ctx, 200, ToYaml(l), "application/yaml");
  WriteJsonValue(ctx, 200, l);
}

// Parses one body as JSON, or YAML when the media type says so. Parse errors carry
// upstream's "couldn't get version/kind" wording.
StatusOr<json::Value> ParseBody(const std::string& body, bool yaml, const std::string& prefix,
                                std::vector<std::string>* duplicates) {
  if (body.empty() || body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status(Code::kBadRequest, prefix +
                                         "couldn't get version/kind; json parse error: "
                                         "unexpected end of JSON input (<empty>)");
  }
  StatusOr<json::Value> v = Status(Code::kInternal, "");
  if (yaml && !LooksLikeJson(body)) {
    v = ParseYaml(body, YamlOptions{});
  } else {
    json::ParseOptions po;
    po.duplicate_fields = duplicates;
    v = json::Parse(body, po);
  }
  if (!v.ok()) {
    return Status(Code::kBadRequest,
                  prefix + "couldn't get version/kind; json parse error: " + v.status().message());
  }
  return v;
}

StatusOr<FieldValidation> ParseFieldValidation(const httplib::Request& req,
                                               const char* options_kind) {
  std::string v = req.get_param_value("fieldValidation");
  if (v.empty() || v == "Warn") return FieldValidation::kWarn;
  if (v == "Ignore") return FieldValidation::kIgnore;
  if (v == "Strict") return FieldValidation::kStrict;
  FieldError e = NotSupportedField("fieldValidation", Quote(v), {"", "Ignore", "Strict", "Warn"});
  return Status::Invalid(
      std::string(options_kind) + ".meta.k8s.io \"\" is invalid: fieldValidation: " + e.message,
      {e});
}

StatusOr<bool> ParseDryRun(const httplib::Request& req, const char* options_kind) {
  if (!req.has_param("dryRun")) return false;
  size_t n = req.get_param_value_count("dryRun");
  for (size_t i = 0; i < n; ++i) {
    std::string v = req.get_param_value("dryRun", i);
    if (v != "All") {
      FieldError e = NotSupportedField("dryRun", Quote(v), {"All"});
      return Status::Invalid(
          std::string(options_kind) + ".meta.k8s.io \"\" is invalid: dryRun: " + e.message, {e});
    }
  }
  return true;
}

StatusOr<ListOptions> ParseListOptions(const httplib::Request& req) {
  ListOptions o;
  auto ls = ParseLabelSelector(req.get_param_value("labelSelector"));
  if (!ls.ok()) return Status(Code::kBadRequest, ls.status().message());
  o.label_selector = std::move(ls.value());
  auto fs = ParseFieldSelector(req.get_param_value("fieldSelector"));
  if (!fs.ok()) return Status(Code::kBadRequest, fs.status().message());
  o.field_selector = std::move(fs.value());
  if (req.has_param("limit")) {
    std::string l = req.get_param_value("limit");
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(l.c_str(), &end, 10);
    if (l.empty() || *end != '\0' || errno == ERANGE) {
      return Status(Code::kBadRequest,
                    "strconv.ParseInt: parsing " + Quote(l) + ": invalid syntax");
    }
    o.limit = v < 0 ? 0 : v;  // upstream treats a negative limit as no limit
  }
  o.continue_token = req.get_param_value("continue");
  o.resource_version = req.get_param_value("resourceVersion");
  o.resource_version_match = req.get_param_value("resourceVersionMatch");
  const std::string& m = o.resource_version_match;
  if (!m.empty()) {
    if (o.resource_version.empty()) {
      FieldError e =
          ForbiddenField("resourceVersionMatch",
                         "resourceVersionMatch is forbidden unless resourceVersion is provided");
      return Status::Invalid(
          "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: " + e.message, {e});
    }
    if (m != "NotOlderThan" && m != "Exact") {
      FieldError e =
          NotSupportedField("resourceVersionMatch", Quote(m), {"Exact", "NotOlderThan", ""});
      return Status::Invalid(
          "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: " + e.message, {e});
    }
  }
  if (req.has_param("sendInitialEvents")) {
    FieldError e = ForbiddenField("sendInitialEvents", "sendInitialEvents is forbidden for list");
    return Status::Invalid(
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: " + e.message, {e});
  }
  if (!o.continue_token.empty() && !o.resource_version.empty() && o.resource_version != "0") {
    FieldError e = ForbiddenField("resourceVersion",
                                  "specifying resource version is not allowed when using continue");
    return Status::Invalid("ListOptions.meta.k8s.io \"\" is invalid: resourceVersion: " + e.message,
                           {e});
  }
  if (!o.resource_version.empty() &&
      o.resource_version.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kBadRequest, "invalid resource version: " + Quote(o.resource_version));
  }
  return o;
}

StatusOr<DeleteOptions> ParseDeleteOptions(const httplib::Request& req) {
  DeleteOptions o;
  auto dry = ParseDryRun(req, "DeleteOptions");
  if (!dry.ok()) return dry.status();
  o.dry_run = *dry;
  o.propagation_policy = req.get_param_value("propagationPolicy");
  if (!req.body.empty() && req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto body = json::Parse(req.body);
    if (!body.ok()) {
      return Status(Code::kBadRequest,
                    "couldn't get version/kind; json parse error: " + body.status().message());
    }
    if (!body->is_object()) {
      return Status(Code::kBadRequest,
                    "couldn't get version/kind; json parse error: expected an object");
    }
    if (const json::Value* p = body->Find("propagationPolicy"); p && p->is_string()) {
      o.propagation_policy = p->as_string();
    }
    if (const json::Value* d = body->Find("dryRun"); d && d->is_array()) {
      for (const auto& v : d->array()) {
        if (!v.is_string() || v.as_string() != "All") {
          FieldError e = NotSupportedField("dryRun", json::Repr(v), {"All"});
          return Status::Invalid("DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: " + e.message,
                                 {e});
        }
        o.dry_run = true;
      }
    }
    if (const json::Value* p = body->Find("preconditions"); p && p->is_object()) {
      if (const json::Value* u = p->Find("uid"); u && u->is_string())
        o.precondition_uid = u->as_string();
      if (const json::Value* r = p->Find("resourceVersion"); r && r->is_string()) {
        o.precondition_resource_version = r->as_string();
      }
    }
  }
  const std::string& pp = o.propagation_policy;
  if (!pp.empty() && pp != "Foreground" && pp != "Background" && pp != "Orphan") {
    FieldError e = NotSupportedField("propagationPolicy", Quote(pp),
                                     {"Foreground", "Background", "Orphan", "nil"});
    return Status::Invalid(
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: " + e.message, {e});
  }
  return o;
}

// Checks the decoded body's identity (apiVersion and kind) as upstream's decoder does.
Status CheckTypeMeta(const KindStrategy& kind, const json::Value& obj, const std::string& body) {
  const KindInfo& info = kind.info();
  std::string api_version = obj.GetString({"apiVersion"});
  std::string k = obj.GetString({"kind"});
  if (k.empty() || api_version.empty()) {
    std::string shown = body.size() > 512 ? body.substr(0, 512) + " ..." : body;
    return Status(Code::kBadRequest, "the object provided is unrecognized (must be of type " +
                                         info.kind + "): Object '" +
                                         (k.empty() ? "Kind" : "apiVersion") + "' is missing in '" +
                                         shown + "'");
  }
  if (api_version != info.api_version()) {
    return Status(Code::kBadRequest, "the API version in the data (" + api_version +
                                         ") does not match the expected API version (" +
                                         info.api_version() + ")");
  }
  if (k != info.kind) {
    std::string name = obj.GetString({"metadata", "name"});
    FieldError e = InvalidField("kind", Quote(k), "must be " + info.kind);
    return Status::Invalid(
        k + "." + info.group + " " + Quote(name) + " is invalid: kind: " + e.message, {e});
  }
  return Status::Ok();
}

std::string Sha512Hex(const std::string& s) {
  unsigned char d[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : d) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// Whether the Accept header asks for aggregated discovery; sets *version (v2 or v2beta1).
// Returns false with *acceptable=false when no clause can be served at all.
bool WantsAggregated(const std::string& accept, std::string* version, bool* acceptable) {
  *acceptable = true;
  if (accept.empty()) return false;
  size_t i = 0;
  bool any_plain = false;
  while (i <= accept.size()) {
    size_t j = accept.find(',', i);
    if (j == std::string::npos) j = accept.size();
    std::string clause = accept.substr(i, j - i);
    i = j + 1;
    std::string type = MediaType(clause);
    if (type == "application/json" || type == "*/*" || type == "application/*") {
      if (clause.find("as=APIGroupDiscoveryList") != std::string::npos &&
          clause.find("g=apidiscovery.k8s.io") != std::string::npos) {
        if (clause.find("v=v2beta1") != std::string::npos) {
          *version = "v2beta1";
          return true;
        }
        if (clause.find("v=v2") != std::string::npos) {
          *version = "v2";
          return true;
        }
        continue;  // another version of the list: not ours
      }
      if (clause.find("as=") == std::string::npos) any_plain = true;
    }
    if (j == accept.size()) break;
  }
  *acceptable = any_plain;
  return false;
}

}  // namespace

void ApiHandler::ServeNonResource(RequestContext& ctx, const RequestInfo& info) {
  const DiscoveryDocuments& d = Discovery();
  const std::string& path = info.path;
  if (ctx.req.method != "GET" && ctx.req.method != "HEAD") {
    return WriteStatus(ctx.res,
                       Status(Code::kMethodNotAllowed,
                              "the server does not allow this method on the requested resource"),
                       {}, ctx.pretty);
  }
  auto serve_discovery = [&](const std::string& plain, const std::string& v2,
                             const std::string& v2beta1, const std::string& etag_v2,
                             const std::string& etag_v2beta1) {
    std::string version;
    bool acceptable = true;
    std::string accept = ctx.req.get_header_value("Accept");
    if (WantsAggregated(accept, &version, &acceptable)) {
      const std::string& etag = version == "v2" ? etag_v2 : etag_v2beta1;
      ctx.res.set_header("Cache-Control", "public");
      ctx.res.set_header("Vary", "Accept");
      ctx.res.set_header("Etag", etag);
      if (ctx.req.get_header_value("If-None-Match") == etag) {
        ctx.res.status = 304;
        return;
      }
      return WriteBody(
          ctx, 200, (version == "v2" ? v2 : v2beta1) + "\n",
          version == "v2"
              ? "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
              : "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
    }
    if (!acceptable) {
      return WriteStatus(ctx.res,
                         Status(Code::kNotAcceptable,
                                "only the following media types are accepted: application/json, "
                                "application/yaml, application/vnd.kubernetes.protobuf"),
                         {}, ctx.pretty);
    }
    WriteBody(ctx, 200, plain + "\n");
  };

  if (path == "/version" || path == "/version/") return WriteBody(ctx, 200, d.version + "\n");
  if (path == "/metrics") {
    ctx.res.set_header("X-Content-Type-Options", "nosniff");
    return WriteBody(ctx, 200, metrics::Default().Expose(), metrics::kContentType.data());
  }
  if (path == "/api" || path == "/api/") {
    return serve_discovery(d.api_versions, d.aggregated_api_v2, d.aggregated_api_v2beta1,
                           d.etag_api_v2, d.etag_api_v2beta1);
  }
  if (path == "/apis" || path == "/apis/") {
    return serve_discovery(d.group_list, d.aggregated_v2, d.aggregated_v2beta1, d.etag_v2,
                           d.etag_v2beta1);
  }
  if (path == "/apis/csdr.io" || path == "/apis/csdr.io/")
    return WriteBody(ctx, 200, d.group + "\n");
  if (path == "/apis/csdr.io/v1alpha1" || path == "/apis/csdr.io/v1alpha1/") {
    return WriteBody(ctx, 200, d.resource_list + "\n");
  }
  if (path == "/openapi/v2") {
    // kubectl 1.20-1.26 asks for gnostic protobuf; everyone else for JSON.
    static const std::string proto = [] {
      auto doc = json::Parse(OpenAPIV2Document(), json::ParseOptions{.max_depth = 1000});
      return doc.ok() ? EncodeOpenAPIV2Proto(*doc) : std::string();
    }();
    static const std::string etag = "\"" + Sha512Hex(OpenAPIV2Document()) + "\"";
    static const std::string proto_etag = "\"" + Sha512Hex(proto) + "\"";
    std::string accept = ctx.req.get_header_value("Accept");
    bool want_proto = accept.find("com.github.proto-openapi.spec.v2") != std::string::npos;
    const std::string& tag = want_proto ? proto_etag : etag;
    ctx.res.set_header("Etag", tag);
    ctx.res.set_header("Vary", "Accept");
    if (ctx.req.get_header_value("If-None-Match") == tag) {
      ctx.res.status = 304;
      return;
    }
    if (want_proto) {
      // The "@" form clients send is not a valid media type for Go's mime parser.
      return WriteBody(ctx, 200, proto,
                       "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    }
    return WriteBody(ctx, 200, OpenAPIV2Document());
  }
  static const std::string v3_hash = Sha512Hex(OpenAPIV3GroupVersionDocument());
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    json::Value idx = json::Value::MakeObject();
    json::Value paths = json::Value::MakeObject();
    json::Value gv = json::Value::MakeObject();
    gv.Set("serverRelativeURL", "/openapi/v3/apis/csdr.io/v1alpha1?hash=" + v3_hash);
    paths.Set("apis/csdr.io/v1alpha1", std::move(gv));
    idx.Set("paths", std::move(paths));
    return WriteJsonValue(ctx, 200, idx);
  }
  if (path == "/openapi/v3/apis/csdr.io/v1alpha1") {
    ctx.res.set_header("Etag", "\"" + v3_hash + "\"");
    if (ctx.req.get_param_value("hash") == v3_hash) {
      // Content-addressed: cacheable forever. A stale hash still gets the current document
      // (upstream redirects; we never answer with a redirect).
      ctx.res.set_header("Cache-Control", "public, immutable");
    }
    return WriteBody(ctx, 200, OpenAPIV3GroupVersionDocument());
  }
  NotFoundPage(ctx.res);
}

void ApiHandler::ServeResource(RequestContext& ctx, const RequestInfo& info, const UserInfo& user) {
  const httplib::Request& req = ctx.req;
  if (info.api_prefix != "apis" || info.api_group != "csdr.io" || info.api_version != "v1alpha1") {
    return NotFoundPage(ctx.res);
  }
  const KindStrategy* kind = FindKindByResource(info.resource);
  if (kind == nullptr) return NotFoundPage(ctx.res);
  // Only registered paths are served, as upstream's mux: nothing past the subresource.
  if (!info.extra_parts.empty()) return NotFoundPage(ctx.res);
  const KindInfo& ki = kind->info();
  // A namespaced kind addressed without a namespace only lists and watches across all of
  // them; a cluster-scoped kind has no namespaced paths.
  if (!ki.namespaced && !info.namespace_.empty()) return NotFoundPage(ctx.res);
  if (ki.namespaced && info.namespace_.empty() && !info.name.empty()) return NotFoundPage(ctx.res);
  if (!info.subresource.empty() && (info.subresource != "status" || !ki.has_status)) {
    if (req.method == "GET")
      return Fail(
          ctx, &ki, info.name,
          Status(Code::kNotFound, QualifiedResource(ki) + " " + Quote(info.name) + " not found"));
    return NotFoundPage(ctx.res);
  }

  Scope scope;
  scope.kind = kind;
  scope.namespace_ = info.namespace_;
  scope.name = info.name;
  scope.subresource = info.subresource;
  scope.user = &user;

  const std::string& verb = info.verb;
  bool is_list =
      verb == "list" || verb == "deletecollection" || (verb == "watch" && info.name.empty());
  auto format = NegotiateOutput(req.get_header_value("Accept"), is_list && verb != "watch");
  if (!format.ok()) return Fail(ctx, &ki, info.name, format.status());

  if (!info.subresource.empty() && (verb == "create" || verb == "delete" ||
                                    verb == "deletecollection" || req.method == "OPTIONS")) {
    std::string v = verb == "create" ? "create" : verb == "delete" ? "delete" : "";
    return WriteStatus(
        ctx.res,
        Status(Code::kMethodNotAllowed,
               v + " is not supported on resources of kind " + Quote(QualifiedResource(ki))),
        {}, ctx.pretty);
  }
  if (req.method == "OPTIONS") {
    return WriteStatus(ctx.res,
                       Status(Code::kMethodNotAllowed, " is not supported on resources of kind " +
                                                           Quote(QualifiedResource(ki))),
                       {}, ctx.pretty);
  }

  const std::string decode_prefix =
      "the object provided is unrecognized (must be of type " + ki.kind + "): ";
  auto manager = [&]() {
    if (req.has_param("fieldManager")) return req.get_param_value("fieldManager");
    std::string ua = req.get_header_value("User-Agent");
    std::string m = ua.substr(0, ua.find('/'));
    if (m.size() > 128) m.resize(128);
    return m;
  };

  if (verb == "get") {
    auto obj = registry_->Get(scope);
    if (!obj.ok()) return Fail(ctx, &ki, info.name, obj.status());
    return RespondObject(ctx, *kind, *format, *obj, 200);
  }
  if (verb == "list") {
    auto opts = ParseListOptions(req);
    if (!opts.ok()) return Fail(ctx, &ki, "", opts.status());
    auto list = registry_->List(scope, *opts);
    if (!list.ok()) return Fail(ctx, &ki, "", list.status());
    return RespondList(ctx, *kind, *format, std::move(*list), table_rows_);
  }
  if (verb == "watch") return ServeWatch(ctx, scope, *format);

  if (verb == "create" || verb == "update") {
    if (verb == "update" && info.name.empty()) {
      return WriteStatus(ctx.res, Status(Code::kBadRequest, "name must be provided"), {},
                         ctx.pretty);
    }
    std::string type = MediaType(req.get_header_value("Content-Type"));
    bool yaml = type == "application/yaml";
    // A body without a Content-Type is refused too, as kube-apiserver does.
    if (type != "application/json" && !yaml) {
      return WriteStatus(
          ctx.res,
          Status(
              Code::kUnsupportedMediaType,
              "the body of the request was in an unknown format - accepted media types include: " +
                  std::string(kAcceptedBodyTypes)),
          {}, ctx.pretty);
    }
    auto fv = ParseFieldValidation(req, verb == "create" ? "CreateOptions" : "UpdateOptions");
    if (!fv.ok()) return Fail(ctx, nullptr, "", fv.status());
    auto dry = ParseDryRun(req, verb == "create" ? "CreateOptions" : "UpdateOptions");
    if (!dry.ok()) return Fail(ctx, nullptr, "", dry.status());
    std::vector<std::string> duplicates;
    auto obj = ParseBody(req.body, yaml, decode_prefix, &duplicates);
    if (!obj.ok()) return Fail(ctx, &ki, "", obj.status());
    if (!obj->is_object()) {
      return WriteStatus(
          ctx.res,
          Status(Code::kBadRequest,
                 decode_prefix +
                     "couldn't get version/kind; json parse error: json: cannot unmarshal " +
                     (obj->is_array() ? "array" : "value") + " into Go value of type struct"),
          {}, ctx.pretty);
    }
    Status tm = CheckTypeMeta(*kind, *obj, req.body);
    if (!tm.ok() && tm.code() == Code::kInvalid) {
      // Upstream names the body's kind in the details of a kind mismatch.
      StatusDetails d{obj->GetString({"metadata", "name"}), ki.group, obj->GetString({"kind"}), ""};
      return WriteStatus(ctx.res, tm, d, ctx.pretty);
    }
    if (!tm.ok()) return Fail(ctx, &ki, obj->GetString({"metadata", "name"}), tm);
    std::vector<std::string> warnings;
    if (!duplicates.empty()) {
      std::string path = duplicates.front();
      if (!path.empty() && path[0] == '.') path.erase(0, 1);
      if (*fv == FieldValidation::kStrict) {
        return WriteStatus(
            ctx.res,
            Status(Code::kBadRequest,
                   ki.kind + " in version \"" + ki.version + "\" cannot be handled as a " +
                       ki.kind + ": strict decoding error: duplicate field \"" + path + "\""),
            {}, ctx.pretty);
      }
      if (*fv == FieldValidation::kWarn) {
        for (auto p : duplicates) {
          if (!p.empty() && p[0] == '.') p.erase(0, 1);
          warnings.push_back("duplicate field \"" + p + "\"");
        }
      }
    }
    WriteOptions wo;
    wo.dry_run = *dry;
    wo.field_validation = *fv;
    wo.field_manager = manager();
    if (verb == "create" && !info.name.empty() && info.subresource.empty()) {
      // POST to an item path is a create of that name (upstream behaviour).
      if (obj->GetString({"metadata", "name"}).empty()) (*obj)["metadata"].Set("name", info.name);
    }
    auto r = verb == "create" ? registry_->Create(scope, std::move(obj.value()), wo)
                              : registry_->Update(scope, std::move(obj.value()), wo);
    AddWarnings(ctx, warnings);
    if (!r.ok()) return Fail(ctx, &ki, info.name.empty() ? "" : info.name, r.status());
    AddWarnings(ctx, r->warnings);
    return RespondObject(ctx, *kind, *format, r->object, r->created ? 201 : 200);
  }

  if (verb == "patch") {
    if (info.name.empty()) {
      return WriteStatus(ctx.res, Status(Code::kBadRequest, "name must be provided"), {},
                         ctx.pretty);
    }
    std::string type = MediaType(req.get_header_value("Content-Type"));
    PatchType pt;
    if (type == "application/json-patch+json")
      pt = PatchType::kJson;
    else if (type == "application/merge-patch+json")
      pt = PatchType::kMerge;
    else if (type == "application/apply-patch+yaml")
      pt = PatchType::kApply;
    else {
      return WriteStatus(
          ctx.res,
          Status(
              Code::kUnsupportedMediaType,
              "the body of the request was in an unknown format - accepted media types include: " +
                  std::string(kAcceptedPatchTypes)),
          {}, ctx.pretty);
    }
    auto fv = ParseFieldValidation(req, "PatchOptions");
    if (!fv.ok()) return Fail(ctx, nullptr, "", fv.status());
    auto dry = ParseDryRun(req, "PatchOptions");
    if (!dry.ok()) return Fail(ctx, nullptr, "", dry.status());
    if (req.has_param("force") && pt != PatchType::kApply) {
      FieldError e = ForbiddenField("force", "may not be specified for non-apply patch");
      return Fail(
          ctx, nullptr, "",
          Status::Invalid("PatchOptions.meta.k8s.io \"\" is invalid: force: " + e.message, {e}));
    }
    std::vector<std::string> duplicates;
    auto body = ParseBody(req.body, pt == PatchType::kApply, "", &duplicates);
    if (!body.ok()) {
      return WriteStatus(ctx.res, Status(Code::kBadRequest, body.status().message()), {},
                         ctx.pretty);
    }
    WriteOptions wo;
    wo.dry_run = *dry;
    wo.field_validation = *fv;
    wo.field_manager = pt == PatchType::kApply ? req.get_param_value("fieldManager") : manager();
    wo.force = ParseBool(req.get_param_value("force"));
    auto r = registry_->Patch(scope, pt, *body, wo);
    if (!r.ok()) return Fail(ctx, &ki, info.name, r.status());
    AddWarnings(ctx, r->warnings);
    return RespondObject(ctx, *kind, *format, r->object, r->created ? 201 : 200);
  }

  if (verb == "delete") {
    auto opts = ParseDeleteOptions(req);
    if (!opts.ok()) return Fail(ctx, nullptr, "", opts.status());
    auto r = registry_->Delete(scope, *opts);
    if (!r.ok()) return Fail(ctx, &ki, info.name, r.status());
    AddWarnings(ctx, r->warnings);
    if (r->deleted) {
      json::Value s = json::Value::MakeObject();
      s.Set("kind", "Status");
      s.Set("apiVersion", "v1");
      s.Set("metadata", json::Value::MakeObject());
      s.Set("status", "Success");
      json::Value d = json::Value::MakeObject();
      d.Set("name", info.name);
      d.Set("group", ki.group);
      d.Set("kind", ki.resource);
      d.Set("uid", r->object.GetString({"metadata", "uid"}));
      s.Set("details", std::move(d));
      return WriteJsonValue(ctx, 200, s);
    }
    return RespondObject(ctx, *kind, *format, r->object, 200);
  }

  if (verb == "deletecollection") {
    auto lo = ParseListOptions(req);
    if (!lo.ok()) return Fail(ctx, &ki, "", lo.status());
    auto dopts = ParseDeleteOptions(req);
    if (!dopts.ok()) return Fail(ctx, nullptr, "", dopts.status());
    auto r = registry_->DeleteCollection(scope, *lo, *dopts);
    if (!r.ok()) return Fail(ctx, &ki, "", r.status());
    ListResult lr;
    for (const auto& o : *r) lr.items.push_back(storage::KeyValue{"", json::Serialize(o), 0, 0});
    lr.resource_version = 0;
    OutputFormat f = *format;
    if (f.kind == OutputKind::kTable) f.kind = OutputKind::kJson;
    return RespondList(ctx, *kind, f, std::move(lr), table_rows_);
  }

  WriteStatus(ctx.res,
              Status(Code::kMethodNotAllowed, verb + " is not supported on resources of kind " +
                                                  Quote(QualifiedResource(ki))),
              {}, ctx.pretty);
}

namespace {

// One watch event as the line the stream sends: {"type":...,"object":...}\n, the object as
// stored (spliced), as a Table row or as PartialObjectMetadata.
void EncodeWatchLine(WatchEvent& e, const KindStrategy& kind, const OutputFormat& fmt,
                     const std::string& include_object, std::string* line) {
  if (const std::string_view raw = e.RawObject(); !raw.empty()) {
    // The bytes json::Serialize writes for {"type": ..., "object": <stored object>}.
    line->append(R"({"type":)");
    json::AppendString(line, e.type);
    line->append(R"(,"object":)");
    line->append(raw);
    line->push_back('}');
  } else {
    json::Value ev = json::Value::MakeObject();
    ev.Set("type", e.type);
    if (fmt.kind == OutputKind::kTable && e.type != "ERROR" && e.type != "BOOKMARK") {
      auto t = Table(kind, fmt.meta_version, {&e.object}, include_object, nullptr,
                     std::chrono::system_clock::now());
      ev.Set("object", t.ok() ? std::move(t.value()) : std::move(e.object));
    } else if (fmt.kind == OutputKind::kPartialObjectMetadata ||
               fmt.kind == OutputKind::kPartialObjectMetadataList) {
      ev.Set("object", e.type == "ERROR" ? std::move(e.object)
                                         : PartialObjectMetadata(e.object, fmt.meta_version));
    } else {
      ev.Set("object", std::move(e.object));
    }
    json::SerializeTo(ev, line);
  }
  line->push_back('\n');
}

// EncodeWatchLine, once per stored event and encoding for all of its watchers: the first one
// to write it encodes, the others append the same bytes (storage::EncodingMemo).
void AppendWatchLine(WatchEvent& e, const KindStrategy& kind, const OutputFormat& fmt,
                     const std::string& include_object, std::string* line) {
  if (e.source == nullptr) return EncodeWatchLine(e, kind, fmt, include_object, line);
  std::string key = e.type;
  key.push_back(' ');
  key.push_back(static_cast<char>('0' + static_cast<int>(fmt.kind)));
  if (fmt.kind != OutputKind::kJson) {
    key.push_back(' ');
    key += fmt.meta_version;
    key.push_back(' ');
    key += include_object;
  }
  const auto bytes = e.source->encodings.GetOrMake(key, [&] {
    std::string encoded;
    EncodeWatchLine(e, kind, fmt, include_object, &encoded);
    return encoded;
  });
  line->append(*bytes);
}

// A watch written by the connection's event loop (TlsServer's LoopStream): the store's
// watcher wakes the loop when events are queued; each pump takes what is ready without
// waiting. The loop also pumps once a second, when the watch's deadline, the server's
// shutdown and bookmarks are seen.
class WatchLoopStream : public LoopStream {
 public:
  WatchLoopStream(std::shared_ptr<WatchStream> stream, const KindStrategy& kind, OutputFormat fmt,
                  std::string include_object, std::chrono::steady_clock::time_point deadline,
                  const std::atomic<bool>* shutting_down, std::shared_ptr<void> long_running)
      : stream_(std::move(stream)),
        kind_(kind),
        fmt_(std::move(fmt)),
        include_object_(std::move(include_object)),
        deadline_(deadline),
        shutting_down_(shutting_down),
        long_running_(std::move(long_running)) {}

  bool Start(std::function<void()> wake) override {
    wake_ = wake;
    return stream_->SetReadyCallback(std::move(wake));
  }

  bool Pump(std::string* out) override {
    if (std::chrono::steady_clock::now() >= deadline_ || shutting_down_->load()) {
      stream_->Stop();
      return false;
    }
    if (next_ == events_.size()) {
      events_.clear();
      next_ = 0;
      alive_ = stream_->Next(std::chrono::milliseconds(0), &events_);
    }
    // One pump writes at most about kPumpBytes: what a client that stopped reading leaves
    // in the loop is one such chunk; the events behind it wait here (shared with the
    // history, not copied) and, past them, in the store's bounded queue, which ends the
    // watch when it overflows.
    while (next_ < events_.size() && out->size() < kPumpBytes) {
      AppendWatchLine(events_[next_], kind_, fmt_, include_object_, out);
      events_[next_] = WatchEvent();
      ++next_;
    }
    if (next_ < events_.size()) {
      wake_();  // the rest on the next pump, after this chunk is written
      return true;
    }
    if (!alive_) stream_->Stop();
    return alive_;
  }

  void Close() override { stream_->Stop(); }

 private:
  const std::shared_ptr<WatchStream> stream_;
  const KindStrategy& kind_;
  const OutputFormat fmt_;
  const std::string include_object_;
  const std::chrono::steady_clock::time_point deadline_;
  const std::atomic<bool>* const shutting_down_;
  const std::shared_ptr<void> long_running_;  // the long-running gauge, until the stream goes
  static constexpr size_t kPumpBytes = 256 * 1024;
  std::function<void()> wake_;
  std::vector<WatchEvent> events_;  // taken from the stream, written from next_ on
  size_t next_ = 0;
  bool alive_ = true;
};

}  // namespace

void ApiHandler::ServeWatch(RequestContext& ctx, const Scope& scope, const OutputFormat& format) {
  const httplib::Request& req = ctx.req;
  const KindStrategy& kind = *scope.kind;
  WatchOptions wo;
  auto ls = ParseLabelSelector(req.get_param_value("labelSelector"));
  if (!ls.ok())
    return Fail(ctx, &kind.info(), "", Status(Code::kBadRequest, ls.status().message()));
  wo.label_selector = std::move(ls.value());
  auto fs = ParseFieldSelector(req.get_param_value("fieldSelector"));
  if (!fs.ok())
    return Fail(ctx, &kind.info(), "", Status(Code::kBadRequest, fs.status().message()));
  wo.field_selector = std::move(fs.value());
  if (!scope.name.empty()) {
    // A watch on /backups/NAME is a watch of the collection narrowed to that name.
    auto named = ParseFieldSelector("metadata.name=" + scope.name);
    if (named.ok() && wo.field_selector.empty()) wo.field_selector = std::move(named.value());
  }
  wo.resource_version = req.get_param_value("resourceVersion");
  wo.allow_bookmarks = ParseBool(req.get_param_value("allowWatchBookmarks"));
  // Watch-list (client-go 1.35+ informers): sendInitialEvents needs resourceVersionMatch
  // NotOlderThan, and resourceVersionMatch on a watch needs sendInitialEvents (upstream's
  // ListOptions validation).
  const std::string match = req.get_param_value("resourceVersionMatch");
  if (req.has_param("sendInitialEvents")) {
    if (match != "NotOlderThan") {
      FieldError e = ForbiddenField("sendInitialEvents",
                                    "sendInitialEvents is forbidden for watch unless "
                                    "resourceVersionMatch is set to NotOlderThan");
      return Fail(
          ctx, nullptr, "",
          Status::Invalid(
              "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: " + e.message, {e}));
    }
    wo.send_initial_events = ParseBool(req.get_param_value("sendInitialEvents"));
  } else if (!match.empty()) {
    FieldError e = ForbiddenField(
        "resourceVersionMatch",
        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
    return Fail(
        ctx, nullptr, "",
        Status::Invalid(
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: " + e.message, {e}));
  }
  int timeout_seconds = 0;
  if (req.has_param("timeoutSeconds")) {
    std::string t = req.get_param_value("timeoutSeconds");
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v < 0 || errno == ERANGE) {
      return Fail(
          ctx, nullptr, "",
          Status(Code::kBadRequest, "strconv.ParseInt: parsing " + Quote(t) + ": invalid syntax"));
    }
    timeout_seconds = static_cast<int>(std::min<long>(v, 24 * 3600));
  }
  if (timeout_seconds == 0) {
    thread_local std::mt19937 rng{std::random_device{}()};
    int min = options_.min_request_timeout_seconds;
    timeout_seconds = min + static_cast<int>(rng() % static_cast<unsigned>(min + 1));
  }
  Scope list_scope = scope;
  list_scope.name.clear();
  // Objects written as themselves (not as Table rows or metadata) go out as stored.
  wo.raw_objects = format.kind != OutputKind::kTable &&
                   format.kind != OutputKind::kPartialObjectMetadata &&
                   format.kind != OutputKind::kPartialObjectMetadataList;
  auto stream_or = registry_->Watch(list_scope, wo);
  if (!stream_or.ok()) return Fail(ctx, &kind.info(), "", stream_or.status());
  std::shared_ptr<WatchStream> stream(std::move(stream_or.value()));

  const SSL* ssl = req.ssl;
  const std::string include_object = req.get_param_value("includeObject");
  const OutputFormat fmt = format;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  ctx.res.status = 200;
  // apiserver_longrunning_requests counts the watch until the provider is destroyed, which is
  // when the response ends, however it ends.
  struct LongRunning {
    explicit LongRunning(RequestLabels l) : labels(std::move(l)) { AddLongRunning(labels, 1); }
    ~LongRunning() { AddLongRunning(labels, -1); }
    RequestLabels labels;
  };
  auto long_running =
      std::make_shared<LongRunning>(LabelsFor(ParseRequestInfo(req.method, req.path, true), req));
  auto loop_stream = std::make_shared<WatchLoopStream>(stream, kind, fmt, include_object, deadline,
                                                       &shutting_down_, long_running);
  if (StreamOnLoop(ctx.res, loop_stream)) {
    // The connection's event loop writes the events: the watch holds no thread.
    ctx.res.set_header("Content-Type", "application/json");
    return;
  }
  ctx.res.set_chunked_content_provider(
      "application/json", [this, stream, ssl, include_object, fmt, deadline, &kind, long_running](
                              size_t, httplib::DataSink& sink) {
        std::vector<WatchEvent> events;
        std::string line;
        for (;;) {
          auto now = std::chrono::steady_clock::now();
          if (now >= deadline || shutting_down_.load()) break;
          auto wait = std::min<std::chrono::milliseconds>(
              std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
              std::chrono::milliseconds(1000));
          events.clear();
          bool alive = stream->Next(wait, &events);
          for (auto& e : events) {
            line.clear();
            AppendWatchLine(e, kind, fmt, include_object, &line);
            if (!sink.write(line.data(), line.size())) {
              stream->Stop();
              return false;
            }
          }
          if (!alive) break;
          if (events.empty() && PeerClosed(ssl)) {
            stream->Stop();
            return false;
          }
        }
        stream->Stop();
        sink.done();
        return true;
      });
}

}  // namespace csdr::apiserver
