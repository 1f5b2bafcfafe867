#include "kube/kubeconfig.h"

#include <glog/logging.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <sstream>

#include "kube/tls.h"

namespace csdr::kube {
namespace {

// Kubeconfigs and the files they name are small; a bigger file is a wrong path (a log, a
// disk image), and reading it whole would only waste memory.
constexpr std::streamsize kMaxFileBytes = 4 * 1024 * 1024;

Status Bad(std::string message) { return Status(Code::kBadRequest, std::move(message)); }

// Reads a whole file. `what` names it in messages ("certificate-authority of cluster \"c\"").
StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Status(err == ENOENT ? Code::kNotFound : Code::kBadRequest,
                  std::string(what) + ": cannot read " + path + ": " + std::strerror(err));
  }
  std::string data;
  std::array<char, 64 * 1024> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    data.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (static_cast<std::streamsize>(data.size()) > kMaxFileBytes) {
      return Bad(std::string(what) + ": " + path + " is larger than 4 MiB");
    }
  }
  if (in.bad()) return Bad(std::string(what) + ": error reading " + path);
  return data;
}

std::string Trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return "";
  const size_t end = s.find_last_not_of(ws);
  return std::string(s.substr(begin, end - begin + 1));
}

// Standard padded base64, as Go's encoding/json writes []byte; line breaks are tolerated
// (kubeconfigs written by hand wrap them). False on any other byte or a wrong length.
bool DecodeBase64(std::string_view text, std::string* out) {
  static const std::array<int8_t, 256> kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return false;
  size_t padding = 0;
  if (!clean.empty() && clean.back() == '=') ++padding;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') ++padding;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < clean.size() - padding; ++i) {
    const int8_t v = kTable[static_cast<unsigned char>(clean[i])];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

std::string JoinPath(std::string_view base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  std::string out(base_dir);
  if (out.back() != '/') out.push_back('/');
  return out + path;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Splits "https://host[:port][/prefix]" into the config; the host may be "[v6]".
Status ParseServer(const std::string& server, std::string_view where, ClusterConfig* config) {
  auto bad = [&](std::string_view why) {
    return Bad(std::string(where) + ": server \"" + server + "\" " + std::string(why));
  };
  const std::string_view kScheme = "https://";
  if (server.size() < kScheme.size() ||
      strncasecmp(server.c_str(), kScheme.data(), kScheme.size()) != 0) {
    if (strncasecmp(server.c_str(), "http://", 7) == 0) {
      return bad("is plain HTTP; the cluster is only reached over TLS (https://)");
    }
    return bad("is not an https:// URL");
  }
  std::string_view rest = std::string_view(server).substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("has a query or fragment");
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string_view::npos) return bad("carries user information");
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("has text after the IPv6 address");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("has no host");
  int port_number = 443;
  if (!port.empty()) {
    port_number = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || port_number > 65535) return bad("has an invalid port");
      port_number = port_number * 10 + (c - '0');
    }
    if (port_number < 1 || port_number > 65535) return bad("has an invalid port");
  }
  config->server = server;
  config->host = std::string(host);
  config->port = port_number;
  config->base_path = path;
  return Status::Ok();
}

// yaml-cpp accessors: nullopt when the key is absent or null; a non-scalar is an error
// (thrown by yaml-cpp as BadConversion and caught at ParseKubeconfig's edge).
std::optional<std::string> Str(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return std::nullopt;
  if (!v.IsScalar()) throw YAML::BadConversion(v.Mark());
  return v.as<std::string>();
}

