#include "apiserver/server/options.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

TEST(OptionsTest, ParsesKubeApiserverNames) {
  auto o = ParseOptions({"--bind-address=127.0.0.1", "--secure-port", "9443",
                         "--tls-cert-file=c.pem", "--tls-private-key-file", "k.pem",
                         "--client-ca-file=ca.pem", "--storage=memory://", "--v=3"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->bind_address, "127.0.0.1");
  EXPECT_EQ(o->secure_port, 9443);
  EXPECT_EQ(o->tls_cert_file, "c.pem");
  EXPECT_EQ(o->tls_private_key_file, "k.pem");
  EXPECT_EQ(o->client_ca_file, "ca.pem");
  EXPECT_EQ(o->storage, "memory://");
  EXPECT_EQ(o->verbosity, 3);
}

TEST(OptionsTest, Errors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"--bogus=1"}, "unknown flag: --bogus"},
      {{"--secure-port=70000"}, "invalid value \"70000\" for flag --secure-port"},
      {{"--secure-port=abc"}, "invalid value \"abc\" for flag --secure-port"},
      {{"--storage"}, "flag needs an argument: --storage"},
      {{"stray"}, "unexpected argument \"stray\""},
      {{"--disable-admission-plugins=Bogus"}, "unknown plugin \"Bogus\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    auto o = ParseOptions(c.args);
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.status().message().find(c.message), std::string::npos) << o.status().message();
  }
}

