#include "storage/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "storage/list_page.h"
#include "storage/sqlite/sqlite_handle.h"

namespace csdr::storage {

using internal::WriteOp;
using sqlite::Connection;
using sqlite::ResetOnExit;
using sqlite::Statement;

namespace {

// Bump when the schema changes; Open refuses files from a newer version rather than guess.
constexpr int kSchemaVersion = 1;

// `log` uses rev as its rowid, so appends go to the end of the b-tree and compaction deletes
// a prefix of it. `kv` keeps a rowid (values are KiBs; WITHOUT ROWID suits rows under
// ~200 bytes, sqlite.org/withoutrowid.html) with the key's unique index for lookups and
// ordered range scans. Keys are BLOBs so that they compare bytewise, as std::string does.
constexpr const char* kSchema = R"sql(
CREATE TABLE meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE kv (
  key BLOB NOT NULL PRIMARY KEY,
  value BLOB NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL
);
CREATE TABLE log (
  rev INTEGER PRIMARY KEY,
  type INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  prev_value BLOB,
  create_rev INTEGER NOT NULL,
  prev_rev INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);
)sql";

// How long a connection waits on a lock held by another connection of ours (a checkpoint,
// a reader resetting the WAL) before reporting SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;
// The WAL file is truncated to this after checkpoints, so a burst does not leave a huge file.
constexpr int64_t kJournalSizeLimit = int64_t{64} << 20;
// Idle read connections kept open; more are opened on demand and closed when returned.
constexpr size_t kMaxIdleReaders = 16;
// Opening maps the file to read it once (the integrity check and the log tail) without a
// copy per page, then unmaps it: served reads go through the page cache, so the file's pages
// never count in the process's resident memory.
constexpr int64_t kOpenMmapBytes = int64_t{1} << 30;
// The log tail warmed into the watch history at open: watches resumed after a restart resume
// from near the newest revision; older ones replay from the log (SqliteStore::Watch). Reading
// the whole retained history would make start-up grow with it.
constexpr size_t kOpenHistoryEvents = 1000;
constexpr size_t kOpenHistoryBytes = size_t{1} << 20;

int EventTypeToInt(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return 0;
    case EventType::kModified:
      return 1;
    case EventType::kDeleted:
      return 2;
  }
  return 0;
}

std::optional<EventType> EventTypeFromInt(int64_t v) {
  switch (v) {
    case 0:
      return EventType::kAdded;
    case 1:
      return EventType::kModified;
    case 2:
      return EventType::kDeleted;
    default:
      return std::nullopt;
  }
}

// Wall time, so that the log's created_at means the same thing after a restart.
int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kLogColumns = "rev, type, key, value, prev_value, create_rev, prev_rev";

// Reads a row of kLogColumns.
Status ReadEventRow(const Statement& s, Event* e) {
  auto type = EventTypeFromInt(s.ColumnInt(1));
  if (!type) {
    return Status(Code::kInternal,
                  "event log row " + std::to_string(s.ColumnInt(0)) + " has an unknown type");
  }
  e->revision = s.ColumnInt(0);
  e->type = *type;
  e->key = s.ColumnString(2);
  e->value = s.ColumnString(3);
  e->prev_value = s.ColumnString(4);
  e->create_revision = s.ColumnInt(5);
  e->prev_revision = s.ColumnInt(6);
  return Status::Ok();
}

// SQLite takes a write-ahead log whose header is not valid (wrong magic or version, or a
// checksum that does not match) for an empty one, and deletes it when the last connection
// closes: the committed writes it held (the server died before a checkpoint) would be gone
// without a word and their revisions handed out again. A missing or empty WAL is normal; a
// header is written whole (one write, synced before any frame), so a crash never tears one.
// Format: sqlite.org/fileformat2.html#walformat.
Status CheckWalHeader(const std::string& wal_path) {
  const int fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status(Code::kUnavailable, "cannot read " + wal_path + ": " + std::strerror(errno));
  }
  unsigned char h[32];
  ssize_t n;
  do {
    n = ::pread(fd, h, sizeof(h), 0);
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    return Status(Code::kUnavailable, "cannot read " + wal_path + ": " + std::strerror(read_errno));
  }
  if (n == 0) return Status::Ok();
  const std::string what = "its write-ahead log " + wal_path;
  if (n < static_cast<ssize_t>(sizeof(h))) {
    return Status(Code::kInternal,
                  what + " is shorter than a WAL header (" + std::to_string(n) + " bytes)");
  }
  auto big_endian = [](const unsigned char* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  };
  const uint32_t magic = big_endian(h);
  if ((magic != 0x377f0682 && magic != 0x377f0683) || big_endian(h + 4) != 3007000) {
    return Status(Code::kInternal, what + " does not start with an SQLite WAL header");
  }
  // The header checksum: 32-bit words in the byte order the magic names.
  auto word = [&](const unsigned char* p) {
    return (magic & 1) != 0
               ? big_endian(p)
               : (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
  };
  uint32_t s0 = 0, s1 = 0;
  for (int i = 0; i < 24; i += 8) {
    s0 += word(h + i) + s1;
    s1 += word(h + i + 4) + s0;
  }
  if (s0 != big_endian(h + 24) || s1 != big_endian(h + 28)) {
    return Status(Code::kInternal, what + " has a WAL header whose checksum does not match");
  }
  return Status::Ok();
}

