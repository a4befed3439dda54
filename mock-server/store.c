/*
 * store.c — the run history and the request journal in one SQLite database.
 *
 * A writer connection, and for a file store a reader (see READER), each
 * guarded by its own mutex; every statement is prepared once at open
 * (SQLITE_PREPARE_PERSISTENT) and takes bound parameters only. A file
 * database runs in WAL mode with synchronous=NORMAL (a commit is durable
 * against a crash of the process, and costs no fsync); a temporary one is
 * SQLite's private on-disk database (filename ""), which lives in the page
 * cache until the cache is full and then spills to a file, so memory stays
 * bounded by cache_size however many runs are stored.
 *
 * A run row keeps the document without "status" and "finishedAt"; both are
 * columns, put back into the document on every read. `status` is what a
 * reader sees (RUNNING until the run's due time, then `final_status`).
 *
 * Listing is keyset pagination on `seq` (the rowid): the cursor is the seq
 * of the last row returned. The planner cannot use an index for a generic
 * `(?1 IS NULL OR workflow_id = ?1)` condition (it falls back to a rowid
 * scan, which with rare matches reads the whole table), so there is one
 * statement per filter shape — all runs, a time window, a workflow, a
 * status, a workflow and a status — each naming its index with INDEXED BY,
 * so that preparing fails at open, rather than a listing going slow, if
 * the schema stops supporting the plan. The indexes carry received_ms so
 * that a time window is checked without reading the row.
 *
 * Counting without a time window reads `run_counts`, a per (workflow,
 * status) tally kept by triggers on insert and on status change: the
 * long-poll waiters count finished runs after every stored run, and a
 * COUNT(*) over a million index entries takes tens of milliseconds. Nothing
 * deletes single runs; reset empties run_counts together with runs (a
 * delete trigger would also cost SQLite its fast whole-table DELETE).
 */
#include "qxm_store.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"
#include "qx_json_write.h"
#include "qx_log.h"

#define SCHEMA_VERSION 2
#define CACHE_SIZE_KIB 8192       /* page cache per connection: bounds memory */
#define BUSY_TIMEOUT_MS 5000      /* another process holding the file briefly */
#define WAL_SIZE_LIMIT (64 << 20) /* truncate the WAL back to this after checkpoints */
#define DEFAULT_PAGE 100
#define MAX_PAGE 1000
#define TEMP_NAME "temporary database"

/* 64-bit FNV-1a (Fowler–Noll–Vo) parameters. */
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static const char SCHEMA_SQL[] =
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT UNIQUE NOT NULL,"
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILURE')),"
    "  final_status TEXT NOT NULL CHECK (final_status IN ('SUCCESS', 'FAILURE')),"
    "  received_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER,"
    "  payload_hash INTEGER,"
    "  doc TEXT NOT NULL,"
    "  duplicate_of TEXT);"
    "CREATE INDEX runs_workflow ON runs (workflow_id, seq, received_ms);"
    "CREATE INDEX runs_status ON runs (status, seq, received_ms);"
    "CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq, received_ms);"
    "CREATE INDEX runs_received ON runs (received_ms, status);"
    "CREATE INDEX runs_due ON runs (due_ms) WHERE status = 'RUNNING';"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "CREATE TABLE run_counts ("
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, status)) WITHOUT ROWID;"
    "CREATE TRIGGER runs_recounted AFTER UPDATE OF workflow_id, status ON runs BEGIN"
    "  UPDATE run_counts SET n = n - 1"
    "    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;"
    "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
    "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TABLE requests ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT,"
    "  received_ms INTEGER NOT NULL,"
    "  method TEXT,"
    "  path TEXT,"
    "  http_status INTEGER NOT NULL,"
    "  reason TEXT,"
    "  workflow_id TEXT,"
    "  run_id TEXT);"
    "PRAGMA user_version = 2;";

/* From version 1: the duplicate's id became a column (found at insert, in
 * the committing transaction); the insert trigger on run_counts gave way to
 * one tally per batch; runs_payload is rebuilt, as stores created before it
 * carried received_ms kept an index that made the duplicate lookup sort.
 * Payloads are hashed differently since (see hash_json): a request repeating
 * a payload recorded before the upgrade is not marked as its duplicate. */
static const char MIGRATE_1_SQL[] =
    "ALTER TABLE runs ADD COLUMN duplicate_of TEXT;"
    "DROP TRIGGER IF EXISTS runs_counted;"
    "DROP INDEX IF EXISTS runs_payload;"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "PRAGMA user_version = 2;";

/*
 * Listing and counting statements share one parameter numbering:
 *   ?1 workflow id   ?2 status   ?3 since (inclusive)   ?4 until (exclusive)
 *   ?5 finished only (0/1)   ?6 cursor bound on seq   ?7 rows to fetch
 */
#define RUN_COLUMNS "seq, doc, status, finished_ms, duplicate_of"
#define WINDOW "received_ms >= ?3 AND received_ms < ?4 AND (?5 = 0 OR status <> 'RUNNING')"
#define PAGE_ASC "seq > ?6 AND " WINDOW " ORDER BY seq LIMIT ?7"
#define PAGE_DESC "seq < ?6 AND " WINDOW " ORDER BY seq DESC LIMIT ?7"

/* The filter shapes: each has its own listing and counting statements. */
enum shape { SHAPE_ALL, SHAPE_TIME, SHAPE_WORKFLOW, SHAPE_STATUS, SHAPE_WORKFLOW_STATUS };

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT_RUN,
    ST_COUNT_ADD,
    ST_GET_RUN,
    ST_FINISH_DUE,
    ST_NEXT_DUE,
    ST_LIST_ALL,
    ST_LIST_ALL_DESC,
    ST_LIST_TIME,
    ST_LIST_TIME_DESC,
    ST_LIST_WORKFLOW,
    ST_LIST_WORKFLOW_DESC,
    ST_LIST_STATUS,
    ST_LIST_STATUS_DESC,
    ST_LIST_WORKFLOW_STATUS,
    ST_LIST_WORKFLOW_STATUS_DESC,
    ST_COUNT_TOTAL,
    ST_COUNT_TIME,
    ST_COUNT_WORKFLOW,
    ST_COUNT_STATUS,
    ST_COUNT_WORKFLOW_STATUS,
    ST_STATUS_COUNTS,
    ST_FIND_DUPLICATE,
    ST_ADD_REQUEST,
    ST_LIST_REQUESTS,
    ST_DELETE_RUNS,
    ST_DELETE_COUNTS,
    ST_DELETE_REQUESTS,
    ST_N
};