TEST(OptionsTest, DisableAdmissionPlugins) {
  auto o = ParseOptions({"--disable-admission-plugins=CSDRPolicy"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->disable_admission_plugins, std::vector<std::string>{"CSDRPolicy"});
}

TEST(OptionsTest, ControllersList) {
  auto o = ParseOptions({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->controllers, std::vector<std::string>{"*"});
  o = ParseOptions({"--controllers=-schedule,,expiry"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->controllers, (std::vector<std::string>{"-schedule", "expiry"}));
  o = ParseOptions({"--controllers="});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->controllers.empty());
}

TEST(OptionsTest, LeaderElectResource) {
  auto o = ParseOptions({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->leader_elect_resource_lock, "");  // leases with a cluster, else store
  EXPECT_EQ(o->leader_elect_resource_name, "csdr-controllers");
  EXPECT_EQ(o->leader_elect_resource_namespace, "csdr");
  o = ParseOptions({"--leader-elect-resource-lock=store", "--leader-elect-resource-name=x",
                    "--leader-elect-resource-namespace", "backup"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->leader_elect_resource_lock, "store");
  EXPECT_EQ(o->leader_elect_resource_name, "x");
  EXPECT_EQ(o->leader_elect_resource_namespace, "backup");
  EXPECT_TRUE(ParseOptions({"--leader-elect-resource-lock=leases"}).ok());
  // kube-controller-manager's other lock kinds are gone from Kubernetes; ours are two.
  auto bad = ParseOptions({"--leader-elect-resource-lock=configmapsleases"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("want leases or store"), std::string::npos);
  EXPECT_FALSE(ParseOptions({"--leader-elect-resource-name="}).ok());
  EXPECT_FALSE(ParseOptions({"--leader-elect-resource-namespace="}).ok());
  // Durations: kube-controller-manager's defaults and its ordering rule.
  o = ParseOptions({});
  EXPECT_EQ(o->leader_elect_lease_duration_seconds, 15);
  EXPECT_EQ(o->leader_elect_renew_deadline_seconds, 10);
  EXPECT_EQ(o->leader_elect_retry_period_seconds, 2);
  o = ParseOptions({"--leader-elect-lease-duration=1m", "--leader-elect-renew-deadline=40s",
                    "--leader-elect-retry-period=10s"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->leader_elect_lease_duration_seconds, 60);
  EXPECT_EQ(o->leader_elect_renew_deadline_seconds, 40);
  EXPECT_EQ(o->leader_elect_retry_period_seconds, 10);
  EXPECT_FALSE(ParseOptions({"--leader-elect-renew-deadline=15s"}).ok());  // not < lease
  EXPECT_FALSE(ParseOptions({"--leader-elect-retry-period=10s"}).ok());    // not < renew
  EXPECT_FALSE(ParseOptions({"--leader-elect-retry-period=0s"}).ok());
  EXPECT_FALSE(ParseOptions({"--leader-elect-lease-duration=soon"}).ok());
}

TEST(OptionsTest, Help) {
  auto o = ParseOptions({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
  EXPECT_NE(Usage().find("--tls-cert-file"), std::string::npos);
}

}  // namespace
}  // namespace csdr::apiserver

namespace csdr::apiserver {
namespace {

TEST(OptionsTest, DelegationFlags) {
  auto o = ParseOptions(
      {"--requestheader-client-ca-file=fp.pem",
       "--requestheader-allowed-names=front-proxy-client,b",
       "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers",
       "X-Remote-Group", "--requestheader-extra-headers-prefix=X-Remote-Extra-",
       "--authentication-kubeconfig=a.kubeconfig", "--authorization-kubeconfig=z.kubeconfig",
       "--authentication-token-webhook-cache-ttl=1m30s",
       "--authorization-webhook-cache-authorized-ttl=5s",
       "--authorization-webhook-cache-unauthorized-ttl=0",
       "--authorization-always-allow-paths=/healthz,/metrics"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->requestheader_client_ca_file, "fp.pem");
  EXPECT_EQ(o->requestheader_allowed_names, (std::vector<std::string>{"front-proxy-client", "b"}));
  EXPECT_EQ(o->requestheader_group_headers, (std::vector<std::string>{"X-Remote-Group"}));
  EXPECT_EQ(o->authentication_kubeconfig, "a.kubeconfig");
  EXPECT_EQ(o->authorization_kubeconfig, "z.kubeconfig");
  EXPECT_EQ(o->authentication_token_webhook_cache_ttl_seconds, 90);
  EXPECT_EQ(o->authorization_webhook_cache_authorized_ttl_seconds, 5);
  EXPECT_EQ(o->authorization_webhook_cache_unauthorized_ttl_seconds, 0);
  EXPECT_EQ(o->authorization_always_allow_paths,
            (std::vector<std::string>{"/healthz", "/metrics"}));

  auto defaults = ParseOptions({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->requestheader_allowed_names.empty());
  EXPECT_EQ(defaults->authorization_always_allow_paths,
            (std::vector<std::string>{"/healthz", "/readyz", "/livez"}));
  EXPECT_EQ(defaults->authentication_token_webhook_cache_ttl_seconds, 10);

  auto bad = ParseOptions({"--authorization-webhook-cache-authorized-ttl=10x"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--authorization-webhook-cache-authorized-ttl"),
            std::string::npos);
  EXPECT_EQ(ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(ParseDurationSeconds("1m30"), -1);
}

}  // namespace
}  // namespace csdr::apiserver

namespace csdr::apiserver {
namespace {

TEST(OptionsTest, EtcdFlags) {
  auto o = ParseOptions({"--storage=sqlite:///ignored.db",
                         "--etcd-servers=https://etcd-0.etcd:2379,https://10.0.0.2:2379,"
                         "https://[fd00::3]:2379/",
                         "--etcd-prefix", "/registry-csdr", "--etcd-cafile=ca.crt",
                         "--etcd-certfile=client.crt", "--etcd-keyfile", "client.key",
                         "--etcd-compaction-interval=1m30s"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_TRUE(SelectsEtcd(*o)) << "--etcd-servers selects etcd over --storage";
  auto config = EtcdConfigFromOptions(*o);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->servers,
            (std::vector<std::string>{"https://etcd-0.etcd:2379", "https://10.0.0.2:2379",
                                      "https://[fd00::3]:2379/"}));
  EXPECT_EQ(config->prefix, "/registry-csdr");
  EXPECT_EQ(config->ca_file, "ca.crt");
  EXPECT_EQ(config->cert_file, "client.crt");
  EXPECT_EQ(config->key_file, "client.key");
  EXPECT_EQ(config->compaction_interval, std::chrono::seconds(90));

  auto defaults = ParseOptions({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(SelectsEtcd(*defaults));
  EXPECT_EQ(defaults->etcd_prefix, "/csdr");
  EXPECT_EQ(defaults->etcd_compaction_interval_seconds, 300);
  EXPECT_FALSE(defaults->permit_port_sharing);

  // Plain http, no TLS files, compaction off.
  auto plain =
      ParseOptions({"--etcd-servers", "http://127.0.0.1:2379", "--etcd-compaction-interval", "0"});
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  config = EtcdConfigFromOptions(*plain);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->servers, std::vector<std::string>{"http://127.0.0.1:2379"});
  EXPECT_EQ(config->prefix, "/csdr");
  EXPECT_TRUE(config->cert_file.empty());
  EXPECT_EQ(config->compaction_interval, std::chrono::seconds(0));
}

TEST(OptionsTest, EtcdStorageUrl) {
  // The URL's own prefix wins; without one, --etcd-prefix; the TLS files apply to it too.
  auto o = ParseOptions({"--etcd-prefix=/ignored", "--storage",
                         "etcd://127.0.0.1:2379,127.0.0.1:22379/from-url", "--etcd-cafile=ca.crt"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  ASSERT_TRUE(SelectsEtcd(*o));
  auto config = EtcdConfigFromOptions(*o);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->servers.size(), 2u);
  EXPECT_EQ(config->prefix, "/from-url");
  EXPECT_EQ(config->ca_file, "ca.crt");

  o = ParseOptions({"--etcd-prefix=/from-flag", "--storage=etcd://127.0.0.1:2379"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  config = EtcdConfigFromOptions(*o);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->servers.size(), 1u);
  EXPECT_EQ(config->prefix, "/from-flag");

  // The URL's TLS files (a query with slashes is not a prefix), unless flags name them.
  o = ParseOptions(
      {"--etcd-prefix=/from-flag",
       "--storage=etcds://e:2379?cafile=/c/ca.crt&certfile=/c/t.crt&keyfile=/c/t.key"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  config = EtcdConfigFromOptions(*o);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->prefix, "/from-flag");
  EXPECT_EQ(config->ca_file, "/c/ca.crt");
  EXPECT_EQ(config->cert_file, "/c/t.crt");
  EXPECT_EQ(config->key_file, "/c/t.key");
  o = ParseOptions({"--etcd-cafile=flag-ca.crt", "--storage=etcds://e:2379?cafile=/c/ca.crt"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(EtcdConfigFromOptions(*o)->ca_file, "flag-ca.crt");

  auto bad = ParseOptions({"--storage=etcd://"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  EXPECT_EQ(bad.status().message().rfind("--storage etcd://: ", 0), 0u) << bad.status().message();
}

TEST(OptionsTest, EtcdErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;  // the whole one-line message
  };
  const std::string want = "\" for flag --etcd-servers: want http://host:port or https://host:port";
  const Case cases[] = {
      {{"--etcd-servers=etcd-0:2379"}, "etcd-0:2379"},
      {{"--etcd-servers=http://a:2379,ftp://b:2379"}, "ftp://b:2379"},
      {{"--etcd-servers=https://etcd"}, "https://etcd"},
      {{"--etcd-servers=https://etcd:"}, "https://etcd:"},
      {{"--etcd-servers=https://:2379"}, "https://:2379"},
      {{"--etcd-servers=https://etcd:99999"}, "https://etcd:99999"},
      {{"--etcd-servers=https://etcd:0"}, "https://etcd:0"},
      {{"--etcd-servers=https://etcd:2379/v3"}, "https://etcd:2379/v3"},
      {{"--etcd-servers=https://user@etcd:2379"}, "https://user@etcd:2379"},
      {{"--etcd-servers=https://fd00::3:2379"}, "https://fd00::3:2379"},
      {{"--etcd-servers=https://[]:2379"}, "https://[]:2379"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    auto o = ParseOptions(c.args);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), Code::kBadRequest);
    EXPECT_EQ(o.status().message(), "invalid value \"" + std::string(c.message) + want);
  }

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--etcd-servers=https://etcd:2379", "--etcd-certfile=client.crt"},
           {"--etcd-keyfile=client.key", "--storage=etcd://etcd:2379"}}) {
    SCOPED_TRACE(args[0]);
    auto o = ParseOptions(args);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().message(),
              "--etcd-certfile and --etcd-keyfile must be given together (the client certificate "
              "and its key)");
  }
  // Without etcd selected, the etcd flags are not checked (as kube-apiserver ignores them).
  EXPECT_TRUE(ParseOptions({"--etcd-certfile=client.crt"}).ok());

  auto bad = ParseOptions({"--etcd-compaction-interval=5x"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("for flag --etcd-compaction-interval"), std::string::npos);
}

TEST(OptionsTest, PermitPortSharingIsABoolFlag) {
  struct Case {
    std::vector<std::string> args;
    bool want;
  };
  const Case cases[] = {
      {{"--permit-port-sharing"}, true},
      {{"--permit-port-sharing", "--v=2"}, true},  // never takes the next argument
      {{"--permit-port-sharing=true"}, true},
      {{"--permit-port-sharing=1"}, true},
      {{"--permit-port-sharing=false"}, false},
      {{"--permit-port-sharing", "--permit-port-sharing=False"}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.args));
    auto o = ParseOptions(c.args);
    ASSERT_TRUE(o.ok()) << o.status().message();
    EXPECT_EQ(o->permit_port_sharing, c.want);
  }
  auto bad = ParseOptions({"--permit-port-sharing=yes"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "invalid value \"yes\" for flag --permit-port-sharing: want true or false");
  // pflag's bool flags take no separate argument: "false" is then a stray argument.
  bad = ParseOptions({"--permit-port-sharing", "false"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unexpected argument \"false\""), std::string::npos);
}

TEST(OptionsTest, UsageNamesTheHaFlags) {
  const std::string usage = Usage();
  for (const char* flag :
       {"--etcd-servers", "--etcd-prefix", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile",
        "--etcd-compaction-interval", "--permit-port-sharing", "etcd://"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace csdr::apiserver
