#include "controllers/controller.h"

#include "apiserver/kinds/validation.h"
#include "common/metrics.h"

namespace csdr::controllers {
namespace {

struct Families {
  metrics::Counter* runs;
  metrics::Counter* pruned;
  metrics::Counter* expired;
};

const Families& M() {
  static const Families f = [] {
    auto& r = metrics::Default();
    Families f;
    f.runs = r.Add(std::make_unique<metrics::Counter>(
        "csdr_controller_runs_total",
        "Runs of the built-in controllers' work, by controller (schedule: a Backup due; expiry: "
        "a Backup past its expiration) and result (created, exists, denied, missed, error, "
        "deleted).",
        std::vector<std::string>{"controller", "result"}));
    f.pruned = r.Add(std::make_unique<metrics::Counter>(
        "csdr_controller_pruned_backups_total",
        "Backups deleted by their schedule's retention (spec.retention)."));
    f.expired = r.Add(std::make_unique<metrics::Counter>(
        "csdr_controller_expired_backups_total", "Backups deleted when their expiration passed."));
    return f;
  }();
  return f;
}

}  // namespace

const apiserver::UserInfo& ControllerUser() {
  static const apiserver::UserInfo user{"system:serviceaccount:csdr:csdr-controllers",
                                        "",
                                        {"system:serviceaccounts", "system:authenticated"},
                                        {}};
  return user;
}

void CountRun(const std::string& controller, const std::string& result) {
  M().runs->Inc({controller, result});
}
void CountPruned(int n) { M().pruned->Inc({}, n); }
void CountExpired(int n) { M().expired->Inc({}, n); }

json::Value BackupFacts(json::Value backup) {
  json::Value out = json::Value::MakeObject();
  for (const char* f : {"apiVersion", "kind"}) {
    if (json::Value* v = backup.Find(f)) out.Set(f, std::move(*v));
  }
  if (json::Value* meta = backup.Find("metadata"); meta != nullptr && meta->is_object()) {
    json::Value m = json::Value::MakeObject();
    for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                          "deletionTimestamp", "labels"}) {
      if (json::Value* v = meta->Find(f)) m.Set(f, std::move(*v));
    }
    out.Set("metadata", std::move(m));
  }
  if (json::Value* status = backup.Find("status"); status != nullptr && status->is_object()) {
    json::Value st = json::Value::MakeObject();
    for (const char* f : {"phase", "expiration"}) {
      if (json::Value* v = status->Find(f)) st.Set(f, std::move(*v));
    }
    out.Set("status", std::move(st));
  }
  return out;
}

std::string RunName(const std::string& schedule, std::chrono::system_clock::time_point due) {
  return schedule + "-" + apiserver::FormatUTC(due, "%Y%m%d%H%M%S");
}

void SetCondition(json::Value* conditions, const json::Value* previous, const std::string& type,
                  const std::string& status, const std::string& reason, const std::string& message,
                  int64_t generation, const std::string& now) {
  std::string since = now;
  if (previous != nullptr && previous->is_array()) {
    for (const json::Value& c : previous->array()) {
      if (c.GetString({"type"}) != type || c.GetString({"status"}) != status) continue;
      const std::string t = c.GetString({"lastTransitionTime"});
      if (!t.empty()) since = t;
    }
  }
  json::Value c = json::Value::MakeObject();
  c.Set("type", type);
  c.Set("status", status);
  c.Set("reason", reason);
  c.Set("message", message);
  c.Set("lastTransitionTime", since);
  c.Set("observedGeneration", generation);
  if (!conditions->is_array()) *conditions = json::Value::MakeArray();
  for (json::Value& existing : conditions->array()) {
    if (existing.GetString({"type"}) == type) {
      existing = std::move(c);
      return;
    }
  }
  conditions->PushBack(std::move(c));
}

}  // namespace csdr::controllers
