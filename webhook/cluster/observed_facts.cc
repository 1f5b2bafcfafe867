#include "webhook/cluster/observed_facts.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace csdr::webhook {

namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A region ID as Alibaba Cloud writes them: lowercase letters and digits in dash-separated
// parts, at least two ("cn-hangzhou", "ap-southeast-1").
bool IsRegionId(std::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  bool dash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-') {
      if (s[i - 1] == '-') return false;
      dash = true;
    } else if (!IsLowerAlnum(s[i])) {
      return false;
    }
  }
  return dash;
}

// The most frequent value; a tie goes to the one that sorts first. "" for none.
std::string Majority(const std::map<std::string, int>& counts) {
  std::string best;
  int most = 0;
  for (const auto& [value, n] : counts) {  // ascending: the first of equals wins
    if (n > most) {
      best = value;
      most = n;
    }
  }
  return best;
}

std::string Label(const json::Value& node, std::string_view key) {
  const json::Value* labels = node.FindPath({"metadata", "labels"});
  if (labels == nullptr) return "";
  const json::Value* v = labels->Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

std::string Describe(const ObjectFact& f, std::string_view what) {
  if (f.unknown()) return std::string(what) + ": " + f.unknown_reason;
  return std::string(what) + ": not found";
}

}  // namespace

std::string EcsProviderRegion(std::string_view id) {
  const size_t dot = id.find(".i-");
  if (dot == std::string_view::npos || dot == 0) return "";
  const std::string_view region = id.substr(0, dot);
  const std::string_view instance = id.substr(dot + 3);
  if (!IsRegionId(region) || instance.empty()) return "";
  for (char c : instance) {
    if (!IsLowerAlnum(c)) return "";
  }
  return std::string(region);
}

std::string RegionOfNodes(const std::vector<ObjectRef>& nodes) {
  for (std::string_view label : {kRegionLabel, kBetaRegionLabel}) {
    std::map<std::string, int> counts;
    for (const auto& n : nodes) {
      if (n == nullptr) continue;
      const std::string r = Label(*n, label);
      if (!r.empty()) ++counts[r];
    }
    if (!counts.empty()) return Majority(counts);
  }
  std::map<std::string, int> counts;
  for (const auto& n : nodes) {
    if (n == nullptr) continue;
    const std::string r = EcsProviderRegion(n->GetString({"spec", "providerID"}));
    if (!r.empty()) ++counts[r];
  }
  return Majority(counts);
}

bool AllNodesEcs(const std::vector<ObjectRef>& nodes) {
  if (nodes.empty()) return false;
  return std::all_of(nodes.begin(), nodes.end(), [](const ObjectRef& n) {
    return n != nullptr && !EcsProviderRegion(n->GetString({"spec", "providerID"})).empty();
  });
}

std::string VersionOfImage(std::string_view image) {
  if (const size_t at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
  const size_t slash = image.rfind('/');
  const size_t colon = image.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
    return "";  // no tag (a colon before the last slash is a registry's port)
  }
  std::string_view tag = image.substr(colon + 1);
  if (!tag.empty() && (tag.front() == 'v' || tag.front() == 'V')) tag.remove_prefix(1);
  std::string out = "v";
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    const size_t start = i;
    while (i < tag.size() && std::isdigit(static_cast<unsigned char>(tag[i])) != 0) ++i;
    if (i == start || i - start > 9) return "";
    out.append(tag.substr(start, i - start));
    if (part < 2) {
      if (i >= tag.size() || tag[i] != '.') return "";
      out.push_back('.');
      ++i;
    }
  }
  // A separator must follow the patch number: "1.8.4-8bea6b9" is v1.8.4, "1.8.4.1" and
  // "1.8.4rc1" are no versions of that form.
  if (i < tag.size() && (tag[i] == '.' || std::isalnum(static_cast<unsigned char>(tag[i])))) {
    return "";
  }
  return out;
}

