// A real etcd for the storage tests: one member or a cluster of several, each a child
// process on loopback ports in a temporary directory, killed (SIGKILL) and restarted at will.
//
// Which etcd: the binary in $CSDR_ETCD_BIN, else Debian's /usr/bin/etcd (3.4); the tests
// name the version they ran against. Tests that need etcd skip with a message naming the
// variable when neither exists (the make test path installs etcd-server, so there they run).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/storage/store_test_util.h"

namespace csdr::storage::testing {

// The etcd binary to run, or empty when none is installed.
inline std::string EtcdBinary(const char* variable = "CSDR_ETCD_BIN") {
  if (const char* env = std::getenv(variable); env != nullptr && *env != '\0') return env;
  if (std::string(variable) == "CSDR_ETCD_BIN" && access("/usr/bin/etcd", X_OK) == 0) {
    return "/usr/bin/etcd";
  }
  return "";
}

// A port nothing listens on now (bound to 0 and released; the race is acceptable in tests).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline bool PortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

class EtcdCluster {
 public:
  // `members` members, not started yet. The binary must be non-empty.
  EtcdCluster(std::string binary, int members) : binary_(std::move(binary)) {
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i);
      m.client_port = FreePort();
      m.peer_port = FreePort();
      m.dir = dir_.path() + "/" + m.name;
      members_.push_back(m);
    }
  }
  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) Kill(i);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts every member and waits until each accepts connections on its client port.
  bool Start() {
    for (size_t i = 0; i < members_.size(); ++i) Spawn(i, /*fresh=*/true);
    for (size_t i = 0; i < members_.size(); ++i) {
      if (!WaitUp(i)) return false;
    }
    return true;
  }

  // SIGKILL, as a crash: no chance to flush or say goodbye to its peers.
  void Kill(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    waitpid(m.pid, nullptr, 0);
    m.pid = 0;
  }

  // Starts a killed member again on its data directory.
  bool Restart(size_t i) {
    Spawn(i, /*fresh=*/false);
    return WaitUp(i);
  }

  // Serve clients over TLS with these files and ask for client certificates signed by `ca`
  // (etcd's --client-cert-auth). Call before Start().
  void UseTls(const std::string& ca, const std::string& cert, const std::string& key) {
    scheme_ = "https";
    tls_args_ = {"--cert-file=" + cert, "--key-file=" + key, "--client-cert-auth",
                 "--trusted-ca-file=" + ca};
  }

  bool Running(size_t i) const { return members_[i].pid > 0; }
  size_t size() const { return members_.size(); }
  std::string ClientUrl(size_t i) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(members_[i].client_port);
  }
  std::vector<std::string> ClientUrls() const {
    std::vector<std::string> urls;
    for (size_t i = 0; i < members_.size(); ++i) urls.push_back(ClientUrl(i));
    return urls;
  }
  // "etcd://127.0.0.1:p1,127.0.0.1:p2/prefix"
  std::string StoreUrl(const std::string& prefix = "/csdr") const {
    std::string url = "etcd://";
    for (size_t i = 0; i < members_.size(); ++i) {
      url += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(members_[i].client_port);
    }
    return url + prefix;
  }
  const std::string& binary() const { return binary_; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string dir;
    pid_t pid = 0;
  };

  void Spawn(size_t i, bool fresh) {
    Member& m = members_[i];
    std::string initial_cluster;
    for (const Member& o : members_) {
      initial_cluster += (initial_cluster.empty() ? "" : ",") + o.name +
                         "=http://127.0.0.1:" + std::to_string(o.peer_port);
    }
    const std::string client = scheme_ + "://127.0.0.1:" + std::to_string(m.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> args = {
        binary_,
        "--name=" + m.name,
        "--data-dir=" + m.dir,
        "--listen-client-urls=" + client,
        "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer,
        "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=" + initial_cluster,
        "--initial-cluster-state=" + std::string(fresh ? "new" : "existing"),
        "--initial-cluster-token=csdr-test",
        // Short elections keep failover tests quick; loopback is fast.
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--log-level=error",
    };
    args.insert(args.end(), tls_args_.begin(), tls_args_.end());
    const std::string log = dir_.path() + "/" + m.name + ".log";
    pid_t pid = fork();
    if (pid == 0) {
      // The member dies with the test process, however that ends (an abort, a timeout).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      FILE* out = freopen(log.c_str(), "a", stdout);
      FILE* err = freopen(log.c_str(), "a", stderr);
      (void)out;
      (void)err;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      setenv("ETCD_UNSUPPORTED_ARCH", "", 0);
      execv(argv[0], argv.data());
      _exit(127);
    }
    m.pid = pid;
  }

  bool WaitUp(size_t i) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PortAccepts(members_[i].client_port)) return true;
      int status = 0;
      if (waitpid(members_[i].pid, &status, WNOHANG) == members_[i].pid) {
        ADD_FAILURE() << "etcd member " << members_[i].name << " exited; see its log in "
                      << dir_.path();
        members_[i].pid = 0;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "etcd member " << members_[i].name << " did not listen in 20 s";
    return false;
  }

  std::string binary_;
  std::string scheme_ = "http";
  std::vector<std::string> tls_args_;
  TempDir dir_;
  std::vector<Member> members_;
};

}  // namespace csdr::storage::testing
