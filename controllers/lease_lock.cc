#include "controllers/lease_lock.h"

#include <glog/logging.h>

#include <charconv>
#include <utility>
#include <vector>

namespace csdr::controllers {
namespace {

using std::chrono::milliseconds;

// A string member, or kBadRequest naming it when it has another type (null is absent).
Status ReadString(const json::Value& spec, std::string_view key, std::string* out) {
  const json::Value* v = spec.Find(key);
  if (v == nullptr || v->is_null()) return Status();
  if (!v->is_string())
    return Status(Code::kBadRequest, "lease " + std::string(key) + ": not a string");
  *out = v->as_string();
  return Status();
}

Status ReadInt(const json::Value& spec, std::string_view key, int64_t* out) {
  const json::Value* v = spec.Find(key);
  if (v == nullptr || v->is_null()) return Status();
  if (!v->is_int())
    return Status(Code::kBadRequest, "lease " + std::string(key) + ": not an integer");
  *out = v->as_int();
  return Status();
}

StatusOr<int64_t> ParseRevision(const std::string& version) {
  int64_t rev = 0;
  const char* end = version.data() + version.size();
  auto [ptr, ec] = std::from_chars(version.data(), end, rev);
  if (ec != std::errc() || ptr != end || rev <= 0) {
    return Status(Code::kBadRequest, "not a store revision: \"" + version + "\"");
  }
  return rev;
}

constexpr const char* kLeasesPath = "/apis/coordination.k8s.io/v1/namespaces/";

// The record read at `version`, or an unreadable one (logged, rarely) when `record` failed.
VersionedLease Versioned(std::string version, StatusOr<LeaseRecord> record,
                         const std::string& what) {
  VersionedLease out;
  out.version = std::move(version);
  if (record.ok()) {
    out.record = std::move(*record);
  } else {
    LOG_EVERY_N(WARNING, 100) << what << ": unreadable: " << record.status().message();
    out.readable = false;
  }
  return out;
}

}  // namespace

json::Value LeaseSpec(const LeaseRecord& r) {
  json::Value v = json::Value::MakeObject();
  v.Set("holderIdentity", r.holder_identity);
  v.Set("leaseDurationSeconds", r.lease_duration_seconds);
  v.Set("acquireTime", r.acquire_time);
  v.Set("renewTime", r.renew_time);
  v.Set("leaseTransitions", r.lease_transitions);
  return v;
}

StatusOr<LeaseRecord> RecordOfLeaseSpec(const json::Value& spec) {
  if (!spec.is_object()) return Status(Code::kBadRequest, "lease record is not a JSON object");
  LeaseRecord r;
  for (Status s : {ReadString(spec, "holderIdentity", &r.holder_identity),
                   ReadInt(spec, "leaseDurationSeconds", &r.lease_duration_seconds),
                   ReadString(spec, "acquireTime", &r.acquire_time),
                   ReadString(spec, "renewTime", &r.renew_time),
                   ReadInt(spec, "leaseTransitions", &r.lease_transitions)}) {
    if (!s.ok()) return s;
  }
  return r;
}

std::string LeaseKey(const std::string& name) { return "/registry/csdr.io/_leases/" + name; }

// ---- StoreLeaseLock ----

StoreLeaseLock::StoreLeaseLock(storage::Store* store, const std::string& name)
    : store_(store), key_(LeaseKey(name)) {}

StatusOr<VersionedLease> StoreLeaseLock::Get() {
  auto kv = store_->Get(key_);
  if (!kv.ok()) return kv.status();
  // Members the record gains elsewhere (etcd's stamped metadata) are ignored.
  auto parsed = json::Parse(kv->value);
  return Versioned(std::to_string(kv->mod_revision),
                   parsed.ok() ? RecordOfLeaseSpec(*parsed) : parsed.status(), Describe());
}

StatusOr<std::string> StoreLeaseLock::Create(const LeaseRecord& record) {
  const std::string bytes = json::Serialize(LeaseSpec(record));
  auto rev = store_->Create(key_, [&bytes](int64_t) { return bytes; });
  if (!rev.ok()) return rev.status();
  return std::to_string(*rev);
}

StatusOr<std::string> StoreLeaseLock::Update(const LeaseRecord& record,
                                             const std::string& version) {
  auto expected = ParseRevision(version);
  if (!expected.ok()) return expected.status();
  const std::string bytes = json::Serialize(LeaseSpec(record));
  auto rev = store_->Update(key_, *expected, [&bytes](int64_t) { return bytes; });
  if (!rev.ok()) return rev.status();
  return std::to_string(*rev);
}

void StoreLeaseLock::WaitForChange(const std::string& version, milliseconds timeout,
                                   std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::mutex mu;
  std::condition_variable_any cv;
  auto sleep_out = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_until(lock, stop, deadline, [] { return false; });
  };
  // From the version read: a write after the read is replayed, none is missed. Without one,
  // from now (the next poll covers the gap).
  int64_t after = 0;
  if (!version.empty()) {
    auto rev = ParseRevision(version);
    if (rev.ok()) after = *rev;
  }
  auto w = store_->Watch(key_, after);
  if (!w.ok()) {
    if (!watch_failing_) {
      LOG(WARNING) << Describe() << ": cannot watch, polling: " << w.status().message();
      watch_failing_ = true;
    }
    sleep_out();
    return;
  }
  if (watch_failing_) {
    LOG(INFO) << Describe() << ": watching again";
    watch_failing_ = false;
  }
  std::unique_ptr<storage::Watcher> watcher = std::move(w.value());
  std::stop_callback on_stop(stop, [&watcher] { watcher->Stop(); });
  std::vector<storage::Event> events;
  while (!stop.stop_requested()) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds(0)) return;
    events.clear();
    bool expired = false;
    const bool alive = watcher->Next(left, &events, &expired);
    for (const storage::Event& e : events) {
      if (e.key == key_) return;  // the prefix also matches longer lease names
    }
    if (!alive) {  // ended (store closed, or too far behind): poll out this period
      sleep_out();
      return;
    }
  }
}