YAML::Node FindNamed(const YAML::Node& root, const char* list, const std::string& name) {
  const YAML::Node items = root[list];
  if (!items || !items.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const YAML::Node& item : items) {
    if (!item.IsMap()) continue;
    const std::optional<std::string> n = Str(item, "name");
    if (n && *n == name) return item;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Reads `<field>-data` (base64) or else `<field>` (a path), as client-go does.
StatusOr<std::string> DataOrFile(const YAML::Node& node, const std::string& field,
                                 std::string_view base_dir, const std::string& where) {
  if (std::optional<std::string> data = Str(node, (field + "-data").c_str());
      data && !data->empty()) {
    std::string decoded;
    if (!DecodeBase64(*data, &decoded)) {
      return Bad(where + ": " + field + "-data is not valid base64");
    }
    return decoded;
  }
  if (std::optional<std::string> path = Str(node, field.c_str()); path && !path->empty()) {
    return ReadFile(JoinPath(base_dir, *path), where + ": " + field);
  }
  return std::string();
}

StatusOr<ClusterConfig> ParseKubeconfigNodes(const YAML::Node& root, std::string_view base_dir,
                                             const std::string& origin,
                                             const KubeconfigOptions& options) {
  if (!root.IsMap()) return Bad(origin + ": not a kubeconfig (expected a YAML mapping)");
  std::string context_name = options.context;
  if (context_name.empty()) context_name = Str(root, "current-context").value_or("");
  if (context_name.empty()) return Bad(origin + ": no current-context is set");
  const YAML::Node context_entry = FindNamed(root, "contexts", context_name);
  if (!context_entry) return Bad(origin + ": context \"" + context_name + "\" not found");
  const YAML::Node context = context_entry["context"];
  if (!context || !context.IsMap())
    return Bad(origin + ": context \"" + context_name + "\" is empty");
  const std::string cluster_name = Str(context, "cluster").value_or("");
  if (cluster_name.empty())
    return Bad(origin + ": context \"" + context_name + "\" names no cluster");
  const YAML::Node cluster_entry = FindNamed(root, "clusters", cluster_name);
  if (!cluster_entry) return Bad(origin + ": cluster \"" + cluster_name + "\" not found");
  const YAML::Node cluster = cluster_entry["cluster"];
  const std::string cluster_where = origin + ": cluster \"" + cluster_name + "\"";
  if (!cluster || !cluster.IsMap()) return Bad(cluster_where + " is empty");

  ClusterConfig config;
  config.source = "kubeconfig " + origin + ", context \"" + context_name + "\"";
  const std::string server = Str(cluster, "server").value_or("");
  if (server.empty()) return Bad(cluster_where + " has no server");
  CSDR_RETURN_IF_ERROR(ParseServer(server, cluster_where, &config));
  if (cluster["proxy-url"] && !Str(cluster, "proxy-url").value_or("").empty()) {
    return Bad(cluster_where + ": proxy-url is not supported; reach the API server directly");
  }
  config.tls_server_name = Str(cluster, "tls-server-name").value_or("");
  if (config.tls_server_name.empty()) config.tls_server_name = config.host;

  StatusOr<std::string> ca = DataOrFile(cluster, "certificate-authority", base_dir, cluster_where);
  if (!ca.ok()) return ca.status();
  config.ca_pem = std::move(*ca);
  if (!config.ca_pem.empty()) {
    StatusOr<std::vector<tls::X509Ptr>> certs =
        tls::ParseCertificates(config.ca_pem, cluster_where + ": certificate-authority");
    if (!certs.ok()) return certs.status();
  }
  const YAML::Node insecure = cluster["insecure-skip-tls-verify"];
  config.insecure_skip_tls_verify = insecure && !insecure.IsNull() && insecure.as<bool>();
  if (config.insecure_skip_tls_verify) {
    if (!options.allow_insecure_skip_tls_verify) {
      return Bad(cluster_where +
                 " sets insecure-skip-tls-verify; certificate checks cannot be turned off "
                 "(give its certificate-authority instead)");
    }
    if (!config.ca_pem.empty()) {
      return Bad(cluster_where +
                 ": a certificate authority and insecure-skip-tls-verify cannot both be set");
    }
  }

  const std::string user_name = Str(context, "user").value_or("");
  if (user_name.empty()) return config;  // anonymous, as kubectl allows
  const YAML::Node user_entry = FindNamed(root, "users", user_name);
  const std::string user_where = origin + ": user \"" + user_name + "\"";
  if (!user_entry) return Bad(origin + ": user \"" + user_name + "\" not found");
  const YAML::Node user = user_entry["user"];
  if (!user || user.IsNull()) return config;
  if (!user.IsMap()) return Bad(user_where + " is not a mapping");
  if (user["exec"] && !user["exec"].IsNull()) {
    return Bad(user_where +
               " uses an exec credential plugin, which is not supported; use a client "
               "certificate, a token or a tokenFile");
  }
  if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
    return Bad(user_where +
               " uses an auth-provider, which is not supported; use a client certificate, a "
               "token or a tokenFile");
  }
  if (!Str(user, "username").value_or("").empty() || !Str(user, "password").value_or("").empty()) {
    return Bad(user_where +
               " uses basic authentication, which Kubernetes no longer serves; use a client "
               "certificate, a token or a tokenFile");
  }
  StatusOr<std::string> cert = DataOrFile(user, "client-certificate", base_dir, user_where);
  if (!cert.ok()) return cert.status();
  StatusOr<std::string> key = DataOrFile(user, "client-key", base_dir, user_where);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return Bad(user_where + (cert->empty() ? " has a client-key but no client-certificate"
                                           : " has a client-certificate but no client-key"));
  }
  if (!cert->empty()) {
    StatusOr<std::vector<tls::X509Ptr>> chain =
        tls::ParseCertificates(*cert, user_where + ": client-certificate");
    if (!chain.ok()) return chain.status();
    StatusOr<tls::EvpPkeyPtr> pkey = tls::ParsePrivateKey(*key, user_where + ": client-key");
    if (!pkey.ok()) return pkey.status();
    if (X509_check_private_key((*chain)[0].get(), pkey->get()) != 1) {
      tls::TakeOpenSslErrors();
      return Bad(user_where + ": client-key does not match client-certificate");
    }
    config.client_cert_pem = std::move(*cert);
    config.client_key_pem = std::move(*key);
  }
  config.token = Str(user, "token").value_or("");
  if (std::optional<std::string> file = Str(user, "tokenFile"); file && !file->empty()) {
    config.token_file = JoinPath(base_dir, *file);
    StatusOr<std::string> token = ReadTokenFile(config.token_file);
    if (!token.ok())
      return Status(token.status().code(), user_where + ": tokenFile: " + token.status().message());
  }
  return config;
}

}  // namespace

