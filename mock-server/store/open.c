/*
 * open.c — opening a store (file or temporary), configuring SQLite, creating
 * or upgrading the schema, the reader connection and its checkpointer,
 * closing, and reset.
 */
#include "store_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "qx_clock.h"
#include "qx_log.h"

#define CACHE_SIZE_KIB 8192  /* page cache per connection: bounds memory */
#define BUSY_TIMEOUT_MS 5000 /* another process holding the file briefly */
/* The WAL's restart size and tail (see READER, below). */
#define CKPT_RESTART_PAGES 32768 /* 128 MiB of 4 KiB pages */
#define CKPT_TAIL 200

/* Truncate the WAL back to this after checkpoints: what a WAL of the
 * restart size (s->ckpt_restart_pages, below) and CKPT_TAIL more frames of
 * 4 KiB pages (each with its 24-byte header, after the file's 32) takes, so
 * that the writer's restart reuses the file rather than cutting and growing
 * it again. */
#define WAL_SIZE_LIMIT(restart_pages) (((long long)(restart_pages) + CKPT_TAIL) * (4096 + 24) + 32)
#define TEMP_NAME "temporary database"

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
        store_db_error(s, err, what);
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
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld",
             WAL_SIZE_LIMIT(s->ckpt_restart_pages));
    if (run_setup(s, sql, "limiting the WAL size", NULL, 0, err) != 0)
        return -1;
    return run_setup(s, "PRAGMA synchronous = NORMAL", "setting synchronous", NULL, 0, err);
}

