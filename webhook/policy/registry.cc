// The rule table: every rule of docs/rules.md, in the order denials are reported.
#include "webhook/policy/rule.h"

namespace csdr::webhook {

const std::vector<Rule>& Rules() {
  // Built once (thread-safe static initialization) and immutable afterwards.
  static const std::vector<Rule> kRules = [] {
    std::vector<Rule> all;
    for (auto family : {DepRules, CpRules, BvRules, BkRules, RsRules, BsRules, SecRules}) {
      for (Rule& r : family()) all.push_back(r);
    }
    return all;
  }();
  return kRules;
}

const Rule* FindRule(std::string_view id) {
  for (const Rule& r : Rules()) {
    if (id == r.id) return &r;
  }
  return nullptr;
}

}  // namespace csdr::webhook
