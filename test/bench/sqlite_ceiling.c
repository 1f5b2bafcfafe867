/* SQLite's group-commit ceiling with csdr-apiserver's durability settings, for the benchmark
 * suite: how many creates per second one writer commits when each transaction carries B of
 * them, on the same schema and statements as storage/sqlite/sqlite_store.cc (WAL,
 * synchronous=FULL, BEGIN IMMEDIATE; per create: read the key, insert kv, append to the log;
 * per transaction: record the revision, COMMIT). No HTTP, no JSON, no threads: the ceiling.
 *
 *   sqlite_ceiling DIR [SECONDS-PER-BATCH-SIZE] [VALUE-BYTES]
 * prints one JSON line per batch size: {"batch":B,"writes_per_s":...,"commits_per_s":...}.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(sqlite3 *db, const char *what) {
  fprintf(stderr, "sqlite_ceiling: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
  exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "sqlite_ceiling: %s: %s\n", sql, err);
    exit(1);
  }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
    die(db, sql);
  return s;
}

static void step_done(sqlite3 *db, sqlite3_stmt *s, const char *what) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) die(db, what);
  sqlite3_reset(s);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sqlite_ceiling DIR [SECONDS] [VALUE-BYTES]\n");
    return 2;
  }
  const double seconds = argc > 2 ? atof(argv[2]) : 2.0;
  const int value_bytes = argc > 3 ? atoi(argv[3]) : 700; /* a Backup as stored: ~0.7 KiB */
  char *value = malloc((size_t)value_bytes);
  memset(value, 'x', (size_t)value_bytes);
  static const int batches[] = {1, 2, 4, 8, 16, 32, 64};
  for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; ++bi) {
    const int batch = batches[bi];
    char path[4096];
    snprintf(path, sizeof path, "%s/ceiling-%d.db", argv[1], batch);
    remove(path);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
      die(db, "open");
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "PRAGMA synchronous=FULL");
    exec(db, "PRAGMA busy_timeout=5000");
    exec(db, "PRAGMA journal_size_limit=67108864");
    exec(db,
         "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
         "CREATE TABLE kv (key BLOB NOT NULL PRIMARY KEY, value BLOB NOT NULL,"
         " create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL);"
         "CREATE TABLE log (rev INTEGER PRIMARY KEY, type INTEGER NOT NULL, key BLOB NOT NULL,"
         " value BLOB NOT NULL, prev_value BLOB, create_rev INTEGER NOT NULL,"
         " prev_rev INTEGER NOT NULL, created_at INTEGER NOT NULL);"
         "INSERT INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);");
    sqlite3_stmt *begin = prepare(db, "BEGIN IMMEDIATE");
    sqlite3_stmt *commit = prepare(db, "COMMIT");
    sqlite3_stmt *get = prepare(db, "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1");
    sqlite3_stmt *ins = prepare(db,
        "INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?4)");
    sqlite3_stmt *log = prepare(db,
        "INSERT INTO log(rev, type, key, value, prev_value, create_rev, prev_rev, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    sqlite3_stmt *meta = prepare(db, "UPDATE meta SET value = ?2 WHERE name = ?1");
    long rev = 0, commits = 0;
    const double t0 = now_s();
    double t = t0;
    while (t - t0 < seconds) {
      step_done(db, begin, "BEGIN");
      for (int i = 0; i < batch; ++i) {
        char key[96];
        const int klen = snprintf(key, sizeof key,
                                  "/csdr.io/backups/csdr/ceiling-%09ld", rev + 1);
        sqlite3_bind_blob(get, 1, key, klen, SQLITE_STATIC);
        step_done(db, get, "get");
        ++rev;
        sqlite3_bind_blob(ins, 1, key, klen, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, value, value_bytes, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, rev);
        sqlite3_bind_int64(ins, 4, rev);
        step_done(db, ins, "insert kv");
        sqlite3_bind_int64(log, 1, rev);
        sqlite3_bind_int(log, 2, 0);
        sqlite3_bind_blob(log, 3, key, klen, SQLITE_STATIC);
        sqlite3_bind_blob(log, 4, value, value_bytes, SQLITE_STATIC);
        sqlite3_bind_null(log, 5);
        sqlite3_bind_int64(log, 6, rev);
        sqlite3_bind_int64(log, 7, 0);
        sqlite3_bind_int64(log, 8, (long)time(NULL) * 1000);
        step_done(db, log, "append log");
      }
      sqlite3_bind_text(meta, 1, "revision", -1, SQLITE_STATIC);
      sqlite3_bind_int64(meta, 2, rev);
      step_done(db, meta, "meta");
      step_done(db, commit, "COMMIT");
      ++commits;
      t = now_s();
    }
    const double wall = t - t0;
    printf("{\"batch\":%d,\"writes_per_s\":%.1f,\"commits_per_s\":%.1f,\"sqlite\":\"%s\"}\n", batch,
           (double)rev / wall, (double)commits / wall, sqlite3_libversion());
    fflush(stdout);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(get);
    sqlite3_finalize(ins);
    sqlite3_finalize(log);
    sqlite3_finalize(meta);
    sqlite3_close(db);
    char extra[4200];
    remove(path);
    snprintf(extra, sizeof extra, "%s-wal", path);
    remove(extra);
    snprintf(extra, sizeof extra, "%s-shm", path);
    remove(extra);
  }
  free(value);
  return 0;
}
