#include "apiserver/endpoints/request_info.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

struct Case {
  const char* method;
  const char* path;
  bool watch;
  bool resource;
  const char* verb;
  const char* ns;
  const char* resource_name;
  const char* name;
  const char* subresource;
};

TEST(RequestInfoTest, Table) {
  const Case cases[] = {
      {"GET", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups", false, true, "list", "csdr",
       "backups", "", ""},
      {"GET", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups", true, true, "watch", "csdr",
       "backups", "", ""},
      {"GET", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1", false, true, "get", "csdr",
       "backups", "b1", ""},
      {"GET", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1", true, true, "watch", "csdr",
       "backups", "b1", ""},
      {"PUT", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1/status", false, true, "update",
       "csdr", "backups", "b1", "status"},
      {"PATCH", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1", false, true, "patch", "csdr",
       "backups", "b1", ""},
      {"DELETE", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups", false, true, "deletecollection",
       "csdr", "backups", "", ""},
      {"DELETE", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1", false, true, "delete", "csdr",
       "backups", "b1", ""},
      {"POST", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups", false, true, "create", "csdr",
       "backups", "", ""},
      {"GET", "/apis/csdr.io/v1alpha1/backups", false, true, "list", "", "backups", "", ""},
      {"GET", "/apis/csdr.io/v1alpha1/clusterprofiles/cluster", false, true, "get", "",
       "clusterprofiles", "cluster", ""},
      {"GET", "/apis/csdr.io/v1alpha1", false, false, "get", "", "", "", ""},
      {"GET", "/apis/csdr.io", false, false, "get", "", "", "", ""},
      {"GET", "/apis", false, false, "get", "", "", "", ""},
      {"GET", "/healthz", false, false, "get", "", "", "", ""},
      {"GET", "/apis/csdr.io/v1alpha1/namespaces/csdr", false, true, "get", "", "namespaces",
       "csdr", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    RequestInfo info = ParseRequestInfo(c.method, c.path, c.watch);
    EXPECT_EQ(info.is_resource_request, c.resource);
    EXPECT_EQ(info.verb, c.verb);
    EXPECT_EQ(info.namespace_, c.ns);
    EXPECT_EQ(info.resource, c.resource_name);
    EXPECT_EQ(info.name, c.name);
    EXPECT_EQ(info.subresource, c.subresource);
  }
}

TEST(RequestInfoTest, ExtraPartsPastSubresourceAreKeptApart) {
  RequestInfo info = ParseRequestInfo(
      "GET", "/apis/csdr.io/v1alpha1/namespaces/csdr/backups/b1/status/extra", false);
  EXPECT_EQ(info.subresource, "status");
  EXPECT_EQ(info.extra_parts, "/extra");
  EXPECT_EQ(info.api_group, "csdr.io");
  EXPECT_EQ(info.api_version, "v1alpha1");
}

}  // namespace
}  // namespace csdr::apiserver
