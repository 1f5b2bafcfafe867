// /healthz, /livez and /readyz: the store's named check (kube-apiserver's "[+]etcd ok"), the
// shutdown check, ?verbose and ?exclude in k8s.io/apiserver's format, through ApiHandler::Serve
// with a fake Store whose CheckHealth the test sets, behind the InstrumentedStore main puts
// in front of every backend.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "apiserver/auth/auth.h"
#include "apiserver/endpoints/handler.h"
#include "apiserver/registry/admission.h"
#include "apiserver/registry/registry.h"
#include "storage/instrumented_store.h"
#include "storage/store.h"

namespace csdr::apiserver {
namespace {

// A memory store that reports the health the test sets, under the name "etcd".
class FakeEtcdStore : public storage::Store {
 public:
  explicit FakeEtcdStore(std::atomic<bool>* healthy) : healthy_(healthy) {
    auto inner = storage::OpenStore("memory://");
    inner_ = std::move(*inner);
  }
  StatusOr<int64_t> Create(const std::string& k, const storage::Encoder& e) override {
    return inner_->Create(k, e);
  }
  StatusOr<storage::KeyValue> Get(const std::string& k) override { return inner_->Get(k); }
  StatusOr<storage::ListResult> List(const std::string& p, const std::string& s, size_t l,
                                     int64_t r) override {
    return inner_->List(p, s, l, r);
  }
  StatusOr<int64_t> Update(const std::string& k, int64_t r, const storage::Encoder& e) override {
    return inner_->Update(k, r, e);
  }
  StatusOr<int64_t> Delete(const std::string& k, int64_t r, const storage::Encoder& e) override {
    return inner_->Delete(k, r, e);
  }
  int64_t CurrentRevision() override { return inner_->CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_->CompactedRevision(); }
  StatusOr<std::unique_ptr<storage::Watcher>> Watch(const std::string& p, int64_t r) override {
    return inner_->Watch(p, r);
  }
  void Close() override { inner_->Close(); }
  Status CheckHealth() override {
    ++checks;
    return healthy_->load() ? Status::Ok()
                            : Status(Code::kUnavailable, "no etcd endpoint answered in 2s");
  }
  std::string HealthCheckName() const override { return "etcd"; }

  std::atomic<int> checks{0};

 private:
  std::atomic<bool>* healthy_;
  std::unique_ptr<storage::Store> inner_;
};

struct Answer {
  int status = 0;
  std::string body;
  std::string content_type;
};

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = std::make_unique<FakeEtcdStore>(&healthy_);
    fake_ = fake.get();
    // As main wraps every backend (its series go to the default registry, never exposed here).
    instrumented_owner_ = storage::Instrument(std::move(fake), "etcd");
    store_ = instrumented_owner_.get();
    registry_ = std::make_unique<Registry>(store_, &admit_all_);
    HandlerOptions options;
    options.health_checks = StoreHealthChecks(store_);
    handler_ = std::make_unique<ApiHandler>(registry_.get(), &authenticator_, &authorizer_,
                                            std::move(options));
    handler_->SetReady(true);
  }

  Answer Get(const std::string& target) {
    httplib::Request req;
    req.method = "GET";
    req.target = target;
    req.path = target.substr(0, target.find('?'));
    httplib::Response res;
    handler_->Serve(req, res);
    return {res.status, res.body, res.get_header_value("Content-Type")};
  }

  std::atomic<bool> healthy_{true};
  FakeEtcdStore* fake_ = nullptr;
  std::unique_ptr<storage::Store> instrumented_owner_;
  storage::Store* store_ = nullptr;
  AdmitAll admit_all_;
  UnionAuthenticator authenticator_;
  AuthenticatedAllowAuthorizer authorizer_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ApiHandler> handler_;
};

