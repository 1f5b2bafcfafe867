// CSDR-BV-001..010: backup vaults.
#include <gtest/gtest.h>

#include "test/webhook/policy/policy_test_util.h"

namespace csdr::webhook {
namespace {

using namespace policytest;  // NOLINT: the test vocabulary

constexpr const char* kBv001 =
    "[CSDR-BV-001] bucket must be a valid OSS bucket name (3-63 lowercase letters, digits or "
    "hyphens)";
constexpr const char* kBv002 =
    "[CSDR-BV-002] bucket does not start with \"cnfs-oss-\"; the managed backup role can only "
    "access cnfs-oss* "
    "buckets, so grant extra OSS permissions or the vault will become Unavailable";
constexpr const char* kBv003 =
    "[CSDR-BV-003] a backup vault cannot be modified; create a new vault with a different name";
constexpr const char* kBv007 =
    "[CSDR-BV-007] ACK Edge and registered clusters usually need network: public unless connected "
    "to the VPC with a "
    "route to the OSS internal CIDR";
constexpr const char* kBv010 =
    "[CSDR-BV-010] prefix must be a relative path without \"/\" prefix or \"..\"";

std::string Bv006(std::string_view region) {
  return "[CSDR-BV-006] OSS internal endpoints are only reachable in-region; set network: public "
         "for a bucket in " +
         std::string(region);
}

// Vault v2 with one spec field changed.
std::function<json::Value()> V2(std::string path = "", json::Value value = {}) {
  return [path, value] {
    json::Value v = Vault("v2");
    if (!path.empty()) SetPath(&v, path, value);
    return v;
  };
}
std::function<json::Value()> V1With(std::string path = "", json::Value value = {}) {
  return [path, value] {
    json::Value v = Vault("v1");
    if (!path.empty()) SetPath(&v, path, value);
    return v;
  };
}
std::function<void(FakeFacts*)> Type(std::string type, std::string region = "cn-hangzhou") {
  return [type, region](FakeFacts* f) {
    f->Put(Profile(type, region, "v1.8.4"));
    f->PutCluster(AddonSecret(kGoodKeys));  // dedicated and registered need it (CSDR-DEP-004)
  };
}

TEST(Bv001Test, BucketName) {
  RunCases({
      {"cnfs-oss-backups", {}, CreateOf(V2()), {}, {}},
      {"3 characters", {}, CreateOf(V2("spec.bucket", json::Value("cnf"))), {}, {kBv002}},
      {"2 characters", {}, CreateOf(V2("spec.bucket", json::Value("ab"))), {kBv001}, {kBv002}},
      {"64 characters",
       {},
       CreateOf(V2("spec.bucket", json::Value("cnfs-oss-" + std::string(55, 'a')))),
       {kBv001},
       {}},
      {"upper case",
       {},
       CreateOf(V2("spec.bucket", json::Value("cnfs-oss-Backups"))),
       {kBv001},
       {}},
      {"underscore",
       {},
       CreateOf(V2("spec.bucket", json::Value("cnfs-oss-my_backups"))),
       {kBv001},
       {}},
      {"trailing hyphen", {}, CreateOf(V2("spec.bucket", json::Value("cnfs-oss-"))), {kBv001}, {}},
      {"leading hyphen",
       {},
       CreateOf(V2("spec.bucket", json::Value("-cnfs-oss-x"))),
       {kBv001},
       {kBv002}},
      {"missing",
       {},
       CreateOf([] {
         json::Value v = Vault("v2");
         ErasePath(&v, "spec.bucket");
         return v;
       }),
       {kBv001},
       {}},
  });
}

TEST(Bv002Test, CnfsOssPrefixOnManagedTypes) {
  const auto mine = V2("spec.bucket", json::Value("my-backups"));
  RunCases({
      {"ACKManaged", {}, CreateOf(mine), {}, {kBv002}},
      {"ACKServerlessPro", Type("ACKServerlessPro"), CreateOf(mine), {}, {kBv002}},
      {"ACKEdge", Type("ACKEdge"), CreateOf(mine), {}, {kBv002}},
      {"ACKDedicated (RAM user policy decides)", Type("ACKDedicated"), CreateOf(mine), {}, {}},
      {"Registered", Type("Registered"), CreateOf(mine), {}, {}},
      {"cnfs-oss- bucket", {}, CreateOf(V2()), {}, {}},
      {"cnfs-oss without the hyphen",
       {},
       CreateOf(V2("spec.bucket", json::Value("cnfs-ossbackups"))),
       {},
       {kBv002}},
  });
}

TEST(Bv003Test, VaultsAreImmutable) {
  const auto old = V1With();
  RunCases({
      {"bucket",
       {},
       UpdateOf(V1With("spec.bucket", json::Value("cnfs-oss-other")), old),
       {kBv003},
       {}},
      {"prefix", {}, UpdateOf(V1With("spec.prefix", json::Value("x")), old), {kBv003}, {}},
      {"region", {}, UpdateOf(V1With("spec.region", json::Value("cn-beijing")), old), {kBv003}, {}},
      {"accessMode",
       {},
       UpdateOf(V1With("spec.accessMode", json::Value("ReadOnly")), old),
       {kBv003},
       {}},
      {"credentialRef added",
       {},
       UpdateOf(V1With("spec.credentialRef", J(R"({"name":"x"})")), old),
       {kBv003},
       {}},
      {"provider spelled out where it was defaulted",
       {},
       UpdateOf(V1With("spec.provider", json::Value("alibabacloud")),
                [] {
                  json::Value v = Vault("v1");
                  ErasePath(&v, "spec.provider");
                  return v;
                }),
       {},
       {}},
      {"network (the one mutable field)",
       {},
       UpdateOf(V1With("spec.network", json::Value("public")), old),
       {},
       {}},
      {"labels", {}, UpdateOf(V1With("metadata.labels", J(R"({"team":"a"})")), old), {}, {}},
  });
  const Case c{"", {}, UpdateOf(V1With("spec.region", json::Value("cn-beijing")), old), {}, {}};
  const Decision d = RunCase(c);
  EXPECT_EQ(d.code, 422);
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].field, "spec.region");
}

