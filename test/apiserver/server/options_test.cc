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
