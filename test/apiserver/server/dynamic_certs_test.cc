// DynamicServingCert, DynamicCaFile and CertificateReloader against real files in a temporary
// directory (certificates made in memory by TestPki), and TlsServer's per-handshake certificate
// selection through real TLS connections on loopback.
#include "apiserver/server/dynamic_certs.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "apiserver/server/tls_server.h"
#include "kube/tls.h"
#include "test/apiserver/server/loopback.h"
#include "test/kube/test_pki.h"

namespace csdr::apiserver {
namespace {

using kube::testing::IssuedCert;
using kube::testing::TestPki;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "dynamic-certs-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Replaces `path` at once (a new inode), as a Secret volume update or `mv` does.
void WriteAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

// Rewrites `path` in place (same inode), as `cp new old` or an editor does.
void WriteInPlace(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string Serial(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string SerialOf(const std::string& pem) {
  auto certs = kube::tls::ParseCertificates(pem, "test certificate");
  EXPECT_TRUE(certs.ok());
  return Serial(certs->front().get());
}

template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class DynamicServingCertTest : public ::testing::Test {
 protected:
  TempDir dir_;
  TestPki old_ca_{"old-ca"};
  TestPki new_ca_{"new-ca"};
  IssuedCert old_ = old_ca_.Server();
  IssuedCert new_ = new_ca_.Server();
  std::string cert_file_ = dir_.File("tls.crt");
  std::string key_file_ = dir_.File("tls.key");

  std::unique_ptr<DynamicServingCert> Load() {
    WriteAtomically(cert_file_, old_.cert_pem);
    WriteAtomically(key_file_, old_.key_pem);
    auto content = DynamicServingCert::FromFiles(cert_file_, key_file_);
    EXPECT_TRUE(content.ok()) << content.status().message();
    return content.ok() ? std::move(*content) : nullptr;
  }

  std::string CurrentSerial(const DynamicServingCert& content) {
    return Serial(content.Current()->leaf());
  }
};

TEST_F(DynamicServingCertTest, LoadsAtStartAndRefusesBadFilesNamingThem) {
  auto content = Load();
  ASSERT_TRUE(content);
  EXPECT_EQ(CurrentSerial(*content), SerialOf(old_.cert_pem));
  EXPECT_NE(content->Current()->Describe().find("CN=kube-apiserver"), std::string::npos)
      << content->Current()->Describe();

  struct Case {
    const char* name;
    std::string cert, key;
    const char* error;
  };
  const Case cases[] = {
      {"key of another certificate", old_.cert_pem, new_.key_pem, "does not match"},
      {"empty certificate", "", old_.key_pem, "no PEM certificate"},
      {"certificate cut short", old_.cert_pem.substr(0, old_.cert_pem.size() / 2), old_.key_pem,
       "malformed PEM"},
      {"key cut short", old_.cert_pem, old_.key_pem.substr(0, old_.key_pem.size() / 2),
       "no PEM private key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WriteAtomically(dir_.File("bad.crt"), c.cert);
    WriteAtomically(dir_.File("bad.key"), c.key);
    auto bad = DynamicServingCert::FromFiles(dir_.File("bad.crt"), dir_.File("bad.key"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find(c.error), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find("bad."), std::string::npos) << bad.status().message();
  }
  auto missing = DynamicServingCert::FromFiles(dir_.File("none.crt"), key_file_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.crt"), std::string::npos);
}

TEST_F(DynamicServingCertTest, ReloaderPicksUpANewPairFromANewCa) {
  auto content = Load();
  ASSERT_TRUE(content);
  CertificateReloader reloader(std::chrono::milliseconds(10));
  reloader.Add(content.get());
  reloader.Start();
  std::shared_ptr<const ServingKeyPair> before = content->Current();
  WriteAtomically(key_file_, new_.key_pem);  // key first: a torn pair in between
  WriteAtomically(cert_file_, new_.cert_pem);
  EXPECT_TRUE(WaitFor([&] { return CurrentSerial(*content) == SerialOf(new_.cert_pem); }));
  // The pair a handshake took before the swap stays whole.
  EXPECT_EQ(Serial(before->leaf()), SerialOf(old_.cert_pem));
  EXPECT_EQ(X509_check_private_key(content->Current()->leaf(), content->Current()->key()), 1);
  reloader.Stop();
}

TEST_F(DynamicServingCertTest, BrokenOrMismatchedFilesKeepTheOldPairUntilFixed) {
  auto content = Load();
  ASSERT_TRUE(content);
  const std::string old_serial = SerialOf(old_.cert_pem);
  struct Step {
    const char* name;
    std::string cert, key;
  };
  const Step broken[] = {
      {"new certificate, old key (half done rotation)", new_.cert_pem, old_.key_pem},
      {"certificate cut short (half written)", new_.cert_pem.substr(0, 300), new_.key_pem},
      {"empty key", new_.cert_pem, ""},
      {"garbage", "not a certificate\n", "not a key\n"},
  };
  for (const Step& step : broken) {
    SCOPED_TRACE(step.name);
    WriteAtomically(cert_file_, step.cert);
    WriteAtomically(key_file_, step.key);
    auto reloaded = content->Reload();
    EXPECT_FALSE(reloaded.ok());
    EXPECT_EQ(CurrentSerial(*content), old_serial);
  }
  fs::remove(cert_file_);
  EXPECT_FALSE(content->Reload().ok());
  EXPECT_EQ(CurrentSerial(*content), old_serial);

  WriteAtomically(cert_file_, new_.cert_pem);
  WriteAtomically(key_file_, new_.key_pem);
  auto reloaded = content->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
  EXPECT_TRUE(*reloaded);
  EXPECT_EQ(CurrentSerial(*content), SerialOf(new_.cert_pem));
}

TEST_F(DynamicServingCertTest, SameBytesAreNotReloadedAndInPlaceRewritesAreSeen) {
  auto content = Load();
  ASSERT_TRUE(content);
  std::shared_ptr<const ServingKeyPair> first = content->Current();
  // Rewritten with the same bytes: read again (the stamps moved) but nothing is swapped.
  WriteAtomically(cert_file_, old_.cert_pem);
  auto same = content->Reload();
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same);
  EXPECT_EQ(content->Current(), first);

  // Rewritten in place with mtime set back: the file is still within the racy window of its
  // last read, so it is read again whatever stat() says.
  struct stat before;
  ASSERT_EQ(::stat(cert_file_.c_str(), &before), 0);
  WriteInPlace(key_file_, new_.key_pem);
  WriteInPlace(cert_file_, new_.cert_pem);
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, cert_file_.c_str(), times, 0), 0);
  auto reloaded = content->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
  EXPECT_TRUE(*reloaded);
  EXPECT_EQ(CurrentSerial(*content), SerialOf(new_.cert_pem));
}

TEST(DynamicCaFileTest, ListenersFollowTheFileAndABrokenFileKeepsTheOldBundle) {
  TempDir dir;
  TestPki old_ca("old-client-ca"), new_ca("new-client-ca");
  const std::string path = dir.File("client-ca.crt");
  WriteAtomically(path, old_ca.ca_pem());
  auto content = DynamicCaFile::FromFile(path, "--client-ca-file");
  ASSERT_TRUE(content.ok()) << content.status().message();

  X509Authenticator authenticator((*content)->Current());
  std::atomic<int> calls{0};
  (*content)->AddListener([&](std::shared_ptr<const CaBundle> ca) {
    authenticator.SetCa(std::move(ca));
    ++calls;
  });
  EXPECT_EQ(calls, 1);  // at once, with the current bundle

  auto old_client = kube::tls::ParseCertificates(
      old_ca.Issue("alice", {}, {}, false, "dev").cert_pem, "old client");
  auto new_client = kube::tls::ParseCertificates(new_ca.Issue("bob", {}, {}, false, "ops").cert_pem,
                                                 "new client");
  ASSERT_TRUE(old_client.ok() && new_client.ok());
  auto outcome = [&](X509* leaf) {
    AuthRequest request;
    request.peer_leaf = leaf;
    return authenticator.Authenticate(request).outcome;
  };
  EXPECT_EQ(outcome(old_client->front().get()), AuthOutcome::kAuthenticated);
  EXPECT_EQ(outcome(new_client->front().get()), AuthOutcome::kRejected);

  // Half written: the first certificate whole, the second cut short. Refused as a whole.
  const std::string both = new_ca.ca_pem() + old_ca.ca_pem();
  WriteAtomically(path, both.substr(0, new_ca.ca_pem().size() + 200));
  auto torn = (*content)->Reload();
  ASSERT_FALSE(torn.ok());
  EXPECT_NE(torn.status().message().find("malformed"), std::string::npos);
  EXPECT_NE(torn.status().message().find(path), std::string::npos);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(outcome(old_client->front().get()), AuthOutcome::kAuthenticated);

  CertificateReloader reloader(std::chrono::milliseconds(10));
  reloader.Add(content->get());
  reloader.Start();
  WriteAtomically(path, new_ca.ca_pem());
  EXPECT_TRUE(WaitFor([&] { return calls == 2; }));
  EXPECT_EQ((*content)->Current()->pem(), new_ca.ca_pem());
  EXPECT_EQ(outcome(new_client->front().get()), AuthOutcome::kAuthenticated);
  EXPECT_EQ(outcome(old_client->front().get()), AuthOutcome::kRejected);
  reloader.Stop();
}

TEST(CertificateReloaderTest, StopIsPromptWhateverTheInterval) {
  TempDir dir;
  TestPki ca;
  WriteAtomically(dir.File("ca.crt"), ca.ca_pem());
  auto content = DynamicCaFile::FromFile(dir.File("ca.crt"), "--client-ca-file");
  ASSERT_TRUE(content.ok());
  CertificateReloader reloader(std::chrono::hours(1));
  reloader.Add(content->get());
  reloader.Start();
  const auto started = std::chrono::steady_clock::now();
  reloader.Stop();
  reloader.Stop();  // idempotent
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

// ---- TlsServer: what a client sees in the handshake

using loopback::ConnectLoopback;
using loopback::FreePort;

// One TLS connection (no verification: the test looks at what the server presents).
class TlsClient {
 public:
  explicit TlsClient(int port) : ctx_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return;
    ssl_ = SSL_new(ctx_.get());
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  std::string PeerSerial() const { return Serial(SSL_get0_peer_certificate(ssl_)); }
  // The CA names of the server's CertificateRequest.
  std::vector<std::string> AdvertisedCas() const {
    std::vector<std::string> out;
    STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(ssl_);
    for (int i = 0; names && i < sk_X509_NAME_num(names); ++i) {
      char buf[256];
      X509_NAME_oneline(sk_X509_NAME_value(names, i), buf, sizeof(buf));
      out.emplace_back(buf);
    }
    return out;
  }
  // One keep-alive request, its response read whole; the status line.
  std::string Get(const std::string& path) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string response;
    size_t header_end = std::string::npos, length = 0;
    while (header_end == std::string::npos || response.size() < header_end + 4 + length) {
      char buf[4096];
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return "";
      response.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos &&
          (header_end = response.find("\r\n\r\n")) != std::string::npos) {
        const size_t at = response.find("Content-Length: ");
        if (at < header_end) length = std::stoul(response.substr(at + 16));
      }
    }
    return response.substr(0, response.find("\r\n"));
  }

 private:
  kube::tls::SslCtxPtr ctx_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

TEST(TlsServerCertificatesTest, NewConnectionsGetTheNewCertificateOpenOnesKeepWorking) {
  TempDir dir;
  TestPki old_ca("old-ca"), new_ca("new-ca"), old_clients("old-client-ca"),
      new_clients("new-client-ca");
  const IssuedCert old_pair = old_ca.Server(), new_pair = new_ca.Server();
  ServingOptions options;
  options.bind_address = "127.0.0.1";
  options.port = FreePort();
  options.cert_file = dir.File("tls.crt");
  options.key_file = dir.File("tls.key");
  options.client_ca_file = dir.File("client-ca.crt");
  options.certificate_poll_interval = std::chrono::milliseconds(10);
  TestPki extra("front-proxy-ca");
  options.extra_client_ca_pem = extra.ca_pem();
  std::atomic<int> ca_changes{0};
  options.on_client_ca_change = [&](std::shared_ptr<const CaBundle>) { ++ca_changes; };
  WriteAtomically(options.cert_file, old_pair.cert_pem);
  WriteAtomically(options.key_file, old_pair.key_pem);
  WriteAtomically(options.client_ca_file, old_clients.ca_pem());

  auto server = TlsServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_EQ(ca_changes, 1);
  (*server)->SetHandler([](const httplib::Request&, httplib::Response& res) {
    res.set_content("pong", "text/plain");
  });
  ASSERT_TRUE((*server)->Bind().ok());
  std::thread serve([&] { (*server)->Serve(); });

  auto before = std::make_unique<TlsClient>(options.port);
  ASSERT_TRUE(before->connected());
  EXPECT_EQ(before->PeerSerial(), SerialOf(old_pair.cert_pem));
  EXPECT_EQ(before->Get("/ping"), "HTTP/1.1 200 OK");
  EXPECT_EQ(before->AdvertisedCas(),
            (std::vector<std::string>{"/CN=old-client-ca", "/CN=front-proxy-ca"}));

  WriteAtomically(options.cert_file, new_pair.cert_pem);
  WriteAtomically(options.key_file, new_pair.key_pem);
  WriteAtomically(options.client_ca_file, new_clients.ca_pem());
  EXPECT_TRUE(WaitFor([&] {
    TlsClient probe(options.port);
    return probe.connected() && probe.PeerSerial() == SerialOf(new_pair.cert_pem) &&
           probe.AdvertisedCas().front() == "/CN=new-client-ca";
  }));
  EXPECT_EQ(ca_changes, 2);
  // The connection made before the swap keeps its session and still serves requests.
  EXPECT_EQ(before->Get("/ping"), "HTTP/1.1 200 OK");

  // A broken rotation: connections keep getting the last good certificate.
  WriteAtomically(options.cert_file, old_pair.cert_pem);  // with the new key: no match
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto after = std::make_unique<TlsClient>(options.port);
  ASSERT_TRUE(after->connected());
  EXPECT_EQ(after->PeerSerial(), SerialOf(new_pair.cert_pem));
  EXPECT_EQ(after->Get("/ping"), "HTTP/1.1 200 OK");

  before.reset();
  after.reset();
  (*server)->Stop();
  serve.join();
}

}  // namespace
}  // namespace csdr::apiserver
