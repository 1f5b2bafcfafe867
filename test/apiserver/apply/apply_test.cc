#include "apiserver/apply/apply.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace csdr::apiserver {
namespace {

constexpr char kApiVersion[] = "csdr.io/v1alpha1";

json::Value J(std::string_view text) {
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().message() << " in " << text;
  return v.ok() ? std::move(v.value()) : json::Value();
}

// A Backup document: `rest` holds metadata and whatever else follows apiVersion and kind.
std::string Backup(std::string_view rest) {
  return std::string(R"({"apiVersion":"csdr.io/v1alpha1","kind":"Backup",)") + std::string(rest) +
         "}";
}

ApplyOptions Options(std::string manager, std::string now, bool force = false,
                     std::string subresource = "") {
  return ApplyOptions{std::move(manager), force, kApiVersion, std::move(now),
                      std::move(subresource)};
}

// The managedFields of `object` serialized compactly ("" when absent), so that a test
// pins their order and shape, not only their content.
std::string ManagedFields(const json::Value& object) {
  const json::Value* mf = object.FindPath({"metadata", "managedFields"});
  return mf == nullptr ? "" : json::Serialize(*mf);
}

json::Value WithoutManagedFields(json::Value object) {
  if (json::Value* meta = object.Find("metadata")) meta->Erase("managedFields");
  return object;
}

// One managedFields entry as upstream encodes it.
std::string Entry(std::string_view manager, std::string_view operation, std::string_view fields,
                  std::string_view time, std::string_view subresource = "") {
  std::string e = R"({"apiVersion":"csdr.io/v1alpha1","fieldsType":"FieldsV1","fieldsV1":)";
  e += fields;
  e += R"(,"manager":")" + std::string(manager) + R"(","operation":")" + std::string(operation) +
       "\"";
  if (!subresource.empty()) e += R"(,"subresource":")" + std::string(subresource) + "\"";
  e += R"(,"time":")" + std::string(time) + "\"}";
  return e;
}

std::string Time(int step) { return "2026-11-24T10:00:0" + std::to_string(step) + "Z"; }

// ---------------------------------------------------------------------------------------
// The exchange of kube-captures/26-apply-server-side.txt, step by step.

TEST(ServerSideApplyCapture, MatchesKubeApiserver) {
  const std::string t = "2026-11-24T09:06:30Z";
  // apply #1 by a creates the object.
  auto created =
      ServerSideApply(nullptr,
                      J(Backup(R"("metadata":{"name":"b-apply","labels":{"owner":"a"}},)"
                               R"("spec":{"vaultName":"vault1","backupType":"AppBackup"})")),
                      Options("a", t));
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(
      ManagedFields(*created),
      "[" +
          Entry(
              "a", "Apply",
              R"({"f:metadata":{"f:labels":{"f:owner":{}}},"f:spec":{"f:backupType":{},"f:vaultName":{}}})",
              t) +
          "]");
  // What the registry adds on create must never become owned.
  json::Value live = std::move(created.value());
  json::Value& meta = *live.Find("metadata");
  meta.Set("namespace", "csdr");
  meta.Set("uid", "191d19f3-3cee-4f57-ae5a-497901605e6e");
  meta.Set("creationTimestamp", t);
  meta.Set("generation", 1);
  meta.Set("resourceVersion", "287");

  // apply #2 adds spec.ttl.
  const json::Value config2 =
      J(Backup(R"("metadata":{"name":"b-apply","labels":{"owner":"a"}},)"
               R"("spec":{"vaultName":"vault1","backupType":"AppBackup","ttl":"24h"})"));
  auto second = ServerSideApply(&live, config2, Options("a", t));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(
      ManagedFields(*second),
      "[" +
          Entry(
              "a", "Apply",
              R"({"f:metadata":{"f:labels":{"f:owner":{}}},"f:spec":{"f:backupType":{},"f:ttl":{},"f:vaultName":{}}})",
              t) +
          "]");
  EXPECT_EQ(*second->FindPath({"spec", "ttl"}), json::Value("24h"));
  live = std::move(second.value());

  // apply #3, identical but later: a true no-op, byte for byte, time included.
  auto third = ServerSideApply(&live, config2, Options("a", "2026-11-24T09:07:00Z"));
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ(json::Serialize(*third), json::Serialize(live));

  // b wants spec.vaultName, which a owns with another value.
  const json::Value by_b =
      J(Backup(R"("metadata":{"name":"b-apply"},"spec":{"vaultName":"vault-by-b"})"));
  auto conflict = ServerSideApply(&live, by_b, Options("b", t));
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().code(), Code::kConflict);
  EXPECT_EQ(conflict.status().message(),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.vaultName");

  // force=true moves the field to b.
  auto forced = ServerSideApply(&live, by_b, Options("b", t, /*force=*/true));
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(*forced->FindPath({"spec", "vaultName"}), json::Value("vault-by-b"));
  EXPECT_EQ(
      ManagedFields(*forced),
      "[" +
          Entry(
              "a", "Apply",
              R"({"f:metadata":{"f:labels":{"f:owner":{}}},"f:spec":{"f:backupType":{},"f:ttl":{}}})",
              t) +
          "," + Entry("b", "Apply", R"({"f:spec":{"f:vaultName":{}}})", t) + "]");
  live = std::move(forced.value());

  // a takes vaultName back with force and drops ttl: ttl goes, b's emptied entry goes.
  auto back =
      ServerSideApply(&live,
                      J(Backup(R"("metadata":{"name":"b-apply","labels":{"owner":"a"}},)"
                               R"("spec":{"vaultName":"vault1","backupType":"AppBackup"})")),
                      Options("a", t, /*force=*/true));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back->Find("spec"), J(R"({"backupType":"AppBackup","vaultName":"vault1"})"));
  EXPECT_EQ(
      ManagedFields(*back),
      "[" +
          Entry(
              "a", "Apply",
              R"({"f:metadata":{"f:labels":{"f:owner":{}}},"f:spec":{"f:backupType":{},"f:vaultName":{}}})",
              t) +
          "]");
  EXPECT_EQ(back->GetString({"metadata", "uid"}), "191d19f3-3cee-4f57-ae5a-497901605e6e");
}

