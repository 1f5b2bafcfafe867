// meta.k8s.io Tables: the rows kubectl prints, per upstream's asTable.
//
// Table() builds one from parsed objects (a get, a watch event). TableList() writes a whole
// list straight from the stored bytes: the printer columns read only spec, status and
// metadata.name and creationTimestamp, so each stored object is split at its top level and
// only those parts are parsed; its metadata goes into the row (PartialObjectMetadata) as the
// stored bytes, and the row is written as text. A list of 10,000 Backups took four times as
// long as the same list as JSON when every object was parsed whole (docs/benchmarks.md F3).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "common/json.h"
#include "common/status.h"

namespace csdr::apiserver {

// {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/<version>","metadata":...}
json::Value PartialObjectMetadata(const json::Value& obj, const std::string& version);

// includeObject: "" (as Metadata), "None", "Metadata" or "Object"; anything else is a 400.
// Age cells count from `now`.
StatusOr<json::Value> Table(const KindStrategy& kind, const std::string& version,
                            const std::vector<const json::Value*>& objects,
                            const std::string& include_object, const json::Value* list_meta,
                            std::chrono::system_clock::time_point now);

// The compact JSON of Table(kind, version, <items parsed>, include_object, &list_meta),
// byte for byte, from `items` (compact JSON objects as the store keeps them), followed by
// nothing (no newline). An item that does not split as expected is parsed whole.
StatusOr<std::string> TableList(const KindStrategy& kind, const std::string& version,
                                const std::vector<std::string>& items,
                                const std::string& include_object, const json::Value& list_meta,
                                std::chrono::system_clock::time_point now);

}  // namespace csdr::apiserver
