#include "apiserver/endpoints/discovery.h"

#include <openssl/sha.h>

#include "apiserver/kinds/kind.h"
#include "common/json.h"

#ifndef CSDR_VERSION
#define CSDR_VERSION "v0.1.0"
#endif
#ifndef CSDR_GIT_COMMIT
#define CSDR_GIT_COMMIT "unknown"
#endif

namespace csdr::apiserver {
namespace {

constexpr const char* kGroup = "csdr.io";
constexpr const char* kVersion = "v1alpha1";
constexpr const char* kGroupVersion = "csdr.io/v1alpha1";

json::Value Strings(const std::vector<std::string>& v) {
  json::Value a = json::Value::MakeArray();
  for (const auto& s : v) a.PushBack(s);
  return a;
}

// Verbs in upstream's order for a CRD-like resource.
json::Value ResourceVerbs() {
  return Strings(
      {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"});
}
json::Value StatusVerbs() { return Strings({"get", "patch", "update"}); }

// storageVersionHash: upstream hashes "group/version/kind" with SHA-256, base64 of 8 bytes.
std::string StorageVersionHash(const KindInfo& info) {
  std::string in = info.group + "/" + info.version + "/" + info.kind;
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), d);
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  // 8 bytes -> 12 base64 characters with one '=' of padding, as Go's StdEncoding.
  for (int i = 0; i < 8; i += 3) {
    unsigned v = static_cast<unsigned>(d[i]) << 16;
    if (i + 1 < 8) v |= static_cast<unsigned>(d[i + 1]) << 8;
    if (i + 2 < 8) v |= d[i + 2];
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += i + 1 < 8 ? b64[(v >> 6) & 63] : '=';
    out += i + 2 < 8 ? b64[v & 63] : '=';
  }
  return out;
}

std::string QuotedSha256Hex(const std::string& body) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), d);
  static const char* hex = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : d) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out + "\"";
}

json::Value GroupVersionForDiscovery() {
  json::Value gv = json::Value::MakeObject();
  gv.Set("groupVersion", kGroupVersion);
  gv.Set("version", kVersion);
  return gv;
}

json::Value ApiGroup() {
  json::Value g = json::Value::MakeObject();
  g.Set("name", kGroup);
  json::Value versions = json::Value::MakeArray();
  versions.PushBack(GroupVersionForDiscovery());
  g.Set("versions", std::move(versions));
  g.Set("preferredVersion", GroupVersionForDiscovery());
  return g;
}

json::Value ResponseKind(const KindInfo& info) {
  json::Value k = json::Value::MakeObject();
  k.Set("group", info.group);
  k.Set("version", info.version);
  k.Set("kind", info.kind);
  return k;
}

std::string AggregatedList(const std::string& api_version, bool with_group) {
  json::Value list = json::Value::MakeObject();
  list.Set("kind", "APIGroupDiscoveryList");
  list.Set("apiVersion", api_version);
  list.Set("metadata", json::Value::MakeObject());
  json::Value items = json::Value::MakeArray();
  if (with_group) {
    json::Value resources = json::Value::MakeArray();
    for (const KindStrategy* k : AllKinds()) {
      const KindInfo& info = k->info();
      json::Value r = json::Value::MakeObject();
      r.Set("resource", info.resource);
      r.Set("responseKind", ResponseKind(info));
      r.Set("scope", info.namespaced ? "Namespaced" : "Cluster");
      r.Set("singularResource", info.singular);
      r.Set("verbs", ResourceVerbs());
      if (!info.short_names.empty()) r.Set("shortNames", Strings(info.short_names));
      if (!info.categories.empty()) r.Set("categories", Strings(info.categories));
      if (info.has_status) {
        json::Value sub = json::Value::MakeObject();
        sub.Set("subresource", "status");
        sub.Set("responseKind", ResponseKind(info));
        sub.Set("verbs", StatusVerbs());
        json::Value subs = json::Value::MakeArray();
        subs.PushBack(std::move(sub));
        r.Set("subresources", std::move(subs));
      }
      resources.PushBack(std::move(r));
    }
    json::Value version = json::Value::MakeObject();
    version.Set("version", kVersion);
    version.Set("resources", std::move(resources));
    version.Set("freshness", "Current");
    json::Value versions = json::Value::MakeArray();
    versions.PushBack(std::move(version));
    json::Value item = json::Value::MakeObject();
    json::Value meta = json::Value::MakeObject();
    meta.Set("name", kGroup);
    item.Set("metadata", std::move(meta));
    item.Set("versions", std::move(versions));
    items.PushBack(std::move(item));
  }
  list.Set("items", std::move(items));
  return json::Serialize(list);
}

