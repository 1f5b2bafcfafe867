// CSDR-SEC-001..003 (the AccessKey Secret) and CSDR-NS-001 (namespace csdr): webhook rules on
// core objects.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kSec003 =
    "[CSDR-SEC-003] if migrate-controller was installed before this Secret was created, restart "
    "the "
    "migrate-controller component in the kube-system namespace so that it reads the AccessKey";
constexpr const char* kNs001 =
    "[CSDR-NS-001] do not delete namespace csdr: it holds the backup center's components; to "
    "uninstall on purpose, "
    "first run kubectl annotate namespace csdr csdr.io/allow-uninstall=true";

std::string Sec001(std::string type, std::string path = "csdr/alibaba-addon-secret") {
  return "[CSDR-SEC-001] Secret " + path +
         " cannot be deleted: the backup center authenticates with it on this "
         "cluster (clusterType " +
         type + "); to rotate the AccessKey, update the Secret and restart migrate-controller";
}
std::string Sec002(std::string missing, std::string path = "csdr/alibaba-addon-secret") {
  return "[CSDR-SEC-002] Secret " + path +
         " must have non-empty keys access-key-id and access-key-secret (missing "
         "or empty: " +
         missing + ")";
}
std::function<void(FakeFacts*)> Type(std::string type) {
  return [type](FakeFacts* f) { f->Put(Profile(type, "cn-hangzhou", "v1.8.4")); };
}
std::function<json::Value()> Secret(std::string data, std::string name = "alibaba-addon-secret",
                                    std::string ns = "csdr") {
  return [=] {
    json::Value s = AddonSecret(data);
    SetPath(&s, "metadata.name", json::Value(name));
    SetPath(&s, "metadata.namespace", json::Value(ns));
    return s;
  };
}

TEST(Sec001Test, DeleteWhileInUse) {
  const auto del = DeleteOf(Secret(std::string(kGoodKeys)));
  const auto csdr_ns = [](std::function<void(json::Value*)> edit) {
    return [edit](FakeFacts* f) {
      json::Value n = NamespaceObject("csdr");
      edit(&n);
      f->PutCluster(std::move(n));
    };
  };
  const auto both = [](std::function<void(FakeFacts*)> a, std::function<void(FakeFacts*)> b) {
    return [a, b](FakeFacts* f) {
      a(f);
      b(f);
    };
  };
  RunCases({
      {"ACKDedicated", Type("ACKDedicated"), del, {Sec001("ACKDedicated")}, {}},
      {"Registered", Type("Registered"), del, {Sec001("Registered")}, {}},
      {"ACKManaged", {}, del, {}, {}},
      {"ACKServerlessPro", Type("ACKServerlessPro"), del, {}, {}},
      {"ACKEdge", Type("ACKEdge"), del, {}, {}},
      {"ACKServerlessBasic", Type("ACKServerlessBasic"), del, {}, {}},
      {"ACKManaged with credentialMode AccessKeySecret",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKManaged", "cn-hangzhou", "v1.8.4");
         SetPath(&p, "spec.credentialMode", json::Value("AccessKeySecret"));
         f->Put(std::move(p));
       },
       del,
       {Sec001("ACKManaged")},
       {}},
      {"no profile: nothing uses it yet",
       [](FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); },
       del,
       {},
       {}},
      {"store down: fails closed",
       [](FakeFacts* f) { f->SetStoreUnknown("store down"); },
       del,
       {"[CSDR-SEC-001] Secret csdr/alibaba-addon-secret cannot be deleted while the backup center "
        "may authenticate "
        "with it (cannot verify: store down)"},
       {}},
      {"namespace csdr being deleted",
       both(Type("ACKDedicated"), csdr_ns([](json::Value* n) {
              SetPath(n, "metadata.deletionTimestamp", json::Value("2026-11-24T09:04:57Z"));
              SetPath(n, "status.phase", json::Value("Terminating"));
            })),
       del,
       {},
       {}},
      {"namespace csdr annotated for uninstall",
       both(Type("ACKDedicated"), csdr_ns([](json::Value* n) {
              SetPath(n, "metadata.annotations", J(R"({"csdr.io/allow-uninstall":"true"})"));
            })),
       del,
       {},
       {}},
      {"annotation not \"true\"",
       both(Type("ACKDedicated"), csdr_ns([](json::Value* n) {
              SetPath(n, "metadata.annotations", J(R"({"csdr.io/allow-uninstall":"yes"})"));
            })),
       del,
       {Sec001("ACKDedicated")},
       {}},
      {"cluster unknown: fails closed",
       both(Type("ACKDedicated"),
            [](FakeFacts* f) { f->SetClusterUnknown("cluster cache not synced"); }),
       del,
       {Sec001("ACKDedicated") + " (cannot verify: cluster cache not synced)"},
       {}},
      {"another Secret in csdr",
       Type("ACKDedicated"),
       DeleteOf(Secret(std::string(kGoodKeys), "s2")),
       {},
       {}},
      {"the same name elsewhere",
       Type("ACKDedicated"),
       DeleteOf(Secret(std::string(kGoodKeys), "alibaba-addon-secret", "kube-system")),
       {},
       {}},
      {"the Secret the profile references",
       [](FakeFacts* f) {
         json::Value p = Profile("ACKDedicated", "cn-hangzhou", "v1.8.4");
         SetPath(&p, "spec.accessKeySecretRef", J(R"({"namespace":"csdr","name":"my-ak"})"));
         f->Put(std::move(p));
       },
       DeleteOf(Secret(std::string(kGoodKeys), "my-ak")),
       {Sec001("ACKDedicated", "csdr/my-ak")},
       {}},
  });
}