// An exclusive advisory lock on "<db>.lock", held while the store is open: two processes
// on one file would both allocate the same revisions.
class FileLock {
 public:
  static StatusOr<std::unique_ptr<FileLock>> Acquire(const std::string& path,
                                                     std::chrono::milliseconds wait) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Status(Code::kUnavailable,
                    "cannot open lock file " + path + ": " + std::strerror(errno));
    }
    auto lock = std::unique_ptr<FileLock>(new FileLock(fd));
    const auto until = std::chrono::steady_clock::now() + wait;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return Status(Code::kUnavailable, "cannot lock " + path + ": " + std::strerror(errno));
      }
      if (std::chrono::steady_clock::now() >= until) {
        return Status(Code::kUnavailable, "the database is in use by another process (" + path +
                                              " is locked); only one csdr-apiserver may open "
                                              "a SQLite file");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return lock;
  }
  ~FileLock() { ::close(fd_); }  // closing the descriptor releases the flock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

// The writer connection and its statements; used only by the writer thread (and by Init and
// Close while that thread is not running).
struct SqliteStore::Writer {
  // First member, so it is destroyed last: the file stays locked until the connection and
  // its statements are gone.
  std::unique_ptr<FileLock> lock;
  Connection db;
  Statement begin, commit, rollback;
  Statement get_kv, insert_kv, update_kv, delete_kv, insert_log, set_meta;
  Statement compact_age, compact_delete;

  Status Prepare() {
    struct Item {
      Statement* stmt;
      const char* sql;
    };
    const Item items[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&get_kv, "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1"},
        {&insert_kv, "INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?4)"},
        {&update_kv, "UPDATE kv SET value = ?2, mod_rev = ?3 WHERE key = ?1"},
        {&delete_kv, "DELETE FROM kv WHERE key = ?1"},
        {&insert_log,
         "INSERT INTO log(rev, type, key, value, prev_value, create_rev, prev_rev, created_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&set_meta, "UPDATE meta SET value = ?2 WHERE name = ?1"},
        {&compact_age, "SELECT MAX(rev) FROM log WHERE rev > ?1 AND rev <= ?2 AND created_at < ?3"},
        {&compact_delete, "DELETE FROM log WHERE rev > ?1 AND rev <= ?2"},
    };
    for (const auto& item : items) {
      auto s = Statement::Prepare(db.get(), item.sql);
      if (!s.ok()) return s.status();
      *item.stmt = std::move(s.value());
    }
    return Status::Ok();
  }

  // Runs a prepared statement that returns no rows.
  Status Run(Statement& s, std::string_view what) {
    ResetOnExit reset(s);
    const int rc = s.Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlite::Error(db.get(), rc, what);
    return Status::Ok();
  }

  // Rolls back whatever transaction is open; used on every error path.
  void RollbackQuietly() {
    if (sqlite3_get_autocommit(db.get()) == 0) {
      ResetOnExit reset(rollback);
      rollback.Step();
    }
  }
};

// A read connection with its statements. One thread at a time (leased from the pool).
struct SqliteStore::Reader {
  Connection db;
  Statement begin, end;
  Statement meta, get, kv_range, kv_from, log_after;

  Status Prepare() {
    struct Item {
      Statement* stmt;
      std::string sql;
    };
    const std::string log_select = std::string("SELECT ") + kLogColumns +
                                   " FROM log WHERE rev > ?1 AND key >= ?2 AND "
                                   "(?3 IS NULL OR key < ?3) ORDER BY rev";
    const Item items[] = {
        {&begin, "BEGIN"},
        {&end, "COMMIT"},
        {&meta,
         "SELECT (SELECT value FROM meta WHERE name = 'revision'), "
         "(SELECT value FROM meta WHERE name = 'compacted')"},
        {&get, "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1"},
        {&kv_range,
         "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 AND key < ?2 "
         "ORDER BY key"},
        {&kv_from, "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 ORDER BY key"},
        {&log_after, log_select},
    };
    for (const auto& item : items) {
      auto s = Statement::Prepare(db.get(), item.sql);
      if (!s.ok()) return s.status();
      *item.stmt = std::move(s.value());
    }
    return Status::Ok();
  }
};

