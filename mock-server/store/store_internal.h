/*
 * store_internal.h — what the store's files share (not for users of the
 * store: they include qxm_store.h).
 *
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
 * COUNT(*) over a million index entries takes tens of milliseconds.
 * Eviction (evict.c) subtracts what it deletes from run_counts in the same
 * transaction; reset empties run_counts together with runs (a delete
 * trigger would cost SQLite its fast whole-table DELETE).
 *
 * SEARCH. run_identities holds each run's identity values, lowercased
 * (sql.c, IDENTITIES_OF): written in the transaction that stores the run
 * (insert, single import), by a streamed import's commit for the runs it
 * moved in, and for the runs already there by the upgrade to version 5;
 * eviction and reset delete them with their runs. A search by identity
 * scans that table, never the run documents. The journal is listed with
 * generic filter conditions (its size is bounded); its unfiltered totals
 * come from the writer's running count and the summary entries' index.
 *
 * RETENTION. Every run and journal entry carries entered_ms, when it
 * entered this store (an imported run: when it was imported, not its
 * receivedAt), taken under the writer's lock so that it grows with seq.
 * Eviction deletes the oldest by seq that are past retention, in batches,
 * each its own short transaction, and leaves a tombstone (id, kind, evicted_ms)
 * per id; store_counters keeps the number of runs evicted since the store
 * was created and of tombstones kept (so the cap needs no COUNT(*)).
 *
 * Files: sql.c (the schema, its migrations and every statement's SQL),
 * db.c (error text, statement helpers), open.c (opening, configuring,
 * the reader connection and its checkpointer, closing, reset), runs.c
 * (inserting runs: hashing, duplicates, the per-batch tally; finishing due
 * runs; importing), query.c (one run, pages, counts, the histogram),
 * journal.c (the request journal), evict.c (retention: eviction,
 * tombstones, the store's counters).
 *
 * Locks: each struct conn's mutex serialises every use of that connection
 * and its prepared statements (SQLite's own mutex is off); ckpt_lock guards
 * the checkpointer's flags. Only the writer's WAL hook (open.c) takes two
 * connection locks: the reader's while it holds the writer's, to copy the
 * WAL when no checkpointer pass runs. Nothing takes them the other way.
 */
#ifndef QXM_STORE_INTERNAL_H
#define QXM_STORE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "qx_error.h"
#include "qxm_store.h"

#define QXM_SCHEMA_VERSION 6
/* store_counters' rows. */
#define QXM_COUNTER_RUNS_EVICTED "runs_evicted"
#define QXM_COUNTER_TOMBSTONES "tombstones"
#define QXM_COUNTER_JOURNAL_EVICTED "journal_evicted"

/*
 * JOURNAL BOUNDS. An entry's size, what journalMaxBytes counts, is the bytes
 * of its text as stored (id, method, path, reason, workflow id, run id,
 * client address, headers, body) plus JOURNAL_ROW_BYTES for its numbers and
 * SQLite's record and rowid; the same sum in C (journal.c, entry_bytes) and
 * in SQL (JOURNAL_ENTRY_BYTES), so that what an eviction gives back is what
 * the insert added. The database file is larger than the sum by its pages'
 * slack and the table's b-tree (about 1.2 to 1.5 times). The writer keeps
 * the number of entries and their size in struct qxm_store (counted once at
 * open, then followed by every insert and delete), so an insert needs no
 * COUNT(*); past a bound the oldest go, down to 1 % below it, so that
 * eviction runs once per ~1 % of inserts rather than on each.
 */