TEST(Bv004Test, DeletedNamesAreNotReused) {
  RunCases({
      {"tombstoned",
       [](FakeFacts* f) { f->AddVaultTombstone("csdr", "v2"); },
       CreateOf(V2()),
       {"[CSDR-BV-004] vault name \"v2\" was used by a deleted vault and cannot be reused"},
       {}},
      {"tombstone of another name",
       [](FakeFacts* f) { f->AddVaultTombstone("csdr", "v3"); },
       CreateOf(V2()),
       {},
       {}},
      {"store down: every store-backed rule fails closed",
       [](FakeFacts* f) { f->SetStoreUnknown("store down"); },
       CreateOf(V2()),
       {"[CSDR-DEP-003] ClusterProfile \"cluster\" is not initialised; install migrate-controller "
        "first (cannot "
        "verify: store down)",
        "[CSDR-BV-004] vault name \"v2\" was used by a deleted vault and cannot be reused (cannot "
        "verify: store down)",
        "[CSDR-BV-008] vault \"v2\" might share its bucket/prefix with another vault; two vaults "
        "must not share a "
        "directory (cannot verify: store down)"},
       {}},
  });
}

TEST(Bv005Test, KnownRegion) {
  const char* kUnknown =
      "[CSDR-BV-005] unknown region \"cn-nowhere\"; use an Alibaba Cloud region ID such as "
      "cn-hangzhou, "
      "cn-wulanchabu, cn-heyuan, cn-guangzhou";
  const char* kEmpty =
      "[CSDR-BV-005] unknown region \"\"; use an Alibaba Cloud region ID such as cn-hangzhou, "
      "cn-wulanchabu, "
      "cn-heyuan, cn-guangzhou";
  RunCases({
      {"cn-heyuan", {}, CreateOf(V2("spec.region", json::Value("cn-heyuan"))), {}, {}},
      {"ap-southeast-1", {}, CreateOf(V2("spec.region", json::Value("ap-southeast-1"))), {}, {}},
      {"guangzhou (the endpoint doc's typo)",
       {},
       CreateOf(V2("spec.region", json::Value("guangzhou"))),
       {"[CSDR-BV-005] unknown region \"guangzhou\"; use an Alibaba Cloud region ID such as "
        "cn-hangzhou, "
        "cn-wulanchabu, cn-heyuan, cn-guangzhou"},
       {}},
      {"cn-nowhere", {}, CreateOf(V2("spec.region", json::Value("cn-nowhere"))), {kUnknown}, {}},
      {"missing", {}, CreateOf(V2("spec.region", json::Value(""))), {kEmpty}, {}},
  });
}