// A read transaction on a leased reader: one snapshot for every statement run inside it.
// Statements must be reset before it ends (declare their ResetOnExit after it).
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db, Statement& begin, Statement& end) : db_(db), end_(end) {
    ResetOnExit reset(begin);
    const int rc = begin.Step();
    if (rc != SQLITE_DONE) status_ = sqlite::Error(db, rc, "BEGIN");
  }
  ~ReadTransaction() {
    if (sqlite3_get_autocommit(db_) == 0) {
      ResetOnExit reset(end_);
      end_.Step();
    }
  }
  const Status& status() const { return status_; }

 private:
  sqlite3* db_;
  Statement& end_;
  Status status_;
};

// One queued write. It lives on the caller's stack; the caller waits in Wait() until the
// writer has called Complete(), after which the writer never touches it again.
struct SqliteStore::PendingWrite {
  PendingWrite(WriteOp o, const std::string* k, int64_t expected, const Encoder* e)
      : op(o), key(k), expected_revision(expected), encode(e) {}

  void Complete(StatusOr<int64_t> r) {
    // Notify while holding the mutex: the caller cannot return (and destroy this) before
    // the writer is done with it.
    std::lock_guard<std::mutex> lock(mu);
    result.emplace(std::move(r));
    cv.notify_one();
  }
  StatusOr<int64_t> Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return result.has_value(); });
    return std::move(*result);
  }

  const WriteOp op;
  const std::string* const key;
  const int64_t expected_revision;
  const Encoder* const encode;

 private:
  std::mutex mu;  // guards result
  std::condition_variable cv;
  std::optional<StatusOr<int64_t>> result;
};

// Returns its reader to the pool when it goes out of scope.
class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore* store, std::unique_ptr<Reader> reader)
      : store_(store), reader_(std::move(reader)) {}
  ReaderLease(ReaderLease&& other) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (reader_) store_->ReleaseReader(std::move(reader_));
  }
  Reader* operator->() const { return reader_.get(); }
  Reader& operator*() const { return *reader_; }

 private:
  SqliteStore* store_;
  std::unique_ptr<Reader> reader_;
};

SqliteStore::SqliteStore(std::string path, const StoreOptions& options)
    : path_(std::move(path)), options_(options) {}

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                         const StoreOptions& options) {
  if (path.empty()) return Status(Code::kBadRequest, "empty SQLite database path");
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options));
  Status s = store->Init();
  if (!s.ok()) {
    store->closing_ = true;  // nothing to flush; the destructor just releases handles
    return s;
  }
  return store;
}

SqliteStore::~SqliteStore() { Close(); }

