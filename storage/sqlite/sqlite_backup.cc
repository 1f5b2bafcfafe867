#include "storage/sqlite/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "storage/sqlite/sqlite_handle.h"

namespace csdr::storage {

using sqlite::Connection;

namespace {

// A temporary file the backup writes; removed (with any journal SQLite left beside it)
// unless it was renamed into place.
class TempFile {
 public:
  TempFile() = default;
  ~TempFile() { Remove(); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Creates "<target>.tmp-XXXXXX" (mkstemp: a fresh name, mode 0600 as the database's own).
  Status Create(const std::string& target) {
    std::string pattern = target + ".tmp-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    const int fd = ::mkstemp(buf.data());
    if (fd < 0) {
      return Status(Code::kUnavailable, "cannot create a temporary file beside " + target + ": " +
                                            std::strerror(errno));
    }
    ::close(fd);
    path_ = buf.data();
    return Status::Ok();
  }
  const std::string& path() const { return path_; }
  // The file was renamed into place: nothing to remove but SQLite's leftovers.
  void Renamed() { renamed_ = true; }

  void Remove() {
    if (path_.empty()) return;
    std::error_code ec;
    for (const char* suffix : {"-journal", "-wal", "-shm"}) {
      std::filesystem::remove(path_ + suffix, ec);
    }
    if (!renamed_) std::filesystem::remove(path_, ec);
    path_.clear();
  }

 private:
  std::string path_;
  bool renamed_ = false;
};

// Finishes a backup on every path out of the copy loop.
struct BackupFinisher {
  void operator()(sqlite3_backup* b) const { sqlite3_backup_finish(b); }
};

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0)
    return Status(Code::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int sync_errno = errno;
  ::close(fd);
  if (rc != 0) {
    return Status(Code::kUnavailable, "fsync " + path + ": " + std::strerror(sync_errno));
  }
  return Status::Ok();
}

// The csdr schema's revision and key count, read as one snapshot on `db` (inside the caller's
// read transaction, if any).
Status ReadStoreShape(Connection& db, const std::string& what, int64_t* revision,
                      int64_t* objects) {
  auto version = db.QueryText("PRAGMA user_version");
  // A busy or unreadable file keeps its own code (kUnavailable); one that is not SQLite at
  // all ("file is not a database") is kInternal.
  if (!version.ok()) {
    return Status(version.status().code(), what + ": " + version.status().message());
  }
  if (std::atoi(version->c_str()) < 1) {
    return Status(Code::kInternal, what + " is not a csdr-apiserver database (no schema version)");
  }
  auto shape = db.QueryText(
      "SELECT (SELECT value FROM meta WHERE name = 'revision') || ' ' || (SELECT count(*) FROM "
      "kv)");
  if (!shape.ok()) {
    return Status(shape.status().code(),
                  what + " is not a csdr-apiserver database: " + shape.status().message());
  }
  long long rev = -1, count = -1;
  if (std::sscanf(shape->c_str(), "%lld %lld", &rev, &count) != 2 || rev < 0 || count < 0) {
    return Status(Code::kInternal, what + " has no revision in its meta table");
  }
  *revision = rev;
  *objects = count;
  return Status::Ok();
}

}  // namespace

StatusOr<SqliteBackupResult> BackupSqliteDatabase(const std::string& source_path,
                                                  const std::string& target_path,
                                                  const SqliteBackupOptions& options) {
  if (source_path.empty() || target_path.empty()) {
    return Status(Code::kBadRequest, "backup needs a source and a target path");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(source_path, ec)) {
    return Status(Code::kNotFound, "no SQLite database file at " + source_path);
  }
  if (std::filesystem::exists(target_path, ec) &&
      std::filesystem::equivalent(source_path, target_path, ec)) {
    return Status(Code::kBadRequest,
                  "the backup target " + target_path + " is the database file itself");
  }
  const std::filesystem::path target(target_path);
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return Status(Code::kUnavailable, "cannot create directory " + target.parent_path().string() +
                                            ": " + ec.message());
    }
  }
  const int busy_ms = static_cast<int>(options.busy_timeout.count());

