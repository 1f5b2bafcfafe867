// CSDR-BV-001..010: backup vaults (an OSS bucket + prefix where backups are kept).
#include <algorithm>
#include <set>

#include "webhook/policy/regions.h"
#include "webhook/policy/rule.h"

namespace csdr::webhook {
namespace {

constexpr const char* kBv001 =
    "[CSDR-BV-001] bucket must be a valid OSS bucket name (3-63 lowercase letters, digits or "
    "hyphens)";
constexpr const char* kBv002 =
    "[CSDR-BV-002] bucket does not start with \"cnfs-oss-\"; the managed backup role can only "
    "access cnfs-oss* "
    "buckets, so grant extra OSS permissions or the vault will become Unavailable";
constexpr const char* kBv003 =
    "[CSDR-BV-003] a backup vault cannot be modified; create a new vault with a different name";
constexpr const char* kBv004Format =
    "[CSDR-BV-004] vault name %q was used by a deleted vault and cannot be reused";
constexpr const char* kBv005Format =
    "[CSDR-BV-005] unknown region %q; use an Alibaba Cloud region ID such as cn-hangzhou, "
    "cn-wulanchabu, cn-heyuan, "
    "cn-guangzhou";
constexpr const char* kBv006Format =
    "[CSDR-BV-006] OSS internal endpoints are only reachable in-region; set network: public for a "
    "bucket in %s";
constexpr const char* kBv007 =
    "[CSDR-BV-007] ACK Edge and registered clusters usually need network: public unless connected "
    "to the VPC with a "
    "route to the OSS internal CIDR";
constexpr const char* kBv008Format =
    "[CSDR-BV-008] vault %q already points at this bucket/prefix; two vaults must not share a "
    "directory";
constexpr const char* kBv009Format =
    "[CSDR-BV-009] vault is in use by %s; delete or repoint it first";
constexpr const char* kBv010 =
    "[CSDR-BV-010] prefix must be a relative path without \"/\" prefix or \"..\"";
// How many users of a vault BV-009 names before "and N more".
constexpr size_t kMaxUsersNamed = 5;

const json::Value& SpecOf(const json::Value& object) {
  static const json::Value kEmpty = json::Value::MakeObject();
  const json::Value* spec = Member(object, "spec");
  return spec != nullptr && spec->is_object() ? *spec : kEmpty;
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// The OSS rule (SDK doc): 3-63 characters of [a-z0-9-], starting with a letter or digit;
// ending with one too (OSS refuses a trailing hyphen).
bool ValidBucket(std::string_view b) {
  return b.size() >= 3 && b.size() <= 63 && IsLowerAlnum(b.front()) && IsLowerAlnum(b.back()) &&
         std::all_of(b.begin(), b.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

// "backups/", "backups" and "backups//" name the same directory.
std::string NormalizedPrefix(std::string prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

void CheckBv001(const RuleContext& ctx, Findings* out) {
  if (!ValidBucket(Str(SpecOf(ctx.object()), "bucket"))) out->DenyField("spec.bucket", kBv001);
}

void CheckBv002(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (!cluster.Complete()) return;
  if (!cluster.IsType(kACKManaged) && !cluster.IsType(kACKServerlessPro) &&
      !cluster.IsType(kACKEdge))
    return;
  const std::string bucket = Str(SpecOf(ctx.object()), "bucket");
  if (!bucket.empty() && bucket.rfind("cnfs-oss-", 0) != 0) out->Warn(kBv002);
}

void CheckBv003(const RuleContext& ctx, Findings* out) {
  const json::Value& now = SpecOf(ctx.object());
  const json::Value& before = SpecOf(ctx.old_object());
  // Absent and the server's default mean the same vault.
  struct Field {
    const char* name;
    const char* default_value;
  };
  for (const Field& f :
       {Field{"provider", "alibabacloud"}, Field{"bucket", ""}, Field{"prefix", ""},
        Field{"region", ""}, Field{"accessMode", "ReadWrite"}}) {
    std::string a = Str(now, f.name), b = Str(before, f.name);
    if (a.empty()) a = f.default_value;
    if (b.empty()) b = f.default_value;
    if (a != b) {
      out->DenyField(Path("spec", f.name), kBv003);
      return;
    }
  }
  const json::Value* ref_now = Member(now, "credentialRef");
  const json::Value* ref_before = Member(before, "credentialRef");
  const bool same_ref = (ref_now == nullptr && ref_before == nullptr) ||
                        (ref_now != nullptr && ref_before != nullptr && *ref_now == *ref_before);
  if (!same_ref) out->DenyField("spec.credentialRef", kBv003);
}

void CheckBv004(const RuleContext& ctx, Findings* out) {
  const std::string name = ctx.Name();
  const ObjectFact tomb = ctx.facts().VaultTombstone(ctx.Namespace(), name);
  const std::string message =
      "[CSDR-BV-004] vault name " + Q(name) + " was used by a deleted vault and cannot be reused";
  if (tomb.unknown()) {
    out->DenyUnverified(message, tomb.unknown_reason.empty() ? "vault tombstones cannot be read"
                                                             : tomb.unknown_reason);
  } else if (tomb.present()) {
    out->Deny(message);
  }
}

void CheckBv005(const RuleContext& ctx, Findings* out) {
  const std::string region = Str(SpecOf(ctx.object()), "region");
  if (!IsKnownRegion(region, ctx.options().allow_finance_and_gov_regions)) {
    out->DenyField("spec.region",
                   "[CSDR-BV-005] unknown region " + Q(region) +
                       "; use an Alibaba Cloud region ID such as cn-hangzhou, cn-wulanchabu, "
                       "cn-heyuan, cn-guangzhou");
  }
}

// On UPDATE only a changed network is judged: a vault admitted before must stay editable.
bool NetworkChanged(const RuleContext& ctx) {
  return ctx.operation() == Operation::kCreate ||
         Str(SpecOf(ctx.object()), "network") != Str(SpecOf(ctx.old_object()), "network");
}

void CheckBv006(const RuleContext& ctx, Findings* out) {
  const json::Value& spec = SpecOf(ctx.object());
  if (Str(spec, "network") != "internal" || !NetworkChanged(ctx)) return;
  const std::string message =
      "[CSDR-BV-006] OSS internal endpoints are only reachable in-region; set network: "
      "public for a bucket in " +
      Str(spec, "region");
  if (!NeedCluster(ctx, message, out)) return;
  CheckVaultNetwork(ctx.cluster(), spec, out);
}

void CheckBv007(const RuleContext& ctx, Findings* out) {
  const ClusterView& cluster = ctx.cluster();
  if (!cluster.Complete() || Str(SpecOf(ctx.object()), "network") != "internal" ||
      !NetworkChanged(ctx))
    return;
  if (cluster.IsType(kACKEdge) || cluster.IsType(kRegistered)) out->Warn(kBv007);
}

void CheckBv008(const RuleContext& ctx, Findings* out) {
  const json::Value& spec = SpecOf(ctx.object());
  const std::string bucket = Str(spec, "bucket");
  if (bucket.empty()) return;  // CSDR-BV-001
  const std::string prefix = NormalizedPrefix(Str(spec, "prefix"));
  const ListFact vaults = ctx.facts().List("BackupVault", "");
  const std::string ns = ctx.Namespace(), name = ctx.Name();
  if (!vaults.known) {
    out->DenyUnverified(
        "[CSDR-BV-008] vault " + Q(name) +
            " might share its bucket/prefix with another vault; two vaults must not share a "
            "directory",
        vaults.unknown_reason.empty() ? "the store cannot be read" : vaults.unknown_reason);
    return;
  }
  std::vector<std::string> clashes;
  for (const ObjectRef& v : vaults.items) {
    const std::string other_ns = v->GetString({"metadata", "namespace"});
    const std::string other = v->GetString({"metadata", "name"});
    if (other_ns == ns && other == name) continue;
    const json::Value& other_spec = SpecOf(*v);
    if (Str(other_spec, "bucket") == bucket &&
        NormalizedPrefix(Str(other_spec, "prefix")) == prefix) {
      clashes.push_back(other);
    }
  }
  std::sort(clashes.begin(), clashes.end());
  for (const std::string& other : clashes) {
    out->Deny("[CSDR-BV-008] vault " + Q(other) +
              " already points at this bucket/prefix; two vaults must not share a directory");
  }
}

void CheckBv009(const RuleContext& ctx, Findings* out) {
  const std::string ns = ctx.Namespace(), vault = ctx.Name();
  std::vector<std::string> users;
  std::string unknown;
  auto list = [&](const char* kind) -> std::vector<ObjectRef> {
    ListFact l = ctx.facts().List(kind, ns);
    if (!l.known && unknown.empty())
      unknown = l.unknown_reason.empty() ? "the store cannot be read" : l.unknown_reason;
    std::sort(l.items.begin(), l.items.end(), [](const ObjectRef& a, const ObjectRef& b) {
      return a->GetString({"metadata", "name"}) < b->GetString({"metadata", "name"});
    });
    return l.items;
  };
  const std::vector<ObjectRef> backups = list("Backup");
  std::set<std::string> backups_in_vault;
  for (const ObjectRef& b : backups) {
    if (b->GetString({"spec", "vaultName"}) != vault) continue;
    backups_in_vault.insert(b->GetString({"metadata", "name"}));
    if (b->GetString({"status", "phase"}) == "InProgress") {
      users.push_back("Backup " + Q(b->GetString({"metadata", "name"})));
    }
  }
  for (const ObjectRef& r : list("Restore")) {
    if (r->GetString({"status", "phase"}) == "InProgress" &&
        backups_in_vault.count(r->GetString({"spec", "backupName"})) != 0) {
      users.push_back("Restore " + Q(r->GetString({"metadata", "name"})));
    }
  }
  for (const ObjectRef& s : list("BackupSchedule")) {
    if (s->GetString({"spec", "template", "vaultName"}) == vault) {
      users.push_back("BackupSchedule " + Q(s->GetString({"metadata", "name"})));
    }
  }
  if (!unknown.empty()) {
    out->DenyUnverified("[CSDR-BV-009] vault " + Q(vault) + " might be in use", unknown);
    return;
  }
  if (users.empty()) return;
  std::string who;
  for (size_t i = 0; i < users.size() && i < kMaxUsersNamed; ++i) {
    if (i > 0) who += ", ";
    who += users[i];
  }
  if (users.size() > kMaxUsersNamed)
    who += " and " + std::to_string(users.size() - kMaxUsersNamed) + " more";
  out->Deny("[CSDR-BV-009] vault is in use by " + who + "; delete or repoint it first");
}

void CheckBv010(const RuleContext& ctx, Findings* out) {
  const std::string prefix = Str(SpecOf(ctx.object()), "prefix");
  if (prefix.empty()) return;
  // ".." as a path segment steps outside the vault's directory; "a..b" is an ordinary name.
  const std::string padded = "/" + prefix + "/";
  if (prefix.front() == '/' || padded.find("/../") != std::string::npos)
    out->DenyField("spec.prefix", kBv010);
}

}  // namespace

void CheckVaultNetwork(const ClusterView& cluster, const json::Value& vault_spec, Findings* out) {
  if (Str(vault_spec, "network") != "internal") return;
  const std::string region = Str(vault_spec, "region");
  const std::string message =
      "[CSDR-BV-006] OSS internal endpoints are only reachable in-region; set network: "
      "public for a bucket in " +
      region;
  if (cluster.region.empty()) {
    out->DenyUnverified(message,
                        "ClusterProfile \"cluster\" has neither status.regionID nor spec.regionID");
  } else if (cluster.region != region) {
    out->Deny(message);
  }
}

std::vector<Rule> BvRules() {
  return {
      {"CSDR-BV-001", Severity::kDeny, kBackupVaultKind, kOnCreate, "BackupVault / CREATE", kBv001,
       "domain.md 2.3 and SDK-OSSNAME: a vault is an OSS bucket association; OSS bucket names are "
       "3 to 63 "
       "lowercase letters, digits and hyphens",
       CheckBv001},
      {"CSDR-BV-002", Severity::kWarn, kBackupVaultKind, kOnCreate, "BackupVault / CREATE", kBv002,
       "seed: \"For an ACK managed cluster, we recommend that you use an OSS bucket whose name "
       "starts with "
       "cnfs-oss-*** as the backup vault for the backup center. In this case, no OSS permission "
       "configuration is "
       "required. If you use other buckets, you must configure the required OSS permissions\"; "
       "\"For ACK Serverless "
       "Pro clusters and ACK Edge clusters, the installation and permission requirements for the "
       "backup center are "
       "the same as for ACK managed clusters.\"",
       CheckBv002},
      {"CSDR-BV-003", Severity::kDeny, kBackupVaultKind, kOnUpdate, "BackupVault / UPDATE", kBv003,
       "domain.md 2.3 (ACK FAQ): 'It cannot be modified. To change one, delete it and create a new "
       "vault with a "
       "different name.'",
       CheckBv003},
      {"CSDR-BV-004", Severity::kDeny, kBackupVaultKind, kOnCreate, "BackupVault / CREATE",
       kBv004Format,
       "domain.md 2.3 (ACK FAQ): 'A vault cannot be created with the name of a deleted one.'",
       CheckBv004},
      {"CSDR-BV-005", Severity::kDeny, kBackupVaultKind, kOnCreate, "BackupVault / CREATE",
       kBv005Format, "domain.md 2.7 (ACK endpoints, CS SDK): the region IDs", CheckBv005},
      {"CSDR-BV-006", Severity::kDeny, kBackupVaultKind, kOnCreate | kOnUpdate,
       "BackupVault / CREATE, UPDATE (network set or changed)", kBv006Format,
       "seed: \"the backup center automatically accesses the OSS domain name over the internal "
       "network ... This "
       "occurs when the registered cluster and OSS are in the same region.\"; domain.md 2.3 (ACK "
       "FAQ): public "
       "network is required when the bucket and cluster are in different regions",
       CheckBv006},
      {"CSDR-BV-007", Severity::kWarn, kBackupVaultKind, kOnCreate | kOnUpdate,
       "BackupVault / CREATE, UPDATE (network set or changed)", kBv007,
       "seed: \"For registered clusters connected to a cloud VPC through CEN, Express Connect, or "
       "VPN, the backup "
       "center automatically accesses the OSS domain name over the internal network\"; for ACK "
       "Edge the seed says "
       "\"accesses OSS over the internal network\" while the ACK FAQ requires public: a warning, "
       "not a denial",
       CheckBv007},
      {"CSDR-BV-008", Severity::kDeny, kBackupVaultKind, kOnCreate, "BackupVault / CREATE",
       kBv008Format,
       "domain.md 5 (KubeStash): 'no two BackupStorage should point to the same directory of the "
       "same bucket'",
       CheckBv008},
      {"CSDR-BV-009", Severity::kDeny, kBackupVaultKind, kOnDelete, "BackupVault / DELETE",
       kBv009Format,
       "domain.md 2.3 (ACK FAQ): 'A vault is shared, so it may be in use by a backup or restore at "
       "any time.'",
       CheckBv009},
      {"CSDR-BV-010", Severity::kDeny, kBackupVaultKind, kOnCreate, "BackupVault / CREATE", kBv010,
       "domain.md 8 [I]: a prefix is a directory inside the bucket", CheckBv010},
  };
}

}  // namespace csdr::webhook