static const struct {
    const char *name; /* for error messages */
    const char *sql;
} STATEMENTS[ST_N] = {
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_INSERT_RUN] = {"insert run",
                       "INSERT INTO runs (id, workflow_id, status, final_status, received_ms,"
                       " due_ms, finished_ms, payload_hash, doc, duplicate_of)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
    [ST_COUNT_ADD] = {"count runs",
                      "INSERT INTO run_counts (workflow_id, status, n) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + excluded.n"},
    [ST_GET_RUN] = {"get run", "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1"},
    [ST_FINISH_DUE] = {"finish due runs",
                       "UPDATE runs INDEXED BY runs_due SET status = final_status,"
                       " finished_ms = due_ms WHERE status = 'RUNNING' AND due_ms <= ?1"},
    [ST_NEXT_DUE] = {"next due run",
                     "SELECT MIN(due_ms) FROM runs INDEXED BY runs_due WHERE status = 'RUNNING'"},
    [ST_LIST_ALL] = {"list runs", "SELECT " RUN_COLUMNS " FROM runs NOT INDEXED WHERE " PAGE_ASC},
    [ST_LIST_ALL_DESC] = {"list runs newest first",
                          "SELECT " RUN_COLUMNS " FROM runs NOT INDEXED WHERE " PAGE_DESC},
    /* The window's seqs come sorted from the covering index, then only the
     * page's rows are read; a rowid scan would first read every row older
     * than a recent window. */
    [ST_LIST_TIME] = {"list runs in a time window",
                      "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (SELECT seq FROM runs"
                      " INDEXED BY runs_received WHERE " PAGE_ASC ") ORDER BY seq"},
    [ST_LIST_TIME_DESC] = {"list runs in a time window newest first",
                           "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (SELECT seq FROM runs"
                           " INDEXED BY runs_received WHERE " PAGE_DESC ") ORDER BY seq DESC"},
    [ST_LIST_WORKFLOW] = {"list runs of a workflow",
                          "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow"
                          " WHERE workflow_id = ?1 AND " PAGE_ASC},
    [ST_LIST_WORKFLOW_DESC] = {"list runs of a workflow newest first",
                               "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow"
                               " WHERE workflow_id = ?1 AND " PAGE_DESC},
    [ST_LIST_STATUS] = {"list runs by status",
                        "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_status"
                        " WHERE status = ?2 AND " PAGE_ASC},
    [ST_LIST_STATUS_DESC] = {"list runs by status newest first",
                             "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_status"
                             " WHERE status = ?2 AND " PAGE_DESC},
    [ST_LIST_WORKFLOW_STATUS] = {"list runs of a workflow by status",
                                 "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow_status"
                                 " WHERE workflow_id = ?1 AND status = ?2 AND " PAGE_ASC},
    [ST_LIST_WORKFLOW_STATUS_DESC] = {"list runs of a workflow by status newest first",
                                      "SELECT " RUN_COLUMNS
                                      " FROM runs INDEXED BY runs_workflow_status"
                                      " WHERE workflow_id = ?1 AND status = ?2 AND " PAGE_DESC},
    [ST_COUNT_TOTAL] = {"count runs",
                        "SELECT COALESCE(SUM(n), 0) FROM run_counts"
                        " WHERE (?1 IS NULL OR workflow_id = ?1) AND (?2 IS NULL OR status = ?2)"
                        " AND (?5 = 0 OR status <> 'RUNNING')"},
    [ST_COUNT_TIME] = {"count runs in a time window",
                       "SELECT COUNT(*) FROM runs INDEXED BY runs_received WHERE " WINDOW},
    [ST_COUNT_WORKFLOW] = {"count runs of a workflow",
                           "SELECT COUNT(*) FROM runs INDEXED BY runs_workflow_status"
                           " WHERE workflow_id = ?1 AND " WINDOW},
    [ST_COUNT_STATUS] = {"count runs by status", "SELECT COUNT(*) FROM runs INDEXED BY runs_status"
                                                 " WHERE status = ?2 AND " WINDOW},
    [ST_COUNT_WORKFLOW_STATUS] = {"count runs of a workflow by status",
                                  "SELECT COUNT(*) FROM runs INDEXED BY runs_workflow_status"
                                  " WHERE workflow_id = ?1 AND status = ?2 AND " WINDOW},
    [ST_STATUS_COUNTS] = {"status counts", "SELECT status, SUM(n) FROM run_counts GROUP BY status"},
    [ST_FIND_DUPLICATE] = {"find duplicate run",
                           "SELECT id FROM runs INDEXED BY runs_payload"
                           " WHERE workflow_id = ?1 AND payload_hash = ?2 AND received_ms >= ?3"
                           " ORDER BY received_ms DESC, seq DESC LIMIT 1"},
    [ST_ADD_REQUEST] = {"journal request",
                        "INSERT INTO requests (id, received_ms, method, path, http_status, reason,"
                        " workflow_id, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
    [ST_LIST_REQUESTS] = {"list journal",
                          "SELECT seq, id, received_ms, method, path, http_status, reason,"
                          " workflow_id, run_id FROM requests WHERE seq > ?1 ORDER BY seq"
                          " LIMIT ?2"},
    [ST_DELETE_RUNS] = {"delete runs", "DELETE FROM runs"},
    [ST_DELETE_COUNTS] = {"delete run counts", "DELETE FROM run_counts"},
    [ST_DELETE_REQUESTS] = {"delete journal", "DELETE FROM requests"},
};

/* A connection, its prepared statements, and the mutex that serialises
 * their use (the connection is opened without SQLite's own mutex). */
struct conn {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
};

struct qxm_store {
    char *name;      /* the path, or TEMP_NAME: every error message starts with it */
    struct conn w;   /* the writer: every change */
    struct conn r;   /* a file store's reader (see READER) */
    struct conn *rd; /* what reads use: &r, or &w for a temporary store */
    /* A file store's checkpointer thread (see checkpointer_main). */
    pthread_t ckpt_thread;
    bool ckpt_running;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    bool ckpt_wanted, ckpt_stopping;
    _Atomic int ckpt_done; /* WAL frames the last checkpoint copied */
};

/* A run row as it is inserted. */
struct run_row {
    const char *id, *workflow_id, *status, *final_status;
    int64_t received_ms, due_ms;
    int64_t finished_ms; /* meaningful when is_finished */
    bool is_finished;
    json_t *doc;           /* borrowed; "status" and "finishedAt" are dropped */
    const char *text;      /* doc as stored, when serialised beforehand; else NULL */
    uint64_t payload_hash; /* with text: the payload's hash (has_payload) */
    bool has_payload;
    bool mark_duplicate; /* look for an earlier run of the same payload */
    int64_t duplicate_since_ms;
};

/* Runs inserted in one transaction, counted per (workflow, status) and added
 * to run_counts once per pair rather than once per run. The strings are
 * borrowed from the rows' documents, which outlive the transaction. */
#define TALLY_MAX 8
struct tally {
    size_t n;
    struct {
        const char *workflow_id, *status;
        int64_t n;
    } e[TALLY_MAX];
};
/* "<path>: <what>: <SQLite's message>". Called with the lock held, so the
 * connection's message is still the one of the failed call. */
static void db_error(qxm_store *s, qx_error *err, const char *what)
{
    qx_error_set(err, "%s: %s: %s", s->name, what, sqlite3_errmsg(s->w.db));
}

/* The same for the connection reads use. */
static void rd_error(qxm_store *s, qx_error *err, const char *what)
{
    qx_error_set(err, "%s: %s: %s", s->name, what, sqlite3_errmsg(s->rd->db));
}

/* Makes a used statement reusable and drops its bindings (which may point
 * into the caller's strings). */
static void done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Runs a statement that returns no rows. Returns 0 or -1 with err set. */
static int exec_stmt(qxm_store *s, enum stmt_id id, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[id];
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        db_error(s, err, STATEMENTS[id].name);
    done(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void rollback(qxm_store *s)
{
    qx_error ignored;
    /* After some errors SQLite has already rolled back; nothing to do then. */
    if (!sqlite3_get_autocommit(s->w.db) && exec_stmt(s, ST_ROLLBACK, &ignored) != 0)
        qx_log(QX_LOG_ERROR, "%s", ignored.text);
}

/* Binds text, or NULL for a NULL pointer. The text must outlive the step. */
static int bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, i);
    return sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}

/* Runs a setup statement (a pragma, or a transaction step) that yields at
 * most one value, and copies that value's text into out (may be NULL).
 * Returns 0 or -1 with err set, naming what was being done. */
static int run_setup(qxm_store *s, const char *sql, const char *what, char *out, size_t out_size,
                     qx_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->w.db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW && out != NULL) {
            const unsigned char *text = sqlite3_column_text(stmt, 0);
            snprintf(out, out_size, "%s", text != NULL ? (const char *)text : "");
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(s, err, what);
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_finalize(stmt);
    return 0;
}

static int configure(qxm_store *s, bool is_file, qx_error *err)
{
    char mode[32] = "";
    char sql[64];
    sqlite3_extended_result_codes(s->w.db, 1);
    sqlite3_busy_timeout(s->w.db, BUSY_TIMEOUT_MS);
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", CACHE_SIZE_KIB);
    if (run_setup(s, sql, "setting the page cache", NULL, 0, err) != 0)
        return -1;
    /* Debian builds SQLite with SECURE_DELETE, which zeroes every freed page,
     * so a reset rewrites the whole file through the WAL (200,000 runs: 1.4 s
     * instead of 0.2 s). FAST zeroes only where that costs no extra I/O. */
    if (run_setup(s, "PRAGMA secure_delete = FAST", "setting secure_delete", NULL, 0, err) != 0)
        return -1;
    if (!is_file) /* nothing survives the process anyway */
        return run_setup(s, "PRAGMA synchronous = OFF", "setting synchronous", NULL, 0, err);
    if (run_setup(s, "PRAGMA journal_mode = WAL", "setting WAL mode", mode, sizeof mode, err) != 0)
        return -1;
    if (strcmp(mode, "wal") != 0)
        qx_log(QX_LOG_WARN, "%s: WAL mode unavailable, journal mode is %s", s->name, mode);
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", WAL_SIZE_LIMIT);
    if (run_setup(s, sql, "limiting the WAL size", NULL, 0, err) != 0)
        return -1;
    return run_setup(s, "PRAGMA synchronous = NORMAL", "setting synchronous", NULL, 0, err);
}

/* Creates the schema in an empty database, or checks the version of an
 * existing one. In one immediate transaction, so that two processes opening
 * the same new file do not both create it. */
static int ensure_schema(qxm_store *s, qx_error *err)
{
    char version[32] = "", tables[32] = "";
    char *msg = NULL;
    if (run_setup(s, "BEGIN IMMEDIATE", "reading the schema", NULL, 0, err) != 0)
        return -1;
    if (run_setup(s, "PRAGMA user_version", "reading the schema version", version, sizeof version,
                  err) != 0 ||
        run_setup(s, "SELECT COUNT(*) FROM sqlite_schema", "reading the schema", tables,
                  sizeof tables, err) != 0)
        goto fail;
    long v = strtol(version, NULL, 10);
    if (v == SCHEMA_VERSION)
        return run_setup(s, "COMMIT", "reading the schema", NULL, 0, err);
    if (v == 1) {
        if (sqlite3_exec(s->w.db, MIGRATE_1_SQL, NULL, NULL, &msg) != SQLITE_OK) {
            qx_error_set(err, "%s: upgrading the schema from version 1: %s", s->name,
                         msg != NULL ? msg : "?");
            sqlite3_free(msg);
            goto fail;
        }
        qx_log(QX_LOG_INFO, "%s: schema upgraded from version 1 to %d", s->name, SCHEMA_VERSION);
        return run_setup(s, "COMMIT", "upgrading the schema", NULL, 0, err);
    }
    if (v > SCHEMA_VERSION) {
        qx_error_set(err, "%s: schema version %ld is newer than this qx-mock's (%d)", s->name, v,
                     SCHEMA_VERSION);
        goto fail;
    }
    if (strcmp(tables, "0") != 0) {
        qx_error_set(err, "%s: not a qx-mock database (it holds other tables)", s->name);
        goto fail;
    }
    if (sqlite3_exec(s->w.db, SCHEMA_SQL, NULL, NULL, &msg) != SQLITE_OK) {
        qx_error_set(err, "%s: creating the schema: %s", s->name, msg != NULL ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    return run_setup(s, "COMMIT", "creating the schema", NULL, 0, err);
fail:
    if (!sqlite3_get_autocommit(s->w.db))
        sqlite3_exec(s->w.db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int prepare_all(qxm_store *s, struct conn *c, qx_error *err)
{
    for (int i = 0; i < ST_N; i++) {
        assert(STATEMENTS[i].sql != NULL);
        if (sqlite3_prepare_v3(c->db, STATEMENTS[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
                               NULL) != SQLITE_OK) {
            qx_error_set(err, "%s: preparing \"%s\": %s", s->name, STATEMENTS[i].name,
                         sqlite3_errmsg(c->db));
            return -1;
        }
    }
    return 0;
}

/*
 * READER. A file store opens a second connection for everything that only
 * reads (listings, counts, the long-poll waiters' counts, the page's
 * statistics) and for checkpoints. In WAL mode readers never wait for the
 * writer nor the writer for them, so a slow admin query does not hold up
 * the group commit, and the commit does not pay for copying the WAL back
 * into the database: the writer's automatic checkpoint is replaced by
 * checkpointer_main, woken once the WAL holds CKPT_PAGES pages. A
 * checkpoint is PASSIVE (it copies what no reader still needs and never
 * blocks); should it fall behind, the writer checkpoints itself past
 * CKPT_PAGES_WRITER pages, as SQLite would by default.
 */
#define CKPT_PAGES 1000
#define CKPT_PAGES_WRITER 10000
#define CKPT_TAIL 200
#define READER_CACHE_KIB 4096

static void *checkpointer_main(void *arg)
{
    qxm_store *s = arg;
    pthread_mutex_lock(&s->ckpt_lock);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stopping)
            pthread_cond_wait(&s->ckpt_cond, &s->ckpt_lock);
        if (s->ckpt_stopping)
            break;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_lock);
        int log = 0, copied = 0;
        pthread_mutex_lock(&s->r.lock);
        int rc =
            sqlite3_wal_checkpoint_v2(s->r.db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            qx_log(QX_LOG_WARN, "%s: checkpoint: %s", s->name, sqlite3_errmsg(s->r.db));
        pthread_mutex_unlock(&s->r.lock);
        atomic_store(&s->ckpt_done, copied > 0 ? copied : 0);
        pthread_mutex_lock(&s->ckpt_lock);
        /* Commits during the pass asked for another; the next commit asks
         * again, and by then it may copy the little left itself. */
        s->ckpt_wanted = false;
    }
    pthread_mutex_unlock(&s->ckpt_lock);
    return NULL;
}

/* The writer's WAL hook, called after each commit with the WAL's size. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *schema, int pages)
{
    qxm_store *s = arg;
    if (pages < CKPT_PAGES)
        return SQLITE_OK;
    /* SQLite starts the WAL over only once a checkpoint has copied all of
     * it, which the checkpointer, racing new commits, rarely does: once it
     * is within CKPT_TAIL pages, the writer copies the rest itself. */
    int copied = atomic_load(&s->ckpt_done);
    if (pages >= CKPT_PAGES_WRITER || (copied > 0 && pages - copied <= CKPT_TAIL)) {
        atomic_store(&s->ckpt_done, 0);
        (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&s->ckpt_lock);
    s->ckpt_wanted = true;
    pthread_cond_signal(&s->ckpt_cond);
    pthread_mutex_unlock(&s->ckpt_lock);
    return SQLITE_OK;
}

static int open_reader(qxm_store *s, const char *path, qx_error *err)
{
    char sql[64];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX; /* read-write: it checkpoints */
    if (sqlite3_open_v2(path, &s->r.db, flags, NULL) != SQLITE_OK) {
        qx_error_set(err, "%s: cannot open a second connection: %s", s->name,
                     s->r.db != NULL ? sqlite3_errmsg(s->r.db) : "out of memory");
        return -1;
    }
    sqlite3_extended_result_codes(s->r.db, 1);
    sqlite3_busy_timeout(s->r.db, BUSY_TIMEOUT_MS);
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", READER_CACHE_KIB);
    if (sqlite3_exec(s->r.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        qx_error_set(err, "%s: setting the page cache: %s", s->name, sqlite3_errmsg(s->r.db));
        return -1;
    }
    if (prepare_all(s, &s->r, err) != 0)
        return -1;
    if (pthread_create(&s->ckpt_thread, NULL, checkpointer_main, s) != 0) {
        qx_error_set(err, "%s: cannot start the checkpointer thread", s->name);
        return -1;
    }
    s->ckpt_running = true;
    sqlite3_wal_hook(s->w.db, on_wal_commit, s); /* replaces the automatic checkpoint */
    s->rd = &s->r;
    return 0;
}

qxm_store *qxm_store_open(const char *path, qx_error *err)
{
    bool is_file = path != NULL && path[0] != '\0';
    qxm_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        qx_error_set(err, "out of memory opening the store");
        return NULL;
    }
    s->name = strdup(is_file ? path : TEMP_NAME);
    if (s->name == NULL || pthread_mutex_init(&s->w.lock, NULL) != 0 ||
        pthread_mutex_init(&s->r.lock, NULL) != 0 || pthread_mutex_init(&s->ckpt_lock, NULL) != 0 ||
        pthread_cond_init(&s->ckpt_cond, NULL) != 0) {
        free(s->name);
        free(s);
        qx_error_set(err, "out of memory opening the store");
        return NULL;
    }
    s->rd = &s->w;
    /* Each mutex serialises all use of its connection, so SQLite's own can
     * go. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(is_file ? path : "", &s->w.db, flags, NULL) != SQLITE_OK) {
        if (s->w.db != NULL)
            db_error(s, err, "cannot open");
        else
            qx_error_set(err, "%s: cannot open: out of memory", s->name);
        goto fail;
    }
    if (configure(s, is_file, err) != 0 || ensure_schema(s, err) != 0 ||
        prepare_all(s, &s->w, err) != 0)
        goto fail;
    /* A private temporary database cannot be opened twice, and has no WAL. */
    if (is_file && open_reader(s, path, err) != 0)
        goto fail;
    return s;
fail:
    qxm_store_close(s);
    return NULL;
}

void qxm_store_close(qxm_store *s)
{
    if (s == NULL)
        return;
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_stopping = true;
        pthread_cond_signal(&s->ckpt_cond);
        pthread_mutex_unlock(&s->ckpt_lock);
        pthread_join(s->ckpt_thread, NULL);
    }
    for (int i = 0; i < ST_N; i++) {
        sqlite3_finalize(s->r.st[i]);
        sqlite3_finalize(s->w.st[i]);
    }
    if (s->r.db != NULL && sqlite3_close(s->r.db) != SQLITE_OK)
        qx_log(QX_LOG_ERROR, "%s: closing: %s", s->name, sqlite3_errmsg(s->r.db));
    /* Closing the last connection checkpoints the WAL into the file. */
    if (sqlite3_close(s->w.db) != SQLITE_OK)
        qx_log(QX_LOG_ERROR, "%s: closing: %s", s->name, sqlite3_errmsg(s->w.db));
    pthread_mutex_destroy(&s->w.lock);
    pthread_mutex_destroy(&s->r.lock);
    pthread_mutex_destroy(&s->ckpt_lock);
    pthread_cond_destroy(&s->ckpt_cond);
    free(s->name);
    free(s);
}

static void fnv1a64_add(uint64_t *h, const void *data, size_t n)
{
    for (const unsigned char *p = data; n-- > 0; p++) {
        *h ^= *p;
        *h *= FNV_PRIME;
    }
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds v to h as its canonical form would: objects with their keys sorted,
 * every value tagged with its type and strings with their length, so that
 * values equal as JSON hash alike whatever their key order or whitespace,
 * without writing the canonical text out. Returns 0, or -1 when memory runs
 * out. */
static int hash_json(const json_t *v, uint64_t *h)
{
    unsigned char tag = (unsigned char)json_typeof(v);
    fnv1a64_add(h, &tag, 1);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char *small[16], **keys = n <= 16 ? small : malloc(n * sizeof *keys);
        if (keys == NULL)
            return -1;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) keys[i++] = key;
        qsort(keys, n, sizeof *keys, compare_keys);
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            uint64_t len = strlen(keys[i]);
            fnv1a64_add(h, &len, sizeof len);
            fnv1a64_add(h, keys[i], len);
            rc = hash_json(json_object_get(v, keys[i]), h);
        }
        if (keys != small)
            free(keys);
        return rc;
    }
    case JSON_ARRAY: {
        uint64_t n = json_array_size(v);
        fnv1a64_add(h, &n, sizeof n);
        for (size_t i = 0; i < n; i++)
            if (hash_json(json_array_get(v, i), h) != 0)
                return -1;
        return 0;
    }
    case JSON_STRING: {
        uint64_t len = json_string_length(v);
        fnv1a64_add(h, &len, sizeof len);
        fnv1a64_add(h, json_string_value(v), len);
        return 0;
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        fnv1a64_add(h, &i, sizeof i);
        return 0;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        fnv1a64_add(h, &d, sizeof d);
        return 0;
    }
    default: /* true, false, null: the tag says it all */
        return 0;
    }
}