Status SqliteStore::Init() {
  const auto started = std::chrono::steady_clock::now();
  const std::filesystem::path file(path_);
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return Status(Code::kUnavailable, "cannot create directory " + file.parent_path().string() +
                                            " for " + path_ + ": " + ec.message());
    }
  }
  auto lock = FileLock::Acquire(path_ + ".lock", options_.open_lock_wait);
  if (!lock.ok()) return lock.status();

  // A damaged file must never be served: check the WAL (before SQLite reads and discards it)
  // and then the b-trees, before anything else reads them.
  auto damaged = [&](const std::string& detail) {
    return Status(Code::kInternal, "SQLite database " + path_ +
                                       " is damaged or not a csdr-apiserver database (" + detail +
                                       "); refusing to serve from it. Restore it from a "
                                       "backup (see docs/storage.md) or move it aside.");
  };
  if (Status wal = CheckWalHeader(path_ + "-wal"); !wal.ok()) {
    return wal.code() == Code::kInternal ? damaged(wal.message()) : wal;
  }

  auto conn = Connection::Open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!conn.ok()) {
    return Status(conn.status().code(),
                  "cannot open SQLite database " + path_ + ": " + conn.status().message());
  }
  writer_ = std::make_unique<Writer>();
  writer_->lock = std::move(lock.value());
  writer_->db = std::move(conn.value());
  Connection& db = writer_->db;
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);

  CSDR_RETURN_IF_ERROR(db.Exec("PRAGMA mmap_size=" + std::to_string(kOpenMmapBytes)));
  const auto check_started = std::chrono::steady_clock::now();
  auto check = db.QueryText("PRAGMA quick_check");
  if (!check.ok()) return damaged("PRAGMA quick_check failed: " + check.status().message());
  if (*check != "ok") return damaged("PRAGMA quick_check: " + check->substr(0, 500));
  const auto checked = std::chrono::steady_clock::now();

  auto mode = db.QueryText("PRAGMA journal_mode=WAL");
  if (!mode.ok()) return damaged(mode.status().message());
  if (*mode != "wal") {
    return Status(Code::kUnavailable, "SQLite database " + path_ +
                                          " cannot use write-ahead logging (journal_mode is " +
                                          *mode + "); is it on a network filesystem?");
  }
  CSDR_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
  CSDR_RETURN_IF_ERROR(db.Exec("PRAGMA journal_size_limit=" + std::to_string(kJournalSizeLimit)));

  auto version = db.QueryText("PRAGMA user_version");
  if (!version.ok()) return damaged(version.status().message());
  const int user_version = std::atoi(version->c_str());
  if (user_version == 0) {
    auto objects = db.QueryText("SELECT count(*) FROM sqlite_schema");
    if (!objects.ok()) return damaged(objects.status().message());
    if (*objects != "0") return damaged("it holds tables but no csdr schema version");
    CSDR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status created = db.Exec(kSchema);
    if (created.ok()) created = db.Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    if (created.ok()) created = db.Exec("COMMIT");
    if (!created.ok()) {
      writer_->RollbackQuietly();
      return Status(created.code(),
                    "creating the schema in " + path_ + " failed: " + created.message());
    }
  } else if (user_version > kSchemaVersion) {
    return damaged("schema version " + *version + " is newer than this binary's " +
                   std::to_string(kSchemaVersion) + ": it was written by a newer csdr-apiserver");
  }
  if (Status s = writer_->Prepare(); !s.ok()) return damaged(s.message());

  // The stored revisions must agree with each other; a mismatch means the file was damaged
  // or edited, and serving it could hand out a revision twice.
  auto meta = db.QueryText(
      "SELECT (SELECT value FROM meta WHERE name = 'revision') || ' ' || "
      "(SELECT value FROM meta WHERE name = 'compacted') || ' ' || "
      "(SELECT count(*) FROM log) || ' ' || ifnull((SELECT min(rev) FROM log), 0) || ' ' || "
      "ifnull((SELECT max(rev) FROM log), 0) || ' ' || ifnull((SELECT max(mod_rev) FROM kv), 0)");
  if (!meta.ok()) return damaged(meta.status().message());
  long long revision = -1, compacted = -1, count = -1, min_rev = -1, max_rev = -1, max_mod = -1;
  if (std::sscanf(meta->c_str(), "%lld %lld %lld %lld %lld %lld", &revision, &compacted, &count,
                  &min_rev, &max_rev, &max_mod) != 6) {
    return damaged("meta rows are missing");
  }
  const bool consistent = revision >= 0 && compacted >= 0 && compacted <= revision &&
                          max_mod <= revision && count == revision - compacted &&
                          (count == 0 || (min_rev == compacted + 1 && max_rev == revision));
  if (!consistent) {
    return damaged("revision " + std::to_string(revision) + ", compacted " +
                   std::to_string(compacted) + ", log rows " + std::to_string(count) + " [" +
                   std::to_string(min_rev) + ".." + std::to_string(max_rev) +
                   "], newest object revision " + std::to_string(max_mod));
  }
  writer_revision_ = revision;
  committed_revision_ = revision;
  compacted_revision_ = compacted;

  // Warm the watch history from the log's newest events so that a watch resumed after a
  // restart replays from memory; older (still retained) revisions are read from the log on
  // demand.
  const auto warm_started = std::chrono::steady_clock::now();
  hub_ = WatchHub::Make(options_, revision);
  std::vector<Event> tail;
  {
    auto stmt = Statement::Prepare(
        db.get(), std::string("SELECT ") + kLogColumns + " FROM log ORDER BY rev DESC LIMIT ?1");
    if (!stmt.ok()) return damaged(stmt.status().message());
    ResetOnExit reset(*stmt);
    stmt->BindInt(
        1, static_cast<int64_t>(std::min(options_.watch_history_events, kOpenHistoryEvents)));
    const size_t max_bytes = std::min(options_.watch_history_bytes, kOpenHistoryBytes);
    size_t bytes = 0;
    int rc;
    while ((rc = stmt->Step()) == SQLITE_ROW) {
      Event e;
      if (Status s = ReadEventRow(*stmt, &e); !s.ok()) return damaged(s.message());
      bytes += e.key.size() + e.value.size() + e.prev_value.size();
      if (bytes > max_bytes && !tail.empty()) break;
      tail.push_back(std::move(e));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return damaged(sqlite::Error(db.get(), rc, "reading the event log").message());
    }
  }
  std::reverse(tail.begin(), tail.end());
  const int64_t start = tail.empty() ? revision : tail.front().revision - 1;
  const size_t warmed = tail.size();
  hub_->Warm(start, std::move(tail));
  const auto warmed_at = std::chrono::steady_clock::now();
  CSDR_RETURN_IF_ERROR(db.Exec("PRAGMA mmap_size=0"));

  writer_thread_ = std::thread([this] { WriterLoop(); });
  opened_ = true;
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  LOG(INFO) << "storage: opened " << path_ << " at revision " << revision << " (compacted "
            << compacted << ", " << count << " log entries, " << warmed << " in watch history) in "
            << ms(std::chrono::steady_clock::now() - started) << " ms (integrity check "
            << ms(checked - check_started) << " ms, watch history " << ms(warmed_at - warm_started)
            << " ms)";
  return Status::Ok();
}

StatusOr<int64_t> SqliteStore::Create(const std::string& key, const Encoder& encode) {
  return SubmitWrite(WriteOp::kCreate, key, 0, encode);
}