DiscoveryDocuments Build() {
  DiscoveryDocuments d;
  {
    json::Value v = json::Value::MakeObject();
    v.Set("kind", "APIVersions");
    v.Set("versions", json::Value::MakeArray());
    v.Set("serverAddressByClientCIDRs", json::Value::MakeArray());
    d.api_versions = json::Serialize(v);
  }
  {
    json::Value v = json::Value::MakeObject();
    v.Set("kind", "APIGroupList");
    v.Set("apiVersion", "v1");
    json::Value groups = json::Value::MakeArray();
    groups.PushBack(ApiGroup());
    v.Set("groups", std::move(groups));
    d.group_list = json::Serialize(v);
  }
  {
    json::Value v = json::Value::MakeObject();
    v.Set("kind", "APIGroup");
    v.Set("apiVersion", "v1");
    json::Value group = ApiGroup();
    for (auto& m : group.object()) v.Set(m.first, m.second);
    d.group = json::Serialize(v);
  }
  {
    json::Value v = json::Value::MakeObject();
    v.Set("kind", "APIResourceList");
    v.Set("apiVersion", "v1");
    v.Set("groupVersion", kGroupVersion);
    json::Value resources = json::Value::MakeArray();
    for (const KindStrategy* k : AllKinds()) {
      const KindInfo& info = k->info();
      json::Value r = json::Value::MakeObject();
      r.Set("name", info.resource);
      r.Set("singularName", info.singular);
      r.Set("namespaced", info.namespaced);
      r.Set("kind", info.kind);
      r.Set("verbs", ResourceVerbs());
      if (!info.short_names.empty()) r.Set("shortNames", Strings(info.short_names));
      if (!info.categories.empty()) r.Set("categories", Strings(info.categories));
      r.Set("storageVersionHash", StorageVersionHash(info));
      resources.PushBack(std::move(r));
      if (info.has_status) {
        json::Value s = json::Value::MakeObject();
        s.Set("name", info.resource + "/status");
        s.Set("singularName", "");
        s.Set("namespaced", info.namespaced);
        s.Set("kind", info.kind);
        s.Set("verbs", StatusVerbs());
        resources.PushBack(std::move(s));
      }
    }
    v.Set("resources", std::move(resources));
    d.resource_list = json::Serialize(v);
  }
  d.aggregated_v2 = AggregatedList("apidiscovery.k8s.io/v2", true);
  d.aggregated_v2beta1 = AggregatedList("apidiscovery.k8s.io/v2beta1", true);
  d.aggregated_api_v2 = AggregatedList("apidiscovery.k8s.io/v2", false);
  d.aggregated_api_v2beta1 = AggregatedList("apidiscovery.k8s.io/v2beta1", false);
  d.etag_v2 = QuotedSha256Hex(d.aggregated_v2);
  d.etag_v2beta1 = QuotedSha256Hex(d.aggregated_v2beta1);
  d.etag_api_v2 = QuotedSha256Hex(d.aggregated_api_v2);
  d.etag_api_v2beta1 = QuotedSha256Hex(d.aggregated_api_v2beta1);
  {
    json::Value v = json::Value::MakeObject();
    v.Set("major", "1");
    v.Set("minor", "33");
    v.Set("gitVersion", CSDR_VERSION);
    v.Set("gitCommit", CSDR_GIT_COMMIT);
    v.Set("gitTreeState", "clean");
    v.Set("buildDate", "");
    v.Set("goVersion", "");
    v.Set("compiler", "gcc");
    v.Set("platform", "linux/amd64");
    d.version = json::Serialize(v);
  }
  return d;
}

}  // namespace

const DiscoveryDocuments& Discovery() {
  static const DiscoveryDocuments docs = Build();
  return docs;
}

}  // namespace csdr::apiserver
