// Admission decisions as metrics: csdr_admission_rule_decisions_total{rule, decision,
// operation, kind, path} counts each rule that denied or warned (rule IDs only: never a
// message, which may quote object fields), and admission latency goes to
// apiserver_admission_controller_admission_duration_seconds (in-process, kube-apiserver's
// name for an admission plugin) or csdr_webhook_admission_duration_seconds (/validate).
#pragma once

#include <string_view>

#include "webhook/policy/engine.h"

namespace csdr::webhook {

enum class AdmissionPath { kInProcess, kWebhook };

void RecordDecision(const AdmissionInput& input, const Decision& decision, AdmissionPath path,
                    double seconds);
// Registers the families so that /metrics lists them before the first decision.
void RegisterDecisionMetrics();

}  // namespace csdr::webhook