#define JOURNAL_ROW_BYTES 64
#define JOURNAL_STR_(x) #x
#define JOURNAL_STR(x) JOURNAL_STR_(x)
#define JOURNAL_TEXT_BYTES(col) "COALESCE(length(CAST(" col " AS BLOB)), 0)"
#define JOURNAL_ENTRY_BYTES                                                                                                                                                         \
    "(" JOURNAL_STR(JOURNAL_ROW_BYTES) " + " JOURNAL_TEXT_BYTES("id") " + " JOURNAL_TEXT_BYTES(                                                                                     \
        "m"                                                                                                                                                                         \
        "e"                                                                                                                                                                         \
        "t"                                                                                                                                                                         \
        "h"                                                                                                                                                                         \
        "o"                                                                                                                                                                         \
        "d") " + " JOURNAL_TEXT_BYTES("path") " + " JOURNAL_TEXT_BYTES("reason") " +"                                                                                               \
                                                                                 " " JOURNAL_TEXT_BYTES("workflow_id") " + " JOURNAL_TEXT_BYTES("run_id") " + " JOURNAL_TEXT_BYTES( \
                                                                                     "client") " "                                                                                  \
                                                                                               "+"                                                                                  \
                                                                                               " " JOURNAL_TEXT_BYTES("headers") " + " JOURNAL_TEXT_BYTES(                          \
                                                                                                   "body") ")"
/* requests.flags */
#define JOURNAL_FLAG_BODY_TRUNCATED 1
#define JOURNAL_FLAG_HEADERS_TRUNCATED 2
#define JOURNAL_FLAG_SUMMARY 4

/* Refusals folded per client and minute (journal.c): a small open-addressed
 * table under the writer's lock; a client that finds no slot within
 * FOLD_PROBES shares the last one, FOLD_SLOTS, with every such client. */
#define FOLD_SLOTS 1024
#define FOLD_PROBES 8
#define FOLD_CLASSES 4 /* 401, 404, 405, 415 */
struct fold_slot {
    char client[48];               /* the address as text (INET6_ADDRSTRLEN is 46) */
    int64_t minute;                /* received_ms / 60,000 of the entries counted */
    int64_t written;               /* entries written one by one in that minute */
    int64_t summary[FOLD_CLASSES]; /* seq of the minute's summary entry per class, 0: none */
    int64_t pending[FOLD_CLASSES]; /* requests counted, not yet added to the summary's row */
};
/* Pending counts are written at most this often (and before the journal is
 * read, and at close), so that a flood of refusals costs no write each. */
#define FOLD_FLUSH_MS 1000
#define QXM_STORE_DEFAULT_PAGE 100
#define QXM_STORE_MAX_PAGE 1000

/*
 * Listing and counting statements share one parameter numbering:
 *   ?1 workflow id   ?2 status   ?3 since (inclusive)   ?4 until (exclusive)
 *   ?5 finished only (0/1)   ?6 cursor bound on seq   ?7 rows to fetch
 *   ?8 a substring of an identity (the identity statements only)
 */
#define RUN_COLUMNS "seq, doc, status, finished_ms, duplicate_of"
#define WINDOW "received_ms >= ?3 AND received_ms < ?4 AND (?5 = 0 OR status <> 'RUNNING')"
#define PAGE_ASC "seq > ?6 AND " WINDOW " ORDER BY seq LIMIT ?7"
#define PAGE_DESC "seq < ?6 AND " WINDOW " ORDER BY seq DESC LIMIT ?7"

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
    ST_LIST_IDENTITY,
    ST_LIST_IDENTITY_DESC,
    ST_COUNT_IDENTITY,
    ST_ADD_IDENTITY,
    ST_LAST_RUN_SEQ,
    ST_COUNT_TOTAL,
    ST_COUNT_TIME,
    ST_COUNT_WORKFLOW,
    ST_COUNT_STATUS,
    ST_COUNT_WORKFLOW_STATUS,
    ST_STATUS_COUNTS,
    ST_FIND_DUPLICATE,
    ST_ADD_REQUEST,
    ST_LIST_REQUESTS,
    ST_LIST_REQUESTS_DESC,
    ST_COUNT_REQUESTS,
    ST_JOURNAL_SUMMARISED,
    ST_GET_REQUEST,
    ST_FOLD_REQUEST,
    ST_TRIM_REQUESTS,
    ST_JOURNAL_SIZE,
    ST_DELETE_RUNS,
    ST_DELETE_COUNTS,
    ST_DELETE_IDENTITIES,
    ST_DELETE_REQUESTS,
    ST_DELETE_TOMBSTONES,
    ST_EVICT_RUN_TOMBSTONES,
    ST_EVICT_RUN_RENEW,
    ST_EVICT_RUN_COUNTS,
    ST_EVICT_RUN_IDENTITIES,
    ST_EVICT_RUNS,
    ST_EVICT_REQUEST_TOMBSTONES,
    ST_EVICT_REQUEST_RENEW,
    ST_EVICT_REQUESTS,
    ST_DROP_TOMBSTONES,
    ST_FIND_TOMBSTONE,
    ST_COUNTER_GET,
    ST_COUNTER_ADD,
    ST_ZERO_TOMBSTONE_COUNT,
    ST_N
};

