#include "storage/sqlite/sqlite_handle.h"

#include <utility>

namespace csdr::storage::sqlite {

Code CodeFor(int rc) {
  switch (rc & 0xff) {  // primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

Status Error(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  message += " (sqlite code " + std::to_string(rc) + ")";
  return Status(CodeFor(rc), std::move(message));
}

StatusOr<Connection> Connection::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection c;
  c.db_.reset(raw);  // sqlite3_open_v2 may return a handle even on failure; close it
  if (rc != SQLITE_OK) return Error(raw, rc, "cannot open " + path);
  sqlite3_extended_result_codes(raw, 1);
  return c;
}

Status Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text is available from sqlite3_errmsg
  if (rc != SQLITE_OK) return Error(db_.get(), rc, text);
  return Status::Ok();
}

StatusOr<std::string> Connection::QueryText(std::string_view sql) {
  auto stmt = Statement::Prepare(db_.get(), sql);
  if (!stmt.ok()) return stmt.status();
  std::string out;
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) {
    if (!out.empty()) out += "\n";
    out += stmt->ColumnString(0);
  }
  if (rc != SQLITE_DONE) return Error(db_.get(), rc, std::string(sql));
  return out;
}

StatusOr<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement s;
  s.stmt_.reset(raw);
  if (rc != SQLITE_OK) return Error(db, rc, "prepare \"" + std::string(sql) + "\"");
  return s;
}

void Statement::BindBlob(int index, std::string_view value) {
  // A zero-length blob would bind NULL with a null pointer; "" keeps it a BLOB.
  sqlite3_bind_blob64(stmt_.get(), index, value.empty() ? "" : value.data(), value.size(),
                      SQLITE_STATIC);
}

void Statement::BindText(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void Statement::BindInt(int index, int64_t value) { sqlite3_bind_int64(stmt_.get(), index, value); }

void Statement::BindNull(int index) { sqlite3_bind_null(stmt_.get(), index); }

int Statement::Step() { return sqlite3_step(stmt_.get()); }

std::string Statement::ColumnString(int index) const {
  const void* data = sqlite3_column_blob(stmt_.get(), index);
  const int size = sqlite3_column_bytes(stmt_.get(), index);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

int64_t Statement::ColumnInt(int index) const { return sqlite3_column_int64(stmt_.get(), index); }

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

void Statement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

}  // namespace csdr::storage::sqlite