// ---- KubeLeaseLock ----

KubeLeaseLock::KubeLeaseLock(const kube::KubeClient* client, std::string ns, std::string name)
    : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}

KubeLeaseLock::~KubeLeaseLock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (!watch_thread_.joinable()) return;
  // Cancel until the thread is done: a request not yet connected notices at its next read.
  std::unique_lock<std::mutex> lock(mu_);
  while (!watch_done_) {
    lock.unlock();
    cancel_.Cancel();
    lock.lock();
    changed_.wait_for(lock, milliseconds(50), [this] { return watch_done_; });
  }
  lock.unlock();
  watch_thread_.join();
}

std::string KubeLeaseLock::Path() const { return kLeasesPath + ns_ + "/leases/" + name_; }

json::Value KubeLeaseLock::LeaseObject(const LeaseRecord& record,
                                       const std::string& version) const {
  json::Value lease = json::Value::MakeObject();
  lease.Set("apiVersion", "coordination.k8s.io/v1");
  lease.Set("kind", "Lease");
  json::Value meta = json::Value::MakeObject();
  meta.Set("name", name_);
  meta.Set("namespace", ns_);
  if (!version.empty()) meta.Set("resourceVersion", version);
  lease.Set("metadata", std::move(meta));
  lease.Set("spec", LeaseSpec(record));
  return lease;
}

StatusOr<std::string> KubeLeaseLock::VersionOfAnswer(const char* what,
                                                     const StatusOr<json::Value>& answer) const {
  if (!answer.ok()) return answer.status();
  std::string rv = answer->GetString({"metadata", "resourceVersion"});
  if (rv.empty()) {
    return Status(Code::kInternal, std::string(what) + " " + Describe() +
                                       ": the answer has no metadata.resourceVersion");
  }
  return rv;
}

