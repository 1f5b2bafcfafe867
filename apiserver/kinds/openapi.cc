// /openapi/v2 and /openapi/v3/apis/csdr.io/v1alpha1, generated from the schema tables.
//
// What matters to clients (aggregated-api.md section 3): dotted definition names; every
// $ref resolvable inside the document; x-kubernetes-group-version-kind as a list on kind
// definitions and as a single map on operations, so kubectl explain finds kinds by GVK
// (v2 for kubectl <= 1.26, v3 for 1.27+); PATCH operations that consume JSON patch, merge
// patch and apply patch but NOT strategic merge patch (kubectl would otherwise send one,
// and we answer 415); dryRun/fieldManager/fieldValidation query parameters on writes so
// kubectl uses server-side validation and dry-run. Paths mirror a CRD's (no watch paths).
#include <string>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/schema.h"

namespace csdr::apiserver {
namespace {

const std::string kMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.";

json::Value SchemaToJson(const Schema& s, bool v3);

std::string RefTarget(const std::string& name, bool v3) {
  return (v3 ? "#/components/schemas/" : "#/definitions/") + name;
}

json::Value RefJson(const std::string& name, bool v3) {
  json::Value r = json::Value::MakeObject();
  r.Set("$ref", RefTarget(name, v3));
  return r;
}

json::Value SchemaToJson(const Schema& s, bool v3) {
  json::Value out = json::Value::MakeObject();
  if (!s.ref.empty()) {
    if (!s.description.empty()) out.Set("description", s.description);
    if (v3 && !s.description.empty()) {
      // OpenAPI 3.0 ignores siblings of $ref; upstream wraps the reference in allOf so the
      // description survives.
      json::Value all = json::Value::MakeArray();
      all.PushBack(RefJson(s.ref, true));
      out.Set("allOf", std::move(all));
    } else {
      // Swagger 2.0 allows a description beside $ref (kubectl's parser only refuses type
      // or properties there).
      out.Set("$ref", RefTarget(s.ref, v3));
    }
    return out;
  }
  if (!s.description.empty()) out.Set("description", s.description);
  if (!s.type.empty()) out.Set("type", s.type);
  if (!s.format.empty()) out.Set("format", s.format);
  if (!s.enum_values.empty()) {
    json::Value e = json::Value::MakeArray();
    for (const std::string& v : s.enum_values) e.PushBack(v);
    out.Set("enum", std::move(e));
  }
  if (s.default_value) out.Set("default", *s.default_value);
  if (!s.pattern.empty()) out.Set("pattern", s.pattern);
  if (s.minimum) out.Set("minimum", *s.minimum);
  if (s.maximum) out.Set("maximum", *s.maximum);
  if (s.items) out.Set("items", SchemaToJson(*s.items, v3));
  if (!s.properties.empty()) {
    json::Value props = json::Value::MakeObject();
    for (const auto& [name, p] : s.properties) props.Set(name, SchemaToJson(p, v3));
    out.Set("properties", std::move(props));
  }
  if (!s.required.empty()) {
    json::Value req = json::Value::MakeArray();
    for (const std::string& r : s.required) req.PushBack(r);
    out.Set("required", std::move(req));
  }
  if (s.additional_properties)
    out.Set("additionalProperties", SchemaToJson(*s.additional_properties, v3));
  if (!s.list_type.empty()) out.Set("x-kubernetes-list-type", s.list_type);
  if (!s.list_map_keys.empty()) {
    json::Value keys = json::Value::MakeArray();
    for (const std::string& k : s.list_map_keys) keys.PushBack(k);
    out.Set("x-kubernetes-list-map-keys", std::move(keys));
  }
  if (!s.map_type.empty()) out.Set("x-kubernetes-map-type", s.map_type);
  return out;
}

json::Value GVKJson(const std::string& group, const std::string& version, const std::string& kind) {
  json::Value g = json::Value::MakeObject();
  g.Set("group", group);
  g.Set("kind", kind);
  g.Set("version", version);
  return g;
}

json::Value DefinitionsJson(bool v3) {
  json::Value defs = json::Value::MakeObject();
  for (const Definition& d : Definitions()) {
    json::Value s = SchemaToJson(d.schema, v3);
    if (!d.gvks.empty()) {
      json::Value list = json::Value::MakeArray();
      for (const Definition::GVK& g : d.gvks) list.PushBack(GVKJson(g.group, g.version, g.kind));
      s.Set("x-kubernetes-group-version-kind", std::move(list));
    }
    defs.Set(d.name, std::move(s));
  }
  return defs;
}

// A query or path parameter, rendered for either version.
struct Param {
  const char* name;
  const char* in;
  const char* type;
  const char* description;
  bool required = false;
};

json::Value ParamJson(const Param& p, bool v3) {
  json::Value out = json::Value::MakeObject();
  out.Set("name", p.name);
  out.Set("in", p.in);
  out.Set("description", p.description);
  if (p.required) out.Set("required", true);
  if (v3) {
    json::Value schema = json::Value::MakeObject();
    schema.Set("type", p.type);
    schema.Set("uniqueItems", true);
    out.Set("schema", std::move(schema));
  } else {
    out.Set("type", p.type);
    out.Set("uniqueItems", true);
  }
  return out;
}

// Parameter descriptions abridged from k8s.io/apimachinery's ListOptions, CreateOptions,
// PatchOptions and DeleteOptions.
const Param kPretty{
    "pretty", "query", "string",
    "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
    "indicates a browser or command-line HTTP tool (curl and wget)."};
const Param kNamespace{"namespace", "path", "string",
                       "object name and auth scope, such as for teams and projects", true};
const Param kAllowWatchBookmarks{
    "allowWatchBookmarks", "query", "boolean",
    "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."};
const Param kContinue{
    "continue", "query", "string",
    "The continue option should be set when retrieving more results from the server."};
const Param kFieldSelector{
    "fieldSelector", "query", "string",
    "A selector to restrict the list of returned objects by their fields. Defaults to "
    "everything."};
const Param kLabelSelector{
    "labelSelector", "query", "string",
    "A selector to restrict the list of returned objects by their labels. Defaults to "
    "everything."};
const Param kLimit{
    "limit", "query", "integer",
    "limit is a maximum number of responses to return for a list call. If more items exist, the "
    "server will set the `continue` field on the list metadata."};
const Param kResourceVersion{
    "resourceVersion", "query", "string",
    "resourceVersion sets a constraint on what resource versions a request may be served "
    "from. Defaults to unset"};
const Param kResourceVersionMatch{
    "resourceVersionMatch", "query", "string",
    "resourceVersionMatch determines how resourceVersion is applied to list calls."};
const Param kSendInitialEvents{
    "sendInitialEvents", "query", "boolean",
    "`sendInitialEvents=true` may be set together with `watch=true`: the stream begins "
    "with synthetic events for the current objects, then a bookmark."};
const Param kTimeoutSeconds{
    "timeoutSeconds", "query", "integer",
    "Timeout for the list/watch call, regardless of any activity or inactivity."};
const Param kWatch{
    "watch", "query", "boolean",
    "Watch for changes to the described resources and return them as a stream of add, update, and "
    "remove notifications. Specify resourceVersion."};
const Param kDryRun{
    "dryRun", "query", "string",
    "When present, indicates that modifications should not be persisted. Valid values are: All."};
const Param kFieldManager{
    "fieldManager", "query", "string",
    "fieldManager is a name associated with the actor or entity that is making these "
    "changes. Required for apply requests."};
const Param kFieldValidation{
    "fieldValidation", "query", "string",
    "fieldValidation instructs the server on how to handle objects in the request "
    "containing unknown or duplicate fields: Ignore, Warn (the default) or Strict."};
const Param kForce{
    "force", "query", "boolean",
    "Force is going to \"force\" Apply requests: re-acquire conflicting fields owned by other "
    "people. Must be unset for non-apply patch requests."};
const Param kGracePeriodSeconds{"gracePeriodSeconds", "query", "integer",
                                "The duration in seconds before the object should be deleted."};
const Param kIgnoreStoreReadError{
    "ignoreStoreReadErrorWithClusterBreakingPotential", "query", "boolean",
    "if set to true, it will trigger an unsafe deletion of the resource in case the "
    "normal deletion flow fails with a corrupt object error."};
const Param kOrphanDependents{"orphanDependents", "query", "boolean",
                              "Deprecated: please use the PropagationPolicy."};
const Param kPropagationPolicy{
    "propagationPolicy", "query", "string",
    "Whether and how garbage collection will be performed: Orphan, Background or "
    "Foreground."};

struct Operation {
  std::string verb;    // HTTP method in lower case
  std::string action;  // x-kubernetes-action
  std::string id;      // operationId
  std::string summary;
  std::vector<Param> params;
  std::string body;  // definition of the request body, "" for none
  bool body_required = false;
  std::vector<std::string> consumes;                           // request media types
  std::vector<std::pair<std::string, std::string>> responses;  // code, definition
};

const std::vector<std::string> kPatchTypes = {
    "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"};

json::Value Strings(const std::vector<std::string>& v) {
  json::Value a = json::Value::MakeArray();
  for (const std::string& s : v) a.PushBack(s);
  return a;
}

json::Value OperationJson(const Operation& op, const KindInfo& info, bool v3) {
  json::Value out = json::Value::MakeObject();
  out.Set("tags", Strings({"csdrIo_v1alpha1"}));
  out.Set("description", op.summary);
  if (!v3) {
    if (!op.consumes.empty()) out.Set("consumes", Strings(op.consumes));
    std::vector<std::string> produces = {"application/json", "application/yaml"};
    if (op.action == "list") produces.push_back("application/json;stream=watch");
    out.Set("produces", Strings(produces));
    out.Set("schemes", Strings({"https"}));
  }
  out.Set("operationId", op.id);
  json::Value params = json::Value::MakeArray();
  if (!op.body.empty() && !v3) {
    json::Value body = json::Value::MakeObject();
    body.Set("name", "body");
    body.Set("in", "body");
    if (op.body_required) body.Set("required", true);
    body.Set("schema", RefJson(op.body, false));
    params.PushBack(std::move(body));
  }
  for (const Param& p : op.params) params.PushBack(ParamJson(p, v3));
  if (params.size() > 0) out.Set("parameters", std::move(params));
  if (!op.body.empty() && v3) {
    json::Value content = json::Value::MakeObject();
    for (const std::string& type : op.consumes) {
      json::Value media = json::Value::MakeObject();
      media.Set("schema", RefJson(op.body, true));
      content.Set(type, std::move(media));
    }
    json::Value request = json::Value::MakeObject();
    request.Set("content", std::move(content));
    if (op.body_required) request.Set("required", true);
    out.Set("requestBody", std::move(request));
  }
  json::Value responses = json::Value::MakeObject();
  for (const auto& [code, def] : op.responses) {
    json::Value r = json::Value::MakeObject();
    r.Set("description", code == "201" ? "Created" : code == "202" ? "Accepted" : "OK");
    if (v3) {
      json::Value content = json::Value::MakeObject();
      for (const char* type : {"application/json", "application/yaml"}) {
        json::Value media = json::Value::MakeObject();
        media.Set("schema", RefJson(def, true));
        content.Set(type, std::move(media));
      }
      r.Set("content", std::move(content));
    } else {
      r.Set("schema", RefJson(def, false));
    }
    responses.Set(code, std::move(r));
  }
  json::Value unauthorized = json::Value::MakeObject();
  unauthorized.Set("description", "Unauthorized");
  responses.Set("401", std::move(unauthorized));
  out.Set("responses", std::move(responses));
  out.Set("x-kubernetes-action", op.action);
  out.Set("x-kubernetes-group-version-kind", GVKJson(info.group, info.version, info.kind));
  return out;
}

json::Value PathJson(const std::vector<Param>& path_params, const std::vector<Operation>& ops,
                     const KindInfo& info, bool v3) {
  json::Value item = json::Value::MakeObject();
  for (const Operation& op : ops) item.Set(op.verb, OperationJson(op, info, v3));
  json::Value params = json::Value::MakeArray();
  for (const Param& p : path_params) params.PushBack(ParamJson(p, v3));
  item.Set("parameters", std::move(params));
  return item;
}

void AddPaths(const KindInfo& info, bool v3, json::Value* paths) {
  const std::string kind_def = DefinitionName(info);
  const std::string list_def = ListDefinitionName(info);
  const std::string status_def = kMeta + "Status";
  const std::string delete_def = kMeta + "DeleteOptions";
  const std::string patch_def = kMeta + "Patch";
  const std::string scope = info.namespaced ? "Namespaced" : "";
  const std::string id_suffix = "CsdrIoV1alpha1" + scope + info.kind;
  const std::string root = "/apis/" + info.group + "/" + info.version + "/";
  const std::string collection =
      root + (info.namespaced ? "namespaces/{namespace}/" : "") + info.resource;
  const std::string item = collection + "/{name}";

  std::vector<Param> collection_params;
  if (info.namespaced) collection_params.push_back(kNamespace);
  collection_params.push_back(kPretty);
  const std::string name_description = "name of the " + info.kind;
  const Param name_param{"name", "path", "string", name_description.c_str(), true};
  std::vector<Param> item_params = {name_param};
  if (info.namespaced) item_params.push_back(kNamespace);
  item_params.push_back(kPretty);

  const std::vector<Param> list_params = {kAllowWatchBookmarks,
                                          kContinue,
                                          kFieldSelector,
                                          kLabelSelector,
                                          kLimit,
                                          kResourceVersion,
                                          kResourceVersionMatch,
                                          kSendInitialEvents,
                                          kTimeoutSeconds,
                                          kWatch};
  const std::vector<Param> write_params = {kDryRun, kFieldManager, kFieldValidation};
  const std::vector<Param> patch_params = {kDryRun, kFieldManager, kFieldValidation, kForce};
  const std::vector<Param> delete_params = {kDryRun, kGracePeriodSeconds, kIgnoreStoreReadError,
                                            kOrphanDependents, kPropagationPolicy};
  const std::vector<Param> deletecollection_params = {kContinue,
                                                      kDryRun,
                                                      kFieldSelector,
                                                      kGracePeriodSeconds,
                                                      kIgnoreStoreReadError,
                                                      kLabelSelector,
                                                      kLimit,
                                                      kOrphanDependents,
                                                      kPropagationPolicy,
                                                      kResourceVersion,
                                                      kResourceVersionMatch,
                                                      kSendInitialEvents,
                                                      kTimeoutSeconds};

  paths->Set(collection,
             PathJson(collection_params,
                      {{"get",
                        "list",
                        "list" + id_suffix,
                        "list or watch objects of kind " + info.kind,
                        list_params,
                        "",
                        false,
                        {},
                        {{"200", list_def}}},
                       {"post",
                        "post",
                        "create" + id_suffix,
                        "create a " + info.kind,
                        write_params,
                        kind_def,
                        true,
                        {"*/*"},
                        {{"200", kind_def}, {"201", kind_def}, {"202", kind_def}}},
                       {"delete",
                        "deletecollection",
                        "delete" + std::string("CsdrIoV1alpha1Collection") + scope + info.kind,
                        "delete collection of " + info.kind,
                        deletecollection_params,
                        delete_def,
                        false,
                        {"*/*"},
                        {{"200", status_def}}}},
                      info, v3));
  auto item_ops = [&](const std::string& what, const std::string& id_tail) {
    return std::vector<Operation>{{"get",
                                   "get",
                                   "read" + id_suffix + id_tail,
                                   "read " + what + " of the specified " + info.kind,
                                   {kResourceVersion},
                                   "",
                                   false,
                                   {},
                                   {{"200", kind_def}}},
                                  {"put",
                                   "put",
                                   "replace" + id_suffix + id_tail,
                                   "replace " + what + " of the specified " + info.kind,
                                   write_params,
                                   kind_def,
                                   true,
                                   {"*/*"},
                                   {{"200", kind_def}, {"201", kind_def}}},
                                  {"patch",
                                   "patch",
                                   "patch" + id_suffix + id_tail,
                                   "partially update " + what + " of the specified " + info.kind,
                                   patch_params,
                                   patch_def,
                                   true,
                                   kPatchTypes,
                                   {{"200", kind_def}, {"201", kind_def}}}};
  };
  std::vector<Operation> ops = item_ops("the object", "");
  ops.push_back({"delete",
                 "delete",
                 "delete" + id_suffix,
                 "delete a " + info.kind,
                 delete_params,
                 delete_def,
                 false,
                 {"*/*"},
                 {{"200", status_def}, {"202", status_def}}});
  paths->Set(item, PathJson(item_params, ops, info, v3));
  if (info.has_status)
    paths->Set(item + "/status", PathJson(item_params, item_ops("status", "Status"), info, v3));
  if (info.namespaced) {
    // The cross-namespace list, as kube-apiserver serves it for namespaced kinds.
    std::vector<Param> all_params = list_params;
    all_params.push_back(kPretty);
    paths->Set(root + info.resource,
               PathJson({},
                        {{"get",
                          "list",
                          "listCsdrIoV1alpha1" + info.kind + "ForAllNamespaces",
                          "list or watch objects of kind " + info.kind,
                          all_params,
                          "",
                          false,
                          {},
                          {{"200", list_def}}}},
                        info, v3));
  }
}

json::Value Paths(bool v3) {
  json::Value paths = json::Value::MakeObject();
  for (const KindStrategy* kind : AllKinds()) AddPaths(kind->info(), v3, &paths);
  return paths;
}

json::Value BearerToken() {
  json::Value b = json::Value::MakeObject();
  b.Set("type", "apiKey");
  b.Set("description", "Bearer Token authentication");
  b.Set("name", "authorization");
  b.Set("in", "header");
  return b;
}

json::Value Info() {
  json::Value info = json::Value::MakeObject();
  info.Set("title", "csdr-apiserver");
  info.Set("version", "v1alpha1");
  return info;
}

json::Value Security() {
  json::Value req = json::Value::MakeObject();
  req.Set("BearerToken", json::Value::MakeArray());
  json::Value security = json::Value::MakeArray();
  security.PushBack(std::move(req));
  return security;
}

}  // namespace

const std::string& OpenAPIV2Document() {
  static const std::string doc = [] {
    json::Value d = json::Value::MakeObject();
    d.Set("swagger", "2.0");
    d.Set("info", Info());
    d.Set("paths", Paths(false));
    d.Set("definitions", DefinitionsJson(false));
    json::Value sec = json::Value::MakeObject();
    sec.Set("BearerToken", BearerToken());
    d.Set("securityDefinitions", std::move(sec));
    d.Set("security", Security());
    return json::Serialize(d);
  }();
  return doc;
}

const std::string& OpenAPIV3GroupVersionDocument() {
  static const std::string doc = [] {
    json::Value d = json::Value::MakeObject();
    d.Set("openapi", "3.0.0");
    d.Set("info", Info());
    d.Set("paths", Paths(true));
    json::Value components = json::Value::MakeObject();
    components.Set("schemas", DefinitionsJson(true));
    json::Value schemes = json::Value::MakeObject();
    schemes.Set("BearerToken", BearerToken());
    components.Set("securitySchemes", std::move(schemes));
    d.Set("components", std::move(components));
    d.Set("security", Security());
    return json::Serialize(d);
  }();
  return doc;
}

}  // namespace csdr::apiserver
