#include "apiserver/endpoints/encoding.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <vector>

namespace csdr::apiserver {
namespace {

struct Clause {
  std::string type;
  std::map<std::string, std::string> params;
};

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<Clause> ParseAccept(const std::string& accept) {
  std::vector<Clause> out;
  size_t i = 0;
  while (i <= accept.size()) {
    size_t j = accept.find(',', i);
    if (j == std::string::npos) j = accept.size();
    std::string part = accept.substr(i, j - i);
    i = j + 1;
    Clause c;
    size_t k = 0;
    bool first = true;
    while (k <= part.size()) {
      size_t e = part.find(';', k);
      if (e == std::string::npos) e = part.size();
      std::string item = Trim(part.substr(k, e - k));
      k = e + 1;
      if (first) {
        c.type = Lower(item);
        first = false;
      } else if (size_t eq = item.find('='); eq != std::string::npos) {
        c.params[Lower(Trim(item.substr(0, eq)))] = Trim(item.substr(eq + 1));
      }
    }
    if (!c.type.empty()) out.push_back(std::move(c));
    if (j == accept.size()) break;
  }
  return out;
}

// Whether a string written plain would read back as something else: a number, a boolean or
// null of YAML 1.1 (which go-yaml, and so kubectl, resolves), or a timestamp. Those are
// double-quoted, as sigs.k8s.io/yaml writes resourceVersion: "42" and creationTimestamp:
// "2026-01-01T00:00:00Z". Erring towards quotes only costs two bytes.
bool ReadsAsAnotherType(const std::string& s) {
  if (s.empty()) return true;
  const char c = s.front();
  if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') return true;
  if (s.size() > 5) return false;
  const std::string lower = Lower(s);
  static const char* const kWords[] = {"~",  "null", "y",   "n",    "yes",
                                       "no", "on",   "off", "true", "false"};
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

void EmitYaml(YAML::Emitter& out, const json::Value& v) {
  switch (v.type()) {
    case json::Type::kNull:
      out << YAML::Null;
      break;
    case json::Type::kBool:
      out << v.as_bool();
      break;
    case json::Type::kInt:
      out << v.as_int();
      break;
    case json::Type::kDouble:
      out << v.as_double();
      break;
    case json::Type::kString:
      if (ReadsAsAnotherType(v.as_string())) out << YAML::DoubleQuoted;
      out << v.as_string();
      break;
    case json::Type::kArray:
      out << YAML::BeginSeq;
      for (const auto& e : v.array()) EmitYaml(out, e);
      out << YAML::EndSeq;
      break;
    case json::Type::kObject:
      out << YAML::BeginMap;
      for (const auto& m : v.object()) {
        out << YAML::Key << m.first << YAML::Value;
        EmitYaml(out, m.second);
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

int HttpCode(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kBadRequest:
      return 400;
    case Code::kUnauthorized:
      return 401;
    case Code::kForbidden:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kMethodNotAllowed:
      return 405;
    case Code::kNotAcceptable:
      return 406;
    case Code::kAlreadyExists:
      return 409;
    case Code::kConflict:
      return 409;
    case Code::kExpired:
      return 410;
    case Code::kTooLarge:
      return 413;
    case Code::kUnsupportedMediaType:
      return 415;
    case Code::kInvalid:
      return 422;
    case Code::kTooManyRequests:
      return 429;
    case Code::kHeaderTooLarge:
      return 431;
    case Code::kInternal:
      return 500;
    case Code::kUnavailable:
      return 503;
    case Code::kTimeout:
      return 504;
  }
  return 500;
}

const char* Reason(Code code) {
  switch (code) {
    case Code::kOk:
      return "";
    case Code::kBadRequest:
      return "BadRequest";
    case Code::kUnauthorized:
      return "Unauthorized";
    case Code::kForbidden:
      return "Forbidden";
    case Code::kNotFound:
      return "NotFound";
    case Code::kMethodNotAllowed:
      return "MethodNotAllowed";
    case Code::kNotAcceptable:
      return "NotAcceptable";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kConflict:
      return "Conflict";
    case Code::kExpired:
      return "Expired";
    case Code::kTooLarge:
      return "RequestEntityTooLarge";
    case Code::kUnsupportedMediaType:
      return "UnsupportedMediaType";
    case Code::kInvalid:
      return "Invalid";
    case Code::kTooManyRequests:
      return "TooManyRequests";
    case Code::kHeaderTooLarge:
      return "RequestHeaderFieldsTooLarge";
    case Code::kInternal:
      return "InternalError";
    case Code::kUnavailable:
      return "ServiceUnavailable";
    case Code::kTimeout:
      return "Timeout";
  }
  return "InternalError";
}

json::Value StatusJson(const Status& status, const StatusDetails& details) {
  json::Value s = json::Value::MakeObject();
  s.Set("kind", "Status");
  s.Set("apiVersion", "v1");
  s.Set("metadata", json::Value::MakeObject());
  s.Set("status", status.ok() ? "Success" : "Failure");
  s.Set("message", status.message());
  s.Set("reason", Reason(status.code()));
  json::Value d = json::Value::MakeObject();
  if (!details.name.empty()) d.Set("name", details.name);
  if (!details.group.empty()) d.Set("group", details.group);
  if (!details.kind.empty()) d.Set("kind", details.kind);
  if (!details.uid.empty()) d.Set("uid", details.uid);
  if (!status.causes().empty()) {
    json::Value causes = json::Value::MakeArray();
    for (const auto& c : status.causes()) {
      json::Value cause = json::Value::MakeObject();
      cause.Set("reason", c.type);
      cause.Set("message", c.message);
      cause.Set("field", c.field);
      causes.PushBack(std::move(cause));
    }
    d.Set("causes", std::move(causes));
  }
  if (status.retry_after_seconds() > 0) d.Set("retryAfterSeconds", status.retry_after_seconds());
  if (d.size() > 0) s.Set("details", std::move(d));
  s.Set("code", HttpCode(status.code()));
  return s;
}

void WriteStatus(httplib::Response& res, const Status& status, const StatusDetails& details,
                 bool pretty) {
  res.status = HttpCode(status.code());
  if (status.retry_after_seconds() > 0) {
    res.set_header("Retry-After", std::to_string(status.retry_after_seconds()));
  }
  std::string body = json::Serialize(StatusJson(status, details), pretty);
  body += '\n';
  res.set_content(body, "application/json");
}

StatusOr<OutputFormat> NegotiateOutput(const std::string& accept, bool is_list) {
  if (Trim(accept).empty()) return OutputFormat{};
  for (const Clause& c : ParseAccept(accept)) {
    auto param = [&](const char* k) {
      auto it = c.params.find(k);
      return it == c.params.end() ? std::string() : it->second;
    };
    if (c.type == "application/json" || c.type == "application/*" || c.type == "*/*") {
      std::string as = param("as");
      if (as.empty()) return OutputFormat{};
      if (param("g") != "meta.k8s.io") continue;
      std::string v = param("v");
      if (v != "v1" && v != "v1beta1") continue;
      if (as == "Table") return OutputFormat{OutputKind::kTable, v};
      if (as == "PartialObjectMetadata" && !is_list) {
        return OutputFormat{OutputKind::kPartialObjectMetadata, v};
      }
      if (as == "PartialObjectMetadataList" && is_list) {
        return OutputFormat{OutputKind::kPartialObjectMetadataList, v};
      }
      continue;
    }
    if (c.type == "application/yaml") return OutputFormat{OutputKind::kYaml, "v1"};
  }
  return Status(Code::kNotAcceptable,
                "only the following media types are accepted: application/json, "
                "application/yaml, application/vnd.kubernetes.protobuf");
}

std::string ToYaml(const json::Value& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  EmitYaml(out, value);
  std::string s = out.c_str();
  s += '\n';
  return s;
}

httplib::Params ParseQuery(const std::string& target) {
  httplib::Params params;
  size_t q = target.find('?');
  if (q == std::string::npos) return params;
  std::string query = target.substr(q + 1);
  if (size_t hash = query.find('#'); hash != std::string::npos) query.resize(hash);
  auto decode = [](const std::string& in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      char c = in[i];
      if (c == '+') {
        out += ' ';
      } else if (c == '%' && i + 2 < in.size() &&
                 std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
        out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += c;
      }
    }
    return out;
  };
  size_t i = 0;
  while (i <= query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string::npos) amp = query.size();
    std::string part = query.substr(i, amp - i);
    i = amp + 1;
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string key = decode(part.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : decode(part.substr(eq + 1));
      if (!key.empty()) params.emplace(std::move(key), std::move(value));
    }
    if (amp == query.size()) break;
  }
  return params;
}

std::string WarningHeaderValue(const std::string& text) {
  std::string out = "299 - \"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n' || c == '\r') c = ' ';
    out += c;
  }
  return out + "\"";
}

}  // namespace csdr::apiserver
