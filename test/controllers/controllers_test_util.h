// A registry on memory:// with a clock the test moves, an admission seam that can deny, and
// informers refreshed on demand: the controllers' world without threads.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "apiserver/kinds/kind.h"
#include "apiserver/kinds/validation.h"
#include "apiserver/registry/registry.h"
#include "common/json.h"
#include "common/metrics.h"
#include "controllers/controller.h"
#include "controllers/informer.h"
#include "storage/store.h"

namespace csdr::controllers::testing {

using std::chrono::system_clock;

// The value of one sample of the process's metrics, e.g.
// Sample("csdr_controller_runs_total{controller=\"schedule\",result=\"created\"}"); 0 when it
// has none yet (ctest runs each test in a process of its own, so counters start at 0).
inline double Sample(const std::string& series) {
  const std::string text = metrics::Default().Expose();
  const std::string want = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t eol = text.find('\n', at);
    const std::string line =
        text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    if (line.rfind(want, 0) == 0) return std::stod(line.substr(want.size()));
    if (eol == std::string::npos) break;
    at = eol + 1;
  }
  return 0;
}

inline system_clock::time_point At(const std::string& rfc3339) {
  auto t = apiserver::ParseRFC3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(system_clock::time_point{});
}

// Denies Backup creates while `deny` is set, as a rule would, fails them as an unavailable
// source of the rules' facts would while `unavailable` is set, and counts the creates it saw.
class SwitchAdmission : public apiserver::AdmissionController {
 public:
  Status Admit(const apiserver::AdmissionAttributes& a, std::vector<std::string>*) override {
    if (a.kind->info().kind != "Backup" || a.operation != apiserver::AdmissionOperation::kCreate) {
      return Status::Ok();
    }
    ++backup_creates;
    if (unavailable.load()) {
      return Status(Code::kUnavailable, "the cluster's Secrets are not synced yet");
    }
    if (deny.load()) {
      return Status(Code::kForbidden,
                    "admission webhook \"csdr.io\" denied the request: CSDR-BK-004: volume backup "
                    "is not supported on ACK Serverless Pro");
    }
    return Status::Ok();
  }
  std::atomic<bool> deny{false};
  std::atomic<bool> unavailable{false};
  std::atomic<int> backup_creates{0};
};

// The events the controllers record, as "<Type> <Reason> <kind>/<name>: <message>".
class RecordingEvents : public EventRecorder {
 public:
  void Event(const json::Value& object, const std::string& type, const std::string& reason,
             const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(type + " " + reason + " " + object.GetString({"kind"}) + "/" +
                      object.GetString({"metadata", "name"}) + ": " + message);
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(events_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

class ControllerWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::OpenStore("memory://");
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    registry_ = std::make_unique<apiserver::Registry>(store_.get(), &admission_,
                                                      [this] { return now_.load(); });
    schedules_ = std::make_unique<Informer>(
        registry_.get(), apiserver::FindKindByResource("backupschedules"), nullptr);
    // As the manager runs it: only BackupFacts of each Backup.
    backups_ = std::make_unique<Informer>(registry_.get(), apiserver::FindKindByResource("backups"),
                                          nullptr, BackupFacts);
    user_.name = "admin";
    user_.groups = {"system:masters"};
  }

  ControllerContext Context() {
    return ControllerContext{registry_.get(), schedules_.get(), backups_.get(),
                             [this] { return now_.load(); }, &events_};
  }

  void SetNow(const std::string& t) { now_.store(At(t)); }
  system_clock::time_point Now() const { return now_.load(); }

  // The informers catch up with the store.
  void Refresh() {
    ASSERT_TRUE(schedules_->SyncOnce(std::chrono::milliseconds(0)).ok());
    ASSERT_TRUE(backups_->SyncOnce(std::chrono::milliseconds(0)).ok());
  }

  apiserver::Scope ScopeOf(const char* resource, const std::string& name = "",
                           const std::string& sub = "") {
    apiserver::Scope s;
    s.kind = apiserver::FindKindByResource(resource);
    s.namespace_ = "csdr";
    s.name = name;
    s.subresource = sub;
    s.user = &user_;
    return s;
  }

  json::Value CreateSchedule(const std::string& name, const std::string& spec_json) {
    auto obj = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule",)"
                           R"("metadata":{"name":")" +
                           name + R"(","namespace":"csdr"},"spec":)" + spec_json + "}");
    EXPECT_TRUE(obj.ok()) << spec_json;
    auto r = registry_->Create(ScopeOf("backupschedules"), *obj, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->object : json::Value();
  }

  json::Value CreateBackup(const std::string& name, const std::string& schedule,
                           const std::string& extra_meta = "") {
    std::string meta = R"({"name":")" + name + R"(","namespace":"csdr")";
    if (!schedule.empty()) meta += R"(,"labels":{"csdr.io/schedule":")" + schedule + R"("})";
    meta += extra_meta + "}";
    auto obj = json::Parse(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":)" +
                           meta + R"(,"spec":{"vaultName":"v"}})");
    EXPECT_TRUE(obj.ok()) << meta;
    auto r = registry_->Create(ScopeOf("backups"), *obj, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->object : json::Value();
  }

  // Sets a Backup's status fields (merged into its status) through the status subresource.
  void SetBackupStatus(const std::string& name, const std::string& status_json) {
    auto current = registry_->Get(ScopeOf("backups", name));
    ASSERT_TRUE(current.ok()) << current.status().message();
    json::Value next = *current;
    auto patch = json::Parse(status_json);
    ASSERT_TRUE(patch.ok());
    json::Value& status = next["status"];
    if (!status.is_object()) status = json::Value::MakeObject();
    for (const auto& [k, v] : patch->object()) status.Set(k, v);
    auto r = registry_->Update(ScopeOf("backups", name, "status"), std::move(next), {});
    ASSERT_TRUE(r.ok()) << r.status().message();
  }

  json::Value Get(const char* resource, const std::string& name) {
    auto r = registry_->Get(ScopeOf(resource, name));
    return r.ok() ? *r : json::Value();
  }

  std::vector<std::string> BackupNames() {
    auto r = registry_->List(ScopeOf("backups"), {});
    std::vector<std::string> names;
    if (!r.ok()) return names;
    for (const auto& kv : r->items) {
      names.push_back(json::Parse(kv.value)->GetString({"metadata", "name"}));
    }
    return names;
  }

  std::atomic<system_clock::time_point> now_{system_clock::time_point{}};
  SwitchAdmission admission_;
  RecordingEvents events_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<Informer> schedules_;
  std::unique_ptr<Informer> backups_;
  apiserver::UserInfo user_;
};

}  // namespace csdr::controllers::testing