/* The hash of a payload as compared for duplicates (see hash_json). Returns
 * 0, or -1 when memory runs out. Two payloads are the same when their 64-bit
 * hashes are: a collision among a store's runs is ~n^2/2^65 likely (1e-7 for
 * a million runs of one workflow), a price worth not keeping and comparing a
 * second copy of every payload. */
static int payload_hash(const json_t *payload, uint64_t *hash)
{
    *hash = FNV_OFFSET_BASIS;
    return hash_json(payload, hash);
}

/* The stored text of a run document: compact, without "status" and
 * "finishedAt" (columns, put back on every read). New malloc'd text or NULL. */
static char *stored_text(const json_t *doc)
{
    static const char *const columns[] = {"status", "finishedAt", NULL};
    return qx_json_compact(doc, columns);
}

int qxm_run_insert_prepare(qxm_run_insert *in, qx_error *err)
{
    json_t *p = json_object_get(in->doc, "payload");
    in->has_payload_hash = p != NULL;
    if ((p != NULL && payload_hash(p, &in->payload_hash) != 0) ||
        (in->text = stored_text(in->doc)) == NULL) {
        qx_error_set(err, "out of memory serialising a run");
        return -1;
    }
    return 0;
}

/* The most recent run of workflow_id received at or after since_ms with this
 * payload hash; its id is copied into out (empty when there is none). The
 * caller holds the lock; inside a transaction this sees the rows inserted so
 * far, so identical requests of one batch find each other. */