std::string ImageOfWorkload(const json::Value& workload, std::string_view container) {
  const json::Value* containers = workload.FindPath({"spec", "template", "spec", "containers"});
  if (containers == nullptr || !containers->is_array()) return "";
  for (const json::Value& c : containers->array()) {
    if (container.empty() || c.GetString({"name"}) == container) return c.GetString({"image"});
  }
  return "";
}

std::vector<std::string> ZonesOfVswZone(std::string_view s) {
  std::set<std::string> zones;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    std::string_view entry = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view zone = entry.substr(colon + 1);
    while (!zone.empty() && std::isspace(static_cast<unsigned char>(zone.front())) != 0) {
      zone.remove_prefix(1);
    }
    while (!zone.empty() && std::isspace(static_cast<unsigned char>(zone.back())) != 0) {
      zone.remove_suffix(1);
    }
    if (IsRegionId(zone)) zones.insert(std::string(zone));
  }
  return {zones.begin(), zones.end()};
}

json::Value ObservedStatus(const ObservedSources& src, std::vector<std::string>* read,
                           std::vector<std::string>* missing) {
  json::Value status = json::Value::MakeObject();
  if (src.nodes.known) {
    read->push_back("nodes (" + std::to_string(src.nodes.items.size()) + ")");
    const std::string region = RegionOfNodes(src.nodes.items);
    if (!region.empty()) {
      status.Set("regionID", region);
    } else {
      missing->push_back("nodes: no region label or ECS provider ID");
    }
    if (!src.nodes.items.empty()) status.Set("allNodesECS", AllNodesEcs(src.nodes.items));
  } else {
    missing->push_back("nodes: " + src.nodes.unknown_reason);
  }
  if (!src.kubernetes_version.empty()) {
    read->push_back("/version");
    status.Set("kubernetesVersion", src.kubernetes_version);
  } else {
    missing->push_back("/version: " + src.version_error);
  }
  struct Workload {
    const ObjectFact& fact;
    std::string what;
    std::string_view container;
    const char* field;
  };
  const std::string ns(kSystemNamespace);
  for (const Workload& w :
       {Workload{src.migrate_controller,
                 "Deployment " + ns + "/" + std::string(kMigrateControllerName), "",
                 "componentVersion"},
        Workload{src.csi_plugin, "DaemonSet " + ns + "/" + std::string(kCsiPluginName),
                 kCsiPluginName, "csiVersion"}}) {
    if (!w.fact.present()) {
      missing->push_back(Describe(w.fact, w.what));
      continue;
    }
    const std::string image = ImageOfWorkload(*w.fact.object, w.container);
    const std::string version = VersionOfImage(image);
    if (version.empty()) {
      missing->push_back(w.what + ": image " + json::Serialize(json::Value(image)) +
                         " has no version tag");
      continue;
    }
    read->push_back(w.what);
    status.Set(w.field, version);
  }
  const std::string flex = "DaemonSet " + ns + "/" + std::string(kFlexVolumeName);
  if (src.flexvolume.unknown()) {
    missing->push_back(Describe(src.flexvolume, flex));
  } else {
    read->push_back(flex);
    status.Set("flexVolumeDetected", src.flexvolume.present());
  }
  const std::string cm = "ConfigMap " + ns + "/" + std::string(kAckProfileName);
  if (!src.ack_profile.present()) {
    missing->push_back(Describe(src.ack_profile, cm));
  } else {
    read->push_back(cm);
    const json::Value& data = *src.ack_profile.object;
    for (const auto& [key, field] : {std::pair<const char*, const char*>{"clusterid", "clusterID"},
                                     {"uid", "accountID"},
                                     {"vpcid", "vpcID"}}) {
      const std::string v = data.GetString({"data", key});
      if (!v.empty()) status.Set(field, v);
    }
    const auto zones = ZonesOfVswZone(data.GetString({"data", "vsw-zone"}));
    if (!zones.empty()) {
      json::Value list = json::Value::MakeArray();
      for (const auto& z : zones) list.PushBack(json::Value(z));
      status.Set("zones", std::move(list));
    }
  }
  return status;
}

}  // namespace csdr::webhook
