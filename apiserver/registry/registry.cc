#include "apiserver/registry/registry.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <thread>

#include "apiserver/apply/apply.h"
#include "apiserver/kinds/schema.h"
#include "apiserver/kinds/validation.h"
#include "common/patch.h"

namespace csdr::apiserver {
namespace {

// How often an update retries after losing an optimistic-concurrency race it did not ask
// for (no resourceVersion in the request): upstream's GuaranteedUpdate loops until it wins.
constexpr int kMaxUpdateAttempts = 16;
// Objects fetched per store round trip while filling a selector-filtered page.
constexpr size_t kListBatch = 512;

std::string NewUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

// Upstream's names.SimpleNameGenerator: 5 characters from an alphabet without vowels and
// look-alikes, appended to generateName cut to 58 characters.
std::string GenerateName(const std::string& base) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string name = base.substr(0, std::min<size_t>(base.size(), 58));
  unsigned char r[5];
  RAND_bytes(r, sizeof(r));
  for (unsigned char c : r) name += kAlphabet[c % (sizeof(kAlphabet) - 1)];
  return name;
}

std::string JoinCauses(const FieldErrors& errors) {
  auto one = [](const FieldError& e) {
    return e.field.empty() ? e.message : e.field + ": " + e.message;
  };
  if (errors.size() == 1) return one(errors[0]);
  std::string out = "[";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i) out += ", ";
    out += one(errors[i]);
  }
  return out + "]";
}

Status InvalidStatus(const std::string& qualified, const std::string& name, FieldErrors errors) {
  std::string msg = qualified + " " + Quote(name) + " is invalid: " + JoinCauses(errors);
  return Status::Invalid(std::move(msg), std::move(errors));
}

Status NotFound(const KindInfo& info, const std::string& name) {
  return Status(Code::kNotFound, QualifiedResource(info) + " " + Quote(name) + " not found");
}

Status ConflictModified(const KindInfo& info, const std::string& name) {
  return Status(Code::kConflict,
                "Operation cannot be fulfilled on " + QualifiedResource(info) + " " + Quote(name) +
                    ": the object has been modified; please apply your changes to the latest "
                    "version and try again");
}

json::Value& Metadata(json::Value* obj) {
  json::Value& m = (*obj)["metadata"];
  if (!m.is_object()) m = json::Value::MakeObject();
  return m;
}

const json::Value* MetaField(const json::Value& obj, std::string_view f) {
  return obj.FindPath({"metadata", f});
}

std::string MetaString(const json::Value& obj, std::string_view f) {
  const json::Value* v = MetaField(obj, f);
  return v && v->is_string() ? v->as_string() : "";
}

std::vector<std::string> Finalizers(const json::Value& obj) {
  std::vector<std::string> out;
  const json::Value* f = MetaField(obj, "finalizers");
  if (f && f->is_array()) {
    for (const auto& v : f->array()) {
      if (v.is_string()) out.push_back(v.as_string());
    }
  }
  return out;
}

int64_t ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Everything but metadata and status: the part whose change moves metadata.generation.
bool SpecEqual(const json::Value& a, const json::Value& b) {
  auto strip = [](const json::Value& v) {
    json::Value c = v;
    c.Erase("metadata");
    c.Erase("status");
    return c;
  };
  return strip(a) == strip(b);
}

// The store's encoder for `obj`: stamps the write's revision as metadata.resourceVersion,
// so that the stored bytes carry it, then serializes. `obj` must outlive the write.
storage::Encoder Stamped(json::Value* obj) {
  return [obj](int64_t revision) {
    Metadata(obj).Set("resourceVersion", std::to_string(revision));
    return json::Serialize(*obj);
  };
}

// After a write: the object answered carries the revision the store committed it at (the
// encoder saw it already, except on etcd://, where it sees 0).
void StampWritten(json::Value* obj, int64_t revision) {
  Metadata(obj).Set("resourceVersion", std::to_string(revision));
}

StatusOr<json::Value> ParseStored(const std::string& raw) {
  json::ParseOptions opts;
  opts.max_depth = 200;  // stored objects passed the request limit already
  return json::Parse(raw, opts);
}

}  // namespace