TEST(ServerSideApplyCapture, ConflictCausesAreFieldManagerConflicts) {
  if constexpr (!std::is_constructible_v<Status, Code, std::string, FieldErrors>) {
    GTEST_SKIP() << "common/status.h cannot carry causes on a kConflict Status yet";
  }
  auto live = ServerSideApply(nullptr, J(Backup(R"("metadata":{"name":"b"},"spec":{"x":1,"y":1})")),
                              Options("a", Time(0)));
  ASSERT_TRUE(live.ok());
  auto conflict = ServerSideApply(
      &*live, J(Backup(R"("metadata":{"name":"b"},"spec":{"x":2,"y":2})")), Options("b", Time(1)));
  ASSERT_FALSE(conflict.ok());
  ASSERT_EQ(conflict.status().causes().size(), 2u);
  EXPECT_EQ(conflict.status().causes()[0].type, "FieldManagerConflict");
  EXPECT_EQ(conflict.status().causes()[0].field, ".spec.x");
  EXPECT_EQ(conflict.status().causes()[0].message, "conflict with \"a\"");
  EXPECT_EQ(conflict.status().causes()[1].field, ".spec.y");
}

// ---------------------------------------------------------------------------------------
// Scenarios: a sequence of applies and non-apply writes, then the object and its
// managedFields. Step i runs at Time(i).

enum class Op { kApply, kUpdate };

struct Step {
  Op op;
  std::string manager;
  std::string body;  // the applied configuration, or the whole object written (kUpdate)
  bool force = false;
  std::string subresource;
  std::string want_error;  // non-empty: the step must fail with exactly this message
};

// Steps are built through these two so that each table row names only what matters.
Step Apply(std::string manager, std::string body, bool force = false, std::string subresource = "",
           std::string want_error = "") {
  return Step{Op::kApply, std::move(manager),     std::move(body),
              force,      std::move(subresource), std::move(want_error)};
}
Step ApplyFails(std::string manager, std::string body, std::string want_error) {
  return Apply(std::move(manager), std::move(body), false, "", std::move(want_error));
}
Step Update(std::string manager, std::string body) {
  return Step{Op::kUpdate, std::move(manager), std::move(body), false, "", ""};
}