static int find_duplicate(qxm_store *s, const char *workflow_id, uint64_t hash, int64_t since_ms,
                          char *out, size_t out_size, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_FIND_DUPLICATE];
    out[0] = '\0';
    bind_text(stmt, 1, workflow_id);
    sqlite3_bind_int64(stmt, 2, (int64_t)hash);
    sqlite3_bind_int64(stmt, 3, since_ms);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        snprintf(out, out_size, "%s", id != NULL ? id : "");
    } else if (rc != SQLITE_DONE) {
        db_error(s, err, STATEMENTS[ST_FIND_DUPLICATE].name);
    }
    done(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void tally_add(struct tally *t, const char *workflow_id, const char *status)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].status, status) == 0 && strcmp(t->e[i].workflow_id, workflow_id) == 0) {
            t->e[i].n++;
            return;
        }
    assert(t->n < TALLY_MAX); /* flushed by insert_row when full */
    t->e[t->n].workflow_id = workflow_id;
    t->e[t->n].status = status;
    t->e[t->n].n = 1;
    t->n++;
}

/* Adds the tally to run_counts and empties it; the caller holds the lock
 * and the transaction. Returns 0 or -1 with err set. */
static int tally_flush(qxm_store *s, struct tally *t, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_COUNT_ADD];
    for (size_t i = 0; i < t->n; i++) {
        bind_text(stmt, 1, t->e[i].workflow_id);
        bind_text(stmt, 2, t->e[i].status);
        sqlite3_bind_int64(stmt, 3, t->e[i].n);
        if (exec_stmt(s, ST_COUNT_ADD, err) != 0)
            return -1;
    }
    t->n = 0;
    return 0;
}

