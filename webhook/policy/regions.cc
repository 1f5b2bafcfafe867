#include "webhook/policy/regions.h"

#include <algorithm>
#include <array>

namespace csdr::webhook {
namespace {

// domain.md 2.7 "Recommendation": the ACK endpoints doc (with Guangzhou's ID corrected to
// cn-guangzhou) plus the CS SDK endpoint map's commercial additions.
constexpr std::array<std::string_view, 34> kCommercialRegions = {
    "cn-qingdao",       "cn-beijing",     "cn-zhangjiakou", "cn-huhehaote",   "cn-wulanchabu",
    "cn-hangzhou",      "cn-shanghai",    "cn-nanjing",     "cn-fuzhou",      "cn-shenzhen",
    "cn-heyuan",        "cn-guangzhou",   "cn-chengdu",     "cn-hongkong",    "cn-wuhan-lr",
    "cn-zhengzhou-jva", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-5",
    "ap-southeast-6",   "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-south-1",
    "us-west-1",        "us-east-1",      "us-southeast-1", "na-south-1",     "eu-central-1",
    "eu-west-1",        "me-east-1",      "me-central-1",   "rus-west-1",
};

constexpr std::array<std::string_view, 5> kFinanceAndGovRegions = {
    "cn-hangzhou-finance-1", "cn-shanghai-finance-1", "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",  "cn-north-2-gov-1",
};

constexpr std::array<std::string_view, 3> kCloudBackupGatedRegions = {"cn-wulanchabu", "cn-heyuan",
                                                                      "cn-guangzhou"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

bool IsKnownRegion(std::string_view region, bool allow_finance_and_gov) {
  return Contains(kCommercialRegions, region) ||
         (allow_finance_and_gov && Contains(kFinanceAndGovRegions, region));
}

bool IsCloudBackupGatedRegion(std::string_view region) {
  return Contains(kCloudBackupGatedRegions, region);
}

}  // namespace csdr::webhook