struct Scenario {
  std::string name;
  std::string start;  // the stored object before the first step; "" when absent
  std::vector<Step> steps;
  std::string want_object;          // without managedFields
  std::string want_managed_fields;  // compact JSON, "" when absent
};

TEST(ServerSideApplyScenario, Table) {
  const std::vector<Scenario> scenarios = {
      {"a field dropped from the configuration is removed",
       "",
       {Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1,"y":2})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:x":{}}})", Time(1)) + "]"},

      {"a field another applier also applies survives; times move only with the object",
       "",
       {Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1,"y":2})")),
        Apply("b", Backup(R"("metadata":{"name":"b"},"spec":{"y":2})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1,"y":2})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:x":{}}})", Time(0)) + "," +
           Entry("b", "Apply", R"({"f:spec":{"f:y":{}}})", Time(1)) + "]"},

      {"a different value for a field of an Update manager conflicts",
       "",
       {Update("kubectl-client-side-apply",
               Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1","other":"o"})")),
        ApplyFails(
            "a", Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b2"})"),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "csdr.io/v1alpha1: .spec.bucket")},
       Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1","other":"o"})"),
       "[" +
           Entry("kubectl-client-side-apply", "Update",
                 R"({"f:spec":{".":{},"f:bucket":{},"f:other":{}}})", Time(0)) +
           "]"},

      {"force takes the field from the Update manager",
       "",
       {Update("kubectl-client-side-apply",
               Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1","other":"o"})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b2"})"), true)},
       Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b2","other":"o"})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:bucket":{}}})", Time(1)) + "," +
           Entry("kubectl-client-side-apply", "Update", R"({"f:spec":{".":{},"f:other":{}}})",
                 Time(0)) +
           "]"},

      {"the same value is shared ownership, not a conflict",
       "",
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1"})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1"})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"bucket":"b1"})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:bucket":{}}})", Time(1)) + "," +
           Entry("m", "Update", R"({"f:spec":{".":{},"f:bucket":{}}})", Time(0)) + "]"},

      {"conflicts with several managers are grouped by manager",
       "",
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"z":1})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1,"y":1})")),
        Apply("b", Backup(R"("metadata":{"name":"b"},"spec":{"x":2,"y":2,"z":2})"), false, "",
              "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.x\n- .spec.y\n"
              "conflicts with \"m\" using csdr.io/v1alpha1:\n- .spec.z")},
       Backup(R"("metadata":{"name":"b"},"spec":{"z":1,"x":1,"y":1})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:x":{},"f:y":{}}})", Time(1)) + "," +
           Entry("m", "Update", R"({"f:spec":{".":{},"f:z":{}}})", Time(0)) + "]"},

      {"kubectl's annotation-only second apply does not wipe the spec",
       "",
       {Apply("kubectl",
              Backup(R"("metadata":{"name":"b","labels":{"app":"web"}},"spec":{"x":1})")),
        Apply("kubectl-last-applied",
              Backup(R"("metadata":{"name":"b","namespace":"csdr","annotations":)"
                     R"({"kubectl.kubernetes.io/last-applied-configuration":"{}"}})"))},
       Backup(R"("metadata":{"name":"b","namespace":"csdr","labels":{"app":"web"},"annotations":)"
              R"({"kubectl.kubernetes.io/last-applied-configuration":"{}"}},"spec":{"x":1})"),
       "[" +
           Entry("kubectl", "Apply",
                 R"({"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:x":{}}})", Time(0)) +
           "," +
           Entry(
               "kubectl-last-applied", "Apply",
               R"({"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/last-applied-configuration":{}}}})",
               Time(1)) +
           "]"},

      {"the status subresource reads only status; the main resource ignores status",
       "",
       {Update("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})")),
        Apply("controller",
              Backup(R"("metadata":{"name":"b"},"spec":{"x":9},"status":{"phase":"Done"})"), false,
              "status"),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":1},"status":{"phase":"Lost"})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1},"status":{"phase":"Done"})"),
       "[" + Entry("controller", "Apply", R"({"f:status":{"f:phase":{}}})", Time(1), "status") +
           "," + Entry("a", "Apply", R"({"f:spec":{"f:x":{}}})", Time(2)) + "," +
           Entry("a", "Update", R"({"f:spec":{".":{},"f:x":{}}})", Time(0)) + "]"},

      {"labels are owned key by key",
       "",
       {Apply("a", Backup(R"("metadata":{"name":"b","labels":{"x":"1"}},"spec":{"s":1})")),
        Apply("b", Backup(R"("metadata":{"name":"b","labels":{"y":"2"}})")),
        Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"s":1})"))},
       Backup(R"("metadata":{"name":"b","labels":{"y":"2"}},"spec":{"s":1})"),
       "[" + Entry("b", "Apply", R"({"f:metadata":{"f:labels":{"f:y":{}}}})", Time(1)) + "," +
           Entry("a", "Apply", R"({"f:spec":{"f:s":{}}})", Time(2)) + "]"},

      {"a struct nobody owns any part of any more goes as a whole",
       "",
       {Apply("a", Backup(R"("metadata":{"name":"b","labels":{"l":"1"}},"spec":{"x":1,"y":1})")),
        Apply("a", Backup(R"("metadata":{"name":"b","labels":{"l":"1"}})"))},
       Backup(R"("metadata":{"name":"b","labels":{"l":"1"}})"),
       "[" + Entry("a", "Apply", R"({"f:metadata":{"f:labels":{"f:l":{}}}})", Time(1)) + "]"},

      {"an untracked object's fields belong to before-first-apply",
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       {ApplyFails("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"),
                   "Apply failed with 1 conflict: conflict with \"before-first-apply\" using "
                   "csdr.io/v1alpha1: .spec.x")},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       ""},

      {"force against before-first-apply leaves it the struct itself",
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       {Apply("a", Backup(R"("metadata":{"name":"b"},"spec":{"x":2,"y":1})"), true)},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":2,"y":1})"),
       "[" + Entry("a", "Apply", R"({"f:spec":{"f:x":{},"f:y":{}}})", Time(0)) + "," +
           Entry("before-first-apply", "Update", R"({"f:spec":{}})", Time(0)) + "]"},

      {"an update takes changed fields and drops removed ones from every set",
       "",
       {Apply("a", Backup(R"("metadata":{"name":"b","labels":{"l":"1"}},"spec":{"x":1,"y":1})")),
        Update("editor", Backup(R"("metadata":{"name":"b","labels":{"l":"1"}},"spec":{"x":2})"))},
       Backup(R"("metadata":{"name":"b","labels":{"l":"1"}},"spec":{"x":2})"),
       "[" + Entry("a", "Apply", R"({"f:metadata":{"f:labels":{"f:l":{}}}})", Time(0)) + "," +
           Entry("editor", "Update", R"({"f:spec":{"f:x":{}}})", Time(1)) + "]"},

      {"a no-op update keeps the entry's time",
       "",
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})")),
        Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       "[" + Entry("m", "Update", R"({"f:spec":{".":{},"f:x":{}}})", Time(0)) + "]"},

      {"an update that removes every field of an entry drops the entry",
       "",
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})")),
        Update("n", Backup(R"("metadata":{"name":"b","labels":{"l":"1"}})"))},
       Backup(R"("metadata":{"name":"b","labels":{"l":"1"}})"),
       "[" + Entry("n", "Update", R"({"f:metadata":{"f:labels":{".":{},"f:l":{}}}})", Time(1)) +
           "]"},

      {"an update of an untracked object leaves it untracked",
       Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"),
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"),
       ""},

      {"managedFields: [] in an update resets tracking",
       "",
       {Update("m", Backup(R"("metadata":{"name":"b"},"spec":{"x":1})")),
        Update("n", Backup(R"("metadata":{"name":"b","managedFields":[]},"spec":{"x":2})"))},
       Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"),
       ""},

      {"kubectl takes over fields its last client-side apply still describes",
       "",
       {Update(
            "kubectl-client-side-apply",
            Backup(
                R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
                R"("{\"spec\":{\"x\":1}}"}},"spec":{"x":1,"y":1})")),
        Apply("kubectl", Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"))},
       Backup(
           R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
           R"("{\"apiVersion\":\"csdr.io/v1alpha1\",\"kind\":\"Backup\",\"metadata\":{\"name\":\"b\"},\"spec\":{\"x\":2}}\n"}},)"
           R"("spec":{"x":2,"y":1})"),
       "[" + Entry("kubectl", "Apply", R"({"f:spec":{"f:x":{}}})", Time(1)) + "," +
           Entry(
               "kubectl-client-side-apply", "Update",
               R"({"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:spec":{".":{},"f:y":{}}})",
               Time(0)) +
           "]"},

      {"only kubectl gets the last-applied exemption",
       "",
       {Update(
            "kubectl-client-side-apply",
            Backup(
                R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
                R"("{\"spec\":{\"x\":1}}"}},"spec":{"x":1})")),
        ApplyFails(
            "a", Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "csdr.io/v1alpha1: .spec.x")},
       Backup(
           R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
           R"("{\"spec\":{\"x\":1}}"}},"spec":{"x":1})"),
       "[" +
           Entry(
               "kubectl-client-side-apply", "Update",
               R"({"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:spec":{".":{},"f:x":{}}})",
               Time(0)) +
           "]"},

      {"kubectl conflicts on fields changed since its last client-side apply",
       "",
       {Update(
            "kubectl-client-side-apply",
            Backup(
                R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
                R"("{\"spec\":{\"x\":1}}"}},"spec":{"x":3})")),
        ApplyFails(
            "kubectl", Backup(R"("metadata":{"name":"b"},"spec":{"x":2})"),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "csdr.io/v1alpha1: .spec.x")},
       Backup(
           R"("metadata":{"name":"b","annotations":{"kubectl.kubernetes.io/last-applied-configuration":)"
           R"("{\"spec\":{\"x\":1}}"}},"spec":{"x":3})"),
       "[" +
           Entry(
               "kubectl-client-side-apply", "Update",
               R"({"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:spec":{".":{},"f:x":{}}})",
               Time(0)) +
           "]"},

      {"managedFields in an apply body are refused",
       "",
       {ApplyFails("a", Backup(R"("metadata":{"name":"b","managedFields":[]})"),
                   "metadata.managedFields must be nil")},
       "null",
       ""},

      {"an apply body of another version is refused",
       "",
       {ApplyFails(
           "a", R"({"apiVersion":"csdr.io/v1","kind":"Backup","metadata":{"name":"b"}})",
           "Incorrect version specified in apply patch. Specified patch version: csdr.io/v1, "
           "expected: csdr.io/v1alpha1")},
       "null",
       ""},
  };

  for (const Scenario& sc : scenarios) {
    SCOPED_TRACE(sc.name);
    std::optional<json::Value> live;
    if (!sc.start.empty()) live = J(sc.start);
    for (size_t i = 0; i < sc.steps.size(); ++i) {
      const Step& step = sc.steps[i];
      SCOPED_TRACE("step " + std::to_string(i));
      ApplyOptions options =
          Options(step.manager, Time(static_cast<int>(i)), step.force, step.subresource);
      if (step.op == Op::kApply) {
        auto result = ServerSideApply(live ? &*live : nullptr, J(step.body), options);
        if (!step.want_error.empty()) {
          ASSERT_FALSE(result.ok());
          EXPECT_EQ(result.status().message(), step.want_error);
          continue;
        }
        ASSERT_TRUE(result.ok()) << result.status().message();
        live = std::move(result.value());
      } else {
        json::Value next = J(step.body);
        UpdateManagedFields(live ? &*live : nullptr, &next, options);
        live = std::move(next);
      }
    }
    const json::Value want = J(sc.want_object);
    if (want.is_null()) {
      EXPECT_FALSE(live.has_value());
      continue;
    }
    ASSERT_TRUE(live.has_value());
    EXPECT_EQ(WithoutManagedFields(*live), want) << json::Serialize(*live);
    EXPECT_EQ(ManagedFields(*live), sc.want_managed_fields);
  }
}

