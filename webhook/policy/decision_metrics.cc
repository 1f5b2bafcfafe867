#include "webhook/policy/decision_metrics.h"

#include <string>

#include "common/metrics.h"

namespace csdr::webhook {
namespace {

struct Families {
  metrics::Counter* rules;
  metrics::Histogram* in_process;
  metrics::Histogram* webhook;
};

const Families& M() {
  static const Families f = [] {
    auto& r = metrics::Default();
    Families f;
    f.rules = r.Add(std::make_unique<metrics::Counter>(
        "csdr_admission_rule_decisions_total",
        "Rules of the backup center that denied or warned, by rule ID, decision (deny, warn), "
        "operation, kind and path (in-process, webhook).",
        std::vector<std::string>{"rule", "decision", "operation", "kind", "path"}));
    f.in_process = r.Add(std::make_unique<metrics::Histogram>(
        "apiserver_admission_controller_admission_duration_seconds",
        "Admission controller latency histogram in seconds, identified by name and broken out "
        "for each operation and API resource and type (validate or admit).",
        std::vector<std::string>{"name", "operation", "rejected", "type"},
        metrics::FastLatencyBuckets()));
    f.webhook = r.Add(std::make_unique<metrics::Histogram>(
        "csdr_webhook_admission_duration_seconds",
        "Latency of AdmissionReviews answered at /validate, from decoded review to decision.",
        std::vector<std::string>{"operation", "rejected"}, metrics::FastLatencyBuckets()));
    return f;
  }();
  return f;
}

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kCreate:
      return "CREATE";
    case Operation::kUpdate:
      return "UPDATE";
    case Operation::kDelete:
      return "DELETE";
    case Operation::kConnect:
      return "CONNECT";
  }
  return "UNKNOWN";
}

// "[CSDR-BK-004] ..." -> "CSDR-BK-004"; "" when the text does not start with an ID.
std::string_view RuleIdOf(std::string_view text) {
  if (text.size() < 3 || text[0] != '[') return {};
  size_t end = text.find(']');
  if (end == std::string_view::npos || end > 32) return {};
  std::string_view id = text.substr(1, end - 1);
  return id.rfind("CSDR-", 0) == 0 ? id : std::string_view();
}

// Only our five kinds name a series; anything else a webhook caller sends is "other".
std::string_view KindLabel(std::string_view kind) {
  for (std::string_view k :
       {"Backup", "Restore", "BackupSchedule", "BackupVault", "ClusterProfile"}) {
    if (kind == k) return k;
  }
  return "other";
}

}  // namespace

void RecordDecision(const AdmissionInput& input, const Decision& decision, AdmissionPath path,
                    double seconds) {
  const Families& f = M();
  const std::string_view op = OperationName(input.operation);
  const std::string_view kind = KindLabel(input.kind);
  const std::string_view where = path == AdmissionPath::kInProcess ? "in-process" : "webhook";
  for (const std::string& id : decision.denied_rule_ids)
    f.rules->Inc({id, "deny", op, kind, where});
  for (const std::string& w : decision.warnings) {
    std::string_view id = RuleIdOf(w);
    if (!id.empty()) f.rules->Inc({id, "warn", op, kind, where});
  }
  const std::string_view rejected = decision.allowed ? "false" : "true";
  if (path == AdmissionPath::kInProcess) {
    f.in_process->Observe({"CSDRPolicy", op, rejected, "validate"}, seconds);
  } else {
    f.webhook->Observe({op, rejected}, seconds);
  }
}

void RegisterDecisionMetrics() { (void)M(); }

}  // namespace csdr::webhook
