// Group-commit throughput of sqlite:// (not a test; run by hand, figures go to
// docs/storage.md): N threads create 1 KiB objects as fast as they can for a few seconds,
// each waiting for its own durable commit as an API request does.
//
//   storage_sqlite_bench [seconds per step] [directory]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "test/storage/store_test_util.h"

using namespace std::chrono;
using csdr::storage::OpenStore;
using csdr::storage::StoreOptions;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  csdr::storage::testing::TempDir tmp;
  const std::string dir = argc > 2 ? argv[2] : tmp.path();
  const std::string value(1024, 'x');
  std::printf("%8s %10s %8s %10s %9s %9s\n", "threads", "writes/s", "txns/s", "writes/txn",
              "p50 ms", "p99 ms");
  for (int threads : {1, 2, 4, 8, 16, 32, 64}) {
    const std::string path = dir + "/bench-" + std::to_string(threads) + ".db";
    auto store = OpenStore("sqlite://" + path, StoreOptions{});
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().message().c_str());
      return 1;
    }
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(threads);
    std::vector<std::thread> workers;
    const auto start = steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {
          const auto begin = steady_clock::now();
          auto r = (*store)->Create("/bench/" + std::to_string(t) + "/" + std::to_string(i),
                                    [&](int64_t) { return value; });
          if (!r.ok()) {
            std::fprintf(stderr, "%s\n", r.status().message().c_str());
            std::exit(1);
          }
          latencies[t].push_back(duration<double, std::milli>(steady_clock::now() - begin).count());
        }
      });
    }
    std::this_thread::sleep_for(duration<double>(seconds));
    stop = true;
    for (auto& w : workers) w.join();
    const double elapsed = duration<double>(steady_clock::now() - start).count();
    auto stats = (*store)->Stats();
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0 : all[static_cast<size_t>(p * (all.size() - 1))];
    };
    std::printf("%8d %10.0f %8.0f %10.1f %9.2f %9.2f\n", threads, stats.writes / elapsed,
                stats.transactions / elapsed,
                stats.transactions ? static_cast<double>(stats.writes) / stats.transactions : 0.0,
                pct(0.5), pct(0.99));
    (*store)->Close();
  }
  return 0;
}