// ---------------------------------------------------------------------------------------
// UpdateManagedFields against the captures.

TEST(UpdateManagedFieldsCapture, CreateRecordsDotEntriesAndNoSystemFields) {
  // kube-captures/07-create-post.txt: POST by curl.
  json::Value object = J(Backup(
      R"("metadata":{"name":"b1","namespace":"csdr","labels":{"app":"shop","tier":"gold"},)"
      R"("uid":"181b3934","creationTimestamp":"2026-11-24T09:04:57Z","generation":1},)"
      R"("spec":{"vaultName":"vault1","backupType":"AppBackup","includedNamespaces":["shop"]})"));
  UpdateManagedFields(nullptr, &object, Options("curl", "2026-11-24T09:04:57Z"));
  EXPECT_EQ(
      ManagedFields(object),
      "[" +
          Entry(
              "curl", "Update",
              R"({"f:metadata":{"f:labels":{".":{},"f:app":{},"f:tier":{}}},)"
              R"("f:spec":{".":{},"f:backupType":{},"f:includedNamespaces":{},"f:vaultName":{}}})",
              "2026-11-24T09:04:57Z") +
          "]");
}

TEST(UpdateManagedFieldsCapture, StatusWriteGetsItsOwnEntry) {
  // kube-captures/23-update-status.txt: PUT /status by curl.
  const std::string t = "2026-11-24T09:06:19Z";
  const std::string main_entry = Entry(
      "curl", "Update",
      R"({"f:metadata":{"f:labels":{".":{},"f:app":{},"f:tier":{}}},)"
      R"("f:spec":{".":{},"f:backupType":{},"f:includedNamespaces":{},"f:ttl":{},"f:vaultName":{}}})",
      t);
  const std::string object_text =
      R"("metadata":{"name":"b1","namespace":"csdr","labels":{"app":"shop","tier":"gold"},)"
      R"("managedFields":[)" +
      main_entry +
      R"(]},)"
      R"("spec":{"vaultName":"vault1","backupType":"AppBackup","includedNamespaces":["shop"],"ttl":"720h"})";
  const json::Value old = J(Backup(object_text));
  json::Value updated =
      J(Backup(object_text + R"(,"status":{"phase":"Completed","progress":{"done":3}})"));
  UpdateManagedFields(&old, &updated, Options("curl", t, false, "status"));
  EXPECT_EQ(ManagedFields(updated),
            "[" + main_entry + "," +
                Entry("curl", "Update",
                      R"({"f:status":{".":{},"f:phase":{},"f:progress":{".":{},"f:done":{}}}})", t,
                      "status") +
                "]");
}

