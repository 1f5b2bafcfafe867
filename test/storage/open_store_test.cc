// OpenStore: which URLs open which backend, and the errors for the rest.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/store.h"
#include "test/storage/etcd_process.h"
#include "test/storage/store_test_util.h"

namespace csdr::storage {
namespace {

TEST(OpenStoreTest, Urls) {
  testing::TempDir dir;
  struct Case {
    std::string url;
    Code code;
    std::string message_part;  // must appear in the error message
  };
  const std::vector<Case> cases = {
      {"memory://", Code::kOk, ""},
      {"sqlite://" + dir.path() + "/a.db", Code::kOk, ""},
      {"sqlite://" + dir.path() + "/new/dir/b.db", Code::kOk, ""},
      {"memory://x", Code::kBadRequest, "takes no path"},
      {"sqlite://", Code::kBadRequest, "names no database file"},
      {"sqlite://" + dir.path() + "/", Code::kBadRequest, "names no database file"},
      {"sqlite://" + dir.path() + "/c.db?mode=ro", Code::kBadRequest, "query parameters"},
      // Nothing listens there: one line saying so (after the 5 s dial timeout).
      {"etcd://127.0.0.1:" + std::to_string(testing::FreePort()), Code::kUnavailable,
       "cannot reach etcd"},
      {"etcd://hostonly", Code::kBadRequest, "must be host:port"},
      {"etcd:///prefix", Code::kBadRequest, "names no etcd server"},
      {"https://127.0.0.1:2379", Code::kBadRequest, "unknown scheme"},
      {"postgres://db", Code::kBadRequest, "unknown scheme"},
      {"/var/lib/csdr.db", Code::kBadRequest, "no scheme"},
      {"", Code::kBadRequest, "no scheme"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    auto s = OpenStore(c.url);
    EXPECT_EQ(s.status().code(), c.code) << s.status().message();
    if (s.ok()) {
      auto r = (*s)->Create("/k", testing::Enc("v"));
      EXPECT_TRUE(r.ok());
      (*s)->Close();
    } else {
      EXPECT_NE(s.status().message().find(c.message_part), std::string::npos)
          << s.status().message();
    }
  }
}

}  // namespace
}  // namespace csdr::storage
