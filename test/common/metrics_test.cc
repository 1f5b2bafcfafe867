#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace csdr::metrics {
namespace {

TEST(Metrics, CounterExposition) {
  Counter c("apiserver_request_total", "Counter of apiserver requests.", {"verb", "code"});
  c.Inc({"GET", "200"});
  c.Inc({"GET", "200"});
  c.Inc({"POST", "201"}, 3);
  EXPECT_EQ(c.Value({"GET", "200"}), 2);
  EXPECT_EQ(c.Value({"PUT", "200"}), 0);
  std::string out;
  c.Write(&out);
  EXPECT_EQ(out,
            "# HELP apiserver_request_total Counter of apiserver requests.\n"
            "# TYPE apiserver_request_total counter\n"
            "apiserver_request_total{verb=\"GET\",code=\"200\"} 2\n"
            "apiserver_request_total{verb=\"POST\",code=\"201\"} 3\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Gauge g("g", "line one\nline \\two", {"name"});
  g.Set({"a\"b\\c\nd"}, 1.5);
  std::string out;
  g.Write(&out);
  EXPECT_EQ(out,
            "# HELP g line one\\nline \\\\two\n# TYPE g gauge\n"
            "g{name=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST(Metrics, MissingAndExtraLabelValues) {
  Counter c("c", "h", {"a", "b"});
  c.Inc({"x"});
  c.Inc({"x", "y", "z"});
  std::string out;
  c.Write(&out);
  EXPECT_NE(out.find("c{a=\"x\",b=\"\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("c{a=\"x\",b=\"y\"} 1\n"), std::string::npos) << out;
}

TEST(Metrics, GaugeWithoutLabels) {
  Gauge g("inflight", "h");
  g.Add({}, 2);
  g.Add({}, -1);
  std::string out;
  g.Write(&out);
  EXPECT_EQ(out, "# HELP inflight h\n# TYPE inflight gauge\ninflight 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeAndLeIsInclusive) {
  Histogram h("d", "h", {"verb"}, {0.1, 0.01, 1});  // unsorted on purpose
  h.Observe({"GET"}, 0.01);                         // on a bound: counted in it
  h.Observe({"GET"}, 0.05);
  h.Observe({"GET"}, 5);
  EXPECT_EQ(h.Count({"GET"}), 3u);
  std::string out;
  h.Write(&out);
  EXPECT_EQ(out,
            "# HELP d h\n# TYPE d histogram\n"
            "d_bucket{verb=\"GET\",le=\"0.01\"} 1\n"
            "d_bucket{verb=\"GET\",le=\"0.1\"} 2\n"
            "d_bucket{verb=\"GET\",le=\"1\"} 2\n"
            "d_bucket{verb=\"GET\",le=\"+Inf\"} 3\n"
            "d_sum{verb=\"GET\"} 5.06\n"
            "d_count{verb=\"GET\"} 3\n");
}

TEST(Metrics, GaugeFuncReadsAtScrapeTime) {
  double value = 1;
  GaugeFunc g("objects", "h", {"resource"}, [&](std::vector<GaugeFunc::Sample>* out) {
    out->push_back({{"restores"}, value});
    out->push_back({{"backups"}, value * 2});
  });
  value = 7;
  std::string out;
  g.Write(&out);
  EXPECT_EQ(out,
            "# HELP objects h\n# TYPE objects gauge\n"
            "objects{resource=\"backups\"} 14\nobjects{resource=\"restores\"} 7\n");
}

TEST(Metrics, RegistrySortsFamiliesByName) {
  Registry r;
  r.Add(std::make_unique<Counter>("zeta", "z"))->Inc();
  r.Add(std::make_unique<Counter>("alpha", "a"))->Inc();
  std::string out = r.Expose();
  EXPECT_LT(out.find("alpha"), out.find("zeta"));
}

TEST(Metrics, FormatValue) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  Counter c("c", "h", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.Inc({"x"});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value({"x"}), 40000);
}

}  // namespace
}  // namespace csdr::metrics
