// Write preconditions and encoder calls shared by the backends, so that both answer every
// case with the same code and message (the conformance suite holds them to it).
// Internal to csdr_storage. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/store.h"

namespace csdr::storage::internal {

enum class WriteOp { kCreate, kUpdate, kDelete };

// Argument checks done before a write is queued: a non-empty key, an encoder where one is
// required, a non-negative expected revision.
Status ValidateWrite(WriteOp op, const std::string& key, int64_t expected_revision,
                     const Encoder& encode);

// The precondition against the key's current state (`current_mod_revision` 0: absent).
Status CheckPrecondition(WriteOp op, const std::string& key, int64_t expected_revision,
                         int64_t current_mod_revision);

// Runs the encoder for `revision`, turning an escaping exception into kInternal: encoders are
// caller code, and no exception may cross into the backend's writer.
StatusOr<std::string> RunEncoder(const Encoder& encode, int64_t revision);

Status ClosedStatus();

}  // namespace csdr::storage::internal
