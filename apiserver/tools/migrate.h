// Moving data between stores: the engine of `csdr-apiserver migrate` (apiserver/tools/commands.h
// is the command line around it).
//
// MigrateStore copies every key under `prefix` ("/registry/": every kind and the internal keys
// such as "/registry/csdr.io/_backupvault_tombstones/...") from `source` into `target`:
//  1. The target must hold no key under the prefix, or nothing is written (kAlreadyExists).
//  2. The source is read at ONE revision: the first List page's revision, later pages pinned
//     to it (at_revision) and continued with start_after. A snapshot that the source compacts
//     away while it is read (kExpired) is read again from the start, up to `read_attempts`
//     times; the whole snapshot is held in memory before the first write.
//  3. Every key is created in the target with its value as it was, apart from
//     metadata.resourceVersion, which the target's Encoder stamps with the target's revision
//     of the write (as the registry's own encoder does; etcd:// stamps it when values are
//     read, through StoreOptions::stamp_revision). Names, uids, creation timestamps, labels,
//     managedFields, spec and status are copied as they are; values that are not JSON objects
//     with a metadata object (tombstones) are copied byte for byte.
//  4. Verification: the target is listed again and every key and value compared with the
//     snapshot (JSON values as parsed trees with metadata.resourceVersion left out, and that
//     field must equal the target's mod_revision); any difference fails with kInternal.
//
// A failure after the first write leaves a partial copy in the target; the error says so and
// how many keys were written. Thread safety: MigrateStore uses the two stores from several
// threads (the Store contract allows it); other writers to the target while it runs make it
// fail, writers to the source do not disturb it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace csdr::apiserver {

struct MigrateOptions {
  // The keys to copy: everything the registry and the admission plugin store.
  std::string prefix = "/registry/";
  // Keys per List page of the source and of the verification.
  size_t page_size = 500;
  // Creates in flight at once: SQLite's group commit and etcd's pipelining turn them into
  // fewer commits (one at a time, a SQLite target pays an fsync per key).
  int writers = 8;
  // How often the source snapshot is read again when it was compacted while being read.
  int read_attempts = 3;
};

struct MigrateReport {
  int64_t source_revision = 0;  // the revision of the source the copy reflects
  int64_t target_revision = 0;  // the target's revision after the copy
  size_t keys = 0;              // keys copied (and verified)
  // Keys per resource, "backups.csdr.io" (ResourceOfKey), in name order.
  std::map<std::string, size_t> per_resource;
};

StatusOr<MigrateReport> MigrateStore(storage::Store* source, storage::Store* target,
                                     const MigrateOptions& options = {});

// The resource a key under `prefix` belongs to, as "<resource>.<group>":
// "/registry/csdr.io/backups/csdr/nightly" -> "backups.csdr.io",
// "/registry/csdr.io/_backupvault_tombstones/csdr/v" -> "_backupvault_tombstones.csdr.io".
// A key with fewer segments is named by what follows the prefix up to its next "/".
std::string ResourceOfKey(std::string_view key, std::string_view prefix);

}  // namespace csdr::apiserver
