// Evaluate as a whole: which requests are judged, and how findings combine into a decision.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "test/webhook/policy/policy_test_util.h"
#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kDep001 =
    "[CSDR-DEP-001] csdr.io resources must be created in namespace \"csdr\"";
constexpr const char* kBk004 =
    "[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge clusters; use "
    "backupType "
    "AppBackup";
constexpr const char* kBk005 =
    "[CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) and China "
    "(Guangzhou) requires "
    "migrate-controller v1.8.4 or later";
constexpr const char* kBk006 =
    "[CSDR-BK-006] in this region Cloud Backup must also be authorised to access API Gateway "
    "(AliyunServiceRoleForHbrMagpieBridge)";
constexpr const char* kBk009 =
    "[CSDR-BK-009] namespace csdr (backup center components) cannot be backed up";
constexpr const char* kBk013 =
    "[CSDR-BK-013] ttl must be between 24h and 65536 days when volume data is backed up (ECS "
    "snapshot / Cloud "
    "Backup retention is in whole days)";

// A Backup that breaks several rules at once on ACKEdge: outside csdr, volume backup, ttl 1h.
json::Value BadBackup() {
  json::Value b =
      Backup("b1", R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
    "ttl":"1h"})");
  SetPath(&b, "metadata.namespace", json::Value("default"));
  return b;
}

FakeFacts EdgeWorld() {
  FakeFacts f;
  Baseline(&f);
  f.Put(Profile("ACKEdge", "cn-hangzhou", "v1.8.4"));
  f.Put([] {
    json::Value v = Vault("v1");
    SetPath(&v, "metadata.namespace", json::Value("default"));
    return v;
  }());
  return f;
}

TEST(EvaluateTest, AllDenialsInRuleOrderJoinedBySemicolons) {
  const FakeFacts facts = EdgeWorld();
  const json::Value b = BadBackup();
  const Decision d = Evaluate(Create(b), facts);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.denials, (std::vector<std::string>{kDep001, kBk004, kBk013}));
  EXPECT_EQ(d.message, std::string(kDep001) + "; " + kBk004 + "; " + kBk013);
  EXPECT_EQ(d.denied_rule_ids,
            (std::vector<std::string>{"CSDR-DEP-001", "CSDR-BK-004", "CSDR-BK-013"}));
  // One denial is the environment's (BK-004), so the whole is Forbidden; the field faults
  // still come with their causes.
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "Forbidden");
  ASSERT_EQ(d.causes.size(), 2u);
  EXPECT_EQ(d.causes[0].field, "metadata.namespace");
  EXPECT_EQ(d.causes[0].message, kDep001);
  EXPECT_EQ(d.causes[1].field, "spec.ttl");
  EXPECT_TRUE(d.warnings.empty());
}

TEST(EvaluateTest, OnlyFieldFaultsIs422Invalid) {
  FakeFacts facts;
  Baseline(&facts);
  const json::Value b = Backup(
      "b1",
      R"({"vaultName":"v1","includedNamespaces":["csdr"],"backupType":"PvBackup","ttl":"2h"})");
  const Decision d = Evaluate(Create(b), facts);
  EXPECT_EQ(d.denials, (std::vector<std::string>{kBk009, kBk013}));
  EXPECT_EQ(d.code, 422);
  EXPECT_EQ(d.reason, "Invalid");
  ASSERT_EQ(d.causes.size(), 2u);
  EXPECT_EQ(d.causes[0].type, "FieldValueInvalid");
  EXPECT_EQ(d.causes[0].field, "spec.includedNamespaces[0]");
  EXPECT_EQ(d.causes[1].field, "spec.ttl");
}

