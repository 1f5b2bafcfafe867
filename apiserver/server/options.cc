#include "apiserver/server/options.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

namespace csdr::apiserver {
namespace {

Status ParseInt(const std::string& flag, const std::string& v, int min, int max, int* out) {
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || n < min || n > max) {
    return Status(Code::kBadRequest, "invalid value \"" + v + "\" for flag --" + flag +
                                         ": want an integer in [" + std::to_string(min) + ", " +
                                         std::to_string(max) + "]");
  }
  *out = static_cast<int>(n);
  return Status::Ok();
}

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= v.size()) {
    size_t j = v.find(',', i);
    if (j == std::string::npos) j = v.size();
    std::string item = v.substr(i, j - i);
    if (!item.empty()) out.push_back(item);
    i = j + 1;
  }
  return out;
}

Status ParseDuration(const std::string& flag, const std::string& v, int* out) {
  int seconds = ParseDurationSeconds(v);
  if (seconds < 0) {
    return Status(Code::kBadRequest, "invalid value \"" + v + "\" for flag --" + flag +
                                         ": want a duration such as 10s, 1m or 1h");
  }
  *out = seconds;
  return Status::Ok();
}

// strconv.ParseBool, which pflag's bool flags use.
bool ParseBoolValue(const std::string& v, bool* out) {
  static const std::set<std::string> kTrue = {"1", "t", "T", "true", "TRUE", "True"};
  static const std::set<std::string> kFalse = {"0", "f", "F", "false", "FALSE", "False"};
  if (!kTrue.contains(v) && !kFalse.contains(v)) return false;
  *out = kTrue.contains(v);
  return true;
}

// Flags that take no argument: "--flag" is true, "--flag=false" turns it off (pflag's bool).
const std::set<std::string>& BoolFlags() {
  static const std::set<std::string> names = {"permit-port-sharing", "disable-http2-serving"};
  return names;
}

// An --etcd-servers entry: "http://host:port" or "https://host:port" (host a name, an IPv4
// address or a bracketed IPv6 one; a trailing "/" is tolerated, as etcd's clients do).
bool ValidEtcdServer(const std::string& url) {
  size_t rest = 0;
  if (url.rfind("http://", 0) == 0) {
    rest = 7;
  } else if (url.rfind("https://", 0) == 0) {
    rest = 8;
  } else {
    return false;
  }
  std::string hostport = url.substr(rest);
  if (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  const size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string host = hostport.substr(0, colon);
  const std::string port = hostport.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;  // "[fd00::1]"
  } else if (host.find_first_of("[]:/@?# ") != std::string::npos) {
    return false;  // an unbracketed IPv6 address, a path, user info, a query
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const int n = std::stoi(port);
  return n >= 1 && n <= 65535;
}

}  // namespace

bool SelectsEtcd(const Options& o) {
  return !o.etcd_servers.empty() || o.storage.rfind("etcd://", 0) == 0 ||
         o.storage.rfind("etcds://", 0) == 0;
}

StatusOr<storage::EtcdConfig> EtcdConfigFromOptions(const Options& o) {
  storage::EtcdConfig config;
  config.prefix = o.etcd_prefix;
  if (!o.etcd_servers.empty()) {
    for (const std::string& server : o.etcd_servers) {
      if (!ValidEtcdServer(server)) {
        return Status(Code::kBadRequest, "invalid value \"" + server +
                                             "\" for flag --etcd-servers: want http://host:port "
                                             "or https://host:port");
      }
    }
    config.servers = o.etcd_servers;
  } else {
    auto parsed = storage::ParseEtcdUrl(o.storage);
    if (!parsed.ok()) {
      return Status(Code::kBadRequest, "--storage " + o.storage + ": " + parsed.status().message());
    }
    config.servers = parsed->servers;
    // "etcd://a:2379,b:2379/registry": the URL's prefix; without one, --etcd-prefix.
    const size_t hosts = o.storage.find("://") + 3;
    const std::string before_query = o.storage.substr(0, o.storage.find('?'));
    if (before_query.find('/', hosts) != std::string::npos) config.prefix = parsed->prefix;
    // The URL's ?cafile=&certfile=&keyfile=, unless the flags name files.
    config.ca_file = parsed->ca_file;
    config.cert_file = parsed->cert_file;
    config.key_file = parsed->key_file;
  }
  if (o.etcd_certfile.empty() != o.etcd_keyfile.empty()) {
    return Status(Code::kBadRequest,
                  "--etcd-certfile and --etcd-keyfile must be given together (the client "
                  "certificate and its key)");
  }
  if (!o.etcd_cafile.empty()) config.ca_file = o.etcd_cafile;
  if (!o.etcd_certfile.empty()) {
    config.cert_file = o.etcd_certfile;
    config.key_file = o.etcd_keyfile;
  }
  config.compaction_interval = std::chrono::seconds(o.etcd_compaction_interval_seconds);
  return config;
}