  // Read-only, so that the backup never writes to the server's file and needs no lock but
  // SQLite's own reader locks.
  auto src = Connection::Open(source_path, SQLITE_OPEN_READONLY);
  if (!src.ok()) return src.status();
  sqlite3_busy_timeout(src->get(), busy_ms);
  // One read transaction for the whole copy: its snapshot is what the backup API reads, so
  // the server's commits during the copy neither restart it (the backup API restarts a copy
  // whenever another connection changed the source between two steps) nor get half into it.
  CSDR_RETURN_IF_ERROR(src->Exec("BEGIN"));
  SqliteBackupResult result;
  int64_t source_objects = 0;
  CSDR_RETURN_IF_ERROR(
      ReadStoreShape(*src, "SQLite database " + source_path, &result.revision, &source_objects));

  TempFile temp;
  CSDR_RETURN_IF_ERROR(temp.Create(target_path));
  result.temp_path = temp.path();
  auto dst = Connection::Open(temp.path(), SQLITE_OPEN_READWRITE);
  if (!dst.ok()) return dst.status();
  sqlite3_busy_timeout(dst->get(), busy_ms);

  {
    std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
        sqlite3_backup_init(dst->get(), "main", src->get(), "main"));
    if (backup == nullptr) {
      return sqlite::Error(dst->get(), sqlite3_errcode(dst->get()), "sqlite3_backup_init");
    }
    const int pages = options.pages_per_step > 0 ? options.pages_per_step : -1;
    auto busy_until = std::chrono::steady_clock::now() + options.busy_timeout;
    for (;;) {
      const int rc = sqlite3_backup_step(backup.get(), pages);
      if (rc == SQLITE_DONE) break;
      if (rc == SQLITE_OK) {
        ++result.steps;
        busy_until = std::chrono::steady_clock::now() + options.busy_timeout;
        if (options.pause.count() > 0) std::this_thread::sleep_for(options.pause);
        continue;
      }
      if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) &&
          std::chrono::steady_clock::now() < busy_until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      return sqlite::Error(dst->get(), rc, "copying " + source_path + " to " + temp.path());
    }
    result.pages = sqlite3_backup_pagecount(backup.get());
    const int rc = sqlite3_backup_finish(backup.release());
    if (rc != SQLITE_OK) return sqlite::Error(dst->get(), rc, "finishing the backup");
  }
  // Let go of the snapshot at once: a long-lived reader holds back the server's checkpoints.
  CSDR_RETURN_IF_ERROR(src->Exec("COMMIT"));
  src->reset();

  // The copy carries the source's WAL flag; a rollback journal makes it one self-contained
  // file (the server switches it back to WAL when it opens it).
  auto mode = dst->QueryText("PRAGMA journal_mode=DELETE");
  if (!mode.ok()) return mode.status();
  if (*mode != "delete") {
    return Status(Code::kInternal, "the backup copy " + temp.path() +
                                       " cannot leave WAL mode (journal_mode is " + *mode + ")");
  }
  auto check = dst->QueryText("PRAGMA integrity_check");
  if (!check.ok()) return check.status();
  if (*check != "ok") {
    return Status(Code::kInternal,
                  "the backup copy failed PRAGMA integrity_check: " + check->substr(0, 500));
  }
  int64_t copied_revision = -1;
  CSDR_RETURN_IF_ERROR(
      ReadStoreShape(*dst, "the backup copy " + temp.path(), &copied_revision, &result.objects));
  if (copied_revision != result.revision || result.objects != source_objects) {
    return Status(Code::kInternal,
                  "the backup copy holds revision " + std::to_string(copied_revision) + " with " +
                      std::to_string(result.objects) + " keys, the source snapshot revision " +
                      std::to_string(result.revision) + " with " + std::to_string(source_objects));
  }
  dst->reset();

  CSDR_RETURN_IF_ERROR(SyncPath(temp.path(), O_RDONLY));
  if (::rename(temp.path().c_str(), target_path.c_str()) != 0) {
    return Status(Code::kUnavailable, "cannot rename " + temp.path() + " to " + target_path + ": " +
                                          std::strerror(errno));
  }
  temp.Renamed();
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  CSDR_RETURN_IF_ERROR(SyncPath(dir, O_RDONLY | O_DIRECTORY));
  result.bytes = static_cast<int64_t>(std::filesystem::file_size(target_path, ec));
  return result;
}

}  // namespace csdr::storage