TEST(EvaluateTest, WarningsComeWithDenials) {
  FakeFacts facts;
  Baseline(&facts);
  facts.Put(Profile("ACKManaged", "cn-heyuan", "v1.8.3"));
  const json::Value b =
      Backup("b1", R"({"vaultName":"v1","backupType":"AppAndPvBackup","includedNamespaces":["shop"],
    "volumeBackup":{"method":"CloudBackup"}})");
  const Decision d = Evaluate(Create(b), facts);
  EXPECT_EQ(d.denials, std::vector<std::string>{kBk005});
  EXPECT_EQ(d.warnings, std::vector<std::string>{kBk006});
  EXPECT_EQ(d.code, 403);

  facts.Put(Profile("ACKManaged", "cn-heyuan", "v1.8.4"));
  const Decision ok = Evaluate(Create(b), facts);
  EXPECT_TRUE(ok.allowed);
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.reason, "");
  EXPECT_EQ(ok.message, "");
  EXPECT_TRUE(ok.causes.empty());
  EXPECT_EQ(ok.warnings, std::vector<std::string>{kBk006});
}

TEST(EvaluateTest, RequestsThatNoRuleJudges) {
  const FakeFacts facts = EdgeWorld();
  const json::Value bad = BadBackup();
  struct Case {
    const char* name;
    AdmissionInput in;
  };
  std::vector<Case> cases;
  AdmissionInput status = Create(bad);
  status.operation = Operation::kUpdate;
  status.subresource = "status";
  status.old_object = &bad;
  cases.push_back({"status subresource update", status});
  AdmissionInput connect = Create(bad);
  connect.operation = Operation::kConnect;
  cases.push_back({"CONNECT", connect});
  AdmissionInput other_group = Create(bad);
  other_group.group = "apps";
  other_group.kind = "Deployment";
  cases.push_back({"apps/Deployment", other_group});
  AdmissionInput core_other = Create(bad);
  core_other.group = "";
  core_other.kind = "ConfigMap";
  cases.push_back({"core ConfigMap", core_other});
  AdmissionInput velero = Create(bad);
  velero.group = "velero.io";
  velero.kind = "Backup";
  cases.push_back({"velero.io Backup", velero});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Decision d = Evaluate(c.in, facts);
    EXPECT_TRUE(d.allowed);
    EXPECT_TRUE(d.denials.empty());
    EXPECT_TRUE(d.warnings.empty());
  }
  // The same object through the main resource is judged.
  EXPECT_FALSE(Evaluate(Create(bad), facts).allowed);
}

TEST(EvaluateTest, DryRunDecidesTheSame) {
  const FakeFacts facts = EdgeWorld();
  const json::Value b = BadBackup();
  AdmissionInput in = Create(b);
  const Decision wet = Evaluate(in, facts);
  in.dry_run = true;
  const Decision dry = Evaluate(in, facts);
  EXPECT_EQ(wet.denials, dry.denials);
  EXPECT_EQ(wet.code, dry.code);
}

TEST(EvaluateTest, NamespaceAndNameFromTheObjectWhenTheRequestOmitsThem) {
  FakeFacts facts;
  Baseline(&facts);
  json::Value b = Backup(std::string(60, 'b'), R"({"vaultName":"v1"})");
  SetPath(&b, "metadata.namespace", json::Value("default"));
  AdmissionInput in = Create(b);
  in.namespace_.clear();
  in.name.clear();
  const Decision d = Evaluate(in, facts);
  EXPECT_EQ(d.denials,
            (std::vector<std::string>{
                kDep001, "[CSDR-BK-001] backup vault \"v1\" is not Available (phase=NotFound)",
                "[CSDR-BK-015] backup name must be at most 59 characters"}));
}

TEST(EvaluateTest, MalformedObjectsDoNotCrash) {
  FakeFacts facts;
  Baseline(&facts);
  const char* bodies[] = {
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr"},"spec":5})",
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"b1","namespace":"csdr"},
        "spec":{"vaultName":7,"includedNamespaces":"shop","volumeBackup":[],"ttl":{},"labelSelector":1}})",
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupSchedule","metadata":{"name":"s","namespace":"csdr"},
        "spec":{"schedule":5,"template":"x","retention":[]}})",
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"Restore","metadata":{"name":"r","namespace":"csdr"},
        "spec":{"backupName":["done"],"storageClassConversions":{},"namespaceMapping":[],"resourceModifierRef":"x"}})",
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"BackupVault","metadata":5,"spec":{"bucket":null,"prefix":3}})",
      R"({"apiVersion":"csdr.io/v1alpha1","kind":"ClusterProfile","metadata":{"name":"cluster"},"spec":[]})",
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"alibaba-addon-secret","namespace":"csdr"},"data":[]})",
      R"([])",
  };
  for (const char* body : bodies) {
    SCOPED_TRACE(body);
    const json::Value o = J(body);
    for (Operation op : {Operation::kCreate, Operation::kUpdate, Operation::kDelete}) {
      AdmissionInput in = Create(o);
      if (in.kind.empty()) {
        in.kind = "Backup";
        in.group = "csdr.io";
      }
      in.operation = op;
      in.object = op == Operation::kDelete ? nullptr : &o;
      in.old_object = op == Operation::kCreate ? nullptr : &o;
      const Decision d = Evaluate(in, facts);
      EXPECT_EQ(d.allowed, d.denials.empty());
    }
  }
}