typedef struct qxm_stmt_def {
    const char *name; /* for error messages */
    const char *sql;
} qxm_stmt_def;

/* sql.c */
extern const qxm_stmt_def QXM_STATEMENTS[ST_N];
extern const char QXM_SCHEMA_SQL[];
extern const char QXM_MIGRATE_1_SQL[];
extern const char QXM_MIGRATE_2_SQL[]; /* a format: the upgrade time, twice */
extern const char QXM_MIGRATE_3_SQL[];
extern const char QXM_MIGRATE_4_SQL[];
extern const char QXM_MIGRATE_5_SQL[]; /* a format: the next schema cookie */
extern const char QXM_HISTOGRAM_SQL[];
extern const char QXM_HISTOGRAM_WORKFLOW_SQL[];
extern const char QXM_IMPORT_SCHEMA_SQL[], QXM_IMPORT_ADD_SQL[], QXM_IMPORT_CLASH_SQL[];
extern const char QXM_IMPORT_MOVE_SQL[], QXM_IMPORT_COUNT_SQL[], QXM_IMPORT_DELETE_SQL[];
extern const char QXM_IMPORT_IDENTITIES_SQL[];

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
    _Atomic int ckpt_done;  /* WAL frames the last checkpoint copied */
    int ckpt_restart_pages; /* the WAL's restart size (open.c); w.lock */
    /* The journal (see JOURNAL BOUNDS), guarded by w.lock. */
    qxm_journal_limits jlimits;
    int64_t j_entries, j_bytes;
    struct fold_slot fold[FOLD_SLOTS + 1];
    int64_t j_evicted_below; /* every entry with a smaller seq is evicted */
    bool fold_dirty;         /* some slot has pending counts */
    int64_t fold_flush_ms;   /* monotonic time of the last flush */
};

/* db.c: "<path>: <what>: <SQLite's message>" for the writer (store_db_error)
 * or the connection reads use (store_rd_error), called with that lock held;
 * store_done resets a statement and drops its bindings; store_exec_stmt runs
 * a statement without rows (0 or -1 with err); store_rollback ends a failed
 * transaction; store_bind_text binds text or NULL (the text must outlive the
 * step). */
void store_db_error(qxm_store *s, qx_error *err, const char *what);
void store_rd_error(qxm_store *s, qx_error *err, const char *what);
void store_done(sqlite3_stmt *stmt);
int store_exec_stmt(qxm_store *s, enum stmt_id id, qx_error *err);
void store_rollback(qxm_store *s);
int store_bind_text(sqlite3_stmt *stmt, int i, const char *text);

/* evict.c: adds delta to a store counter; the caller holds the writer and
 * a transaction. 0 or -1 with err set. */
int store_counter_add(qxm_store *s, const char *name, int64_t delta, qx_error *err);

/* journal.c: counts the journal (at open), evicts what is past the bounds
 * in one transaction, forgets the folded clients (reset). The caller holds
 * the writer. 0 or -1 with err set. */
int store_journal_measure(qxm_store *s, qx_error *err);
int store_journal_trim(qxm_store *s, qx_error *err);
void store_journal_forget(qxm_store *s);
int store_journal_flush(qxm_store *s, qx_error *err);
/* journal.c: rows entries of bytes, up to seq max_seq, were evicted. */
void store_journal_evicted(qxm_store *s, int64_t rows, int64_t bytes, int64_t max_seq);

/* query.c: a page's size (0 means the default, capped at the maximum). */
size_t store_page_size(size_t limit);

#endif