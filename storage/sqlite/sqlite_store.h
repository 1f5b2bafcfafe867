// sqlite://: the default, durable Store in one SQLite file (docs/storage.md has the details).
//
// Layout: `kv` holds the current objects (key, value, create_rev, mod_rev); `log` holds one
// row per revision (rev, type, key, value, prev_value, ...) written in the same transaction;
// `meta` holds the current and the compacted revision. WAL journal, synchronous=FULL: a
// write that returned OK is on disk and survives a process or OS crash.
//
// Writes: every Create/Update/Delete is queued to ONE writer thread, which owns revision
// allocation. It takes everything queued (up to max_batch_writes), runs one BEGIN IMMEDIATE
// .. COMMIT for all of them (group commit: one fsync for the batch), checks each write's
// precondition on its own (a refused write neither fails the others nor takes a revision),
// then publishes the batch's events to the WatchHub and completes each caller. The same
// thread compacts the log in small transactions between batches.
//
// Reads use a small pool of read-only connections: WAL readers see a snapshot and neither
// block the writer nor are blocked by it. Watches are served from the WatchHub (warmed from
// the log tail on open); a watch reaching back beyond the hub's memory but within the log
// is replayed from the log first.
//
// Open fails (never serves wrong data) when the file is damaged: PRAGMA quick_check must
// pass, and the stored revisions must be consistent with each other.
//
// Thread safety: all methods may be called concurrently from any thread. Close() waits for
// calls in flight, drains queued writes, checkpoints and closes the file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "storage/watch_hub.h"
#include "storage/write_checks.h"

namespace csdr::storage {

class SqliteStore : public Store {
 public:
  // Opens (creating it and its parent directory if missing) the database file at `path`.
  // kInternal naming the file when it is damaged or not a csdr database; kUnavailable when
  // it cannot be opened at all (permissions, missing disk).
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                     const StoreOptions& options);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  StatusOr<int64_t> Create(const std::string& key, const Encoder& encode) override;
  StatusOr<KeyValue> Get(const std::string& key) override;
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, size_t limit,
                            int64_t at_revision) override;
  StatusOr<int64_t> Update(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override;
  StatusOr<int64_t> Delete(const std::string& key, int64_t expected_revision,
                           const Encoder& encode) override;
  int64_t CurrentRevision() override;
  int64_t CompactedRevision() override;
  StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                           int64_t after_revision) override;
  void Close() override;
  StoreStats Stats() override;

  const std::string& path() const { return path_; }

 private:
  struct Writer;  // the writer connection and its statements (writer thread only)
  struct Reader;  // a read connection and its statements
  struct PendingWrite;
  class ReaderLease;

  SqliteStore(std::string path, const StoreOptions& options);

  Status Init();
  StatusOr<int64_t> SubmitWrite(internal::WriteOp op, const std::string& key,
                                int64_t expected_revision, const Encoder& encode);
  void Shutdown();
  void WriterLoop();
  void CommitBatch(std::vector<PendingWrite*>& batch);
  // One small compaction transaction; returns true when more is due right away.
  bool CompactStep();

  StatusOr<ReaderLease> AcquireReader();
  void ReleaseReader(std::unique_ptr<Reader> reader);
  // Events in (after_revision, latest] under prefix, read in one snapshot, with that
  // snapshot's revision in *through. kExpired when the log was compacted past it.
  Status ReadLog(const std::string& prefix, int64_t after_revision, std::vector<Event>* out,
                 int64_t* through);

  const std::string path_;
  const StoreOptions options_;
  std::shared_ptr<WatchHub> hub_;

  // Closing: set first, so new calls fail fast; lifecycle_ then waits for calls in flight
  // (shared holders) before tearing down.
  std::atomic<bool> closing_{false};
  std::shared_mutex lifecycle_;
  std::once_flag close_once_;
  bool opened_ = false;  // Init succeeded; written before any other thread sees the store

  // Owned and used by the writer thread only (and by Init/Close while it does not run).
  std::unique_ptr<Writer> writer_;
  int64_t writer_revision_ = 0;  // the last revision allocated and committed
  std::thread writer_thread_;

  std::mutex queue_mu_;  // guards queue_ and stopping_
  std::condition_variable queue_cv_;
  std::deque<PendingWrite*> queue_;  // callers block until their write completes
  bool stopping_ = false;

  std::mutex readers_mu_;  // guards idle_readers_
  std::vector<std::unique_ptr<Reader>> idle_readers_;

  // Published by the writer after each commit / compaction; read by anyone.
  std::atomic<int64_t> committed_revision_{0};
  std::atomic<int64_t> compacted_revision_{0};
  std::atomic<int64_t> stat_writes_{0};
  std::atomic<int64_t> stat_failed_writes_{0};
  std::atomic<int64_t> stat_transactions_{0};
  std::atomic<int64_t> stat_pending_{0};
  std::atomic<int64_t> stat_compacted_{0};
};

}  // namespace csdr::storage