/* Runs a migration's SQL text; returns 0 or -1 with err naming the step. */
static int exec_migration(qxm_store *s, const char *sql, long from, qx_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->w.db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        qx_error_set(err, "%s: upgrading the schema from version %ld: %s", s->name, from,
                     msg != NULL ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Upgrades a store of version v (1 to 5) to the current one, one version
 * at a time, inside the caller's transaction. Returns 0 or -1 with err. */
static int migrate(qxm_store *s, long v, qx_error *err)
{
    if (v == 1 && exec_migration(s, QXM_MIGRATE_1_SQL, 1, err) != 0)
        return -1;
    if (v <= 2) {
        /* Rows already stored entered it now, at the upgrade (see sql.c). */
        long long now = (long long)qx_now_ms();
        char *sql = sqlite3_mprintf(QXM_MIGRATE_2_SQL, now, now);
        if (sql == NULL) {
            qx_error_set(err, "%s: upgrading the schema: out of memory", s->name);
            return -1;
        }
        int rc = exec_migration(s, sql, 2, err);
        sqlite3_free(sql);
        if (rc != 0)
            return -1;
    }
    if (v <= 3 && exec_migration(s, QXM_MIGRATE_3_SQL, 3, err) != 0)
        return -1;
    /* Reads every run document once, to fill run_identities. */
    if (v <= 4 && exec_migration(s, QXM_MIGRATE_4_SQL, 4, err) != 0)
        return -1;
    /* Rewriting the schema's text needs SQLite's defensive mode off (it is
     * off by default; a build may turn it on). */
    char cookie[32] = "";
    if (sqlite3_db_config(s->w.db, SQLITE_DBCONFIG_DEFENSIVE, 0, (int *)NULL) != SQLITE_OK) {
        qx_error_set(err, "%s: upgrading the schema: %s", s->name, sqlite3_errmsg(s->w.db));
        return -1;
    }
    if (run_setup(s, "PRAGMA schema_version", "upgrading the schema", cookie, sizeof cookie, err) !=
        0)
        return -1;
    char *sql = sqlite3_mprintf(QXM_MIGRATE_5_SQL, (int)strtol(cookie, NULL, 10) + 1);
    if (sql == NULL) {
        qx_error_set(err, "%s: upgrading the schema: out of memory", s->name);
        return -1;
    }
    int rc = exec_migration(s, sql, 5, err);
    sqlite3_free(sql);
    if (rc == 0)
        qx_log(QX_LOG_INFO, "%s: schema upgraded from version %ld to %d", s->name, v,
               QXM_SCHEMA_VERSION);
    return rc;
}

/* Creates the schema in an empty database, or checks the version of an
 * existing one and upgrades it. In one immediate transaction, so that two
 * processes opening the same new file do not both create it. */
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
    if (v == QXM_SCHEMA_VERSION)
        return run_setup(s, "COMMIT", "reading the schema", NULL, 0, err);
    if (v >= 1 && v < QXM_SCHEMA_VERSION) {
        if (migrate(s, v, err) != 0)
            goto fail;
        return run_setup(s, "COMMIT", "upgrading the schema", NULL, 0, err);
    }
    if (v > QXM_SCHEMA_VERSION) {
        qx_error_set(err, "%s: schema version %ld is newer than this qx-mock's (%d)", s->name, v,
                     QXM_SCHEMA_VERSION);
        goto fail;
    }
    if (strcmp(tables, "0") != 0) {
        qx_error_set(err, "%s: not a qx-mock database (it holds other tables)", s->name);
        goto fail;
    }
    if (sqlite3_exec(s->w.db, QXM_SCHEMA_SQL, NULL, NULL, &msg) != SQLITE_OK) {
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
        assert(QXM_STATEMENTS[i].sql != NULL);
        if (sqlite3_prepare_v3(c->db, QXM_STATEMENTS[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &c->st[i], NULL) != SQLITE_OK) {
            qx_error_set(err, "%s: preparing \"%s\": %s", s->name, QXM_STATEMENTS[i].name,
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
 * blocks, and syncs the database file after).
 *
 * SQLite starts the WAL over at a write once a checkpoint has copied all
 * of it. Under a steady load the checkpointer, racing new commits, never
 * quite gets there, so the writer copies the last pages itself: a
 * checkpoint inside a commit, whose sync holds every connection waiting on
 * that commit (1.6-2.7 ms at 32 connections: the p99 of ingest). It does so
 * only once the WAL holds CKPT_RESTART_PAGES (s->ckpt_restart_pages,
 * which tests may lower; and the checkpointer is
 * within CKPT_TAIL of its end), so that this happens once per ~5,000 runs
 * rather than once per ~160 as with a 1,000-page WAL, and always past
 * twice that should the checkpointer fall behind (then waiting for a pass
 * in progress, see on_wal_commit). When the
 * load pauses the checkpointer catches up and the next write starts the
 * WAL over with no help. The WAL file is kept at up to WAL_SIZE_LIMIT
 * (the restart size) rather than truncated and grown again.
 */
#define CKPT_PAGES 1000
#define READER_CACHE_KIB 4096

static void *checkpointer_main(void *arg)
{
    qxm_store *s = arg;
    prctl(PR_SET_NAME, "qxm-checkpoint", 0, 0, 0); /* its name in top -H, perf, gdb */
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
    /* Past the restart size, once the checkpointer is within CKPT_TAIL
     * pages, the writer copies the rest itself (see above). */
    int copied = atomic_load(&s->ckpt_done);
    int restart = s->ckpt_restart_pages; /* the writer's own: set under its lock */
    /* A checkpoint copies nothing while another holds SQLite's checkpoint
     * lock (SQLITE_BUSY, whatever its mode), as the checkpointer's pass
     * does, and under a steady load a pass is nearly always running. So
     * the writer takes the reader's lock, which every pass holds: past
     * twice the restart size it waits for it (one pass, or one admin
     * query, at most), so that the WAL cannot grow past that however busy
     * the machine; between the two it copies only when no pass runs. */
    bool hard = pages >= 2 * restart;
    if ((hard || (pages >= restart && copied > 0 && pages - copied <= CKPT_TAIL)) &&
        (hard ? pthread_mutex_lock(&s->r.lock) : pthread_mutex_trylock(&s->r.lock)) == 0) {
        atomic_store(&s->ckpt_done, 0);
        (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&s->r.lock);
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

int qxm_store_set_wal_restart(qxm_store *s, int pages, qx_error *err)
{
    char sql[64];
    if (pages < 1024 || pages > (1 << 24)) { /* 1,024: past CKPT_PAGES */
        qx_error_set(err, "%s: a WAL restart size of %d pages is out of range", s->name, pages);
        return -1;
    }
    pthread_mutex_lock(&s->w.lock);
    s->ckpt_restart_pages = pages;
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld", WAL_SIZE_LIMIT(pages));
    int rc = sqlite3_exec(s->w.db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    if (rc != 0)
        store_db_error(s, err, "limiting the WAL size");
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* SQLite's process-wide settings, made before its first use. Memory
 * statistics off: nothing reads them (sqlite3_memory_used and the like),
 * and keeping them takes a global mutex around every allocation of every
 * connection (~100 lock and unlock pairs per stored run). When SQLite is
 * already in use (a library's caller opened a database first) the call
 * fails harmlessly and the statistics stay on. */
static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

qxm_store *qxm_store_open(const char *path, qx_error *err)
{
    static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
    pthread_once(&sqlite_once, configure_sqlite);
    bool is_file = path != NULL && path[0] != '\0';
    qxm_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        qx_error_set(err, "out of memory opening the store");
        return NULL;
    }
    s->name = strdup(is_file ? path : TEMP_NAME);
    s->ckpt_restart_pages = CKPT_RESTART_PAGES;
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
            store_db_error(s, err, "cannot open");
        else
            qx_error_set(err, "%s: cannot open: out of memory", s->name);
        goto fail;
    }
    s->jlimits = (qxm_journal_limits){.max_entries = QXM_JOURNAL_DEFAULT_MAX,
                                      .max_bytes = QXM_JOURNAL_DEFAULT_MAX_BYTES,
                                      .refused_per_minute = QXM_JOURNAL_DEFAULT_REFUSED_PER_MINUTE};
    if (configure(s, is_file, err) != 0 || ensure_schema(s, err) != 0 ||
        prepare_all(s, &s->w, err) != 0 || store_journal_measure(s, err) != 0)
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
    qx_error err;
    if (s->w.st[ST_FOLD_REQUEST] != NULL && store_journal_flush(s, &err) != 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
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

int qxm_store_reset(qxm_store *s, qx_error *err)
{
    int rc = -1;
    pthread_mutex_lock(&s->w.lock);
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        goto out;
    if (store_exec_stmt(s, ST_DELETE_RUNS, err) != 0 ||
        store_exec_stmt(s, ST_DELETE_COUNTS, err) != 0 ||
        store_exec_stmt(s, ST_DELETE_IDENTITIES, err) != 0 ||
        store_exec_stmt(s, ST_DELETE_REQUESTS, err) != 0 ||
        store_exec_stmt(s, ST_DELETE_TOMBSTONES, err) != 0 ||
        store_exec_stmt(s, ST_ZERO_TOMBSTONE_COUNT, err) != 0 ||
        store_exec_stmt(s, ST_COMMIT, err) != 0) {
        store_rollback(s);
        goto out;
    }
    store_journal_forget(s);
    rc = 0;
out:
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* The final status of a run exported while RUNNING, which the export does
 * not show: FAILURE when it records an error or a failed task. */