// Counts store reads, to show that one decision reads each object once (and so sees one
// consistent answer, even if the store changed between two rules' reads).
class CountingFacts : public FakeFacts {
 public:
  ObjectFact Get(std::string_view kind, std::string_view ns, std::string_view name) const override {
    ++gets[std::string(kind) + "/" + std::string(name)];
    return FakeFacts::Get(kind, ns, name);
  }
  ObjectFact StorageClass(std::string_view name) const override {
    ++gets["StorageClass/" + std::string(name)];
    return FakeFacts::StorageClass(name);
  }
  mutable std::map<std::string, int> gets;
};

TEST(EvaluateTest, EachObjectReadOncePerDecision) {
  CountingFacts facts;
  Baseline(&facts);
  const json::Value r = Restore("r1", R"({"backupName":"done","storageClassConversions":[
    {"namespace":"shop","targetStorageClass":"alicloud-disk-topology-alltype"}]})");
  EXPECT_TRUE(Evaluate(Create(r), facts).allowed);
  EXPECT_EQ(facts.gets,
            (std::map<std::string, int>{{"Backup/done", 1},
                                        {"ClusterProfile/cluster", 1},
                                        {"StorageClass/alicloud-disk-topology-alltype", 1}}));
}

TEST(RuleTableTest, OrderedUniqueAndDocumented) {
  const std::vector<Rule>& rules = Rules();
  const std::vector<std::string> families = {"DEP", "CP", "BV", "BK", "RS", "BS", "SEC", "NS"};
  std::set<std::string> ids;
  size_t last_family = 0;
  int last_number = 0;
  for (const Rule& r : rules) {
    SCOPED_TRACE(r.id);
    const std::string id = r.id;
    EXPECT_TRUE(ids.insert(id).second) << "duplicate";
    ASSERT_EQ(id.rfind("CSDR-", 0), 0u);
    const size_t dash = id.rfind('-');
    const std::string family = id.substr(5, dash - 5);
    const int number = std::stoi(id.substr(dash + 1));
    const size_t f = std::find(families.begin(), families.end(), family) - families.begin();
    ASSERT_LT(f, families.size()) << family;
    // Report order: families in the documented order, numbers ascending within each.
    EXPECT_TRUE(f > last_family || (f == last_family && number > last_number));
    last_family = f;
    last_number = number;
    EXPECT_TRUE((r.check == nullptr) != (r.backup_spec_check == nullptr)) << "exactly one check";
    EXPECT_NE(std::string(r.basis), "");
    EXPECT_NE(std::string(r.applies_to), "");
    if (id != "CSDR-BS-002") {
      EXPECT_EQ(std::string(r.message).rfind("[" + id + "]", 0), 0u) << r.message;
    }
  }
  // Every rule of domain.md section 8 that the engine implements, and the ones DESIGN.md adds.
  for (const char* id :
       {"CSDR-DEP-001", "CSDR-DEP-006", "CSDR-CP-004", "CSDR-BV-010", "CSDR-BK-016", "CSDR-RS-014",
        "CSDR-BS-005", "CSDR-SEC-003", "CSDR-NS-001"}) {
    EXPECT_EQ(ids.count(id), 1u) << id;
  }
  EXPECT_EQ(rules.size(), 6u + 5 + 10 + 16 + 14 + 5 + 3 + 1);
}

}  // namespace
}  // namespace csdr::webhook