TEST(UpdateManagedFields, EmptyManagerLeavesManagedFieldsAlone) {
  json::Value object = J(Backup(R"("metadata":{"name":"b"},"spec":{"x":1})"));
  UpdateManagedFields(nullptr, &object, Options("", Time(0)));
  EXPECT_EQ(ManagedFields(object), "");
}

TEST(UpdateManagedFields, CapsUpdateEntriesIntoAncientChanges) {
  // Twelve Update managers, each adding one field at a later second: the three oldest
  // fold into one "ancient-changes" entry carrying the newest of their times.
  std::optional<json::Value> live;
  json::Value spec = json::Value::MakeObject();
  for (int i = 0; i < 12; ++i) {
    spec.Set("f" + std::to_string(i), i);
    json::Value next = J(Backup(R"("metadata":{"name":"b"})"));
    next.Set("spec", spec);
    char now[32];
    std::snprintf(now, sizeof(now), "2026-11-24T10:00:%02dZ", i);
    UpdateManagedFields(live ? &*live : nullptr, &next, Options("m" + std::to_string(i), now));
    live = std::move(next);
  }
  const json::Value* mf = live->FindPath({"metadata", "managedFields"});
  ASSERT_NE(mf, nullptr);
  ASSERT_EQ(mf->size(), 10u);
  const json::Value& oldest = mf->array()[0];
  EXPECT_EQ(oldest.GetString({"manager"}), "ancient-changes");
  EXPECT_EQ(oldest.GetString({"time"}), "2026-11-24T10:00:02Z");
  EXPECT_EQ(*oldest.Find("fieldsV1"), J(R"({"f:spec":{".":{},"f:f0":{},"f:f1":{},"f:f2":{}}})"));
  EXPECT_EQ(mf->array()[1].GetString({"manager"}), "m3");
}