TEST_F(HealthTest, TheInstrumentedStoreForwardsTheCheck) {
  EXPECT_EQ(store_->HealthCheckName(), "etcd");
  EXPECT_TRUE(store_->CheckHealth().ok());
  healthy_ = false;
  EXPECT_EQ(store_->CheckHealth().code(), Code::kUnavailable);
  ASSERT_EQ(StoreHealthChecks(store_).size(), 1u);
  EXPECT_EQ(StoreHealthChecks(store_)[0].name, "etcd");

  // The embedded backends name no check: /readyz then lists ping and shutdown alone.
  auto memory = storage::OpenStore("memory://");
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE(StoreHealthChecks(memory->get()).empty());
}

TEST_F(HealthTest, VerboseListsTheStoreCheckByName) {
  struct Case {
    const char* target;
    int status;
    const char* body;
  };
  const Case healthy[] = {
      {"/readyz", 200, "ok"},
      {"/healthz", 200, "ok"},
      {"/livez", 200, "ok"},
      {"/readyz?verbose", 200, "[+]ping ok\n[+]etcd ok\n[+]shutdown ok\nreadyz check passed\n"},
      {"/healthz?verbose", 200, "[+]ping ok\n[+]etcd ok\nhealthz check passed\n"},
      {"/livez?verbose", 200, "[+]ping ok\nlivez check passed\n"},
      {"/readyz?verbose&exclude=etcd", 200,
       "[+]ping ok\n[+]etcd excluded: ok\n[+]shutdown ok\nreadyz check passed\n"},
      {"/readyz?verbose&exclude=nosuch&exclude=other", 200,
       "[+]ping ok\n[+]etcd ok\n[+]shutdown ok\nwarn: some health checks cannot be excluded: "
       "no matches for \"nosuch\",\"other\"\nreadyz check passed\n"},
  };
  for (const Case& c : healthy) {
    SCOPED_TRACE(c.target);
    Answer a = Get(c.target);
    EXPECT_EQ(a.status, c.status);
    EXPECT_EQ(a.body, c.body);
    EXPECT_EQ(a.content_type, "text/plain; charset=utf-8");
  }
  EXPECT_GT(fake_->checks.load(), 0) << "the handler asked the store itself";
}

TEST_F(HealthTest, AFailingStoreCheckIs503WithTheListAndNoReason) {
  healthy_ = false;
  struct Case {
    const char* target;
    int status;
    const char* body;
  };
  // Always verbose on failure, as upstream; the reason stays in the log.
  const Case cases[] = {
      {"/readyz", 503,
       "[+]ping ok\n[-]etcd failed: reason withheld\n[+]shutdown ok\nreadyz check failed\n"},
      {"/readyz?verbose", 503,
       "[+]ping ok\n[-]etcd failed: reason withheld\n[+]shutdown ok\nreadyz check failed\n"},
      {"/healthz", 503, "[+]ping ok\n[-]etcd failed: reason withheld\nhealthz check failed\n"},
      // Liveness does not depend on etcd: a restart would not bring it back.
      {"/livez", 200, "ok"},
      // A probe may skip the check, as kube-apiserver's ?exclude=etcd.
      {"/readyz?exclude=etcd", 200, "ok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    Answer a = Get(c.target);
    EXPECT_EQ(a.status, c.status);
    EXPECT_EQ(a.body, c.body);
    EXPECT_EQ(a.body.find("no etcd endpoint answered"), std::string::npos);
  }

  healthy_ = true;  // etcd is back: ready again at once
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HealthTest, ShutdownFailsReadinessOnly) {
  handler_->SetReady(false);  // --shutdown-delay-duration under way
  Answer a = Get("/readyz");
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body,
            "[+]ping ok\n[+]etcd ok\n[-]shutdown failed: reason withheld\nreadyz check failed\n");
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/livez").status, 200);

  healthy_ = false;  // both at once: both listed
  EXPECT_EQ(Get("/readyz").body,
            "[+]ping ok\n[-]etcd failed: reason withheld\n[-]shutdown failed: reason withheld\n"
            "readyz check failed\n");
}

}  // namespace
}  // namespace csdr::apiserver
