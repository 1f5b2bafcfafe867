// RequestInfo: what a request path and method mean, after k8s.io/apiserver's
// RequestInfoFactory (pkg/endpoints/request/requestinfo.go).
#pragma once

#include <string>
#include <string_view>

namespace csdr::apiserver {

struct RequestInfo {
  bool is_resource_request = false;
  std::string path;
  // Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection;
  // for non-resource requests the lower-cased HTTP method.
  std::string verb;
  std::string api_prefix;   // "apis" or "api"
  std::string api_group;    // "csdr.io"
  std::string api_version;  // "v1alpha1"
  std::string namespace_;
  std::string resource;     // "backups"
  std::string subresource;  // "status"
  std::string name;
  // Path segments past the subresource ("/status/extra" has "/extra"); such a path is a 404,
  // as upstream's mux has no route for it.
  std::string extra_parts;
};

// `watch` is true when the query asked for a watch (watch=true|1).
RequestInfo ParseRequestInfo(std::string_view method, std::string_view path, bool watch);

}  // namespace csdr::apiserver
