// FakeApiServer: a small in-process HTTPS stand-in for kube-apiserver, enough to drive the
// cluster client and its reflectors through every path they take. It is our own seam, not a
// conformance model: a real kube-apiserver test lives under test/e2e/.
//
// It serves, for each collection path a test has touched ("/api/v1/namespaces/csdr/secrets"):
//   - GET and PUT of <collection>/<name> and POST to <collection>, as kube-apiserver's
//     get, update and create: 404 NotFound, 409 AlreadyExists on a taken name, 409 Conflict
//     on a PUT whose metadata.resourceVersion is stale; writes send ADDED/MODIFIED.
//   - LIST: items without apiVersion/kind (as kube-apiserver writes list items), paginated by
//     `limit` with a `continue` token that needs URL escaping ("tok+/=<index>"), at the
//     current resourceVersion; or a scripted error Status (FailLists).
//   - WATCH (?watch=true&resourceVersion=N): a chunked stream of newline-terminated events
//     after N, then whatever the test scripts: Put/Remove (ADDED/MODIFIED/DELETED), Bookmark,
//     SendRaw (any line), ExpireWatches (an ERROR event with a 410 Status, then the end),
//     EndWatches (a clean end, as at timeoutSeconds), DropWatches (the connection is cut
//     mid-stream). A watch from before Compact() gets 410, as an ERROR event or, after
//     SetWatch410AsHttp(true), as the HTTP status.
// One global resourceVersion counter orders every change, as etcd's revision does.
//
// Authentication: bearer tokens (SetTokens; none = no check) and, when `client_ca_pem` is
// given, a client certificate from that CA is required at the handshake; every request's
// token and certificate CN are recorded.
//
// Thread safety: every method may be called from the test thread while server threads run.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "kube/kubeconfig.h"
#include "test/kube/test_pki.h"

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace csdr::kube::testing {

struct FakeRequest {
  bool watch = false;
  std::map<std::string, std::string> params;  // decoded query parameters
  std::string authorization;                  // the Authorization header as sent
  std::string client_cn;                      // CN of the client certificate, if any
};

class FakeApiServer {
 public:
  struct Options {
    IssuedCert serving;               // the server's certificate and key
    std::string client_ca_pem;        // when set, require client certificates from this CA
    std::vector<std::string> tokens;  // accepted bearer tokens; empty: no token check
  };

  // Listens on 127.0.0.1, a free port.
  explicit FakeApiServer(Options options);
  ~FakeApiServer();

  int port() const { return port_; }
  // A ClusterConfig for this server, trusting `ca_pem` (the test sets the credentials).
  ClusterConfig Config(const std::string& ca_pem) const;

  // ---- State and scripted events, per collection path ----
  // Serves `path` as an empty collection (any of the calls below also creates it; an
  // untouched path answers 404).
  void AddCollection(const std::string& path);
  // Creates or replaces the object (keyed by metadata.namespace/name); sends ADDED or
  // MODIFIED to open watches unless `silently` (a change the client misses). Returns the
  // object's new resourceVersion.
  std::string Put(const std::string& path, json::Value object, bool silently = false);
  void Remove(const std::string& path, const std::string& ns, const std::string& name,
              bool silently = false);
  void Bookmark(const std::string& path);
  void SendRaw(const std::string& path, const std::string& line);
  void ExpireWatches(const std::string& path);
  void EndWatches(const std::string& path);
  void DropWatches(const std::string& path);
  void Compact();
  void SetWatch410AsHttp(bool on);
  // LISTs of `path` answer this error until code 0 is set.
  void FailLists(const std::string& path, int code, const std::string& reason,
                 const std::string& message);
  void SetTokens(std::vector<std::string> tokens);
  // Every request is answered 503 and open watches are cut (an API server that is down
  // behind a load balancer); false restores service.
  void SetUnavailable(bool on);

  // ---- Observations ----
  std::vector<FakeRequest> Requests(const std::string& path) const;
  int ListCount(const std::string& path) const;   // LIST requests, pages included
  int WatchCount(const std::string& path) const;  // WATCH requests
  std::string CurrentResourceVersion() const;

 private:
  struct Event {
    int64_t rv;
    std::string line;
  };
  struct Collection {
    std::map<std::string, json::Value> objects;  // by "ns/name" or "name"
    std::vector<Event> log;
    uint64_t drop_generation = 0;
    uint64_t end_generation = 0;
    uint64_t expire_generation = 0;
    int fail_code = 0;
    std::string fail_reason, fail_message;
    std::vector<FakeRequest> requests;
  };
  struct WatchState;

  void Handle(const httplib::Request& request, httplib::Response* response);
  // GET or PUT of <collection>/<name>, POST to <collection>; mu_ held.
  void HandleObject(Collection* c, const std::string& name, const httplib::Request& request,
                    httplib::Response* response);
  void Append(Collection* c, const std::string& type, const json::Value& object);

  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::map<std::string, Collection> collections_;
  int64_t rv_ = 100;
  int64_t compacted_rv_ = 0;
  bool watch_410_as_http_ = false;
  bool unavailable_ = false;
  bool stopping_ = false;
  std::vector<std::string> tokens_;
};

}  // namespace csdr::kube::testing
