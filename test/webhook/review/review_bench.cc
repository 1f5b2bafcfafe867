// review_bench: the webhook's per-review work without the network, stage by stage (decode,
// evaluate, encode, the whole handler), on the two reviews of test/bench's webhook workload.
// A measuring tool for development and docs/benchmarks.md, not a test: it asserts nothing
// about time. Each stage runs in rounds; the fastest round is reported (on a shared VM the
// slower ones measure the neighbours). Usage: review_bench [iterations per round] [rounds]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/json.h"
#include "webhook/policy/fake_facts.h"
#include "webhook/review/review.h"

namespace {

using csdr::webhook::DecodeReview;
using csdr::webhook::EncodeReviewResponse;
using csdr::webhook::Evaluate;

// The bodies test/bench/run.py sends (admission_review(), reviews()).
const char* const kReviews[] = {
    R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"e14308df-2cbe-40b6-9d76-99027bf8afa9","kind":{"group":"csdr.io","version":"v1alpha1","kind":"Backup"},"resource":{"group":"csdr.io","version":"v1alpha1","resource":"backups"},"requestKind":{"group":"csdr.io","version":"v1alpha1","kind":"Backup"},"requestResource":{"group":"csdr.io","version":"v1alpha1","resource":"backups"},"name":"b1","namespace":"csdr","operation":"CREATE","userInfo":{"username":"admin","groups":["system:masters","system:authenticated"]},"object":{"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr","labels":{"app":"shop"},"uid":"8e59dd9a-0b59-4b1a-b81e-2e5047ce8751","generation":1,"creationTimestamp":"2026-11-24T08:46:41Z"},"spec":{"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],"ttl":"720h","volumeBackup":{"method":"CloudBackup"}}},"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-create"}}})",
    R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"5f0c8a52-1d7e-4a0f-8f4b-3e2d7c9a6b10","kind":{"group":"csdr.io","version":"v1alpha1","kind":"Restore"},"resource":{"group":"csdr.io","version":"v1alpha1","resource":"restores"},"requestKind":{"group":"csdr.io","version":"v1alpha1","kind":"Restore"},"requestResource":{"group":"csdr.io","version":"v1alpha1","resource":"restores"},"name":"r1","namespace":"csdr","operation":"CREATE","userInfo":{"username":"admin","groups":["system:masters","system:authenticated"]},"object":{"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"r1","namespace":"csdr","uid":"0b0e39a4-7f7c-4a55-9d52-2f4a1c8f0d11","generation":1,"creationTimestamp":"2026-11-24T08:46:41Z"},"spec":{"backupName":"b1","includedNamespaces":["shop"],"restoreVolumes":true}},"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-create"}}})",
};

csdr::json::Value MustParse(const char* text) {
  auto v = csdr::json::Parse(text);
  if (!v.ok()) {
    std::fprintf(stderr, "review_bench: %s\n", v.status().message().c_str());
    std::exit(1);
  }
  return std::move(*v);
}

// The facts test/bench's csdr_setup creates: the ClusterProfile and an Available vault.
void Setup(csdr::webhook::FakeFacts* facts) {
  facts->Put(MustParse(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},"spec":{"clusterType":"ACKManaged","regionID":"cn-heyuan","componentVersion":"v1.8.4"}})"));
  facts->Put(MustParse(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":{"name":"v1","namespace":"csdr"},"spec":{"bucket":"cnfs-oss-bench","region":"cn-heyuan","network":"internal"},"status":{"phase":"Available"}})"));
  facts->Put(MustParse(
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr"},"spec":{"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],"volumeBackup":{"method":"CloudBackup"}},"status":{"phase":"Completed"}})"));
}

template <typename F>
double NanosPerOp(int iterations, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) f(i);
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         iterations;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 50000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  csdr::webhook::FakeFacts facts;
  Setup(&facts);
  volatile size_t sink = 0;

  double best[6] = {1e18, 1e18, 1e18, 1e18, 1e18, 1e18};
  csdr::json::ParseOptions simd;
  simd.simd = true;
  for (int round = 0; round < rounds; ++round) {
    const double parse = NanosPerOp(iterations, [&](int i) {
      sink = sink + csdr::json::Parse(kReviews[i & 1])->object().size();
    });
    const double parse_simd = NanosPerOp(iterations, [&](int i) {
      sink = sink + csdr::json::Parse(kReviews[i & 1], simd)->object().size();
    });
    const double decode = NanosPerOp(
        iterations, [&](int i) { sink = sink + (*DecodeReview(kReviews[i & 1]))->uid.size(); });
    auto r0 = DecodeReview(kReviews[0]);
    auto r1 = DecodeReview(kReviews[1]);
    const csdr::webhook::ReviewRequest* reqs[] = {r0->get(), r1->get()};
    const double evaluate = NanosPerOp(iterations, [&](int i) {
      sink = sink + Evaluate(reqs[i & 1]->input, facts).message.size();
    });
    const csdr::webhook::Decision d0 = Evaluate(reqs[0]->input, facts);
    const csdr::webhook::Decision d1 = Evaluate(reqs[1]->input, facts);
    const csdr::webhook::Decision* decisions[] = {&d0, &d1};
    const double encode = NanosPerOp(iterations, [&](int i) {
      sink =
          sink + EncodeReviewResponse(reqs[i & 1]->api_version, reqs[i & 1]->uid, *decisions[i & 1])
                     .size();
    });
    httplib::Request req;
    req.method = "POST";
    req.set_header("Content-Type", "application/json");
    const double serve = NanosPerOp(iterations, [&](int i) {
      req.body = kReviews[i & 1];
      httplib::Response res;
      csdr::webhook::ServeValidate(req, res, facts);
      sink = sink + res.body.size();
    });
    const double now[6] = {parse, decode, evaluate, encode, serve, parse_simd};
    for (int i = 0; i < 6; ++i) best[i] = std::min(best[i], now[i]);
  }
  std::printf(
      "json::Parse %.0f ns (simd %.0f ns), DecodeReview %.0f ns, Evaluate %.0f ns, "
      "EncodeReviewResponse %.0f ns, ServeValidate %.0f ns (per review; fastest of %d rounds of "
      "%d)\n",
      best[0], best[5], best[1], best[2], best[3], best[4], rounds, iterations);
  return sink == 0 ? 1 : 0;
}
