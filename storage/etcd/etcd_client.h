// EtcdClient: the gRPC connection to an etcd cluster that the etcd store talks through.
//
// One channel (one HTTP/2 connection) per endpoint, created up front; calls go to the
// current endpoint and move to the next when it is unreachable, so a dead member costs one
// failed attempt, not an outage. Unary calls carry a deadline (EtcdConfig::request_timeout).
//
// Reads (Range, Status) are retried on the next endpoint when the attempt failed in a way
// that cannot have changed anything. A Txn is sent once: when it fails with an outcome
// that is unknown (the connection or the leader went away while it was in flight) the
// caller learns that from Ambiguous() and decides (the store reads the key back).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/etcd/etcd_rpc.grpc.pb.h"
#include "storage/etcd/etcd_store.h"

namespace csdr::storage::etcd {

// A failed call: the Status the store answers with, and whether the request may have been
// applied by etcd although no answer came back.
struct CallError {
  Status status;
  bool ambiguous = false;
};

class EtcdClient {
 public:
  // Creates the channels and waits up to config.dial_timeout for one endpoint to answer a
  // Status call. kUnavailable names every endpoint and why it failed.
  static StatusOr<std::unique_ptr<EtcdClient>> Connect(const EtcdConfig& config);

  // Linearizable unless request.serializable. `timeout` (0: the config's) bounds each try.
  Status Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // *ambiguous is set when the outcome is unknown (see the file comment).
  Status Txn(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response,
             bool* ambiguous);
  Status Compact(int64_t revision);
  // The Status of the member `endpoint` (index into servers), or of the current one (-1).
  Status MemberStatus(etcdserverpb::StatusResponse* response, int endpoint = -1);

  // A new watch stream on the current endpoint, with etcd's "require leader" metadata so a
  // member cut off from the quorum ends the stream instead of going silent. The caller
  // owns `context` (it must outlive the stream) and moves on with NextEndpoint() when the
  // stream breaks.
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
  OpenWatch(grpc::ClientContext* context);

  void NextEndpoint();
  // Makes every channel try to connect now instead of after its backoff (a member that was
  // down is back sooner than gRPC's backoff would notice).
  void ResetBackoff();
  size_t endpoint_count() const { return endpoints_.size(); }
  std::string CurrentEndpoint() const;
  // The version string of the member that answered Connect's first Status call.
  const std::string& server_version() const { return server_version_; }
  const EtcdConfig& config() const { return config_; }

 private:
  struct Endpoint {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  };

  explicit EtcdClient(const EtcdConfig& config) : config_(config) {}
  void SetDeadline(grpc::ClientContext* context,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;
  size_t Current() const { return current_.load(std::memory_order_relaxed); }
  void MoveOff(size_t failed);

  const EtcdConfig config_;
  std::vector<Endpoint> endpoints_;
  std::atomic<size_t> current_{0};
  std::string server_version_;
};

// Maps a failed gRPC call to a Status with one line that names etcd and the endpoint.
Status FromGrpc(const grpc::Status& status, const std::string& endpoint);

}  // namespace csdr::storage::etcd