int ParseDurationSeconds(const std::string& value) {
  if (value.empty()) return -1;
  long total = 0;
  size_t i = 0;
  bool plain = true;
  while (i < value.size()) {
    size_t start = i;
    while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
    if (i == start || i - start > 6) return -1;
    long n = std::stol(value.substr(start, i - start));
    long unit = 1;
    if (i < value.size()) {
      plain = false;
      switch (value[i]) {
        case 'h':
          unit = 3600;
          break;
        case 'm':
          unit = 60;
          break;
        case 's':
          unit = 1;
          break;
        default:
          return -1;
      }
      ++i;
    } else if (!plain) {
      return -1;  // "1m30" has no unit on its last number
    }
    total += n * unit;
    if (total > 86400 * 7) return -1;
  }
  return static_cast<int>(total);
}

std::string Usage() {
  return R"(csdr-apiserver: the csdr.io API server and validating admission webhook of the backup center.

Usage: csdr-apiserver [flags]

Secure serving:
  --bind-address ADDR            IP address to listen on (default 0.0.0.0)
  --secure-port PORT             HTTPS port (default 8443)
  --tls-cert-file FILE           PEM serving certificate (chain) (required)
  --tls-private-key-file FILE    PEM private key of the serving certificate (required)
  --max-connections N            open connections at most, watches included; more are
                                 accepted and closed at once (default 65536)
  --max-worker-threads N         threads serving requests beyond the event loops at most; more
                                 requests wait for one in order (default 1024)
  --http2-max-streams-per-connection N
                                 streams a client may open at once on one HTTP/2 connection
                                 (SETTINGS_MAX_CONCURRENT_STREAMS; default 1000, as for
                                 aggregated servers; 0: 100)
  --disable-http2-serving        offer HTTP/1.1 only (ALPN without "h2")
  --min-request-timeout SECONDS  a watch without timeoutSeconds ends after a random time in
                                 [N, 2N] seconds (default 1800)
  --max-requests-inflight N      read-only requests served at once before the next gets 429
                                 with Retry-After (default 400; 0: no limit). Watches, health
                                 and /validate are not counted; system:masters is exempt.
  --max-mutating-requests-inflight N
                                 the same for create, update, patch and delete (default 200)
  --read-header-timeout DURATION a connection must complete its TLS handshake and send a
                                 whole request (headers and body) within this time once it
                                 starts one, or it is closed (default 32s)
  --idle-connection-timeout DURATION
                                 a keep-alive connection with no request for this long is
                                 closed (default 90s)
  --shutdown-delay-duration DURATION
                                 on SIGTERM, /readyz answers 503 for this long while requests
                                 are still served; then new connections are refused, requests
                                 in flight finish and watches end (default 0s)
  --permit-port-sharing          listen with SO_REUSEPORT, so that several processes may
                                 share the address and port (default false)

Authentication:
  --client-ca-file FILE          CA bundle for client certificates; the user is the CN and the
                                 groups are the O values of a verified certificate

Delegated authentication (as every aggregated API server):
  --requestheader-client-ca-file FILE
                                 CA bundle for front-proxy client certificates; only a request
                                 whose client certificate verifies against it (and whose CN is
                                 allowed) may carry its identity in the headers below. Default:
                                 the ConfigMap kube-system/extension-apiserver-authentication
  --requestheader-allowed-names LIST
                                 CNs allowed for front-proxy certificates (empty: any)
  --requestheader-username-headers LIST   (default X-Remote-User)
  --requestheader-group-headers LIST      (default X-Remote-Group)
  --requestheader-extra-headers-prefix LIST (default X-Remote-Extra-)
  --requestheader-uid-headers LIST        (default X-Remote-Uid)
  --authentication-kubeconfig FILE
                                 the cluster that answers TokenReviews and whose ConfigMap
                                 kube-system/extension-apiserver-authentication gives the client
                                 CA and front-proxy settings (re-read every 30 s); default: the
                                 in-cluster service account in a pod, else none
  --authentication-token-webhook-cache-ttl DURATION
                                 how long TokenReview answers are cached (default 10s)

Delegated authorization:
  --authorization-kubeconfig FILE
                                 the cluster that answers SubjectAccessReviews; default: the
                                 in-cluster service account in a pod, else none (standalone:
                                 every authenticated user may do everything)
  --authorization-webhook-cache-authorized-ttl DURATION    (default 10s)
  --authorization-webhook-cache-unauthorized-ttl DURATION  (default 10s)
  --authorization-always-allow-paths LIST
                                 paths allowed without authorization (default
                                 /healthz,/readyz,/livez); discovery and OpenAPI are allowed
                                 to every authenticated user, system:masters to everything

Admission:
  --disable-admission-plugins LIST
                                 admission plugins to turn off; the only one is CSDRPolicy (the
                                 backup center's rules, on by default)

Controllers:
  --controllers LIST             the built-in controllers to run, one replica at a time (the
                                 holder of a lease): schedule (BackupSchedules make Backups,
                                 retention), expiry (Backups past status.expiration are
                                 deleted), discovery (what the cluster shows, in ClusterProfile
                                 "cluster"'s status); "*" all (default), "-name" turns one off,
                                 e.g. --controllers=-schedule,-expiry,-discovery (or an empty
                                 list) for a server that only serves
  --leader-elect-resource-lock leases|store
                                 where the lease is kept: leases, a coordination.k8s.io/v1
                                 Lease in the cluster; store, a record in --storage (default:
                                 leases when the server has a cluster, else store)
  --leader-elect-lease-duration DURATION  how long followers wait before taking a lease
                                 that was not renewed (default 15s)
  --leader-elect-renew-deadline DURATION  how long the leader retries renewing before it
                                 stops leading (default 10s)
  --leader-elect-retry-period DURATION    between attempts to acquire or renew (default 2s)
  --leader-elect-resource-name NAME       the lease's name (default csdr-controllers)
  --leader-elect-resource-namespace NS    the Lease's namespace (default csdr)

Cluster:
  --kubeconfig FILE              the cluster whose Secrets, Namespaces, StorageClasses, PVCs and
                                 ConfigMaps the rules read (watched, cached); default: the
                                 in-cluster service account in a pod, else none (rules that
                                 need the cluster then refuse and say why)

Storage:
  --storage URL                  sqlite:///abs/path.db, sqlite://relative/path.db, memory://
                                 or etcd://host:port[,host:port...][/prefix] (default
                                 sqlite://./data/csdr.db)
  --etcd-servers LIST            etcd endpoints, http://host:port or https://host:port,
                                 comma-separated; selects etcd storage (over --storage)
  --etcd-prefix PREFIX           every key lives under it (default /csdr)
  --etcd-cafile FILE             CA bundle that verifies etcd's serving certificates
  --etcd-certfile FILE           client certificate presented to etcd (with --etcd-keyfile)
  --etcd-keyfile FILE            its private key
  --etcd-compaction-interval DURATION
                                 how often etcd's history is compacted, once per interval
                                 across all replicas (default 5m; 0: never from here)

Logging:
  --v N                          log verbosity; 2 logs one line per request (never bodies)
  -h, --help                     print this help
)";
}

StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  std::map<std::string, std::function<Status(const std::string&)>> flags = {
      {"bind-address",
       [&](const std::string& v) {
         o.bind_address = v;
         return Status::Ok();
       }},
      {"secure-port",
       [&](const std::string& v) { return ParseInt("secure-port", v, 1, 65535, &o.secure_port); }},
      {"tls-cert-file",
       [&](const std::string& v) {
         o.tls_cert_file = v;
         return Status::Ok();
       }},
      {"tls-private-key-file",
       [&](const std::string& v) {
         o.tls_private_key_file = v;
         return Status::Ok();
       }},
      {"client-ca-file",
       [&](const std::string& v) {
         o.client_ca_file = v;
         return Status::Ok();
       }},
      {"requestheader-client-ca-file",
       [&](const std::string& v) {
         o.requestheader_client_ca_file = v;
         return Status::Ok();
       }},
      {"requestheader-allowed-names",
       [&](const std::string& v) {
         o.requestheader_allowed_names = SplitList(v);
         return Status::Ok();
       }},
      {"requestheader-username-headers",
       [&](const std::string& v) {
         o.requestheader_username_headers = SplitList(v);
         return Status::Ok();
       }},
      {"requestheader-group-headers",
       [&](const std::string& v) {
         o.requestheader_group_headers = SplitList(v);
         return Status::Ok();
       }},
      {"requestheader-extra-headers-prefix",
       [&](const std::string& v) {
         o.requestheader_extra_headers_prefix = SplitList(v);
         return Status::Ok();
       }},
      {"requestheader-uid-headers",
       [&](const std::string& v) {
         o.requestheader_uid_headers = SplitList(v);
         return Status::Ok();
       }},
      {"authentication-kubeconfig",
       [&](const std::string& v) {
         o.authentication_kubeconfig = v;
         return Status::Ok();
       }},
      {"authorization-kubeconfig",
       [&](const std::string& v) {
         o.authorization_kubeconfig = v;
         return Status::Ok();
       }},
      {"authentication-token-webhook-cache-ttl",
       [&](const std::string& v) {
         return ParseDuration("authentication-token-webhook-cache-ttl", v,
                              &o.authentication_token_webhook_cache_ttl_seconds);
       }},
      {"authorization-webhook-cache-authorized-ttl",
       [&](const std::string& v) {
         return ParseDuration("authorization-webhook-cache-authorized-ttl", v,
                              &o.authorization_webhook_cache_authorized_ttl_seconds);
       }},
      {"authorization-webhook-cache-unauthorized-ttl",
       [&](const std::string& v) {
         return ParseDuration("authorization-webhook-cache-unauthorized-ttl", v,
                              &o.authorization_webhook_cache_unauthorized_ttl_seconds);
       }},
      {"authorization-always-allow-paths",
       [&](const std::string& v) {
         o.authorization_always_allow_paths = SplitList(v);
         return Status::Ok();
       }},
      {"kubeconfig",
       [&](const std::string& v) {
         o.kubeconfig = v;
         return Status::Ok();
       }},
      {"storage",
       [&](const std::string& v) {
         o.storage = v;
         return Status::Ok();
       }},
      {"etcd-servers",
       [&](const std::string& v) {
         o.etcd_servers = SplitList(v);
         return Status::Ok();
       }},
      {"etcd-prefix",
       [&](const std::string& v) {
         o.etcd_prefix = v;
         return Status::Ok();
       }},
      {"etcd-cafile",
       [&](const std::string& v) {
         o.etcd_cafile = v;
         return Status::Ok();
       }},
      {"etcd-certfile",
       [&](const std::string& v) {
         o.etcd_certfile = v;
         return Status::Ok();
       }},
      {"etcd-keyfile",
       [&](const std::string& v) {
         o.etcd_keyfile = v;
         return Status::Ok();
       }},
      {"etcd-compaction-interval",
       [&](const std::string& v) {
         return ParseDuration("etcd-compaction-interval", v, &o.etcd_compaction_interval_seconds);
       }},
      {"permit-port-sharing",
       [&](const std::string& v) {
         if (!ParseBoolValue(v, &o.permit_port_sharing)) {
           return Status(Code::kBadRequest, "invalid value \"" + v +
                                                "\" for flag --permit-port-sharing: want true "
                                                "or false");
         }
         return Status::Ok();
       }},
      {"v", [&](const std::string& v) { return ParseInt("v", v, 0, 10, &o.verbosity); }},
      {"max-connections",
       [&](const std::string& v) {
         return ParseInt("max-connections", v, 1, 1000000, &o.max_connections);
       }},
      {"http2-max-streams-per-connection",
       [&](const std::string& v) {
         return ParseInt("http2-max-streams-per-connection", v, 0, 1000000,
                         &o.http2_max_streams_per_connection);
       }},
      {"disable-http2-serving",
       [&](const std::string& v) {
         if (!ParseBoolValue(v, &o.disable_http2_serving)) {
           return Status(Code::kBadRequest, "invalid value \"" + v +
                                                "\" for flag --disable-http2-serving: want true "
                                                "or false");
         }
         return Status::Ok();
       }},
      {"max-worker-threads",
       [&](const std::string& v) {
         return ParseInt("max-worker-threads", v, 1, 100000, &o.max_worker_threads);
       }},
      {"disable-admission-plugins",
       [&](const std::string& v) {
         size_t i = 0;
         while (i <= v.size()) {
           size_t j = v.find(',', i);
           if (j == std::string::npos) j = v.size();
           std::string name = v.substr(i, j - i);
           if (name != "CSDRPolicy") {
             return Status(Code::kBadRequest, "--disable-admission-plugins: unknown plugin \"" +
                                                  name + "\" (known: CSDRPolicy)");
           }
           o.disable_admission_plugins.push_back(name);
           i = j + 1;
         }
         return Status::Ok();
       }},
      {"controllers",
       [&](const std::string& v) {
         o.controllers.clear();
         size_t i = 0;
         while (i <= v.size()) {
           size_t j = v.find(',', i);
           if (j == std::string::npos) j = v.size();
           if (j > i) o.controllers.push_back(v.substr(i, j - i));
           i = j + 1;
         }
         return Status::Ok();
       }},
      {"leader-elect-resource-lock",
       [&](const std::string& v) {
         if (v != "leases" && v != "store") {
           return Status(Code::kBadRequest, "invalid value \"" + v +
                                                "\" for flag --leader-elect-resource-lock: want "
                                                "leases or store");
         }
         o.leader_elect_resource_lock = v;
         return Status::Ok();
       }},
      {"leader-elect-lease-duration",
       [&](const std::string& v) {
         return ParseDuration("leader-elect-lease-duration", v,
                              &o.leader_elect_lease_duration_seconds);
       }},
      {"leader-elect-renew-deadline",
       [&](const std::string& v) {
         return ParseDuration("leader-elect-renew-deadline", v,
                              &o.leader_elect_renew_deadline_seconds);
       }},
      {"leader-elect-retry-period",
       [&](const std::string& v) {
         return ParseDuration("leader-elect-retry-period", v, &o.leader_elect_retry_period_seconds);
       }},
      {"leader-elect-resource-name",
       [&](const std::string& v) {
         if (v.empty()) {
           return Status(Code::kBadRequest, "--leader-elect-resource-name must not be empty");
         }
         o.leader_elect_resource_name = v;
         return Status::Ok();
       }},
      {"leader-elect-resource-namespace",
       [&](const std::string& v) {
         if (v.empty()) {
           return Status(Code::kBadRequest, "--leader-elect-resource-namespace must not be empty");
         }
         o.leader_elect_resource_namespace = v;
         return Status::Ok();
       }},
      {"max-requests-inflight",
       [&](const std::string& v) {
         return ParseInt("max-requests-inflight", v, 0, 1000000, &o.max_requests_inflight);
       }},
      {"max-mutating-requests-inflight",
       [&](const std::string& v) {
         return ParseInt("max-mutating-requests-inflight", v, 0, 1000000,
                         &o.max_mutating_requests_inflight);
       }},
      {"read-header-timeout",
       [&](const std::string& v) {
         return ParseDuration("read-header-timeout", v, &o.read_header_timeout_seconds);
       }},
      {"idle-connection-timeout",
       [&](const std::string& v) {
         return ParseDuration("idle-connection-timeout", v, &o.idle_connection_timeout_seconds);
       }},
      {"shutdown-delay-duration",
       [&](const std::string& v) {
         return ParseDuration("shutdown-delay-duration", v, &o.shutdown_delay_seconds);
       }},
      {"min-request-timeout",
       [&](const std::string& v) {
         return ParseInt("min-request-timeout", v, 1, 86400, &o.min_request_timeout);
       }},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "-help") {
      o.help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 && a.rfind("-", 0) != 0) {
      return Status(Code::kBadRequest, "unexpected argument \"" + a + "\" (flags start with --)");
    }
    std::string body = a.substr(a.rfind("--", 0) == 0 ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    auto it = flags.find(name);
    if (it == flags.end()) return Status(Code::kBadRequest, "unknown flag: --" + name);
    if (!has_value && BoolFlags().contains(name)) {
      value = "true";  // "--permit-port-sharing" alone; it never takes the next argument
    } else if (!has_value) {
      if (i + 1 >= args.size())
        return Status(Code::kBadRequest, "flag needs an argument: --" + name);
      value = args[++i];
    }
    CSDR_RETURN_IF_ERROR(it->second(value));
  }
  // The etcd flags are checked together, once all are read (the order of flags is free).
  if (SelectsEtcd(o)) CSDR_RETURN_IF_ERROR(EtcdConfigFromOptions(o).status());
  // client-go's rule: a leader renewing for longer than others wait would overlap them.
  if (!(o.leader_elect_lease_duration_seconds > o.leader_elect_renew_deadline_seconds &&
        o.leader_elect_renew_deadline_seconds > o.leader_elect_retry_period_seconds &&
        o.leader_elect_retry_period_seconds > 0)) {
    return Status(Code::kBadRequest,
                  "--leader-elect-lease-duration must be greater than "
                  "--leader-elect-renew-deadline, which must be greater than "
                  "--leader-elect-retry-period, which must be greater than 0");
  }
  return o;
}

}  // namespace csdr::apiserver
