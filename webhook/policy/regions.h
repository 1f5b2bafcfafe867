// Alibaba Cloud region IDs (domain.md 2.7). Internal to csdr_policy.
#pragma once

#include <string_view>

namespace csdr::webhook {

// The commercial regions of the ACK endpoint list and the current CS SDK endpoint map, plus
// the finance and government regions when `allow_finance_and_gov` is set.
bool IsKnownRegion(std::string_view region, bool allow_finance_and_gov);

// China (Ulanqab) cn-wulanchabu, China (Heyuan) cn-heyuan, China (Guangzhou) cn-guangzhou:
// Cloud Backup volume backup there needs migrate-controller v1.8.4 and API Gateway
// authorization (seed, "(Optional) Step 3").
bool IsCloudBackupGatedRegion(std::string_view region);

}  // namespace csdr::webhook