/* Inserts one row and counts it in t; the caller holds the lock and the
 * transaction, and flushes t before committing. Returns 0 or -1 with err
 * set. */
static int insert_row(qxm_store *s, const struct run_row *r, struct tally *t, qx_error *err)
{
    int rc = -1;
    sqlite3_stmt *stmt = s->w.st[ST_INSERT_RUN];
    char *own_text = NULL;
    const char *text = r->text;
    uint64_t hash = r->payload_hash;
    bool hashed = r->has_payload;
    char duplicate[128] = "";
    if (t->n == TALLY_MAX && tally_flush(s, t, err) != 0)
        return -1;
    if (text == NULL) {
        json_t *p = json_object_get(r->doc, "payload");
        hashed = p != NULL;
        if ((p != NULL && payload_hash(p, &hash) != 0) ||
            (text = own_text = stored_text(r->doc)) == NULL) {
            qx_error_set(err, "out of memory storing run \"%s\"", r->id);
            return -1;
        }
    }
    if (hashed && r->mark_duplicate &&
        find_duplicate(s, r->workflow_id, hash, r->duplicate_since_ms, duplicate, sizeof duplicate,
                       err) != 0)
        goto out;

    bind_text(stmt, 1, r->id);
    bind_text(stmt, 2, r->workflow_id);
    bind_text(stmt, 3, r->status);
    bind_text(stmt, 4, r->final_status);
    sqlite3_bind_int64(stmt, 5, r->received_ms);
    sqlite3_bind_int64(stmt, 6, r->due_ms);
    if (r->is_finished)
        sqlite3_bind_int64(stmt, 7, r->finished_ms);
    if (hashed)
        sqlite3_bind_int64(stmt, 8, (int64_t)hash);
    bind_text(stmt, 9, text);
    bind_text(stmt, 10, duplicate[0] != '\0' ? duplicate : NULL);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        tally_add(t, r->workflow_id, r->status);
        rc = 0;
    } else if (step == SQLITE_CONSTRAINT_UNIQUE) {
        qx_error_set(err, "run \"%s\" already exists", r->id);
    } else {
        db_error(s, err, STATEMENTS[ST_INSERT_RUN].name);
    }
    done(stmt);
out:
    free(own_text);
    return rc;
}

static bool is_final_status(const char *st)
{
    return st != NULL && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILURE") == 0);
}

/* Fills r from a run to insert. Returns 0 or -1 with err set. */
static int row_from_insert(const qxm_run_insert *in, size_t index, struct run_row *r, qx_error *err)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(in->doc)) {
        qx_error_set(err, "runs[%zu]: the document is not a JSON object", index);
        return -1;
    }
    r->doc = in->doc;
    r->id = json_string_value(json_object_get(in->doc, "id"));
    r->workflow_id = json_string_value(json_object_get(in->doc, "workflowId"));
    r->final_status = json_string_value(json_object_get(in->doc, "status"));
    if (r->id == NULL || r->id[0] == '\0') {
        qx_error_set(err, "runs[%zu]: \"id\" is missing or not a string", index);
        return -1;
    }
    if (r->workflow_id == NULL) {
        qx_error_set(err, "run \"%s\": \"workflowId\" is missing or not a string", r->id);
        return -1;
    }
    if (!is_final_status(r->final_status)) {
        qx_error_set(err, "run \"%s\": \"status\" must be the final status, SUCCESS or FAILURE",
                     r->id);
        return -1;
    }
    r->received_ms = in->received_ms;
    r->due_ms = in->due_ms;
    r->is_finished = in->due_ms <= in->received_ms;
    /* A run cannot finish before it was received. */
    r->finished_ms = in->received_ms;
    r->status = r->is_finished ? r->final_status : "RUNNING";
    r->text = in->text;
    r->payload_hash = in->payload_hash;
    r->has_payload = in->text != NULL && in->has_payload_hash;
    r->mark_duplicate = in->mark_duplicate;
    r->duplicate_since_ms = in->duplicate_since_ms;
    return 0;
}