StatusOr<int64_t> SqliteStore::Update(const std::string& key, int64_t expected_revision,
                                      const Encoder& encode) {
  return SubmitWrite(WriteOp::kUpdate, key, expected_revision, encode);
}

StatusOr<int64_t> SqliteStore::Delete(const std::string& key, int64_t expected_revision,
                                      const Encoder& encode) {
  return SubmitWrite(WriteOp::kDelete, key, expected_revision, encode);
}

StatusOr<int64_t> SqliteStore::SubmitWrite(WriteOp op, const std::string& key,
                                           int64_t expected_revision, const Encoder& encode) {
  CSDR_RETURN_IF_ERROR(internal::ValidateWrite(op, key, expected_revision, encode));
  if (closing_) return internal::ClosedStatus();
  std::shared_lock<std::shared_mutex> alive(lifecycle_);
  if (closing_) return internal::ClosedStatus();
  // The request lives on this stack frame; the writer only touches it until it completes
  // it, and we wait for exactly that.
  PendingWrite pending(op, &key, expected_revision, &encode);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return internal::ClosedStatus();
    queue_.push_back(&pending);
    stat_pending_.fetch_add(1, std::memory_order_relaxed);
  }
  queue_cv_.notify_one();
  return pending.Wait();
}

void SqliteStore::WriterLoop() {
  auto next_compaction = std::chrono::steady_clock::now() + options_.compaction_interval;
  std::unique_lock<std::mutex> lock(queue_mu_);
  for (;;) {
    if (queue_.empty() && !stopping_) {
      queue_cv_.wait_until(lock, next_compaction, [this] { return !queue_.empty() || stopping_; });
    }
    if (!queue_.empty()) {
      // Group commit: everything that queued up while the last batch was syncing.
      const size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_batch_writes, 1));
      std::vector<PendingWrite*> batch(queue_.begin(), queue_.begin() + static_cast<long>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
      stat_pending_.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
      lock.unlock();
      CommitBatch(batch);
      lock.lock();
    } else if (stopping_) {
      break;  // queue drained
    }
    if (std::chrono::steady_clock::now() >= next_compaction) {
      lock.unlock();
      const bool more = CompactStep();
      lock.lock();
      next_compaction = std::chrono::steady_clock::now() +
                        (more ? std::chrono::milliseconds(0) : options_.compaction_interval);
    }
  }
}