TEST(Bv006Test, InternalNetworkOnlyInRegion) {
  const auto internal_in = [](std::string region) {
    return [region] {
      json::Value v = Vault("v2");
      SetPath(&v, "spec.network", json::Value("internal"));
      SetPath(&v, "spec.region", json::Value(region));
      return v;
    };
  };
  const auto status_region_only = [](FakeFacts* f) {
    json::Value p = Profile("ACKManaged", "", "v1.8.4");
    SetPath(&p, "status.regionID", json::Value("cn-shanghai"));
    f->Put(std::move(p));
  };
  RunCases({
      {"internal, same region", {}, CreateOf(internal_in("cn-hangzhou")), {}, {}},
      {"internal, other region",
       {},
       CreateOf(internal_in("cn-shanghai")),
       {Bv006("cn-shanghai")},
       {}},
      {"public, other region", {}, CreateOf(V2("spec.region", json::Value("cn-shanghai"))), {}, {}},
      {"region from status.regionID",
       status_region_only,
       CreateOf(internal_in("cn-shanghai")),
       {},
       {}},
      {"region from status.regionID, other region",
       status_region_only,
       CreateOf(internal_in("cn-hangzhou")),
       {Bv006("cn-hangzhou")},
       {}},
      {"cluster region unknown: fails closed",
       [](FakeFacts* f) { f->Put(Profile("ACKManaged", "", "v1.8.4")); },
       CreateOf(internal_in("cn-hangzhou")),
       {Bv006("cn-hangzhou") + " (cannot verify: ClusterProfile \"cluster\" has neither "
                               "status.regionID nor spec.regionID)"},
       {}},
      {"update to internal, other region",
       [](FakeFacts* f) {
         json::Value v = Vault("v9");
         SetPath(&v, "spec.region", json::Value("cn-shanghai"));
         f->Put(std::move(v));
       },
       UpdateOf(
           [] {
             json::Value v = Vault("v9");
             SetPath(&v, "spec.region", json::Value("cn-shanghai"));
             SetPath(&v, "spec.network", json::Value("internal"));
             return v;
           },
           [] {
             json::Value v = Vault("v9");
             SetPath(&v, "spec.region", json::Value("cn-shanghai"));
             SetPath(&v, "spec.network", json::Value("public"));
             return v;
           }),
       {Bv006("cn-shanghai")},
       {}},
      {"update that leaves the network alone",
       {},
       UpdateOf(
           [internal_in] {
             json::Value v = internal_in("cn-shanghai")();
             SetPath(&v, "metadata.labels", J(R"({"a":"b"})"));
             return v;
           },
           internal_in("cn-shanghai")),
       {},
       {}},
      {"update with no profile: fails closed",
       [](FakeFacts* f) { f->Remove("ClusterProfile", "", "cluster"); },
       UpdateOf(internal_in("cn-hangzhou"), V2()),
       {Bv006("cn-hangzhou") + " (cannot verify: ClusterProfile \"cluster\" does not exist)"},
       {}},
  });
}

TEST(Bv007Test, EdgeAndRegisteredUsuallyNeedPublic) {
  const auto internal = V2("spec.network", json::Value("internal"));
  RunCases({
      {"ACKEdge internal", Type("ACKEdge"), CreateOf(internal), {}, {kBv007}},
      {"Registered internal", Type("Registered"), CreateOf(internal), {}, {kBv007}},
      {"ACKEdge public",
       Type("ACKEdge"),
       CreateOf(V2("spec.network", json::Value("public"))),
       {},
       {}},
      {"ACKManaged internal", {}, CreateOf(internal), {}, {}},
  });
}

