#include "common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace csdr::metrics {
namespace {

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Label values escape backslash, double quote and line feed; help texts backslash and line
// feed (the text format's rules).
void AppendEscaped(std::string* out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (quote && c == '"') {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

std::vector<std::string> SplitKey(const std::string& key, size_t n) {
  std::vector<std::string> parts;
  if (n == 0) return parts;
  size_t start = 0;
  for (;;) {
    size_t end = key.find('\0', start);
    parts.push_back(key.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  parts.resize(n);
  return parts;
}

void AppendSample(std::string* out, const std::string& name, const std::string& labels,
                  double value) {
  *out += name;
  if (!labels.empty()) *out += labels + "}";
  *out += ' ';
  *out += FormatValue(value);
  *out += '\n';
}

}  // namespace

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
    return std::string(buf, end);
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

std::string_view Family::Key(std::initializer_list<std::string_view> values) const {
  thread_local std::string key;
  key.clear();
  size_t i = 0;
  for (std::string_view v : values) {
    if (i == label_names_.size()) break;
    if (i > 0) key += '\0';
    key.append(v);
    ++i;
  }
  for (; i < label_names_.size(); ++i) {
    if (i > 0) key += '\0';
  }
  return key;
}

std::string Family::Labels(const std::string& key) const {
  if (label_names_.empty()) return "";
  std::vector<std::string> values = SplitKey(key, label_names_.size());
  std::string out = "{";
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i];
    out += "=\"";
    AppendEscaped(&out, values[i], true);
    out += '"';
  }
  return out;
}

void Family::WriteHeader(std::string* out) const {
  *out += "# HELP " + name_ + " ";
  AppendEscaped(out, help_, false);
  *out += "\n# TYPE " + name_ + " ";
  out->append(TypeName(type_));
  *out += '\n';
}

void ScalarFamily::Update(std::initializer_list<std::string_view> labels, double value, bool add) {
  const std::string_view key = Key(labels);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) it = values_.emplace(std::string(key), 0.0).first;
  double& v = it->second;
  v = add ? v + value : value;
}

double ScalarFamily::Value(std::initializer_list<std::string_view> labels) const {
  const std::string_view key = Key(labels);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  return it == values_.end() ? 0 : it->second;
}

void ScalarFamily::Write(std::string* out) const {
  WriteHeader(out);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, v] : values_) AppendSample(out, name_, Labels(key), v);
}

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : ScalarFamily(std::move(name), std::move(help), Type::kCounter, std::move(label_names)) {}

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : ScalarFamily(std::move(name), std::move(help), Type::kGauge, std::move(label_names)) {}

GaugeFunc::GaugeFunc(std::string name, std::string help, std::vector<std::string> label_names,
                     std::function<void(std::vector<Sample>*)> read, Type type)
    : Family(std::move(name), std::move(help), type, std::move(label_names)),
      read_(std::move(read)) {}

void GaugeFunc::Write(std::string* out) const {
  std::vector<Sample> samples;
  read_(&samples);
  WriteHeader(out);
  std::sort(samples.begin(), samples.end());
  for (const auto& [values, v] : samples) {
    std::string key;
    for (size_t i = 0; i < label_names_.size(); ++i) {
      if (i > 0) key += '\0';
      if (i < values.size()) key += values[i];
    }
    AppendSample(out, name_, Labels(key), v);
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> upper_bounds)
    : Family(std::move(name), std::move(help), Type::kHistogram, std::move(label_names)),
      bounds_([&] {
        std::sort(upper_bounds.begin(), upper_bounds.end());
        upper_bounds.erase(std::unique(upper_bounds.begin(), upper_bounds.end()),
                           upper_bounds.end());
        return upper_bounds;
      }()) {}

void Histogram::Observe(std::initializer_list<std::string_view> labels, double value) {
  const std::string_view key = Key(labels);
  // The first bound >= value ("le": less than or equal); past the last, the +Inf bucket.
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(key);
  if (it == series_.end()) it = series_.emplace(std::string(key), Series{}).first;
  Series& s = it->second;
  if (s.buckets.empty()) s.buckets.assign(bounds_.size() + 1, 0);
  ++s.buckets[bucket];
  s.sum += value;
  ++s.count;
}

uint64_t Histogram::Count(std::initializer_list<std::string_view> labels) const {
  const std::string_view key = Key(labels);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second.count;
}

void Histogram::Write(std::string* out) const {
  WriteHeader(out);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, s] : series_) {
    std::string labels = Labels(key);
    std::string prefix = labels.empty() ? "{" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
      *out += name_ + "_bucket" + prefix + "le=\"" + le + "\"} " + FormatValue(cumulative) + "\n";
    }
    AppendSample(out, name_ + "_sum", labels, s.sum);
    AppendSample(out, name_ + "_count", labels, static_cast<double>(s.count));
  }
}