void SqliteStore::CommitBatch(std::vector<PendingWrite*>& batch) {
  Writer& w = *writer_;
  const int64_t now = NowUnixMillis();
  std::vector<std::optional<Status>> refused(batch.size());  // per-write errors
  std::vector<int64_t> revisions(batch.size(), 0);
  std::vector<Event> events;
  int64_t revision = writer_revision_;
  Status failure;  // a backend error: the whole batch is rolled back

  if (Status s = w.Run(w.begin, "BEGIN IMMEDIATE"); !s.ok()) failure = s;
  for (size_t i = 0; i < batch.size() && failure.ok(); ++i) {
    PendingWrite& p = *batch[i];
    const std::string& key = *p.key;

    // The key's current state, as of this transaction (earlier writes in the batch included).
    std::string current_value;
    int64_t create_rev = 0, mod_rev = 0;
    {
      ResetOnExit reset(w.get_kv);
      w.get_kv.BindBlob(1, key);
      const int rc = w.get_kv.Step();
      if (rc == SQLITE_ROW) {
        current_value = w.get_kv.ColumnString(0);
        create_rev = w.get_kv.ColumnInt(1);
        mod_rev = w.get_kv.ColumnInt(2);
      } else if (rc != SQLITE_DONE) {
        failure = sqlite::Error(w.db.get(), rc, "reading " + key);
        break;
      }
    }
    if (Status s = internal::CheckPrecondition(p.op, key, p.expected_revision, mod_rev); !s.ok()) {
      refused[i] = std::move(s);
      continue;
    }
    const int64_t next = revision + 1;
    std::string value;
    if (p.op == WriteOp::kDelete && !*p.encode) {
      value = current_value;
    } else {
      auto encoded = internal::RunEncoder(*p.encode, next);
      if (!encoded.ok()) {
        refused[i] = encoded.status();
        continue;
      }
      value = std::move(encoded.value());
    }

    Event e;
    e.key = key;
    e.revision = next;
    switch (p.op) {
      case WriteOp::kCreate:
        e.type = EventType::kAdded;
        e.create_revision = next;
        w.insert_kv.BindBlob(1, key);
        w.insert_kv.BindBlob(2, value);
        w.insert_kv.BindInt(3, next);
        w.insert_kv.BindInt(4, next);
        failure = w.Run(w.insert_kv, "inserting " + key);
        break;
      case WriteOp::kUpdate:
        e.type = EventType::kModified;
        e.create_revision = create_rev;
        e.prev_revision = mod_rev;
        w.update_kv.BindBlob(1, key);
        w.update_kv.BindBlob(2, value);
        w.update_kv.BindInt(3, next);
        failure = w.Run(w.update_kv, "updating " + key);
        break;
      case WriteOp::kDelete:
        e.type = EventType::kDeleted;
        e.create_revision = create_rev;
        e.prev_revision = mod_rev;
        w.delete_kv.BindBlob(1, key);
        failure = w.Run(w.delete_kv, "deleting " + key);
        break;
    }
    if (!failure.ok()) break;
    w.insert_log.BindInt(1, next);
    w.insert_log.BindInt(2, EventTypeToInt(e.type));
    w.insert_log.BindBlob(3, key);
    w.insert_log.BindBlob(4, value);
    if (p.op == WriteOp::kCreate) {
      w.insert_log.BindNull(5);
    } else {
      w.insert_log.BindBlob(5, current_value);
    }
    w.insert_log.BindInt(6, e.create_revision);
    w.insert_log.BindInt(7, e.prev_revision);
    w.insert_log.BindInt(8, now);
    failure = w.Run(w.insert_log, "appending revision " + std::to_string(next) + " to the log");
    if (!failure.ok()) break;

    e.value = std::move(value);
    e.prev_value = std::move(current_value);
    events.push_back(std::move(e));
    revisions[i] = next;
    revision = next;
  }

  if (failure.ok() && !events.empty()) {
    w.set_meta.BindText(1, "revision");
    w.set_meta.BindInt(2, revision);
    failure = w.Run(w.set_meta, "recording the revision");
    if (failure.ok()) failure = w.Run(w.commit, "COMMIT");
  }
  if (!failure.ok() || events.empty()) w.RollbackQuietly();

  if (!failure.ok()) {
    // Nothing of this batch was written; its revisions are handed out again.
    LOG(WARNING) << "storage: a batch of " << batch.size() << " writes to " << path_
                 << " failed: " << failure.message();
    for (size_t i = 0; i < batch.size(); ++i) {
      stat_failed_writes_.fetch_add(1, std::memory_order_relaxed);
      batch[i]->Complete(refused[i]
                             ? *refused[i]
                             : Status(failure.code(), failure.message() + "; nothing was written"));
    }
    return;
  }

  writer_revision_ = revision;
  if (!events.empty()) {
    committed_revision_.store(revision, std::memory_order_release);
    stat_transactions_.fetch_add(1, std::memory_order_relaxed);
    stat_writes_.fetch_add(static_cast<int64_t>(events.size()), std::memory_order_relaxed);
    // After the commit and before any caller returns: a caller that watches from its own
    // write's revision finds it in the history.
    hub_->Publish(std::move(events));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (refused[i]) {
      stat_failed_writes_.fetch_add(1, std::memory_order_relaxed);
      batch[i]->Complete(*refused[i]);
    } else {
      batch[i]->Complete(revisions[i]);
    }
  }
}

bool SqliteStore::CompactStep() {
  Writer& w = *writer_;
  const int64_t compacted = compacted_revision_.load(std::memory_order_acquire);
  const int64_t head = writer_revision_;
  const int64_t step_end =
      std::min(head, compacted + std::max<int64_t>(options_.compaction_batch, 1));
  int64_t wanted = 0;  // compact everything up to here, in steps
  if (options_.log_retention_events > 0) wanted = head - options_.log_retention_events;
  if (options_.log_retention_age.count() > 0 && step_end > compacted) {
    ResetOnExit reset(w.compact_age);
    w.compact_age.BindInt(1, compacted);
    w.compact_age.BindInt(2, step_end);
    w.compact_age.BindInt(3, NowUnixMillis() - options_.log_retention_age.count());
    const int rc = w.compact_age.Step();
    if (rc == SQLITE_ROW && !w.compact_age.ColumnIsNull(0)) {
      wanted = std::max(wanted, w.compact_age.ColumnInt(0));
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      LOG(WARNING) << "storage: compaction of " << path_
                   << " failed: " << sqlite::Error(w.db.get(), rc, "reading log ages").message();
      return false;
    }
  }
  const int64_t target = std::min(wanted, step_end);
  if (target <= compacted) return false;

  Status s = w.Run(w.begin, "BEGIN IMMEDIATE");
  int64_t deleted = 0;
  if (s.ok()) {
    w.compact_delete.BindInt(1, compacted);
    w.compact_delete.BindInt(2, target);
    s = w.Run(w.compact_delete, "compacting the log");
    deleted = sqlite3_changes64(w.db.get());
  }
  if (s.ok()) {
    w.set_meta.BindText(1, "compacted");
    w.set_meta.BindInt(2, target);
    s = w.Run(w.set_meta, "recording the compacted revision");
  }
  if (s.ok()) s = w.Run(w.commit, "COMMIT");
  if (!s.ok()) {
    w.RollbackQuietly();
    LOG(WARNING) << "storage: compaction of " << path_ << " failed: " << s.message();
    return false;
  }
  compacted_revision_.store(target, std::memory_order_release);
  stat_compacted_.fetch_add(deleted, std::memory_order_relaxed);
  VLOG(1) << "storage: compacted " << path_ << " log through revision " << target;
  // More is due now if the count limit is further on, or the age limit may be.
  return wanted > target || target == step_end;
}

