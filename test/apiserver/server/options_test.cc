#include "apiserver/server/options.h"

#include <gtest/gtest.h>

namespace csdr::apiserver {
namespace {

TEST(OptionsTest, ParsesKubeApiserverNames) {
  auto o = ParseOptions({"--bind-address=127.0.0.1", "--secure-port", "9443", "--tls-cert-file=c.pem",
                         "--tls-private-key-file", "k.pem", "--client-ca-file=ca.pem",
                         "--storage=memory://", "--v=3"});
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