std::string ClusterConfig::Describe() const {
  std::string auth;
  if (!client_cert_pem.empty()) auth = "client certificate";
  if (!token_file.empty()) {
    auth += std::string(auth.empty() ? "" : " and ") + "token file " + token_file;
  } else if (!token.empty()) {
    auth += std::string(auth.empty() ? "" : " and ") + "bearer token";
  }
  if (auth.empty()) auth = "no credentials";
  std::string tls = insecure_skip_tls_verify ? "TLS NOT VERIFIED (insecure-skip-tls-verify)"
                    : ca_pem.empty()         ? "TLS verified with the system's CA certificates"
                                             : "TLS verified with the configured CA";
  if (!insecure_skip_tls_verify && tls_server_name != host) tls += " as " + tls_server_name;
  return server + " (" + source + "; " + auth + "; " + tls + ")";
}

StatusOr<ClusterConfig> ParseKubeconfig(std::string_view yaml, std::string_view base_dir,
                                        std::string_view origin, const KubeconfigOptions& options) {
  const std::string where(origin);
  // yaml-cpp reports every problem by throwing, from parsing and from every accessor; this
  // is the edge where that becomes a Status.
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return ParseKubeconfigNodes(root, base_dir, where, options);
  } catch (const YAML::Exception& e) {
    // e.what() is "yaml-cpp: error at line L, column C: <problem>"; it never quotes the
    // document, so a token in the file cannot leak into the message.
    return Bad(where + ": invalid kubeconfig: " + e.what());
  } catch (const std::exception& e) {
    return Status(Code::kInternal, where + ": cannot parse kubeconfig: " + e.what());
  }
}

StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path, const KubeconfigOptions& options) {
  StatusOr<std::string> text = ReadFile(path, "kubeconfig");
  if (!text.ok()) return text.status();
  return ParseKubeconfig(*text, DirName(path), path, options);
}

static std::string GetEnv(const InClusterEnvironment& env, const char* name) {
  if (env.getenv) return env.getenv(name);
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

bool InClusterAvailable(const InClusterEnvironment& env) {
  return !GetEnv(env, "KUBERNETES_SERVICE_HOST").empty();
}

StatusOr<ClusterConfig> LoadInClusterConfig(const InClusterEnvironment& env) {
  auto get = [&](const char* name) { return GetEnv(env, name); };
  const std::string host = get("KUBERNETES_SERVICE_HOST");
  const std::string port = get("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return Bad(
        "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        "(not running in a pod? give --kubeconfig)");
  }
  // An IPv6 service address needs brackets in the URL.
  const std::string authority =
      host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
  ClusterConfig config;
  config.source = "in-cluster service account";
  CSDR_RETURN_IF_ERROR(ParseServer("https://" + authority, "in-cluster configuration", &config));
  config.tls_server_name = config.host;
  StatusOr<std::string> ca = ReadFile(env.ca_file, "in-cluster CA certificate");
  if (!ca.ok()) return ca.status();
  StatusOr<std::vector<tls::X509Ptr>> certs =
      tls::ParseCertificates(*ca, "in-cluster CA certificate " + env.ca_file);
  if (!certs.ok()) return certs.status();
  config.ca_pem = std::move(*ca);
  config.token_file = env.token_file;
  StatusOr<std::string> token = ReadTokenFile(config.token_file);
  if (!token.ok())
    return Status(token.status().code(),
                  "in-cluster service account token: " + token.status().message());
  return config;
}

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  StatusOr<std::string> data = ReadFile(path, "token file");
  if (!data.ok()) return data.status();
  std::string token = Trim(*data);
  if (token.empty()) return Bad("token file " + path + " is empty");
  return token;
}

TokenSource::TokenSource(std::string token, std::string token_file,
                         std::chrono::seconds refresh_period, Clock clock)
    : file_(std::move(token_file)),
      refresh_period_(refresh_period),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      token_(std::move(token)) {}

std::string TokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_.empty()) return token_;
  const auto now = clock_();
  if (!force_read_ && now - last_read_ < refresh_period_) return token_;
  // Reading a small file under the lock is cheap, and keeps two threads from racing to
  // install different generations of the token.
  StatusOr<std::string> fresh = ReadTokenFile(file_);
  last_read_ = now;
  if (fresh.ok()) {
    token_ = std::move(*fresh);
    force_read_ = false;
    failing_ = false;
  } else {
    if (!failing_) {
      LOG(WARNING) << "cluster client: cannot re-read the token, keeping the last one: "
                   << fresh.status().message();
    }
    failing_ = true;
    // With no good token at all, try again on the next call rather than a period later.
    force_read_ = token_.empty();
  }
  return token_;
}

void TokenSource::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  force_read_ = true;
}

}  // namespace csdr::kube