StatusOr<SqliteStore::ReaderLease> SqliteStore::AcquireReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(reader));
    }
  }
  auto reader = std::make_unique<Reader>();
  auto conn = Connection::Open(path_, SQLITE_OPEN_READONLY);
  if (!conn.ok()) return conn.status();
  reader->db = std::move(conn.value());
  sqlite3_busy_timeout(reader->db.get(), kBusyTimeoutMs);
  CSDR_RETURN_IF_ERROR(reader->Prepare());
  return ReaderLease(this, std::move(reader));
}

void SqliteStore::ReleaseReader(std::unique_ptr<Reader> reader) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
}

StatusOr<KeyValue> SqliteStore::Get(const std::string& key) {
  if (closing_) return internal::ClosedStatus();
  std::shared_lock<std::shared_mutex> alive(lifecycle_);
  if (closing_) return internal::ClosedStatus();
  auto reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  Statement& get = (*reader)->get;
  ResetOnExit reset(get);
  get.BindBlob(1, key);
  const int rc = get.Step();
  if (rc == SQLITE_DONE) return Status(Code::kNotFound, key + " not found");
  if (rc != SQLITE_ROW) return sqlite::Error((*reader)->db.get(), rc, "reading " + key);
  return KeyValue{key, get.ColumnString(0), get.ColumnInt(1), get.ColumnInt(2)};
}

StatusOr<ListResult> SqliteStore::List(const std::string& prefix, const std::string& start_after,
                                       size_t limit, int64_t at_revision) {
  if (at_revision < 0) {
    return Status(Code::kBadRequest, "negative revision " + std::to_string(at_revision));
  }
  // Wait for a future revision before holding anything that Close waits for.
  if (at_revision > committed_revision_.load(std::memory_order_acquire) &&
      !hub_->WaitForRevision(at_revision, options_.future_revision_wait)) {
    if (closing_) return internal::ClosedStatus();
    return Status(Code::kTimeout,
                  "Too large resource version: " + std::to_string(at_revision) +
                      ", current resource version: " + std::to_string(CurrentRevision()));
  }
  if (closing_) return internal::ClosedStatus();
  std::shared_lock<std::shared_mutex> alive(lifecycle_);
  if (closing_) return internal::ClosedStatus();
  auto lease = AcquireReader();
  if (!lease.ok()) return lease.status();
  Reader& r = **lease;
  sqlite3* db = r.db.get();

  ReadTransaction txn(db, r.begin, r.end);
  CSDR_RETURN_IF_ERROR(txn.status());
  int64_t head = 0, compacted = 0;
  {
    ResetOnExit reset(r.meta);
    const int rc = r.meta.Step();
    if (rc != SQLITE_ROW) return sqlite::Error(db, rc, "reading the revision");
    head = r.meta.ColumnInt(0);
    compacted = r.meta.ColumnInt(1);
  }
  ListResult result;
  result.revision = at_revision == 0 ? head : at_revision;
  if (result.revision < compacted) {
    return Status(Code::kExpired, "list at revision " + std::to_string(result.revision) +
                                      " is too old: the history before revision " +
                                      std::to_string(compacted + 1) + " was compacted");
  }
  if (result.revision > head) {
    return Status(Code::kTimeout, "Too large resource version: " + std::to_string(result.revision) +
                                      ", current resource version: " + std::to_string(head));
  }
  const std::optional<std::string> end = internal::PrefixEnd(prefix);

  internal::SnapshotOverlay overlay;
  if (result.revision < head) {
    std::vector<Event> newer;
    ResetOnExit reset(r.log_after);
    r.log_after.BindInt(1, result.revision);
    r.log_after.BindBlob(2, prefix);
    if (end) r.log_after.BindBlob(3, *end);
    int rc;
    while ((rc = r.log_after.Step()) == SQLITE_ROW) {
      Event e;
      CSDR_RETURN_IF_ERROR(ReadEventRow(r.log_after, &e));
      newer.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading the event log");
    for (auto e = newer.rbegin(); e != newer.rend(); ++e) overlay.Undo(*e);
  }

  Statement& scan = end ? r.kv_range : r.kv_from;
  ResetOnExit reset(scan);
  const std::string lower = internal::ListLowerBound(prefix, start_after);
  scan.BindBlob(1, lower);
  if (end) scan.BindBlob(2, *end);
  Status scan_error;
  auto next_current = [&](KeyValue* kv) {
    const int rc = scan.Step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) {
      scan_error = sqlite::Error(db, rc, "listing " + prefix);
      return false;
    }
    kv->key = scan.ColumnString(0);
    if (!internal::HasPrefix(kv->key, prefix)) return false;
    kv->value = scan.ColumnString(1);
    kv->create_revision = scan.ColumnInt(2);
    kv->mod_revision = scan.ColumnInt(3);
    return true;
  };
  overlay.Merge(next_current, prefix, start_after, limit, &result);
  CSDR_RETURN_IF_ERROR(scan_error);
  return result;
}

