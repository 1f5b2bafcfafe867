#include "apiserver/tools/commands.h"

#include <glog/logging.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "apiserver/registry/registry.h"
#include "apiserver/tools/migrate.h"
#include "common/duration.h"
#include "common/status.h"
#include "storage/sqlite/sqlite_backup.h"
#include "storage/store.h"

namespace csdr::apiserver {

namespace {

constexpr std::string_view kMigrateUsage = R"(Usage: csdr-apiserver migrate --from URL --to URL

Copies every object from one store to another: every key under /registry/ (all kinds, and
internal keys such as the backup vault tombstones), read at one revision of the source. Names,
uids, creation timestamps, labels and content are kept; metadata.resourceVersion becomes the
object's revision in the target. The target must be empty (no key under /registry/), or
nothing is written. Afterwards the target is read back and compared with the source; any
difference is a failure.

URLs are those --storage takes: sqlite:///path/file.db, memory://, etcd://... (memory:// as
the target is a dry run: everything is read, copied and verified, then dropped).
A sqlite:// source must exist and must not be in use by a running server (a server holds its
file's lock): back it up with `csdr-apiserver backup` and migrate from the backup. A
sqlite:// target is created when it does not exist.

Flags:
  --from URL   the store to copy from
  --to URL     the store to copy into (must be empty)
  --help       this text

Exit status: 0 copied and verified, 1 failed (one line on stderr says why), 2 bad usage.
)";

constexpr std::string_view kBackupUsage =
    R"(Usage: csdr-apiserver backup --storage sqlite:///path/file.db --to /path/backup.db

Writes an online backup of the SQLite database file, while a server may be serving from it,
with SQLite's backup API. The source is opened read-only and copied as one snapshot: every write
the server acknowledged before the backup started is in it. The copy is written to a temporary
file beside the target, checked with PRAGMA integrity_check, synced to disk and renamed over
the target.

Restore: stop the server, copy the backup over the database file (remove any -wal and -shm
files beside it), start the server.

Flags:
  --storage URL          the database to back up (sqlite:// only)
  --to PATH              the backup file to write (replaced when it exists)
  --pages-per-step N     database pages copied at a time (default 256)
  --pause DURATION       pause between steps, e.g. 10ms (default 10ms), leaving the disk to
                         the server
  --help                 this text

Exit status: 0 written and checked, 1 failed (one line on stderr says why), 2 bad usage.
)";

// One flag the parser fills in.
struct FlagSpec {
  std::string_view name;  // without the leading "--"
  std::string* value;
};

// Parses "--name value" and "--name=value"; "--help"/"-h" set *help. kBadRequest names the
// offending argument.
Status ParseFlags(const std::vector<std::string>& args, const std::vector<FlagSpec>& flags,
                  bool* help) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      *help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return Status(Code::kBadRequest, "unexpected argument \"" + arg + "\"");
    }
    std::string_view name = std::string_view(arg).substr(2);
    std::optional<std::string> inline_value;
    if (const size_t eq = name.find('='); eq != std::string_view::npos) {
      inline_value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& f : flags) {
      if (f.name == name) spec = &f;
    }
    if (spec == nullptr) return Status(Code::kBadRequest, "unknown flag --" + std::string(name));
    if (inline_value) {
      *spec->value = *inline_value;
    } else if (i + 1 < args.size()) {
      *spec->value = args[++i];
    } else {
      return Status(Code::kBadRequest, "flag --" + std::string(name) + " needs a value");
    }
  }
  return Status::Ok();
}

// The path of a sqlite:// URL ("sqlite:///abs/file.db" -> "/abs/file.db"), or nullopt for
// another scheme.
std::optional<std::string> SqlitePath(const std::string& url) {
  constexpr std::string_view kScheme = "sqlite://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  return url.substr(kScheme.size());
}

// The tools' stores: quiet (warnings and errors only, on stderr) and stamping values as the
// server does.
storage::StoreOptions ToolStoreOptions() {
  storage::StoreOptions options;
  options.stamp_revision = StampResourceVersion;
  // A file in use by a server stays locked; say so soon rather than after 10 s.
  options.open_lock_wait = std::chrono::milliseconds(1000);
  return options;
}

void SetUpLogging() {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;  // the stores' INFO lines are not the tool's output
  if (!google::IsGoogleLoggingInitialized()) google::InitGoogleLogging("csdr-apiserver");
}

int Fail(std::ostream& err, std::string_view command, const std::string& message) {
  err << "csdr-apiserver " << command << ": " << message << "\n";
  return 1;
}

int Usage(std::ostream& err, std::string_view command, const std::string& message) {
  err << "csdr-apiserver " << command << ": " << message << " (see csdr-apiserver " << command
      << " --help)\n";
  return 2;
}

