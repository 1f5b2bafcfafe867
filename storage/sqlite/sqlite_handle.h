// RAII for the SQLite C API: connections, prepared statements and their reset scope.
//
// Ownership: Connection owns a sqlite3* and closes it; Statement owns a sqlite3_stmt* and
// finalizes it (statements must die before their connection: declare them after it).
// Thread safety: none; SQLite connections are opened with SQLITE_OPEN_NOMUTEX ("multi-thread"
// mode), so each Connection and its Statements must be used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace csdr::storage::sqlite {

// Maps a SQLite result code to our codes: contention, I/O and a full disk are transient
// (kUnavailable); anything else, corruption included, is kInternal.
Code CodeFor(int rc);

// Status for a failed call on `db`: "<what>: <sqlite message> (<extended code>)".
Status Error(sqlite3* db, int rc, std::string_view what);

class Connection {
 public:
  Connection() = default;
  // Opens `path` with `flags` (SQLITE_OPEN_* | SQLITE_OPEN_NOMUTEX is added).
  static StatusOr<Connection> Open(const std::string& path, int flags);

  sqlite3* get() const { return db_.get(); }
  explicit operator bool() const { return db_ != nullptr; }
  void reset() { db_.reset(); }

  // Runs SQL without results (pragmas, BEGIN/COMMIT, DDL).
  Status Exec(std::string_view sql);
  // Runs a statement that yields one text value (e.g. "PRAGMA journal_mode=WAL"); every row
  // is joined with "\n" so that multi-row answers (quick_check) stay readable.
  StatusOr<std::string> QueryText(std::string_view sql);

 private:
  struct Closer {
    // close_v2: defers the close until the last statement is finalized, never leaks.
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

class Statement {
 public:
  Statement() = default;
  // Prepares `sql` once, for reuse (SQLITE_PREPARE_PERSISTENT).
  static StatusOr<Statement> Prepare(sqlite3* db, std::string_view sql);

  sqlite3_stmt* get() const { return stmt_.get(); }
  explicit operator bool() const { return stmt_ != nullptr; }

  // Binds by 1-based index. BindBlob does not copy: `value` must outlive the step (it does,
  // for every caller: the bound strings live until the statement is reset).
  void BindBlob(int index, std::string_view value);
  // For TEXT columns (meta.name): a BLOB never compares equal to TEXT in SQLite.
  void BindText(int index, std::string_view value);
  void BindInt(int index, int64_t value);
  void BindNull(int index);

  // sqlite3_step: SQLITE_ROW, SQLITE_DONE or an error code.
  int Step();

  std::string ColumnString(int index) const;
  int64_t ColumnInt(int index) const;
  bool ColumnIsNull(int index) const;

  // Resets and clears bindings so the statement holds no read snapshot and no pointer.
  void Reset();

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

// Resets a statement when the scope ends, whatever path leaves it.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& stmt) : stmt_(stmt) {}
  ~ResetOnExit() { stmt_.Reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Statement& stmt_;
};

}  // namespace csdr::storage::sqlite