std::string StampResourceVersion(const std::string& stored, int64_t revision) {
  auto obj = ParseStored(stored);
  if (!obj.ok() || !obj->is_object()) return stored;
  Metadata(&obj.value()).Set("resourceVersion", std::to_string(revision));
  return json::Serialize(*obj);
}

namespace {

// Checks an incoming object against its kind's schema: unknown fields per fieldValidation
// (pruned unless Strict, as a CRD prunes), type errors as 422.
Status CheckSchema(const KindStrategy& kind, json::Value* object, FieldValidation fv,
                   const std::string& name, std::vector<std::string>* warnings) {
  const KindInfo& info = kind.info();
  SchemaCheck check = CheckAgainstSchema(kind, object, fv != FieldValidation::kStrict);
  if (!check.unknown_fields.empty()) {
    if (fv == FieldValidation::kStrict) {
      std::string msg = info.kind + " in version \"" + info.version + "\" cannot be handled as a " +
                        info.kind + ": strict decoding error: ";
      for (size_t i = 0; i < check.unknown_fields.size(); ++i) {
        if (i) msg += ", ";
        msg += "unknown field \"" + check.unknown_fields[i] + "\"";
      }
      return Status(Code::kBadRequest, msg);
    }
    if (fv == FieldValidation::kWarn) {
      for (const auto& f : check.unknown_fields) warnings->push_back("unknown field \"" + f + "\"");
    }
  }
  if (!check.errors.empty())
    return InvalidStatus(QualifiedKind(info), name, std::move(check.errors));
  return Status::Ok();
}

}  // namespace

std::string QualifiedResource(const KindInfo& info) { return info.resource + "." + info.group; }
std::string QualifiedKind(const KindInfo& info) { return info.kind + "." + info.group; }

void SortKeys(json::Value* value) {
  if (value->is_object()) {
    auto& members = value->object();
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& m : members) SortKeys(&m.second);
  } else if (value->is_array()) {
    for (auto& v : value->array()) SortKeys(&v);
  }
}