void Registry::AddFamily(std::unique_ptr<Family> family) {
  std::lock_guard<std::mutex> lock(mu_);
  families_.push_back(std::move(family));
}

std::string Registry::Expose() const {
  std::vector<const Family*> sorted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& f : families_) sorted.push_back(f.get());
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Family* a, const Family* b) { return a->name() < b->name(); });
  std::string out;
  for (const Family* f : sorted) f->Write(&out);
  return out;
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: threads may record at exit
  return *registry;
}

namespace {

// Fields of /proc/self/stat after the command name: utime, stime (ticks), starttime (ticks
// since boot), vsize (bytes), rss (pages).
struct ProcStat {
  double cpu_seconds = 0, start_time = 0, virtual_bytes = 0, resident_bytes = 0;
};

ProcStat ReadProcStat() {
  ProcStat p;
  std::FILE* f = std::fopen("/proc/self/stat", "r");
  if (f == nullptr) return p;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* rest = std::strrchr(buf, ')');  // the command name may hold spaces
  if (rest == nullptr) return p;
  std::vector<std::string> fields;  // fields[0] is the state, field 3 of stat(5)
  std::string cur;
  for (const char* c = rest + 2; *c != '\0' && *c != '\n'; ++c) {
    if (*c == ' ') {
      fields.push_back(cur);
      cur.clear();
    } else {
      cur += *c;
    }
  }
  fields.push_back(cur);
  auto field = [&](size_t stat_index) {  // stat(5) numbering, from 1
    size_t i = stat_index - 3;
    return i < fields.size() ? std::strtod(fields[i].c_str(), nullptr) : 0.0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  p.cpu_seconds = (field(14) + field(15)) / ticks;
  p.virtual_bytes = field(23);
  p.resident_bytes = field(24) * page;
  double boot = 0;
  if (std::FILE* s = std::fopen("/proc/stat", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), s) != nullptr) {
      if (std::strncmp(line, "btime ", 6) == 0) boot = std::strtod(line + 6, nullptr);
    }
    std::fclose(s);
  }
  p.start_time = boot + field(22) / ticks;
  return p;
}

double CountOpenFds() {
  double n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

void RegisterProcessMetrics() {
  auto& r = Default();
  auto one = [](double (*read)()) {
    return [read](std::vector<GaugeFunc::Sample>* out) { out->push_back({{}, read()}); };
  };
  r.Add(std::make_unique<GaugeFunc>(
      "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      std::vector<std::string>{}, one([] { return ReadProcStat().cpu_seconds; }), Type::kCounter));
  r.Add(std::make_unique<GaugeFunc>("process_resident_memory_bytes",
                                    "Resident memory size in bytes.", std::vector<std::string>{},
                                    one([] { return ReadProcStat().resident_bytes; })));
  r.Add(std::make_unique<GaugeFunc>("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                    std::vector<std::string>{},
                                    one([] { return ReadProcStat().virtual_bytes; })));
  r.Add(std::make_unique<GaugeFunc>(
      "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      std::vector<std::string>{}, one([] { return ReadProcStat().start_time; })));
  r.Add(std::make_unique<GaugeFunc>("process_open_fds", "Number of open file descriptors.",
                                    std::vector<std::string>{}, one(&CountOpenFds)));
  r.Add(std::make_unique<GaugeFunc>("process_max_fds", "Maximum number of open file descriptors.",
                                    std::vector<std::string>{}, one([] {
                                      rlimit l{};
                                      getrlimit(RLIMIT_NOFILE, &l);
                                      return static_cast<double>(l.rlim_cur);
                                    })));
}

std::vector<double> RequestLatencyBuckets() {
  return {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2,
          3,     4,     5,    6,   8,   10,  15,  20,  30,  45,   60};
}

std::vector<double> FastLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace csdr::metrics
