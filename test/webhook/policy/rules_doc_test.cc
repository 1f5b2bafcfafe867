// docs/rules.md against the rule table: every rule has its section, its exact message and its
// seed quotes; and every seed quote in the table is verbatim from the seed document.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The double-quoted fragments of a basis, split at "..." elisions and trimmed.
std::vector<std::string> SeedQuotes(std::string_view basis) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t open = basis.find('"', pos);
    if (open == std::string_view::npos) break;
    const size_t close = basis.find('"', open + 1);
    if (close == std::string_view::npos) break;
    std::string_view quote = basis.substr(open + 1, close - open - 1);
    size_t start = 0;
    while (start <= quote.size()) {
      size_t dots = quote.find("...", start);
      std::string_view part =
          quote.substr(start, dots == std::string_view::npos ? quote.npos : dots - start);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty()) out.emplace_back(part);
      if (dots == std::string_view::npos) break;
      start = dots + 3;
    }
    pos = close + 1;
  }
  return out;
}

TEST(RulesDocTest, EveryRuleDocumented) {
  const std::string doc = ReadFile(std::string(CSDR_SOURCE_DIR) + "/docs/rules.md");
  ASSERT_FALSE(doc.empty()) << "docs/rules.md missing";
  for (const Rule& r : Rules()) {
    SCOPED_TRACE(r.id);
    EXPECT_NE(doc.find("### " + std::string(r.id) + "\n"), std::string::npos) << "no section";
    EXPECT_NE(doc.find("`" + std::string(r.message) + "`"), std::string::npos)
        << "message not quoted exactly";
    for (const std::string& quote : SeedQuotes(r.basis)) {
      EXPECT_NE(doc.find(quote), std::string::npos) << "seed quote not in the doc: " << quote;
    }
  }
}

TEST(RulesDocTest, SeedQuotesAreVerbatim) {
  // The seed lives beside the repository (../shared/seed) on development machines.
  const std::string seed =
      ReadFile(std::string(CSDR_SOURCE_DIR) + "/../shared/seed/ack-backup-center-install.txt");
  if (seed.empty()) GTEST_SKIP() << "seed document not present";
  size_t quotes = 0;
  for (const Rule& r : Rules()) {
    for (const std::string& quote : SeedQuotes(r.basis)) {
      SCOPED_TRACE(std::string(r.id) + ": " + quote);
      EXPECT_NE(seed.find(quote), std::string::npos);
      ++quotes;
    }
  }
  EXPECT_GT(quotes, 15u);
}

}  // namespace
}  // namespace csdr::webhook
