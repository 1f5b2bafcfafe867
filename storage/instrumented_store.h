// InstrumentedStore: a Store that times every call of the Store it wraps into
// csdr_storage_request_duration_seconds{operation, type, backend} (the counterpart of
// kube-apiserver's etcd_request_duration_seconds: operation create, get, list, update,
// delete, watch; type the resource, read from the key "/registry/<group>/<resource>/...").
// It also exposes the backend's StoreStats as csdr_storage_* series. One per process: it
// registers its series in the default metrics registry.
#pragma once

#include <memory>
#include <string>

#include "storage/store.h"

namespace csdr::storage {

std::unique_ptr<Store> Instrument(std::unique_ptr<Store> inner, std::string backend);

}  // namespace csdr::storage