int qxm_store_insert_runs(qxm_store *s, const qxm_run_insert *runs, size_t n, qx_error *err)
{
    int rc = -1;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&s->w.lock);
    if (exec_stmt(s, ST_BEGIN, err) != 0)
        goto out;
    struct tally t = {0};
    for (size_t i = 0; i < n; i++) {
        struct run_row r;
        if (row_from_insert(&runs[i], i, &r, err) != 0 || insert_row(s, &r, &t, err) != 0) {
            rollback(s);
            goto out;
        }
    }
    if (tally_flush(s, &t, err) != 0 || exec_stmt(s, ST_COMMIT, err) != 0) {
        rollback(s);
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

int64_t qxm_store_finish_due(qxm_store *s, int64_t now_ms, qx_error *err)
{
    int64_t n = -1;
    pthread_mutex_lock(&s->w.lock);
    sqlite3_bind_int64(s->w.st[ST_FINISH_DUE], 1, now_ms);
    if (exec_stmt(s, ST_FINISH_DUE, err) == 0)
        n = sqlite3_changes64(s->w.db);
    pthread_mutex_unlock(&s->w.lock);
    return n;
}

int64_t qxm_store_next_due(qxm_store *s)
{
    int64_t due = INT64_MAX;
    pthread_mutex_lock(&s->w.lock);
    sqlite3_stmt *stmt = s->w.st[ST_NEXT_DUE];
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(stmt, 0);
    else if (rc != SQLITE_ROW)
        qx_log(QX_LOG_ERROR, "%s: next due run: %s", s->name, sqlite3_errmsg(s->w.db));
    done(stmt);
    pthread_mutex_unlock(&s->w.lock);
    return due;
}

/* The document of the current row of a RUN_COLUMNS statement, with its
 * visible status, and finishedAt after receivedAt (null while RUNNING), in
 * the order the admin API documents. New reference, or NULL with err set. */
static json_t *render_run(qxm_store *s, sqlite3_stmt *stmt, qx_error *err)
{
    json_error_t jerr;
    const char *text = (const char *)sqlite3_column_text(stmt, 1);
    int len = sqlite3_column_bytes(stmt, 1);
    json_t *doc = text != NULL ? json_loadb(text, (size_t)len, 0, &jerr) : NULL;
    const char *status = (const char *)sqlite3_column_text(stmt, 2);
    if (!json_is_object(doc) || status == NULL) {
        qx_error_set(err, "%s: run at seq %lld: stored document is not a JSON object", s->name,
                     (long long)sqlite3_column_int64(stmt, 0));
        json_decref(doc);
        return NULL;
    }
    char finished[QX_TIME_TEXT_MAX];
    json_t *finished_at = json_null();
    if (sqlite3_column_type(stmt, 3) != SQLITE_NULL)
        finished_at = json_string(qx_format_time(sqlite3_column_int64(stmt, 3), finished));
    json_t *status_value = json_string(status);
    json_t *out = json_object();
    bool placed = false, failed = out == NULL || status_value == NULL || finished_at == NULL;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (failed)
            break;
        if (strcmp(key, "receivedAt") == 0) {
            failed = json_object_set(out, "status", status_value) != 0 ||
                     json_object_set(out, key, value) != 0 ||
                     json_object_set(out, "finishedAt", finished_at) != 0;
            placed = true;
        } else if (strcmp(key, "status") != 0 && strcmp(key, "finishedAt") != 0) {
            failed = json_object_set(out, key, value) != 0;
        }
    }
    if (!failed && !placed)
        failed = json_object_set(out, "status", status_value) != 0 ||
                 json_object_set(out, "finishedAt", finished_at) != 0;
    /* Found when the run was stored, so it comes last, as it did when it
     * was part of the document. */
    const char *duplicate_of = (const char *)sqlite3_column_text(stmt, 4);
    if (!failed && duplicate_of != NULL)
        failed = json_object_set_new(out, "duplicateOf", json_string(duplicate_of)) != 0;
    json_decref(status_value);
    json_decref(finished_at);
    json_decref(doc);
    if (failed) {
        json_decref(out);
        qx_error_set(err, "out of memory reading a run");
        return NULL;
    }
    return out;
}

json_t *qxm_store_get_run(qxm_store *s, const char *id, qx_error *err)
{
    json_t *run = NULL;
    qx_error_clear(err);
    if (id == NULL)
        return NULL;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_GET_RUN];
    bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        run = render_run(s, stmt, err);
    else if (rc != SQLITE_DONE)
        rd_error(s, err, STATEMENTS[ST_GET_RUN].name);
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return run;
}

static size_t page_size(size_t limit)
{
    if (limit == 0)
        return DEFAULT_PAGE;
    return limit < MAX_PAGE ? limit : MAX_PAGE;
}

static enum shape filter_shape(const qxm_run_filter *f)
{
    if (f->workflow_id != NULL && f->status != NULL)
        return SHAPE_WORKFLOW_STATUS;
    if (f->workflow_id != NULL)
        return SHAPE_WORKFLOW;
    if (f->status != NULL)
        return SHAPE_STATUS;
    if (f->since_ms != 0 || f->until_ms != 0)
        return SHAPE_TIME;
    return SHAPE_ALL;
}

/* Binds ?1..?5 of a listing or counting statement (see WINDOW). */
static void bind_filter(sqlite3_stmt *stmt, const qxm_run_filter *f)
{
    bind_text(stmt, 1, f->workflow_id);
    bind_text(stmt, 2, f->status);
    sqlite3_bind_int64(stmt, 3, f->since_ms != 0 ? f->since_ms : INT64_MIN);
    sqlite3_bind_int64(stmt, 4, f->until_ms != 0 ? f->until_ms : INT64_MAX);
    sqlite3_bind_int(stmt, 5, f->finished_only ? 1 : 0);
}