StatusOr<VersionedLease> KubeLeaseLock::Get() {
  auto lease = client_->GetJson(Path());
  auto version = VersionOfAnswer("GET", lease);
  if (!version.ok()) return version.status();
  const json::Value* spec = lease->Find("spec");
  return Versioned(
      std::move(*version),
      spec != nullptr ? RecordOfLeaseSpec(*spec) : StatusOr<LeaseRecord>(LeaseRecord{}),
      Describe());
}

StatusOr<std::string> KubeLeaseLock::Create(const LeaseRecord& record) {
  return VersionOfAnswer("POST",
                         client_->PostJson(kLeasesPath + ns_ + "/leases", LeaseObject(record, "")));
}

StatusOr<std::string> KubeLeaseLock::Update(const LeaseRecord& record, const std::string& version) {
  return VersionOfAnswer("PUT", client_->PutJson(Path(), LeaseObject(record, version)));
}

void KubeLeaseLock::WaitForChange(const std::string& version, milliseconds timeout,
                                  std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!watch_thread_.joinable() && !stopping_) {
    watch_thread_ = std::thread([this] { WatchLoop(); });
  }
  changed_.wait_for(lock, stop, timeout,
                    [&] { return stopping_ || (known_ && latest_ != version); });
}

void KubeLeaseLock::SetObserved(bool known, std::string version) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    known_ = known;
    latest_ = std::move(version);
  }
  changed_.notify_all();
}

void KubeLeaseLock::WatchLoop() {
  bool failing = false;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    Status ended = ListAndWatch();
    SetObserved(false, "");
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) break;
    if (!ended.ok() && !failing) {
      LOG(WARNING) << Describe()
                   << ": cannot watch (the election polls meanwhile): " << ended.message();
    }
    if (ended.ok() && failing) LOG(INFO) << Describe() << ": watching again";
    failing = !ended.ok();
    // A watch the server ended (its timeout) is renewed at once; a failure after a second.
    if (failing) changed_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
  std::lock_guard<std::mutex> lock(mu_);
  watch_done_ = true;
  changed_.notify_all();
}

Status KubeLeaseLock::ListAndWatch() {
  const std::string selector = "fieldSelector=" + kube::QueryEscape("metadata.name=" + name_);
  const std::string list_path = kLeasesPath + ns_ + "/leases";
  auto list = client_->GetJson(list_path + "?" + selector, &cancel_);
  if (!list.ok()) return list.status();
  std::string current;  // "" when the list has no such Lease
  if (const json::Value* items = list->Find("items"); items != nullptr) {
    for (const json::Value& item : items->array()) {
      if (item.GetString({"metadata", "name"}) == name_) {
        current = item.GetString({"metadata", "resourceVersion"});
      }
    }
  }
  SetObserved(true, current);
  const std::string from = list->GetString({"metadata", "resourceVersion"});
  // The server ends a watch after timeoutSeconds; read timeout a little beyond it.
  constexpr int kWatchSeconds = 300;
  Status status = client_->Stream(
      list_path + "?watch=true&" + selector + "&resourceVersion=" + kube::QueryEscape(from) +
          "&timeoutSeconds=" + std::to_string(kWatchSeconds),
      std::chrono::seconds(kWatchSeconds + 30),
      [this](std::string_view line) {
        auto event = json::Parse(line);
        if (!event.ok()) return false;  // not a watch stream: list again
        const std::string type = event->GetString({"type"});
        if (type == "ERROR") return false;  // 410 Gone and the like: list again
        const json::Value* object = event->Find("object");
        if (object == nullptr || object->GetString({"metadata", "name"}) != name_) return true;
        if (type == "DELETED") {
          SetObserved(true, "");
        } else if (type == "ADDED" || type == "MODIFIED") {
          SetObserved(true, object->GetString({"metadata", "resourceVersion"}));
        }
        return true;
      },
      &cancel_);
  return status;
}

}  // namespace csdr::controllers
