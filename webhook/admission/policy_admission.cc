#include "webhook/admission/policy_admission.h"

#include <glog/logging.h>

#include <chrono>

#include "apiserver/registry/registry.h"
#include "webhook/policy/decision_metrics.h"

namespace csdr::webhook {
namespace {

const apiserver::KindStrategy* KindByName(std::string_view kind) {
  for (const apiserver::KindStrategy* k : apiserver::AllKinds()) {
    if (k->info().kind == kind) return k;
  }
  return nullptr;
}

ObjectRef ParseRef(const std::string& raw) {
  json::ParseOptions po;
  po.max_depth = 200;
  auto v = json::Parse(raw, po);
  if (!v.ok()) return nullptr;
  return std::make_shared<const json::Value>(std::move(v.value()));
}

ObjectFact Unknown(std::string reason) {
  ObjectFact f;
  f.presence = Presence::kUnknown;
  f.unknown_reason = std::move(reason);
  return f;
}

// The object at `key`: absent, present and parsed, or unknown with the storage error (or,
// when it does not parse, "stored object is not valid JSON").
// From the store's watch cache where it has one (GetRecent: an absent object is confirmed
// with the backend), as kube-apiserver's admission plugins read their informers.
ObjectFact ReadObject(storage::Store* store, const std::string& key) {
  auto kv = store->GetRecent(key);
  if (!kv.ok()) {
    if (kv.status().code() != Code::kNotFound) return Unknown("storage: " + kv.status().message());
    ObjectFact f;
    f.presence = Presence::kAbsent;
    return f;
  }
  ObjectFact f;
  f.object = ParseRef(kv->value);
  if (!f.object) return Unknown("stored object is not valid JSON");
  f.presence = Presence::kPresent;
  return f;
}

}  // namespace

std::string StoreFacts::TombstoneKey(std::string_view ns, std::string_view name) {
  return "/registry/csdr.io/_backupvault_tombstones/" + std::string(ns) + "/" + std::string(name);
}

ObjectFact StoreFacts::CachedObject(const std::string& key,
                                    const std::function<ObjectFact()>& read) const {
  const int64_t revision = store_->RecentRevision();  // before the read: see Cached
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = objects_.find(key);
    if (it != objects_.end() && it->second.revision == revision) return it->second.object;
  }
  ObjectFact f = read();
  if (f.unknown()) return f;  // a storage error is not remembered
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (objects_.size() >= kMaxCached) objects_.clear();
  objects_[key] = Cached{revision, f, {}};
  return f;
}

ListFact StoreFacts::CachedList(const std::string& key,
                                const std::function<ListFact()>& read) const {
  const int64_t revision = store_->RecentRevision();
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = lists_.find(key);
    if (it != lists_.end() && it->second.revision == revision) return it->second.list;
  }
  ListFact f = read();
  // Big lists (a namespace's backups, read when a vault is deleted) are read rarely and would
  // hold memory until the next write: only small ones (vaults, schedules) are kept.
  if (!f.known || f.items.size() > kMaxCachedListItems) return f;
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (lists_.size() >= kMaxCached) lists_.clear();
  lists_[key] = Cached{revision, {}, f};
  return f;
}

ObjectFact StoreFacts::Get(std::string_view kind, std::string_view ns,
                           std::string_view name) const {
  const apiserver::KindStrategy* k = KindByName(kind);
  if (k == nullptr) return Unknown("unknown kind " + std::string(kind));
  const std::string key = apiserver::Registry::Key(*k, std::string(ns), std::string(name));
  return CachedObject(key, [&] { return ReadObject(store_, key); });
}

ListFact StoreFacts::List(std::string_view kind, std::string_view ns) const {
  const apiserver::KindStrategy* k = KindByName(kind);
  if (k == nullptr) {
    ListFact f;
    f.unknown_reason = "unknown kind " + std::string(kind);
    return f;
  }
  const std::string prefix = apiserver::Registry::Prefix(*k, std::string(ns));
  return CachedList(prefix, [&] {
    ListFact f;
    auto page = store_->ListRecent(prefix, "", 0);
    if (!page.ok()) {
      f.unknown_reason = "storage: " + page.status().message();
      return f;
    }
    f.known = true;
    for (const auto& kv : page->items) {
      if (ObjectRef o = ParseRef(kv.value)) f.items.push_back(std::move(o));
    }
    return f;
  });
}

ObjectFact StoreFacts::VaultTombstone(std::string_view ns, std::string_view name) const {
  const std::string key = TombstoneKey(ns, name);
  return CachedObject(key, [&] { return ReadObject(store_, key); });
}

Status PolicyAdmission::Admit(const apiserver::AdmissionAttributes& a,
                              std::vector<std::string>* warnings) {
  const apiserver::KindInfo& info = a.kind->info();
  AdmissionInput in;
  switch (a.operation) {
    case apiserver::AdmissionOperation::kCreate:
      in.operation = Operation::kCreate;
      break;
    case apiserver::AdmissionOperation::kUpdate:
      in.operation = Operation::kUpdate;
      break;
    case apiserver::AdmissionOperation::kDelete:
      in.operation = Operation::kDelete;
      break;
  }
  in.group = info.group;
  in.kind = info.kind;
  in.namespace_ = a.namespace_;
  in.name = a.name;
  in.subresource = a.subresource;
  in.object = a.object;
  in.old_object = a.old_object;
  if (a.user) {
    in.user = a.user->name;
    in.groups = a.user->groups;
  }
  in.dry_run = a.dry_run;
  const auto start = std::chrono::steady_clock::now();
  Decision d = Evaluate(in, facts_, options_);
  RecordDecision(in, d, AdmissionPath::kInProcess,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  for (auto& w : d.warnings) warnings->push_back(std::move(w));
  if (d.allowed) return Status::Ok();
  // Rule IDs only: messages may quote object fields.
  std::string ids;
  for (const auto& id : d.denied_rule_ids) ids += (ids.empty() ? "" : ",") + id;
  VLOG(1) << "admission denied " << info.resource << " " << a.namespace_ << "/" << a.name << ": "
          << ids;
  if (d.code == 422) {
    return Status::Invalid(
        apiserver::QualifiedKind(info) + " " + Quote(a.name) + " is invalid: " + d.message,
        d.causes);
  }
  return Status(Code::kForbidden, apiserver::QualifiedResource(info) + " " + Quote(a.name) +
                                      " is forbidden: " + d.message);
}

void PolicyAdmission::Deleted(const apiserver::KindStrategy& kind, const std::string& ns,
                              const std::string& name) {
  if (kind.info().kind != "BackupVault") return;
  // CSDR-BV-004: a vault's name is never reused. The tombstone is written after the delete
  // committed; losing it in a crash between the two writes only weakens that rule.
  std::string key = StoreFacts::TombstoneKey(ns, name);
  auto r = store_->Create(key, [&](int64_t) {
    json::Value t = json::Value::MakeObject();
    t.Set("namespace", ns);
    t.Set("name", name);
    return json::Serialize(t);
  });
  if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
    LOG(WARNING) << "cannot record the tombstone of backup vault " << ns << "/" << name << ": "
                 << r.status().message();
  }
}

}  // namespace csdr::webhook
