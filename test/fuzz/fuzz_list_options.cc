// Continue tokens and resourceVersions, through the registry as a list or watch request
// reaches it. Input: newline-separated fields
//   continue token \n resourceVersion \n resourceVersionMatch \n limit \n labelSelector \n
//   fieldSelector
// (missing fields are empty). A memory:// store holds a few Backups. Invariants: a token that
// decodes re-encodes to one that decodes the same; List and Watch answer OK or a client
// error (400, 410, 422, 504 "too large resource version"), never a 500; a list returns at
// most `limit` items and a continue token that decodes.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/registry/registry.h"
#include "common/json.h"
#include "common/selector.h"
#include "storage/store.h"
#include "test/fuzz/fuzz_check.h"

using namespace csdr;
using namespace csdr::apiserver;

namespace {

struct World {
  std::unique_ptr<storage::Store> store;
  AdmitAll admit;
  std::unique_ptr<Registry> registry;
  UserInfo user;
  Scope scope;
};

World* world = nullptr;

bool ClientError(Code c) {
  return c == Code::kBadRequest || c == Code::kInvalid || c == Code::kExpired ||
         c == Code::kTimeout;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World;
  storage::StoreOptions so;
  so.future_revision_wait = std::chrono::milliseconds(1);
  auto s = storage::OpenStore("memory://", so);
  if (!s.ok()) std::abort();
  world->store = std::move(s.value());
  world->registry = std::make_unique<Registry>(world->store.get(), &world->admit);
  world->user.name = "admin";
  world->user.groups = {"system:masters", "system:authenticated"};
  world->scope.kind = FindKindByResource("backups");
  world->scope.namespace_ = "csdr";
  world->scope.user = &world->user;
  if (world->scope.kind == nullptr) std::abort();
  WriteOptions wo;
  wo.field_manager = "fuzz";
  for (const char* name : {"b1", "b2", "b3", "b4", "b5"}) {
    auto obj = json::Parse(
        std::string(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":")") +
        name +
        R"(","labels":{"app":"shop"}},"spec":{"vaultName":"v1","includedNamespaces":["shop"]}})");
    auto r = world->registry->Create(world->scope, std::move(obj.value()), wo);
    if (!r.ok()) {
      std::fprintf(stderr, "setup create %s: %s\n", name,
                   std::string(r.status().message()).c_str());
      std::abort();
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (SkipLongNumbers(AsText(data, size))) return 0;  // open finding F11
  std::vector<std::string> f;
  std::string_view text = AsText(data, size);
  while (f.size() < 6) {
    size_t nl = text.find('\n');
    f.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  f.resize(6);

  // Finding F1 (fixed): tokens made only of padding are a 400, not an exception.
  auto token = DecodeContinue(f[0]);
  if (token.ok()) {
    const std::string encoded = EncodeContinue(token->first, token->second);
    auto again = DecodeContinue(encoded);
    FUZZ_CHECK(again.ok() && *again == *token, "continue token does not round-trip: " + Clip(f[0]));
  } else {
    FUZZ_CHECK(token.status().code() == Code::kBadRequest, "continue token error code");
  }

  ListOptions lo;
  lo.continue_token = f[0];
  lo.resource_version = f[1];
  lo.resource_version_match = f[2];
  int64_t limit = 0;
  std::from_chars(f[3].data(), f[3].data() + f[3].size(), limit);
  lo.limit = limit < 0 ? 0 : limit;
  if (auto l = ParseLabelSelector(f[4]); l.ok()) lo.label_selector = *l;
  if (auto fs = ParseFieldSelector(f[5]); fs.ok()) lo.field_selector = *fs;

  Scope scope = world->scope;
  auto list = world->registry->List(scope, lo);
  if (!list.ok()) {
    FUZZ_CHECK(ClientError(list.status().code()),
               "List answered a server error: " + std::string(list.status().message()));
  } else {
    if (lo.limit > 0)
      FUZZ_CHECK(static_cast<int64_t>(list->items.size()) <= lo.limit, "more items than limit");
    if (!list->continue_token.empty()) {
      FUZZ_CHECK(DecodeContinue(list->continue_token).ok(),
                 "List returned an undecodable continue token");
    }
  }

  WatchOptions wo;
  wo.resource_version = f[1];
  wo.label_selector = lo.label_selector;
  wo.field_selector = lo.field_selector;
  auto watch = world->registry->Watch(scope, wo);
  if (!watch.ok()) {
    FUZZ_CHECK(ClientError(watch.status().code()),
               "Watch answered a server error: " + std::string(watch.status().message()));
  } else {
    std::vector<WatchEvent> events;
    (*watch)->Next(std::chrono::milliseconds(0), &events);
    (*watch)->Stop();
  }
  return 0;
}
