// Wire encoding helpers of the HTTP edge: metav1.Status, content negotiation, YAML output,
// Warning headers.
#pragma once

#include <httplib.h>

#include <string>

#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

struct RequestContext {
  const httplib::Request& req;
  httplib::Response& res;
  bool pretty = false;
};

// metav1.StatusDetails fields the edge fills from the request scope.
struct StatusDetails {
  std::string name;
  std::string group;
  std::string kind;  // the resource for NotFound/AlreadyExists/Conflict/Forbidden, else the Kind
  std::string uid;
};

int HttpCode(Code code);
const char* Reason(Code code);
json::Value StatusJson(const Status& status, const StatusDetails& details);
// Writes a metav1.Status body with its HTTP code (and Retry-After for 429/504).
void WriteStatus(httplib::Response& res, const Status& status, const StatusDetails& details,
                 bool pretty = false);

enum class OutputKind { kJson, kYaml, kTable, kPartialObjectMetadata, kPartialObjectMetadataList };
struct OutputFormat {
  OutputKind kind = OutputKind::kJson;
  std::string meta_version = "v1";  // Table / PartialObjectMetadata: v1 or v1beta1
};
// Picks the first Accept clause we can produce. kNotAcceptable when none.
StatusOr<OutputFormat> NegotiateOutput(const std::string& accept, bool is_list);

// Serializes `value` as YAML (block style, as kubectl -o yaml prints).
std::string ToYaml(const json::Value& value);

// Parses a URL query as Go's url.ParseQuery does: '&'-separated, key and value split at the
// FIRST '=', percent-decoding with '+' as space. (cpp-httplib splits at every '=', which
// turns "labelSelector=-bad-=x" into "x".) Malformed escapes are kept verbatim.
httplib::Params ParseQuery(const std::string& target);

// `Warning: 299 - "text"` header value, with quotes and backslashes escaped.
std::string WarningHeaderValue(const std::string& text);

}  // namespace csdr::apiserver