// ---------------------------------------------------------------------------------------
// Robustness.

TEST(ServerSideApply, ManagerIsRequired) {
  auto r = ServerSideApply(nullptr, J(Backup(R"("metadata":{"name":"b"})")), Options("", Time(0)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_EQ(r.status().message(),
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required "
            "for apply patch");
}

TEST(ServerSideApply, UndecodableStoredManagedFieldsAreAnInternalError) {
  const json::Value live = J(Backup(
      R"("metadata":{"name":"b","managedFields":[{"manager":"m","operation":"Patch","apiVersion":"v1","fieldsType":"FieldsV1"}]})"));
  auto r = ServerSideApply(&live, J(Backup(R"("metadata":{"name":"b"})")), Options("a", Time(0)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_EQ(r.status().message(),
            "failed to decode managed fields: operation must be `Apply` or `Update`");
}

TEST(ServerSideApply, StoredEntriesRoundTripWhateverTheirKeyOrder) {
  // Entries written with another member order (and "." entries) survive a no-op apply
  // byte for byte: nothing is re-encoded when the content is the same.
  const json::Value live = J(Backup(
      R"("metadata":{"name":"b","managedFields":[)"
      R"({"time":"2026-11-24T10:00:00Z","operation":"Apply","manager":"a",)"
      R"("fieldsV1":{"f:spec":{"f:x":{},"f:m":{"f:k":{}}}},"fieldsType":"FieldsV1","apiVersion":"csdr.io/v1alpha1"},)"
      R"({"manager":"u","operation":"Update","apiVersion":"csdr.io/v1alpha1","time":"2026-11-24T09:00:00Z",)"
      R"("fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:m":{".":{},"f:k":{}},".":{}}}}]},)"
      R"("spec":{"x":1,"m":{"k":1}})"));
  auto r =
      ServerSideApply(&live, J(Backup(R"("metadata":{"name":"b"},"spec":{"m":{"k":1},"x":1})")),
                      Options("a", Time(5)));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(json::Serialize(*r), json::Serialize(live));

  // Dropping spec.x re-encodes the entries canonically: u keeps its "." entries.
  auto dropped = ServerSideApply(
      &live, J(Backup(R"("metadata":{"name":"b"},"spec":{"m":{"k":1}})")), Options("a", Time(6)));
  ASSERT_TRUE(dropped.ok()) << dropped.status().message();
  EXPECT_EQ(*dropped->Find("spec"), J(R"({"m":{"k":1}})"));
  EXPECT_EQ(ManagedFields(*dropped),
            "[" + Entry("a", "Apply", R"({"f:spec":{"f:m":{"f:k":{}}}})", Time(6)) + "," +
                Entry("u", "Update", R"({"f:spec":{".":{},"f:m":{".":{},"f:k":{}}}})",
                      "2026-11-24T09:00:00Z") +
                "]");
}

TEST(ServerSideApply, DeepObjectsStayWithinBounds) {
  // 95 nested levels under spec: near the parser's cap of 100.
  std::string nested = "1";
  for (int i = 0; i < 95; ++i) nested = R"({"a":)" + nested + "}";
  const json::Value config = J(Backup(R"("metadata":{"name":"b"},"spec":)" + nested));
  auto created = ServerSideApply(nullptr, config, Options("a", Time(0)));
  ASSERT_TRUE(created.ok()) << created.status().message();
  auto again = ServerSideApply(&*created, config, Options("a", Time(1)));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(json::Serialize(*again), json::Serialize(*created));
  auto emptied =
      ServerSideApply(&*created, J(Backup(R"("metadata":{"name":"b"})")), Options("a", Time(2)));
  ASSERT_TRUE(emptied.ok());
  EXPECT_EQ(emptied->Find("spec"), nullptr);
}

TEST(ServerSideApply, LargeMapsStayLinear) {
  // 100k labels: a quadratic merge or compare would take minutes here, a linear one well
  // under a second.
  constexpr int kLabels = 100000;
  json::Value labels = json::Value::MakeObject();
  labels.object().reserve(kLabels);
  for (int i = 0; i < kLabels; ++i) labels.object().emplace_back("k" + std::to_string(i), "v");
  json::Value config = J(Backup(R"("metadata":{"name":"b"})"));
  config.Find("metadata")->Set("labels", labels);
  const auto start = std::chrono::steady_clock::now();
  auto created = ServerSideApply(nullptr, config, Options("a", Time(0)));
  ASSERT_TRUE(created.ok());
  auto again = ServerSideApply(&*created, config, Options("a", Time(1)));
  ASSERT_TRUE(again.ok());
  auto other = ServerSideApply(&*again, config, Options("b", Time(2)));
  ASSERT_TRUE(other.ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(20));
  EXPECT_EQ(other->FindPath({"metadata", "managedFields"})->size(), 2u);
}

}  // namespace
}  // namespace csdr::apiserver