json_t *qxm_store_list_runs(qxm_store *s, const qxm_run_filter *f, int64_t *next_cursor,
                            qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    if (next_cursor != NULL)
        *next_cursor = 0;
    size_t limit = page_size(f->limit);
    json_t *runs = json_array();
    if (runs == NULL) {
        qx_error_set(err, "out of memory listing runs");
        return NULL;
    }
    static const int by_shape[][2] = {
        [SHAPE_ALL] = {ST_LIST_ALL, ST_LIST_ALL_DESC},
        [SHAPE_TIME] = {ST_LIST_TIME, ST_LIST_TIME_DESC},
        [SHAPE_WORKFLOW] = {ST_LIST_WORKFLOW, ST_LIST_WORKFLOW_DESC},
        [SHAPE_STATUS] = {ST_LIST_STATUS, ST_LIST_STATUS_DESC},
        [SHAPE_WORKFLOW_STATUS] = {ST_LIST_WORKFLOW_STATUS, ST_LIST_WORKFLOW_STATUS_DESC},
    };
    int id = by_shape[filter_shape(f)][f->newest_first ? 1 : 0];
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[id];
    bind_filter(stmt, f);
    int64_t bound = f->cursor;
    if (f->newest_first && f->cursor <= 0)
        bound = INT64_MAX;
    sqlite3_bind_int64(stmt, 6, bound);
    sqlite3_bind_int64(stmt, 7, (int64_t)limit + 1); /* one more: is there a next page? */
    int64_t last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_size(runs) == limit) {
            if (next_cursor != NULL)
                *next_cursor = last_seq;
            break;
        }
        json_t *run = render_run(s, stmt, err);
        if (run == NULL || json_array_append_new(runs, run) != 0)
            goto fail;
        last_seq = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rd_error(s, err, STATEMENTS[id].name);
        goto fail;
    }
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return runs;
fail:
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    if (next_cursor != NULL)
        *next_cursor = 0;
    json_decref(runs);
    return NULL;
}

int64_t qxm_store_count_runs(qxm_store *s, const qxm_run_filter *f, qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    int id = ST_COUNT_TOTAL;
    if (f->since_ms != 0 || f->until_ms != 0) {
        static const int by_shape[] = {
            [SHAPE_ALL] = ST_COUNT_TIME,
            [SHAPE_TIME] = ST_COUNT_TIME,
            [SHAPE_WORKFLOW] = ST_COUNT_WORKFLOW,
            [SHAPE_STATUS] = ST_COUNT_STATUS,
            [SHAPE_WORKFLOW_STATUS] = ST_COUNT_WORKFLOW_STATUS,
        };
        id = by_shape[filter_shape(f)];
    }
    int64_t n = -1;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[id];
    bind_filter(stmt, f);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    else
        rd_error(s, err, STATEMENTS[id].name);
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return n;
}

int qxm_store_status_counts(qxm_store *s, qxm_status_counts *out, qx_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_STATUS_COUNTS];
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(stmt, 0);
        int64_t n = sqlite3_column_int64(stmt, 1);
        if (st == NULL)
            continue;
        if (strcmp(st, "RUNNING") == 0)
            out->running = n;
        else if (strcmp(st, "SUCCESS") == 0)
            out->success = n;
        else if (strcmp(st, "FAILURE") == 0)
            out->failure = n;
    }
    if (rc != SQLITE_DONE)
        rd_error(s, err, STATEMENTS[ST_STATUS_COUNTS].name);
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == SQLITE_DONE ? 0 : -1;
}

char *qxm_store_find_duplicate(qxm_store *s, const char *workflow_id, const char *payload_text,
                               int64_t since_ms)
{
    if (workflow_id == NULL || payload_text == NULL)
        return NULL;
    /* Compared as JSON: the text is parsed and hashed in canonical form
     * (compact, sorted keys), so whitespace and key order never count. */
    uint64_t hash;
    json_t *payload = json_loads(payload_text, JSON_DECODE_ANY, NULL);
    int rc = payload != NULL ? payload_hash(payload, &hash) : -1;
    json_decref(payload);
    if (rc != 0)
        return NULL;
    char found[128];
    qx_error err;
    pthread_mutex_lock(&s->w.lock);
    rc = find_duplicate(s, workflow_id, hash, since_ms, found, sizeof found, &err);
    pthread_mutex_unlock(&s->w.lock);
    if (rc != 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
    return rc == 0 && found[0] != '\0' ? strdup(found) : NULL;
}

int qxm_store_add_request(qxm_store *s, const qxm_request_entry *e, qx_error *err)
{
    pthread_mutex_lock(&s->w.lock);
    sqlite3_stmt *stmt = s->w.st[ST_ADD_REQUEST];
    bind_text(stmt, 1, e->id);
    sqlite3_bind_int64(stmt, 2, e->received_ms);
    bind_text(stmt, 3, e->method);
    bind_text(stmt, 4, e->path);
    sqlite3_bind_int(stmt, 5, e->http_status);
    bind_text(stmt, 6, e->reason);
    bind_text(stmt, 7, e->workflow_id);
    bind_text(stmt, 8, e->run_id);
    int rc = exec_stmt(s, ST_ADD_REQUEST, err);
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* A text column as a JSON string, or null. New reference. */
static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text != NULL ? json_string(text) : json_null();
}

json_t *qxm_store_list_requests(qxm_store *s, int64_t cursor, size_t limit, int64_t *next_cursor,
                                qx_error *err)
{
    if (next_cursor != NULL)
        *next_cursor = 0;
    limit = page_size(limit);
    json_t *list = json_array();
    if (list == NULL) {
        qx_error_set(err, "out of memory listing the journal");
        return NULL;
    }
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_LIST_REQUESTS];
    sqlite3_bind_int64(stmt, 1, cursor);
    sqlite3_bind_int64(stmt, 2, (int64_t)limit + 1);
    int64_t last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_size(list) == limit) {
            if (next_cursor != NULL)
                *next_cursor = last_seq;
            break;
        }
        char received[QX_TIME_TEXT_MAX];
        qx_format_time(sqlite3_column_int64(stmt, 2), received);
        json_t *entry = json_pack(
            "{s:o, s:s, s:o, s:o, s:I, s:o, s:o, s:o}", "id", text_or_null(stmt, 1), "receivedAt",
            received, "method", text_or_null(stmt, 3), "path", text_or_null(stmt, 4), "httpStatus",
            (json_int_t)sqlite3_column_int64(stmt, 5), "reason", text_or_null(stmt, 6),
            "workflowId", text_or_null(stmt, 7), "runId", text_or_null(stmt, 8));
        if (entry == NULL || json_array_append_new(list, entry) != 0) {
            qx_error_set(err, "out of memory listing the journal");
            goto fail;
        }
        last_seq = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rd_error(s, err, STATEMENTS[ST_LIST_REQUESTS].name);
        goto fail;
    }
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return list;
fail:
    done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    if (next_cursor != NULL)
        *next_cursor = 0;
    json_decref(list);
    return NULL;
}