int RunMigrate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string from, to;
  bool help = false;
  if (Status s = ParseFlags(args, {{"from", &from}, {"to", &to}}, &help); !s.ok()) {
    return Usage(err, "migrate", s.message());
  }
  if (help) {
    out << kMigrateUsage;
    return 0;
  }
  if (from.empty() || to.empty()) return Usage(err, "migrate", "--from and --to are required");
  if (from == to) return Usage(err, "migrate", "--from and --to name the same store");
  // A missing source file would be created empty by opening it: a typo must not "succeed".
  if (auto path = SqlitePath(from); path && !std::filesystem::exists(*path)) {
    return Fail(err, "migrate", "the source " + from + " does not exist");
  }
  SetUpLogging();

  storage::StoreOptions source_options = ToolStoreOptions();
  // Opening a SQLite file also compacts its event log by age; keep the log as it is (only the
  // count bound applies), so that reading a source never rewrites its history.
  source_options.log_retention_age = std::chrono::milliseconds(0);
  auto source = storage::OpenStore(from, source_options);
  if (!source.ok()) {
    return Fail(err, "migrate",
                "cannot open the source " + from + ": " + source.status().message());
  }
  auto target = storage::OpenStore(to, ToolStoreOptions());
  if (!target.ok()) {
    (*source)->Close();
    return Fail(err, "migrate", "cannot open the target " + to + ": " + target.status().message());
  }
  const auto started = std::chrono::steady_clock::now();
  auto report = MigrateStore(source->get(), target->get());
  (*source)->Close();
  (*target)->Close();
  if (!report.ok()) {
    return Fail(err, "migrate", "from " + from + " to " + to + ": " + report.status().message());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out << "source " << from << " at revision " << report->source_revision << "\n";
  char line[160];
  for (const auto& [resource, count] : report->per_resource) {
    std::snprintf(line, sizeof(line), "  %-40s %8zu\n", resource.c_str(), count);
    out << line;
  }
  std::snprintf(line, sizeof(line), "  %-40s %8zu\n", "total", report->keys);
  out << line;
  std::snprintf(line, sizeof(line), "%.1f", seconds);
  out << "copied " << report->keys << " keys to " << to << " (now at revision "
      << report->target_revision << ") in " << line
      << " s; verified: every key and value matches the source apart from resourceVersion\n";
  return 0;
}

int RunBackup(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string storage_url, to, pages = "256", pause = "10ms";
  bool help = false;
  if (Status s = ParseFlags(
          args,
          {{"storage", &storage_url}, {"to", &to}, {"pages-per-step", &pages}, {"pause", &pause}},
          &help);
      !s.ok()) {
    return Usage(err, "backup", s.message());
  }
  if (help) {
    out << kBackupUsage;
    return 0;
  }
  if (storage_url.empty() || to.empty()) {
    return Usage(err, "backup", "--storage and --to are required");
  }
  auto source = SqlitePath(storage_url);
  if (!source || source->empty()) {
    return Usage(err, "backup",
                 "--storage must be a sqlite:///path/file.db URL (back up etcd with etcdctl "
                 "snapshot save, or copy any store with migrate)");
  }
  storage::SqliteBackupOptions options;
  try {
    size_t used = 0;
    options.pages_per_step = std::stoi(pages, &used);
    if (used != pages.size() || options.pages_per_step < 1) throw std::invalid_argument(pages);
  } catch (const std::exception&) {
    return Usage(err, "backup",
                 "--pages-per-step must be a positive number, got \"" + pages + "\"");
  }
  auto pause_ns = ParseGoDuration(pause);
  if (!pause_ns.ok() || *pause_ns < 0) {
    return Usage(err, "backup", "--pause must be a duration such as 10ms, got \"" + pause + "\"");
  }
  options.pause =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*pause_ns));
  SetUpLogging();

  const auto started = std::chrono::steady_clock::now();
  auto result = storage::BackupSqliteDatabase(*source, to, options);
  if (!result.ok()) {
    return Fail(err, "backup",
                "of " + storage_url + " to " + to + ": " + result.status().message());
  }
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.1f",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  out << "backed up " << storage_url << " at revision " << result->revision << " ("
      << result->objects << " keys, " << result->pages << " pages, " << result->bytes
      << " bytes) to " << to << " in " << seconds << " s; integrity_check ok\n";
  return 0;
}

}  // namespace

bool IsToolCommand(std::string_view name) { return name == "migrate" || name == "backup"; }

int RunToolCommand(std::string_view name, const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  if (name == "migrate") return RunMigrate(args, out, err);
  if (name == "backup") return RunBackup(args, out, err);
  err << "csdr-apiserver: unknown command \"" << name << "\"\n";
  return 2;
}

}  // namespace csdr::apiserver
