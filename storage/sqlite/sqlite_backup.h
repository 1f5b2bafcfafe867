// An online backup of a sqlite:// database file, for `csdr-apiserver backup` and cron jobs.
//
// BackupSqliteDatabase copies the database at `source_path` into `target_path` with SQLite's
// backup API while a server may be serving from the source:
//  - The source is opened read-only and never locked against the server: the server's lock
//    file ("<db>.lock") is left alone, and in WAL mode a reader neither blocks the server's
//    writer nor is blocked by it. The copy is ONE snapshot (one read transaction held for the
//    whole copy, so the server's commits during it neither show up in it nor restart it): it
//    holds every write acknowledged before the backup started, and no half of any batch.
//  - It copies `pages_per_step` pages at a time with `pause` between steps, so that the copy
//    shares the disk with the server rather than taking it over.
//  - The copy goes to a temporary file beside the target ("<target>.tmp-XXXXXX"), is checked
//    with PRAGMA integrity_check and its csdr schema read back, switched to a rollback
//    journal (so it is one self-contained file), fsynced, renamed over the target and the
//    directory fsynced. On any error the temporary file is removed and the target is left as
//    it was.
//
// Restore: stop the server, copy the backup over the database file (removing any "-wal" and
// "-shm" beside it), start. The server turns WAL mode back on when it opens the file.
//
// Thread safety: a free function holding no shared state; concurrent backups of one source
// are fine (each is a reader). Errors: kNotFound when the source does not exist, kBadRequest
// when source and target are the same file, kInternal when the source or the copy is damaged
// or not a csdr database, kUnavailable for I/O errors and a source that stays busy.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace csdr::storage {

struct SqliteBackupOptions {
  // Pages copied per sqlite3_backup_step: 256 pages of 4 KiB are 1 MiB, a few milliseconds
  // of disk time, after which the server's I/O gets the disk for `pause`.
  int pages_per_step = 256;
  std::chrono::milliseconds pause{10};
  // How long the source may stay busy (a connection recovering the WAL index) before the
  // backup gives up with kUnavailable.
  std::chrono::milliseconds busy_timeout{10000};
};

struct SqliteBackupResult {
  int64_t revision = 0;   // the store revision the copy holds (meta.revision)
  int64_t objects = 0;    // rows of the kv table in the copy: every stored key
  int64_t pages = 0;      // database pages copied
  int64_t bytes = 0;      // size of the copy on disk
  int64_t steps = 0;      // sqlite3_backup_step calls that copied pages
  std::string temp_path;  // the temporary file used (gone after the call)
};

StatusOr<SqliteBackupResult> BackupSqliteDatabase(const std::string& source_path,
                                                  const std::string& target_path,
                                                  const SqliteBackupOptions& options = {});

}  // namespace csdr::storage