Status SqliteStore::ReadLog(const std::string& prefix, int64_t after_revision,
                            std::vector<Event>* out, int64_t* through) {
  auto lease = AcquireReader();
  if (!lease.ok()) return lease.status();
  Reader& r = **lease;
  sqlite3* db = r.db.get();
  ReadTransaction txn(db, r.begin, r.end);
  CSDR_RETURN_IF_ERROR(txn.status());
  {
    ResetOnExit reset(r.meta);
    const int rc = r.meta.Step();
    if (rc != SQLITE_ROW) return sqlite::Error(db, rc, "reading the revision");
    *through = r.meta.ColumnInt(0);
    const int64_t compacted = r.meta.ColumnInt(1);
    if (after_revision < compacted) {
      return Status(Code::kExpired, "too old resource version: " + std::to_string(after_revision) +
                                        " (" + std::to_string(compacted) + ")");
    }
  }
  const std::optional<std::string> end = internal::PrefixEnd(prefix);
  ResetOnExit reset(r.log_after);
  r.log_after.BindInt(1, after_revision);
  r.log_after.BindBlob(2, prefix);
  if (end) r.log_after.BindBlob(3, *end);
  int rc;
  while ((rc = r.log_after.Step()) == SQLITE_ROW) {
    Event e;
    CSDR_RETURN_IF_ERROR(ReadEventRow(r.log_after, &e));
    out->push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading the event log");
  return Status::Ok();
}

StatusOr<std::unique_ptr<Watcher>> SqliteStore::Watch(const std::string& prefix,
                                                      int64_t after_revision) {
  if (after_revision < 0) {
    return Status(Code::kBadRequest, "negative revision " + std::to_string(after_revision));
  }
  if (closing_) return internal::ClosedStatus();
  std::shared_lock<std::shared_mutex> alive(lifecycle_);
  if (closing_) return internal::ClosedStatus();
  const int64_t compacted = compacted_revision_.load(std::memory_order_acquire);
  if (after_revision != 0 && after_revision < compacted) {
    return Status(Code::kExpired, "too old resource version: " + std::to_string(after_revision) +
                                      " (" + std::to_string(compacted) + ")");
  }
  auto watcher = hub_->Watch(prefix, after_revision);
  if (watcher.ok() || watcher.status().code() != Code::kExpired) return watcher;
  // Older than the in-memory history but still in the log: replay the log first. The hub
  // may move on while we read (a burst evicting what we expected to continue from); then
  // read again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<Event> events;
    int64_t through = 0;
    CSDR_RETURN_IF_ERROR(ReadLog(prefix, after_revision, &events, &through));
    watcher = hub_->WatchWithPreload(prefix, after_revision, std::move(events), through);
    if (watcher.ok() || watcher.status().code() != Code::kExpired) return watcher;
  }
  return Status(Code::kUnavailable, "could not catch up with the event log; retry the watch");
}

int64_t SqliteStore::CurrentRevision() {
  return committed_revision_.load(std::memory_order_acquire);
}

int64_t SqliteStore::CompactedRevision() {
  return compacted_revision_.load(std::memory_order_acquire);
}

void SqliteStore::Close() {
  closing_ = true;  // new calls fail fast from here on
  // A concurrent second Close waits here until the first has finished.
  std::call_once(close_once_, [this] { Shutdown(); });
}

void SqliteStore::Shutdown() {
  std::unique_lock<std::shared_mutex> exclusive(lifecycle_);  // calls in flight finish first
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    idle_readers_.clear();
  }
  if (opened_ && writer_ && writer_->db) {
    // Fold the WAL into the main file so that the file alone is a complete copy.
    auto checkpoint = writer_->db.QueryText("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!checkpoint.ok()) {
      LOG(WARNING) << "storage: final checkpoint of " << path_
                   << " failed: " << checkpoint.status().message();
    }
  }
  writer_.reset();
  if (hub_) hub_->Close();
}

StoreStats SqliteStore::Stats() {
  StoreStats s;
  s.writes = stat_writes_.load(std::memory_order_relaxed);
  s.failed_writes = stat_failed_writes_.load(std::memory_order_relaxed);
  s.transactions = stat_transactions_.load(std::memory_order_relaxed);
  s.pending_writes = stat_pending_.load(std::memory_order_relaxed);
  s.compacted_events = stat_compacted_.load(std::memory_order_relaxed);
  if (hub_) {
    s.watchers = static_cast<int64_t>(hub_->watcher_count());
    s.expired_watchers = hub_->expired_watcher_count();
  }
  return s;
}

}  // namespace csdr::storage