TEST(Sec002And003Test, KeysPresentAndRestartWarning) {
  RunCases({
      {"create with both keys", {}, CreateOf(Secret(std::string(kGoodKeys))), {}, {kSec003}},
      {"create, secret key missing",
       {},
       CreateOf(Secret(R"({"access-key-id":"TFRBSQ=="})")),
       {Sec002("access-key-secret")},
       {kSec003}},
      {"create, id empty",
       {},
       CreateOf(Secret(R"({"access-key-id":"","access-key-secret":"c2VjcmV0"})")),
       {Sec002("access-key-id")},
       {kSec003}},
      {"create, no data",
       {},
       CreateOf(Secret("{}")),
       {Sec002("access-key-id, access-key-secret")},
       {kSec003}},
      {"create with stringData",
       {},
       CreateOf([] {
         json::Value s = AddonSecret("{}");
         s.Erase("data");
         s.Set("stringData", J(R"({"access-key-id":"LTAI","access-key-secret":"x"})"));
         return s;
       }),
       {},
       {kSec003}},
      {"update emptying a key",
       {},
       UpdateOf(Secret(R"({"access-key-id":"TFRBSQ==","access-key-secret":""})"),
                Secret(std::string(kGoodKeys))),
       {Sec002("access-key-secret")},
       {}},
      {"update (label) keeping both keys",
       {},
       UpdateOf(
           [] {
             json::Value s = AddonSecret(kGoodKeys);
             SetPath(&s, "metadata.labels", J(R"({"a":"b"})"));
             return s;
           },
           Secret(std::string(kGoodKeys))),
       {},
       {}},
      {"update of a Secret being deleted (finalizer removal)",
       {},
       UpdateOf(
           [] {
             json::Value s = AddonSecret("{}");
             SetPath(&s, "metadata.deletionTimestamp", json::Value("2026-11-24T09:04:57Z"));
             return s;
           },
           Secret("{}")),
       {},
       {}},
      {"any cluster type: the keys are checked on managed clusters too",
       Type("ACKManaged"),
       CreateOf(Secret("{}")),
       {Sec002("access-key-id, access-key-secret")},
       {kSec003}},
      {"another Secret", {}, CreateOf(Secret("{}", "s2")), {}, {}},
  });
  const Case c{"", {}, CreateOf(Secret("{}")), {}, {}};
  const Decision d = RunCase(c);
  EXPECT_EQ(d.code, 422);
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].field, "data");
}

TEST(SecretDataTest, NeverEchoed) {
  // Whatever the rules say about the AccessKey Secret, its values never appear in a decision.
  const std::string id = "TFRBSWV4YW1wbGVpZA==", secret = "ZXhhbXBsZXNlY3JldA==";
  for (const auto& c : std::vector<Case>{
           {"delete",
            [](FakeFacts* f) { f->Put(Profile("ACKDedicated", "cn-hangzhou", "v1.8.4")); },
            DeleteOf(Secret(std::string(kGoodKeys))),
            {},
            {}},
           {"create half",
            {},
            CreateOf(Secret(R"({"access-key-id":"TFRBSWV4YW1wbGVpZA=="})")),
            {},
            {}},
           {"update",
            {},
            UpdateOf(Secret(R"({"access-key-secret":"ZXhhbXBsZXNlY3JldA=="})"),
                     Secret(std::string(kGoodKeys))),
            {},
            {}},
       }) {
    SCOPED_TRACE(c.name);
    const Decision d = RunCase(c);
    std::string all = d.message;
    for (const auto& w : d.warnings) all += w;
    for (const auto& cause : d.causes) all += cause.message;
    for (const std::string& needle :
         {id, secret, std::string("LTAIexampleid"), std::string("examplesecret")}) {
      EXPECT_EQ(all.find(needle), std::string::npos) << needle;
    }
    EXPECT_FALSE(all.empty());  // each case does say something
  }
}

TEST(Ns001Test, CsdrNamespace) {
  const auto ns = [](std::string name, std::string annotations = "") {
    return [name, annotations] {
      json::Value n = NamespaceObject(name);
      if (!annotations.empty()) SetPath(&n, "metadata.annotations", J(annotations));
      return n;
    };
  };
  RunCases({
      {"delete csdr", {}, DeleteOf(ns("csdr")), {kNs001}, {}},
      {"delete csdr with the override",
       {},
       DeleteOf(ns("csdr", R"({"csdr.io/allow-uninstall":"true"})")),
       {},
       {}},
      {"override value must be \"true\"",
       {},
       DeleteOf(ns("csdr", R"({"csdr.io/allow-uninstall":"True"})")),
       {kNs001},
       {}},
      {"delete shop", {}, DeleteOf(ns("shop")), {}, {}},
      {"create csdr", {}, CreateOf(ns("csdr")), {}, {}},
      {"update csdr", {}, UpdateOf(ns("csdr", R"({"a":"b"})"), ns("csdr")), {}, {}},
  });
  // DELETE without oldObject (servers that do not send it) has no override to read.
  FakeFacts facts;
  AdmissionInput in;
  in.operation = Operation::kDelete;
  in.kind = "Namespace";
  in.name = "csdr";
  EXPECT_EQ(Evaluate(in, facts).denials, std::vector<std::string>{kNs001});
}

}  // namespace
}  // namespace csdr::webhook
