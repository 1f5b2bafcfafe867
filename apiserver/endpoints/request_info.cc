#include "apiserver/endpoints/request_info.h"

#include <vector>

namespace csdr::apiserver {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

RequestInfo ParseRequestInfo(std::string_view method, std::string_view path, bool watch) {
  RequestInfo info;
  info.path = std::string(path);
  info.verb = Lower(method);
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty() || (parts[0] != "apis" && parts[0] != "api")) return info;
  info.api_prefix = parts[0];
  size_t i = 1;
  if (info.api_prefix == "apis") {
    if (parts.size() < 3) return info;  // /apis, /apis/<group>: discovery
    info.api_group = parts[1];
    i = 2;
  } else if (parts.size() < 2) {
    return info;
  }
  info.api_version = parts[i++];
  if (i >= parts.size()) return info;  // /apis/<group>/<version>: discovery
  info.is_resource_request = true;

  if (method == "GET" || method == "HEAD")
    info.verb = "get";
  else if (method == "POST")
    info.verb = "create";
  else if (method == "PUT")
    info.verb = "update";
  else if (method == "PATCH")
    info.verb = "patch";
  else if (method == "DELETE")
    info.verb = "delete";
  else
    info.verb = Lower(method);

  if (parts[i] == "namespaces") {
    if (i + 1 < parts.size()) {
      info.namespace_ = parts[i + 1];
      if (i + 2 < parts.size()) {
        i += 2;
      } else {
        // /namespaces/<ns> addresses the namespace object itself.
        info.resource = "namespaces";
        info.name = parts[i + 1];
        info.namespace_.clear();
        i = parts.size();
      }
    } else {
      info.resource = "namespaces";
      i = parts.size();
    }
  }
  if (i < parts.size()) info.resource = parts[i++];
  if (i < parts.size()) info.name = parts[i++];
  if (i < parts.size()) info.subresource = parts[i++];
  for (; i < parts.size(); ++i) info.extra_parts += "/" + parts[i];

  if (info.name.empty()) {
    if (info.verb == "get")
      info.verb = watch ? "watch" : "list";
    else if (info.verb == "delete")
      info.verb = "deletecollection";
  } else if (info.verb == "get" && watch) {
    info.verb = "watch";
  }
  return info;
}

}  // namespace csdr::apiserver
