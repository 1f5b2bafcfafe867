// Metrics: counters, gauges and histograms with labels, exposed in the Prometheus text format
// (version 0.0.4) at /metrics.
//
// Debian 12 packages no C++ Prometheus client, and what the server needs is small: a family
// is a name, a help text, label names and a map from label values to a series. Every family
// lives in one process-wide Registry (Default()), registered once at static initialisation
// time by the component that records it, as client_golang's default registry is used by
// k8s.io/apiserver. Names follow kube-apiserver's where one exists (apiserver_request_total,
// ...); ours start with csdr_.
//
// Thread safety: every method may be called from any thread. A series update takes its
// family's mutex for a map lookup and an add: about 100 ns, far below a request's cost.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace csdr::metrics {

enum class Type { kCounter, kGauge, kHistogram };

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  // Appends "# HELP", "# TYPE" and one line per series (sorted by label values).
  virtual void Write(std::string* out) const = 0;

 protected:
  // The series key: label values joined by '\0'. Fewer or more values than label names
  // are a programming error; the missing ones are empty, the extra ones dropped. Built in a
  // buffer of the calling thread (no allocation once it has grown), valid until its next
  // call: series maps look it up as is and copy it only for a new series.
  std::string_view Key(std::initializer_list<std::string_view> values) const;
  // `{a="x",b="y"` without the closing brace (callers append more labels), or "" for none.
  std::string Labels(const std::string& key) const;
  void WriteHeader(std::string* out) const;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
};

// One number per series: what Counter and Gauge share.
class ScalarFamily : public Family {
 public:
  double Value(std::initializer_list<std::string_view> labels = {}) const;
  void Write(std::string* out) const override;

 protected:
  using Family::Family;
  void Update(std::initializer_list<std::string_view> labels, double value, bool add);

 private:
  std::map<std::string, double, std::less<>> values_;
};

// A value that only goes up (apiserver_request_total).
class Counter : public ScalarFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  void Inc(std::initializer_list<std::string_view> labels = {}, double by = 1) {
    Update(labels, by, true);
  }
};

// A value that goes up and down (apiserver_current_inflight_requests).
class Gauge : public ScalarFamily {
 public:
  Gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  void Set(std::initializer_list<std::string_view> labels, double value) {
    Update(labels, value, false);
  }
  void Add(std::initializer_list<std::string_view> labels, double by) { Update(labels, by, true); }
};

// A gauge read at scrape time (process_resident_memory_bytes, apiserver_storage_objects):
// `read` appends (label values, value) pairs; it runs on the scraping thread.
class GaugeFunc : public Family {
 public:
  using Sample = std::pair<std::vector<std::string>, double>;
  GaugeFunc(std::string name, std::string help, std::vector<std::string> label_names,
            std::function<void(std::vector<Sample>*)> read, Type type = Type::kGauge);
  void Write(std::string* out) const override;

 private:
  std::function<void(std::vector<Sample>*)> read_;
};

// Observations counted into cumulative buckets (apiserver_request_duration_seconds).
class Histogram : public Family {
 public:
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> upper_bounds);
  void Observe(std::initializer_list<std::string_view> labels, double value);
  // Observations so far of one series (0 when it has none).
  uint64_t Count(std::initializer_list<std::string_view> labels = {}) const;
  void Write(std::string* out) const override;

 private:
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative; the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const std::vector<double> bounds_;
  std::map<std::string, Series, std::less<>> series_;
};

class Registry {
 public:
  // Families are kept for the life of the process; Add returns the same pointer it was given.
  template <typename F>
  F* Add(std::unique_ptr<F> family) {
    F* raw = family.get();
    AddFamily(std::move(family));
    return raw;
  }
  // The whole exposition, families sorted by name.
  std::string Expose() const;

 private:
  void AddFamily(std::unique_ptr<Family> family);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// The process-wide registry that /metrics exposes.
Registry& Default();

// The Content-Type of Expose()'s text.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// kube-apiserver's buckets for request latencies (seconds), so that dashboards built for it
// read ours unchanged.
std::vector<double> RequestLatencyBuckets();
// Finer buckets for storage and admission (seconds): 100 us to 10 s.
std::vector<double> FastLatencyBuckets();

// process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_open_fds, process_max_fds and process_start_time_seconds, as every Go server
// exports them, read from /proc at scrape time. Call once.
void RegisterProcessMetrics();

// Formats a value as Prometheus reads it: integers without a fraction, NaN and infinities by
// name, other numbers in their shortest round-trip form.
std::string FormatValue(double v);

}  // namespace csdr::metrics