TEST(Bv008Test, NoTwoVaultsShareADirectory) {
  const char* kClash =
      "[CSDR-BV-008] vault \"v1\" already points at this bucket/prefix; two vaults must not share "
      "a "
      "directory";
  RunCases({
      {"same bucket and prefix", {}, CreateOf(V2("spec.prefix", json::Value("v1"))), {kClash}, {}},
      {"trailing slash names the same directory",
       {},
       CreateOf(V2("spec.prefix", json::Value("v1/"))),
       {kClash},
       {}},
      {"same bucket, other region: still the same bucket",
       {},
       CreateOf([] {
         json::Value v = Vault("v2");
         SetPath(&v, "spec.prefix", json::Value("v1"));
         SetPath(&v, "spec.region", json::Value("cn-beijing"));
         return v;
       }),
       {kClash},
       {}},
      {"same bucket, other prefix", {}, CreateOf(V2()), {}, {}},
      {"other bucket, same prefix",
       {},
       CreateOf([] {
         json::Value v = Vault("v2");
         SetPath(&v, "spec.prefix", json::Value("v1"));
         SetPath(&v, "spec.bucket", json::Value("cnfs-oss-other"));
         return v;
       }),
       {},
       {}},
  });
}

TEST(Bv009Test, NotDeletableWhileInUse) {
  const auto in_progress = [](std::string name) {
    json::Value b = Backup(name, R"({"vaultName":"v1"})");
    SetPath(&b, "status.phase", json::Value("InProgress"));
    return b;
  };
  RunCases({
      {"only completed backups", {}, DeleteOf(V1With()), {}, {}},
      {"in-progress backup",
       [&](FakeFacts* f) { f->Put(in_progress("b2")); },
       DeleteOf(V1With()),
       {"[CSDR-BV-009] vault is in use by Backup \"b2\"; delete or repoint it first"},
       {}},
      {"in-progress backup of another vault",
       [&](FakeFacts* f) {
         json::Value b = in_progress("b2");
         SetPath(&b, "spec.vaultName", json::Value("v9"));
         f->Put(std::move(b));
       },
       DeleteOf(V1With()),
       {},
       {}},
      {"in-progress restore of a backup in the vault",
       [](FakeFacts* f) {
         json::Value r = Restore("r1", R"({"backupName":"done"})");
         SetPath(&r, "status.phase", json::Value("InProgress"));
         f->Put(std::move(r));
       },
       DeleteOf(V1With()),
       {"[CSDR-BV-009] vault is in use by Restore \"r1\"; delete or repoint it first"},
       {}},
      {"a schedule, in whatever phase",
       [](FakeFacts* f) { f->Put(Schedule(R"({"vaultName":"v1"})")); },
       DeleteOf(V1With()),
       {"[CSDR-BV-009] vault is in use by BackupSchedule \"nightly\"; delete or repoint it first"},
       {}},
      {"many users",
       [&](FakeFacts* f) {
         for (const char* n : {"b5", "b2", "b3", "b4", "b1", "b6"}) f->Put(in_progress(n));
         f->Put(Schedule(R"({"vaultName":"v1"})"));
       },
       DeleteOf(V1With()),
       {"[CSDR-BV-009] vault is in use by Backup \"b1\", Backup \"b2\", Backup \"b3\", Backup "
        "\"b4\", Backup \"b5\" "
        "and 2 more; delete or repoint it first"},
       {}},
      {"store down",
       [](FakeFacts* f) { f->SetStoreUnknown("store down"); },
       DeleteOf(V1With()),
       {"[CSDR-BV-009] vault \"v1\" might be in use (cannot verify: store down)"},
       {}},
  });
}

TEST(Bv010Test, SafePrefix) {
  RunCases({
      {"nested", {}, CreateOf(V2("spec.prefix", json::Value("team/a"))), {}, {}},
      {"dots inside a name", {}, CreateOf(V2("spec.prefix", json::Value("a..b"))), {}, {}},
      {"absolute", {}, CreateOf(V2("spec.prefix", json::Value("/backups"))), {kBv010}, {}},
      {"parent segment", {}, CreateOf(V2("spec.prefix", json::Value("a/../b"))), {kBv010}, {}},
      {"only ..", {}, CreateOf(V2("spec.prefix", json::Value(".."))), {kBv010}, {}},
  });
}

}  // namespace
}  // namespace csdr::webhook
