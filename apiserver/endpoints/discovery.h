// Discovery documents for csdr.io/v1alpha1: /api, /apis, /apis/csdr.io,
// /apis/csdr.io/v1alpha1, aggregated discovery (apidiscovery.k8s.io v2 and v2beta1) and
// /version. All are computed once from AllKinds() at start-up and served as bytes.
#pragma once

#include <string>

namespace csdr::apiserver {

struct DiscoveryDocuments {
  std::string api_versions;        // GET /api (APIVersions, no groups: we serve none of core)
  std::string group_list;          // GET /apis (APIGroupList)
  std::string group;               // GET /apis/csdr.io (APIGroup)
  std::string resource_list;       // GET /apis/csdr.io/v1alpha1 (APIResourceList)
  std::string aggregated_v2;       // GET /apis as apidiscovery.k8s.io/v2 APIGroupDiscoveryList
  std::string aggregated_v2beta1;  // the same document as v2beta1
  std::string aggregated_api_v2;   // GET /api aggregated (empty list)
  std::string aggregated_api_v2beta1;
  std::string etag_v2, etag_v2beta1, etag_api_v2, etag_api_v2beta1;  // quoted, hex SHA-256
  std::string version;                                               // GET /version
};

const DiscoveryDocuments& Discovery();

}  // namespace csdr::apiserver