std::string EncodeContinue(int64_t rv, const std::string& start_key) {
  json::Value t = json::Value::MakeObject();
  t.Set("v", "meta.k8s.io/v1");
  t.Set("rv", rv);
  t.Set("start", start_key + std::string(1, '\0'));
  std::string raw = json::Serialize(t);
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  // URL-safe alphabet, no padding, as upstream's base64.RawURLEncoding.
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

StatusOr<std::pair<int64_t, std::string>> DecodeContinue(const std::string& token) {
  auto bad = [](const std::string& why) {
    return Status(Code::kBadRequest, "invalid continue token: " + why);
  };
  std::string b64 = token;
  for (char& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return bad("continue key is not valid: illegal base64 data");
  }
  while (b64.size() % 4) b64 += '=';
  if (b64.size() > 4096) return bad("continue key is not valid: too long");
  std::string raw(b64.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return bad("continue key is not valid: illegal base64 data");
  size_t pad = 0;
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) ++pad;
  // A token of mostly padding decodes to fewer bytes than it pads.
  if (pad > static_cast<size_t>(n)) return bad("continue key is not valid: illegal base64 data");
  raw.resize(static_cast<size_t>(n) - pad);
  auto parsed = json::Parse(raw);
  if (!parsed.ok() || !parsed->is_object()) return bad("continue key is not valid: not JSON");
  const json::Value* v = parsed->Find("v");
  const json::Value* rv = parsed->Find("rv");
  const json::Value* start = parsed->Find("start");
  if (!v || !v->is_string() || v->as_string() != "meta.k8s.io/v1") {
    return bad(
        "continue key is not valid: incorrect encoded start resourceVersion (version "
        "meta.k8s.io/v1)");
  }
  if (!rv || !rv->is_int() || !start || !start->is_string() || start->as_string().empty()) {
    return bad("continue key is not valid: incorrect encoded start resourceVersion");
  }
  std::string key = start->as_string();
  if (key.back() == '\0') key.pop_back();
  if (key.find("..") != std::string::npos || (!key.empty() && key[0] == '/')) {
    return bad("continue key is not valid: key should be relative");
  }
  return std::make_pair(rv->as_int(), key);
}

Registry::Registry(storage::Store* store, AdmissionController* admission, Clock clock)
    : store_(store), admission_(admission), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

std::string Registry::Now() const { return FormatRFC3339(clock_()); }

std::string Registry::Key(const KindStrategy& kind, const std::string& ns,
                          const std::string& name) {
  return Prefix(kind, ns) + name;
}

std::string Registry::Prefix(const KindStrategy& kind, const std::string& ns) {
  const KindInfo& info = kind.info();
  std::string p = "/registry/" + info.group + "/" + info.resource + "/";
  if (info.namespaced && !ns.empty()) p += ns + "/";
  return p;
}

Status Registry::ValidateFieldSelector(const KindStrategy& kind, const FieldSelector& selector) {
  for (const auto& r : selector.Requirements()) {
    const std::string& f = r.field;
    if (f == "metadata.name" || f == "metadata.namespace") continue;
    const auto& extra = kind.SelectableFields();
    if (std::find(extra.begin(), extra.end(), f) != extra.end()) continue;
    std::string known = "\"metadata.name\", \"metadata.namespace\"";
    for (const auto& e : extra) known += ", \"" + e + "\"";
    return Status(Code::kBadRequest, "field label not supported: " + f + " (known: " + known + ")");
  }
  return Status::Ok();
}

bool Registry::Matches(const KindStrategy& kind, const json::Value& object,
                       const LabelSelector& labels, const FieldSelector& fields) {
  if (!labels.empty()) {
    if (!labels.Matches(MetaField(object, "labels"))) return false;
  }
  if (!fields.empty()) {
    return fields.Matches([&](std::string_view f) { return kind.FieldValue(object, f); });
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Create

StatusOr<WriteResult> Registry::Create(const Scope& scope, json::Value object,
                                       const WriteOptions& options) {
  return CreatePrepared(scope, std::move(object), options, {}, /*from_apply=*/false);
}

StatusOr<WriteResult> Registry::CreatePrepared(const Scope& scope, json::Value object,
                                               const WriteOptions& options,
                                               std::vector<std::string> warnings, bool from_apply) {
  const KindStrategy& kind = *scope.kind;
  const KindInfo& info = kind.info();
  CSDR_RETURN_IF_ERROR(CheckSchema(kind, &object, options.field_validation,
                                   object.GetString({"metadata", "name"}), &warnings));
  json::Value& meta = Metadata(&object);

  // Namespace: the URL wins; the body may repeat it but not contradict it.
  if (info.namespaced) {
    std::string body_ns = meta.GetString({"namespace"});
    if (!body_ns.empty() && body_ns != scope.namespace_) {
      return Status(Code::kBadRequest,
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request");
    }
    meta.Set("namespace", scope.namespace_);
  } else {
    meta.Erase("namespace");
  }

  std::string name = meta.GetString({"name"});
  if (!scope.name.empty() && !name.empty() && name != scope.name && !from_apply) {
    return Status(Code::kBadRequest, "the name of the object (" + name +
                                         ") does not match the name on the URL (" + scope.name +
                                         ")");
  }
  if (name.empty() && !scope.name.empty() && from_apply) name = scope.name;
  if (name.empty()) {
    std::string gen = meta.GetString({"generateName"});
    if (gen.empty()) {
      return InvalidStatus(QualifiedKind(info), "",
                           {RequiredField("metadata.name", "name or generateName is required")});
    }
    name = GenerateName(gen);
  }
  meta.Set("name", name);
  if (const json::Value* rv = meta.Find("resourceVersion");
      rv && !(rv->is_string() && rv->as_string().empty()) && !rv->is_null()) {
    return Status(Code::kBadRequest, "resourceVersion should not be set on objects to be created");
  }

  // System fields are the server's (upstream WipeObjectMetaSystemFields + FillObjectMeta).
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "selfLink", "generation"}) {
    meta.Erase(f);
  }
  meta.Set("uid", NewUid());
  meta.Set("creationTimestamp", Now());
  meta.Set("generation", int64_t{1});
  if (info.has_status && scope.subresource.empty()) object.Erase("status");

  kind.Default(&object);
  FieldErrors errors = kind.ValidateCreate(object);
  if (!errors.empty()) return InvalidStatus(QualifiedKind(info), name, std::move(errors));

  if (!from_apply) {
    ApplyOptions ao{options.field_manager, false, info.api_version(), Now(), ""};
    UpdateManagedFields(nullptr, &object, ao);
  }

  Scope named = scope;
  named.name = name;
  AdmissionAttributes attrs{AdmissionOperation::kCreate,
                            &kind,
                            scope.namespace_,
                            name,
                            "",
                            &object,
                            nullptr,
                            scope.user,
                            options.dry_run};
  CSDR_RETURN_IF_ERROR(admission_->Admit(attrs, &warnings));

  Metadata(&object).Set("resourceVersion", "0");
  SortKeys(&object);
  WriteResult result;
  result.created = true;
  result.warnings = std::move(warnings);
  if (options.dry_run) {
    Metadata(&object).Erase("resourceVersion");
    result.object = std::move(object);
    return result;
  }
  json::Value* obj = &object;
  auto rev = store_->Create(Key(kind, scope.namespace_, name), Stamped(obj));
  if (!rev.ok()) {
    if (rev.status().code() == Code::kAlreadyExists) {
      return Status(Code::kAlreadyExists,
                    QualifiedResource(info) + " " + Quote(name) + " already exists");
    }
    return rev.status();
  }
  StampWritten(obj, *rev);
  result.object = std::move(object);
  return result;
}

// ---------------------------------------------------------------------------------------
// Get and list

StatusOr<json::Value> Registry::Get(const Scope& scope) {
  auto kv = store_->Get(Key(*scope.kind, scope.namespace_, scope.name));
  if (!kv.ok()) {
    if (kv.status().code() == Code::kNotFound) return NotFound(scope.kind->info(), scope.name);
    return kv.status();
  }
  return ParseStored(kv->value);
}

StatusOr<ListResult> Registry::List(const Scope& scope, const ListOptions& options) {
  const KindStrategy& kind = *scope.kind;
  CSDR_RETURN_IF_ERROR(ValidateFieldSelector(kind, options.field_selector));
  if (options.limit < 0) return Status(Code::kBadRequest, "limit must not be negative");

  const std::string prefix = Prefix(kind, scope.namespace_);
  int64_t at_revision = 0;
  std::string start_after;
  if (!options.continue_token.empty()) {
    auto decoded = DecodeContinue(options.continue_token);
    if (!decoded.ok()) return decoded.status();
    at_revision = decoded->first;
    // Tokens are relative to the resource prefix (they survive an all-namespace list).
    std::string base = Prefix(kind, "");
    start_after = base + decoded->second;
    if (start_after < prefix) start_after = prefix;
  } else if (!options.resource_version.empty() && options.resource_version != "0") {
    int64_t rv = ParseRv(options.resource_version);
    if (rv < 0) {
      return Status(Code::kBadRequest,
                    "invalid resource version \"" + options.resource_version + "\"");
    }
    int64_t current = store_->CurrentRevision();
    if (options.resource_version_match == "Exact") {
      at_revision = rv;
    }
    if (rv > current) {
      // Not here yet: another replica may have written it (etcd://). List at exactly that
      // revision, which the store waits for (its future_revision_wait, 3 s as upstream's
      // watch cache) and then refuses with kTimeout: 504 below.
      at_revision = rv;
    }
    if (at_revision == current) at_revision = 0;
  }

  // A metadata.name=X requirement narrows the scan to one key.
  ListResult out;
  size_t limit = options.limit > 0 ? static_cast<size_t>(options.limit) : 0;
  bool need_parse = !options.label_selector.empty() || !options.field_selector.empty();
  std::string cursor = start_after;
  int64_t revision = at_revision;
  bool exhausted = false;
  std::string last_key;
  while (!exhausted) {
    size_t want = limit == 0   ? 0
                  : need_parse ? std::max(kListBatch, limit)
                               : limit - out.items.size() + 1;
    auto page = store_->List(prefix, cursor, want, revision);
    if (!page.ok()) {
      if (page.status().code() == Code::kExpired && !options.continue_token.empty()) {
        return Status(Code::kExpired,
                      "The provided continue parameter is too old to display a consistent list "
                      "result. You can start a new list without the continue parameter, or use "
                      "the continue token in this response to retrieve the remainder of the "
                      "results. Continuing with the provided token results in an inconsistent "
                      "list - objects that were created, modified, or deleted between the time "
                      "the first chunk was returned and now may show up in the list.");
      }
      if (page.status().code() == Code::kExpired) {
        return Status(Code::kExpired, "too old resource version: " + std::to_string(at_revision) +
                                          " (" + std::to_string(store_->CompactedRevision()) + ")");
      }
      if (page.status().code() == Code::kTimeout) {
        Status s(Code::kTimeout,
                 "Timeout: Too large resource version: " + std::to_string(at_revision) +
                     ", current: " + std::to_string(store_->CurrentRevision()));
        s.set_retry_after_seconds(1);
        return s;
      }
      return page.status();
    }
    if (revision == 0) revision = page->revision;
    exhausted = !page->more;
    for (auto& kv : page->items) {
      cursor = kv.key;
      if (limit > 0 && out.items.size() == limit) {
        // One more match exists beyond the page: the list continues.
        exhausted = false;
        goto page_full;
      }
      if (need_parse) {
        auto obj = ParseStored(kv.value);
        if (!obj.ok()) continue;
        if (!Matches(kind, *obj, options.label_selector, options.field_selector)) continue;
      }
      last_key = kv.key;
      out.items.push_back(std::move(kv));
    }
    if (limit == 0) {
      if (!page->more) break;
    }
  }
  out.resource_version = revision;
  return out;

page_full:
  out.resource_version = revision;
  out.continue_token = EncodeContinue(revision, last_key.substr(Prefix(kind, "").size()));
  return out;
}

// ---------------------------------------------------------------------------------------
// Update, patch, apply

StatusOr<WriteResult> Registry::Update(const Scope& scope, json::Value object,
                                       const WriteOptions& options) {
  const KindInfo& info = scope.kind->info();
  std::string body_name = MetaString(object, "name");
  if (body_name.empty()) {
    return InvalidStatus(QualifiedKind(info), "",
                         {RequiredField("metadata.name", "name or generateName is required")});
  }
  if (body_name != scope.name) {
    return Status(Code::kBadRequest, "the name of the object (" + body_name +
                                         ") does not match the name on the URL (" + scope.name +
                                         ")");
  }
  if (info.namespaced) {
    std::string body_ns = MetaString(object, "namespace");
    if (!body_ns.empty() && body_ns != scope.namespace_) {
      return Status(Code::kBadRequest,
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request");
    }
  }
  std::string rv = MetaString(object, "resourceVersion");
  if (rv.empty()) {
    return Status::Invalid(QualifiedResource(info) + " " + Quote(scope.name) +
                               " is invalid: metadata.resourceVersion: Invalid value: 0: must be "
                               "specified for an update",
                           {{"FieldValueInvalid", "metadata.resourceVersion",
                             "Invalid value: 0: must be specified for an update"}});
  }
  return UpdateLoop(
      scope, options,
      [&](const json::Value& current, bool* rv_precondition) -> StatusOr<json::Value> {
        *rv_precondition = true;
        std::string body_uid = MetaString(object, "uid");
        if (!body_uid.empty() && body_uid != MetaString(current, "uid")) {
          return Status(Code::kConflict,
                        "Operation cannot be fulfilled on " + QualifiedResource(info) + " " +
                            Quote(scope.name) + ": Precondition failed: UID in precondition: " +
                            body_uid + ", UID in object meta: " + MetaString(current, "uid"));
        }
        return object;
      },
      false, nullptr);
}

StatusOr<WriteResult> Registry::Patch(const Scope& scope, PatchType type, const json::Value& patch,
                                      const WriteOptions& options) {
  const KindInfo& info = scope.kind->info();
  if (type == PatchType::kApply) {
    if (options.field_manager.empty()) {
      return Status::Invalid(
          "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required "
          "for apply patch",
          {RequiredField("fieldManager", "is required for apply patch")});
    }
    if (!patch.is_object()) return Status(Code::kBadRequest, "apply patch must be an object");
    std::string api_version = patch.GetString({"apiVersion"});
    std::string kind_name = patch.GetString({"kind"});
    if (api_version.empty() || kind_name.empty()) {
      return Status(Code::kBadRequest,
                    "invalid object type: " + std::string(api_version.empty() ? "" : api_version) +
                        ", Kind=" + kind_name);
    }
    std::string name = MetaString(patch, "name");
    if (!name.empty() && name != scope.name) {
      return Status(Code::kBadRequest, "the name of the object (" + name +
                                           ") does not match the name on the URL (" + scope.name +
                                           ")");
    }
  }
  if (type == PatchType::kMerge) CSDR_RETURN_IF_ERROR(CheckMergePatchBody(patch));
  return UpdateLoop(
      scope, options,
      [&](const json::Value& current, bool* rv_precondition) -> StatusOr<json::Value> {
        StatusOr<json::Value> patched = Status(Code::kInternal, "unreachable");
        switch (type) {
          case PatchType::kMerge:
            patched = ApplyMergePatch(current, patch);
            break;
          case PatchType::kJson:
            patched = ApplyJsonPatch(current, patch);
            break;
          case PatchType::kApply: {
            ApplyOptions ao{options.field_manager, options.force, info.api_version(), Now(),
                            scope.subresource};
            patched = ServerSideApply(&current, patch, ao);
            break;
          }
        }
        if (!patched.ok()) return patched.status();
        // A resourceVersion in the patch makes it conditional on that version.
        std::string want = MetaString(*patched, "resourceVersion");
        std::string have = MetaString(current, "resourceVersion");
        *rv_precondition = !want.empty() && want != have;
        if (want.empty()) Metadata(&patched.value()).Set("resourceVersion", have);
        return patched;
      },
      type == PatchType::kApply, type == PatchType::kApply ? &patch : nullptr);
}

StatusOr<WriteResult> Registry::UpdateLoop(
    const Scope& scope, const WriteOptions& options,
    const std::function<StatusOr<json::Value>(const json::Value&, bool*)>& transform,
    bool allow_create_via_apply, const json::Value* apply_patch) {
  const KindStrategy& kind = *scope.kind;
  const KindInfo& info = kind.info();
  const std::string key = Key(kind, scope.namespace_, scope.name);
  const bool status_write = scope.subresource == "status";

  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    auto kv = store_->Get(key);
    if (!kv.ok()) {
      if (kv.status().code() == Code::kNotFound && allow_create_via_apply && !status_write) {
        // Server-side apply of an absent object creates it (201).
        ApplyOptions ao{options.field_manager, options.force, info.api_version(), Now(), ""};
        auto created = ServerSideApply(nullptr, *apply_patch, ao);
        if (!created.ok()) return created.status();
        auto r = CreatePrepared(scope, std::move(created.value()), options, {}, true);
        if (!r.ok() && r.status().code() == Code::kAlreadyExists) continue;  // raced: retry
        return r;
      }
      if (kv.status().code() == Code::kNotFound) return NotFound(info, scope.name);
      return kv.status();
    }
    auto current_or = ParseStored(kv->value);
    if (!current_or.ok()) return Status(Code::kInternal, "stored object is not valid JSON");
    const json::Value& current = *current_or;

    bool rv_precondition = false;
    auto next_or = transform(current, &rv_precondition);
    if (!next_or.ok()) return next_or.status();
    json::Value next = std::move(next_or.value());
    if (!next.is_object()) return Status(Code::kBadRequest, "the object must be a JSON object");
    std::vector<std::string> warnings;
    CSDR_RETURN_IF_ERROR(CheckSchema(kind, &next, options.field_validation, scope.name, &warnings));

    // The request's resourceVersion must match the stored one.
    if (rv_precondition &&
        MetaString(next, "resourceVersion") != MetaString(current, "resourceVersion")) {
      return ConflictModified(info, scope.name);
    }
    // apiVersion and kind are fixed; name and namespace come from the URL.
    if (next.GetString({"apiVersion"}) != info.api_version() ||
        next.GetString({"kind"}) != info.kind) {
      if (next.GetString({"kind"}) != info.kind && !next.GetString({"kind"}).empty()) {
        return InvalidStatus(
            QualifiedKind(info), scope.name,
            {InvalidField("kind", Quote(next.GetString({"kind"})), "must be " + info.kind)});
      }
      next.Set("apiVersion", info.api_version());
      next.Set("kind", info.kind);
    }
    json::Value& meta = Metadata(&next);
    if (MetaString(next, "name") != scope.name) {
      return Status(Code::kBadRequest, "the name of the object (" + MetaString(next, "name") +
                                           ") does not match the name on the URL (" + scope.name +
                                           ")");
    }
    if (info.namespaced) {
      std::string ns = MetaString(next, "namespace");
      if (!ns.empty() && ns != scope.namespace_) {
        return Status(Code::kBadRequest,
                      "the namespace of the provided object does not match the namespace sent "
                      "on the request");
      }
      meta.Set("namespace", scope.namespace_);
    }

    // The subresource decides which half of the object this write may change.
    if (status_write) {
      json::Value merged = current;
      if (const json::Value* st = next.Find("status"))
        merged.Set("status", *st);
      else
        merged.Erase("status");
      // Status writers may carry managedFields from apply; keep the rest of metadata.
      if (const json::Value* mf = MetaField(next, "managedFields"))
        Metadata(&merged).Set("managedFields", *mf);
      next = std::move(merged);
    } else if (info.has_status) {
      if (const json::Value* st = current.Find("status"))
        next.Set("status", *st);
      else
        next.Erase("status");
    }
    // System fields are preserved from the stored object.
    json::Value& m = Metadata(&next);
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (const json::Value* v = MetaField(current, f))
        m.Set(f, *v);
      else
        m.Erase(f);
    }
    m.Set("resourceVersion", MetaString(current, "resourceVersion"));
    m.Erase("selfLink");
    if (!status_write) kind.Default(&next);

    if (!status_write && !SpecEqual(current, next)) {
      const json::Value* g = MetaField(current, "generation");
      m.Set("generation", (g && g->is_int() ? g->as_int() : 0) + 1);
    }

    FieldErrors errors =
        status_write ? kind.ValidateStatus(next) : kind.ValidateUpdate(next, current);
    // No new finalizers once deletion started (upstream ValidateObjectMetaUpdate).
    if (MetaField(current, "deletionTimestamp") != nullptr) {
      std::vector<std::string> old_f = Finalizers(current);
      std::vector<std::string> added;
      for (const auto& f : Finalizers(next)) {
        if (std::find(old_f.begin(), old_f.end(), f) == old_f.end()) added.push_back(f);
      }
      if (!added.empty()) {
        std::string list = "[]string{";
        for (size_t i = 0; i < added.size(); ++i) list += (i ? ", " : "") + Quote(added[i]);
        list += "}";
        errors.push_back(ForbiddenField(
            "metadata.finalizers",
            "no new finalizers can be added if the object is being deleted, found new finalizers " +
                list));
      }
    }
    if (!errors.empty()) return InvalidStatus(QualifiedKind(info), scope.name, std::move(errors));

    if (apply_patch == nullptr) {
      ApplyOptions ao{options.field_manager, false, info.api_version(), Now(), scope.subresource};
      UpdateManagedFields(&current, &next, ao);
    }

    SortKeys(&next);
    WriteResult result;
    result.warnings = std::move(warnings);
    if (next == current) {
      // A no-op write changes nothing, not even the resourceVersion (upstream behaviour).
      result.object = std::move(current_or.value());
      return result;
    }

    AdmissionAttributes attrs{AdmissionOperation::kUpdate,
                              &kind,
                              scope.namespace_,
                              scope.name,
                              scope.subresource,
                              &next,
                              &current,
                              scope.user,
                              options.dry_run};
    CSDR_RETURN_IF_ERROR(admission_->Admit(attrs, &result.warnings));

    // Removing the last finalizer of a deleting object completes its deletion.
    bool finish_delete =
        MetaField(next, "deletionTimestamp") != nullptr && Finalizers(next).empty();
    if (options.dry_run) {
      result.object = std::move(next);
      return result;
    }
    json::Value* obj = &next;
    auto encode = Stamped(obj);
    StatusOr<int64_t> rev = finish_delete ? store_->Delete(key, kv->mod_revision, encode)
                                          : store_->Update(key, kv->mod_revision, encode);
    if (!rev.ok()) {
      if (rev.status().code() == Code::kConflict) {
        if (rv_precondition) return ConflictModified(info, scope.name);
        continue;  // lost a race we did not ask to detect: recompute from the new state
      }
      if (rev.status().code() == Code::kNotFound) return NotFound(info, scope.name);
      return rev.status();
    }
    if (finish_delete) admission_->Deleted(kind, scope.namespace_, scope.name);
    StampWritten(obj, *rev);
    result.object = std::move(next);
    return result;
  }
  return ConflictModified(info, scope.name);
}

// ---------------------------------------------------------------------------------------
// Delete

StatusOr<WriteResult> Registry::Delete(const Scope& scope, const DeleteOptions& options) {
  const KindStrategy& kind = *scope.kind;
  const KindInfo& info = kind.info();
  const std::string key = Key(kind, scope.namespace_, scope.name);
  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    auto kv = store_->Get(key);
    if (!kv.ok()) {
      if (kv.status().code() == Code::kNotFound) return NotFound(info, scope.name);
      return kv.status();
    }
    auto current_or = ParseStored(kv->value);
    if (!current_or.ok()) return Status(Code::kInternal, "stored object is not valid JSON");
    json::Value current = std::move(current_or.value());
    std::string fail =
        "Operation cannot be fulfilled on " + QualifiedKind(info) + " " + Quote(scope.name) + ": ";
    if (options.precondition_uid && *options.precondition_uid != MetaString(current, "uid")) {
      return Status(Code::kConflict,
                    fail + "the UID in the precondition (" + *options.precondition_uid +
                        ") does not match the UID in record (" + MetaString(current, "uid") +
                        "). The object might have been deleted and then recreated");
    }
    if (options.precondition_resource_version &&
        *options.precondition_resource_version != MetaString(current, "resourceVersion")) {
      return Status(Code::kConflict, fail + "the ResourceVersion in the precondition (" +
                                         *options.precondition_resource_version +
                                         ") does not match the ResourceVersion in record (" +
                                         MetaString(current, "resourceVersion") +
                                         "). The object might have been modified");
    }

    WriteResult result;
    AdmissionAttributes attrs{AdmissionOperation::kDelete,
                              &kind,
                              scope.namespace_,
                              scope.name,
                              "",
                              nullptr,
                              &current,
                              scope.user,
                              options.dry_run};
    CSDR_RETURN_IF_ERROR(admission_->Admit(attrs, &result.warnings));

    if (!Finalizers(current).empty()) {
      // Graceful deletion: mark, and let the finalizers' owners finish it.
      if (MetaField(current, "deletionTimestamp") != nullptr) {
        result.object = std::move(current);
        return result;
      }
      json::Value next = current;
      json::Value& m = Metadata(&next);
      m.Set("deletionTimestamp", Now());
      m.Set("deletionGracePeriodSeconds", int64_t{0});
      const json::Value* g = MetaField(current, "generation");
      if (g && g->is_int() && g->as_int() > 0) m.Set("generation", g->as_int() + 1);
      SortKeys(&next);
      if (options.dry_run) {
        result.object = std::move(next);
        return result;
      }
      json::Value* obj = &next;
      auto rev = store_->Update(key, kv->mod_revision, Stamped(obj));
      if (!rev.ok()) {
        if (rev.status().code() == Code::kConflict) continue;
        if (rev.status().code() == Code::kNotFound) return NotFound(info, scope.name);
        return rev.status();
      }
      StampWritten(obj, *rev);
      result.object = std::move(next);
      return result;
    }

    result.deleted = true;
    if (options.dry_run) {
      result.object = std::move(current);
      return result;
    }
    json::Value* obj = &current;
    auto rev = store_->Delete(key, kv->mod_revision, Stamped(obj));
    if (!rev.ok()) {
      if (rev.status().code() == Code::kConflict) continue;
      if (rev.status().code() == Code::kNotFound) return NotFound(info, scope.name);
      return rev.status();
    }
    admission_->Deleted(kind, scope.namespace_, scope.name);
    StampWritten(obj, *rev);
    result.object = std::move(current);
    return result;
  }
  return ConflictModified(info, scope.name);
}

StatusOr<std::vector<json::Value>> Registry::DeleteCollection(const Scope& scope,
                                                              const ListOptions& list,
                                                              const DeleteOptions& options) {
  ListOptions all = list;
  all.limit = 0;
  all.continue_token.clear();
  auto listed = List(scope, all);
  if (!listed.ok()) return listed.status();
  std::vector<json::Value> out;
  for (const storage::KeyValue& kv : listed->items) {
    auto obj = ParseStored(kv.value);
    if (!obj.ok()) continue;
    Scope item = scope;
    item.name = MetaString(*obj, "name");
    item.namespace_ = MetaString(*obj, "namespace");
    auto r = Delete(item, options);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) continue;  // deleted meanwhile
      return r.status();
    }
    out.push_back(std::move(r->object));
  }
  return out;
}

}  // namespace csdr::apiserver
