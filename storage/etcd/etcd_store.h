// etcd://: the Store on an etcd v3 cluster, through etcd's native gRPC API.
//
// Layout and semantics follow k8s.io/apiserver's etcd3 store:
//  * every key is `config.prefix + key` in etcd (kube-apiserver's <prefix>/<group>/<resource>/...);
//  * resourceVersion is etcd's mod_revision; Create is Txn(If mod_revision(key) == 0 Then Put),
//    Update/Delete are Txn(If mod_revision(key) == expected Then Put|Delete Else Range), so
//    optimistic concurrency is etcd's own;
//  * revisions are etcd's: strictly increasing, not dense (other writers to the same etcd,
//    the compaction key and other prefixes take revisions too).
//
// etcd assigns the revision when it commits, so an Encoder cannot know it: this backend calls
// the Encoder with revision 0 and stores what it returns; every value it hands out (Get, List,
// watch events) passes through StoreOptions::stamp_revision(value, mod_revision) first, which
// puts the real revision in (the registry's stamps metadata.resourceVersion, as upstream's
// versioner sets it on decode). A Delete's tombstone is the last value stamped with the
// deletion revision.
//
// The watch cache: one etcd watch on the whole prefix (prev_kv, progress_notify) feeds an
// in-memory copy of the current objects and a WatchHub, so every client watch of this
// process is served from memory, as are Lists at a revision the cache holds. A List of the
// latest state (at_revision 0) is consistent: it reads etcd's current revision and is
// served from the cache once the cache has reached it (a progress request proves that on
// an idle prefix, where etcd supports it: 3.4.31+, 3.5.13+), else by a Range from etcd.
//
// Replicas: several processes on one etcd share everything through it; compaction is
// coordinated through a version compare on kube-apiserver's own `compact_rev_key`, one per
// interval across every server on that etcd that uses it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace csdr::storage {

struct EtcdConfig {
  // "http://host:port" or "https://host:port", at least one. TLS is used for https://.
  std::vector<std::string> servers;
  // Every key lives under it; kube-apiserver's --etcd-prefix. No trailing slash needed.
  std::string prefix = "/csdr";
  // The Store keys this backend is handed start with key_root + "/", which becomes `prefix`
  // in etcd: "/registry/csdr.io/backups/ns/a" is "/csdr/csdr.io/backups/ns/a" there, as
  // kube-apiserver lays out "<prefix>/<group>/<resource>/<namespace>/<name>". Keys outside
  // it are refused.
  std::string key_root = "/registry";
  // TLS: the CA that signed etcd's serving certificates, and our client certificate.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // One compaction per interval across all replicas (0: never compact from here).
  std::chrono::seconds compaction_interval{300};
  // Deadline of one unary call (Range, Txn); a watch has none.
  std::chrono::milliseconds request_timeout{10000};
  // How long Open waits for the first answer from any endpoint before it fails.
  std::chrono::milliseconds dial_timeout{5000};
};

// Parses a storage URL "etcd://host:port[,host:port...][/prefix][?cafile=F&certfile=F&keyfile=F]"
// ("etcds://" for TLS; the parameters name the files of --etcd-cafile, --etcd-certfile and
// --etcd-keyfile) into a config. kBadRequest names what is wrong.
StatusOr<EtcdConfig> ParseEtcdUrl(const std::string& url);

// Connects, loads the prefix into the watch cache and starts the watch. A clear one-line
// kUnavailable when no endpoint answers or TLS fails.
StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdConfig& config,
                                               const StoreOptions& options);

}  // namespace csdr::storage