int qxm_store_reset(qxm_store *s, qx_error *err)
{
    int rc = -1;
    pthread_mutex_lock(&s->w.lock);
    if (exec_stmt(s, ST_BEGIN, err) != 0)
        goto out;
    if (exec_stmt(s, ST_DELETE_RUNS, err) != 0 || exec_stmt(s, ST_DELETE_COUNTS, err) != 0 ||
        exec_stmt(s, ST_DELETE_REQUESTS, err) != 0 || exec_stmt(s, ST_COMMIT, err) != 0) {
        rollback(s);
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* The final status of a run exported while RUNNING, which the export does
 * not show: FAILURE when it records an error or a failed task. */
static const char *inferred_final_status(json_t *doc)
{
    json_t *error = json_object_get(doc, "error");
    if (error != NULL && !json_is_null(error))
        return "FAILURE";
    size_t i;
    json_t *task;
    json_array_foreach(json_object_get(doc, "tasks"), i, task)
    {
        const char *st = json_string_value(json_object_get(task, "status"));
        if (st != NULL && strcmp(st, "FAILURE") == 0)
            return "FAILURE";
    }
    return "SUCCESS";
}

/* Reads the time in doc[key] into *ms. Returns 0 or -1 with err set. */
static int doc_time(json_t *doc, const char *id, const char *key, int64_t *ms, qx_error *err)
{
    const char *text = json_string_value(json_object_get(doc, key));
    if (text == NULL) {
        qx_error_set(err, "run \"%s\": \"%s\" is missing or not a string", id, key);
        return -1;
    }
    if (qx_parse_time(text, ms) != 0) {
        qx_error_set(err, "run \"%s\": %s \"%s\" is not an RFC 3339 time", id, key, text);
        return -1;
    }
    return 0;
}

int qxm_store_import_run(qxm_store *s, json_t *doc, qx_error *err)
{
    struct run_row r = {.doc = doc};
    if (!json_is_object(doc)) {
        qx_error_set(err, "a run is not a JSON object");
        return -1;
    }
    r.id = json_string_value(json_object_get(doc, "id"));
    if (r.id == NULL || r.id[0] == '\0') {
        qx_error_set(err, "a run without an \"id\" string");
        return -1;
    }
    r.workflow_id = json_string_value(json_object_get(doc, "workflowId"));
    if (r.workflow_id == NULL || r.workflow_id[0] == '\0') {
        qx_error_set(err, "run \"%s\": \"workflowId\" is missing or not a string", r.id);
        return -1;
    }
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (status == NULL || (!is_final_status(status) && strcmp(status, "RUNNING") != 0)) {
        qx_error_set(err, "run \"%s\": \"status\" must be SUCCESS, FAILURE or RUNNING", r.id);
        return -1;
    }
    if (doc_time(doc, r.id, "receivedAt", &r.received_ms, err) != 0)
        return -1;
    if (is_final_status(status)) {
        if (doc_time(doc, r.id, "finishedAt", &r.finished_ms, err) != 0)
            return -1;
        r.status = r.final_status = status;
        r.due_ms = r.finished_ms;
        r.is_finished = true;
    } else {
        /* Its delay is lost with the process that exported it: due now. */
        r.final_status = inferred_final_status(doc);
        r.due_ms = qx_now_ms();
        r.is_finished = r.due_ms <= r.received_ms;
        r.finished_ms = r.received_ms;
        r.status = r.is_finished ? r.final_status : "RUNNING";
    }
    struct tally t = {0};
    int rc = -1;
    pthread_mutex_lock(&s->w.lock);
    if (exec_stmt(s, ST_BEGIN, err) == 0) {
        if (insert_row(s, &r, &t, err) == 0 && tally_flush(s, &t, err) == 0 &&
            exec_stmt(s, ST_COMMIT, err) == 0)
            rc = 0;
        else
            rollback(s);
    }
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/*
 * The run-history page's totals and chart (GET /_qx/v1/stats): one GROUP BY
 * over a covering index — runs_received (received_ms, status), or for one
 * workflow runs_workflow_status (workflow_id, status, seq, received_ms) — so
 * no run document is read however many runs are stored. Parameters as for
 * listing (?1..?5, see WINDOW) and ?6 the bucket width; a bucket starts at
 * received_ms rounded down to a multiple of ?6 (written with % twice so that
 * times before 1970 round down too). Prepared per call beside its only user
 * rather than in STATEMENTS: microseconds, against a scan of the window.
 */
#define HISTOGRAM_SELECT                                                                           \
    "SELECT received_ms - ((received_ms % ?6) + ?6) % ?6 AS bucket, SUM(status = 'SUCCESS'),"      \
    " SUM(status = 'FAILURE'), SUM(status = 'RUNNING') FROM runs"
#define HISTOGRAM_WHERE "(?2 IS NULL OR status = ?2) AND " WINDOW " GROUP BY bucket ORDER BY bucket"

static const char HISTOGRAM_SQL[] =
    HISTOGRAM_SELECT " INDEXED BY runs_received WHERE " HISTOGRAM_WHERE;
static const char HISTOGRAM_WORKFLOW_SQL[] =
    HISTOGRAM_SELECT " INDEXED BY runs_workflow_status WHERE workflow_id = ?1 AND " HISTOGRAM_WHERE;

json_t *qxm_store_histogram(qxm_store *s, const qxm_run_filter *f, int64_t bucket_ms, qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    if (bucket_ms <= 0) {
        qx_error_set(err, "histogram: a bucket of %lld ms", (long long)bucket_ms);
        return NULL;
    }
    json_int_t totals[3] = {0, 0, 0}; /* SUCCESS, FAILURE, RUNNING */
    json_t *out = NULL;
    json_t *buckets = json_array();
    if (buckets == NULL) {
        qx_error_set(err, "out of memory counting runs");
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&s->rd->lock);
    const char *sql = f->workflow_id != NULL ? HISTOGRAM_WORKFLOW_SQL : HISTOGRAM_SQL;
    if (sqlite3_prepare_v3(s->rd->db, sql, -1, 0, &stmt, NULL) != SQLITE_OK) {
        rd_error(s, err, "preparing \"histogram\"");
        goto out;
    }
    bind_filter(stmt, f);
    sqlite3_bind_int64(stmt, 6, bucket_ms);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_int_t n[3];
        for (int i = 0; i < 3; i++) {
            n[i] = sqlite3_column_int64(stmt, i + 1);
            totals[i] += n[i];
        }
        if (f->limit != 0 && json_array_size(buckets) >= f->limit)
            continue; /* the totals still count every run */
        json_t *b =
            json_pack("{s:I, s:I, s:I, s:I}", "startMs", (json_int_t)sqlite3_column_int64(stmt, 0),
                      "SUCCESS", n[0], "FAILURE", n[1], "RUNNING", n[2]);
        if (json_array_append_new(buckets, b) != 0) {
            qx_error_set(err, "out of memory counting runs");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        rd_error(s, err, "histogram");
        goto out;
    }
    out = json_pack("{s:{s:I, s:I, s:I}, s:O}", "totals", "SUCCESS", totals[0], "FAILURE",
                    totals[1], "RUNNING", totals[2], "buckets", buckets);
    if (out == NULL)
        qx_error_set(err, "out of memory counting runs");
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    json_decref(buckets);
    return out;
}
