/*
 * qxm_store.h — the run history and the request journal, in SQLite.
 *
 * A store is one SQLite database: a file given by `--db` (WAL mode, so the
 * history survives a restart), or a private temporary database that SQLite
 * keeps on disk and deletes on close — either way memory stays bounded by
 * SQLite's page cache however many runs are recorded.
 *
 * A run is kept as its JSON document plus the columns used to filter it. A
 * run is stored with its final outcome already computed; while its delay has
 * not passed it is shown as RUNNING, and qxm_store_finish_due() makes it
 * visible as SUCCESS or FAILURE. The store never sees HTTP; all calls are
 * thread-safe: changes go through one connection, and a file store reads
 * through a second one, so that reads and commits never wait for each other.
 */
#ifndef QXM_STORE_H
#define QXM_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "qx_error.h"

typedef struct qxm_store qxm_store;

/* One run to insert, in one of two forms:
 *  - doc, the run document (borrowed), with at least "id", "workflowId",
 *    "requestId", "status" (the FINAL status: "SUCCESS" or "FAILURE"),
 *    "receivedAt" (ISO text) and whatever else the run holds (payload,
 *    eventData, conditions, tasks, error, ...); qxm_run_insert_prepare()
 *    writes its stored text beforehand, or the insert does;
 *  - doc NULL and the document already written as the store keeps it
 *    (text): compact JSON (no whitespace between tokens), members in the
 *    document's order, without "status" and "finishedAt" (columns, put
 *    back on every read); with what the store would otherwise read from the
 *    document: id, workflow_id, final_status, the payload's hash and the
 *    run's identity values. This is how the engine stores a run without
 *    building the document as a tree. */
typedef struct qxm_run_insert {
    json_t *doc;
    int64_t received_ms; /* ms since epoch */
    int64_t due_ms;      /* when the run finishes; <= received_ms: finished at once,
                            with finishedAt = receivedAt */
    /* Set mark_duplicate to look, at insert, for the most recent run of the
     * same workflow with the same "payload" (as JSON: whitespace and key
     * order do not matter) received at or after duplicate_since_ms; its id
     * becomes the run's "duplicateOf". Runs earlier in the same batch count. */
    bool mark_duplicate;
    int64_t duplicate_since_ms;
    /* The document's stored text (owned by the caller: free()) and its
     * payload's hash: filled by qxm_run_insert_prepare() from doc, or by the
     * caller with doc NULL. */
    char *text;
    uint64_t payload_hash;
    bool has_payload_hash;
    /* With doc NULL only. workflow_id is borrowed and must outlive the
     * insert; final_status is "SUCCESS" or "FAILURE". The identity values
     * (qxm_run_identities) are n_identities NUL-terminated strings stored
     * one after another right after the NUL that ends text, in text's
     * allocation. */
    char id[64];
    const char *workflow_id;
    const char *final_status;
    size_t n_identities;
} qxm_run_insert;

/* Serialises in->doc as the store keeps it, and hashes its payload, so that
 * this work happens on the caller's thread rather than inside the store's
 * lock; the document must not change afterwards. Returns 0, or -1 with err
 * set (out of memory). */
QX_MUST_CHECK int qxm_run_insert_prepare(qxm_run_insert *in, qx_error *err);

/* The hash of a payload as duplicate marking compares it: equal for values
 * equal as JSON, whatever their key order or whitespace. */
uint64_t qxm_payload_hash(const json_t *payload);

/* Calls fn for each identity value of a run — every non-empty string "id"
 * of an object in an array under payload.identityMap (an object of
 * namespaces, or an array of them), then the event data's non-empty string
 * email, extRef and externalId — as identity search (qxm_run_filter
 * .identity) finds them. payload and event_data may be NULL. Stops at the
 * first fn that returns non-zero and returns that, else 0. */
int qxm_run_identities(const json_t *payload, const json_t *event_data,
                       int (*fn)(void *ud, const char *value, size_t len), void *ud);

/* Filter for listing and counting runs. Zero-initialise, then set fields. */
typedef struct qxm_run_filter {
    const char *workflow_id; /* NULL: any */
    const char *status;      /* "SUCCESS", "FAILURE", "RUNNING" or NULL: any */
    int64_t since_ms;        /* receivedAt >= since_ms; 0: unbounded */
    int64_t until_ms;        /* receivedAt <  until_ms; 0: unbounded */
    int64_t cursor;          /* opaque position from a previous page; 0: start */
    size_t limit;            /* page size; 0 means 100, at most 1000 */
    bool newest_first;       /* default oldest first */
    bool finished_only;      /* exclude RUNNING (used by wait) */
    /* A substring (any case) of one of the run's identity values: the
     * payload's identityMap ids and the event data's email, extRef or
     * externalId, recorded as the run is stored or imported. NULL: any.
     * Listing and counting only (the histogram ignores it). */
    const char *identity;
} qxm_run_filter;

/* One request-journal entry: a request that started no run. The store
 * keeps the strings as given: the caller leaves out what must not be kept
 * (credentials) and bounds the rest (headers, body). */
typedef struct qxm_request_entry {
    const char *id; /* request id (the envelope's meta.requestId) */
    int64_t received_ms;
    const char *method;
    const char *path; /* path and query with any secret parameter removed */
    int http_status;
    const char *reason;      /* human text: "unknown urlTokenId", ... */
    const char *workflow_id; /* NULL if none was selected */
    const char *run_id;      /* NULL: no run (always NULL for now) */
    const char *client;      /* the client's address as text, NULL: unknown */
    const char *headers;     /* a JSON object's text: the headers kept, NULL: none */
    bool headers_truncated;  /* some headers were left out for size */
    const char *body;        /* the body's first bytes kept (UTF-8 text), NULL: none */
    int64_t body_len;        /* the body's length as sent; < 0: unknown */
    bool body_truncated;     /* body holds less than was sent */
} qxm_request_entry;

/* The journal's bounds. Refusals (http_status 401, 404, 405 and 415) are
 * written one by one up to refused_per_minute per client address and
 * minute of received_ms; beyond, one summary entry per client, minute and
 * status (the first such request's, with "summary": true) counts them all.
 * Past max_entries entries or max_bytes bytes (see qxm_store_journal_stats)
 * the oldest entries are evicted, down to 1 % below the bound. */
typedef struct qxm_journal_limits {
    int64_t max_entries;        /* >= 1 */
    int64_t max_bytes;          /* >= 1 */
    int64_t refused_per_minute; /* >= 0 */
} qxm_journal_limits;

#define QXM_JOURNAL_DEFAULT_MAX 100000
#define QXM_JOURNAL_DEFAULT_MAX_BYTES (64LL * 1024 * 1024)
#define QXM_JOURNAL_DEFAULT_REFUSED_PER_MINUTE 600

typedef struct qxm_journal_stats {
    int64_t entries; /* entries kept */
    int64_t bytes;   /* their size: the bytes of their text plus 64 each */
    int64_t evicted; /* entries evicted by the bounds or by retention since
                        the store was created (kept across reset) */
} qxm_journal_stats;

typedef struct qxm_status_counts {
    int64_t running, success, failure;
} qxm_status_counts;

/* Opens (creating the schema if needed) the database at path; path NULL or
 * "" opens a private temporary database. Runs left RUNNING by a previous
 * process are kept and finish when due. Returns a new store (owned), or NULL
 * with err set. */
QX_MUST_CHECK qxm_store *qxm_store_open(const char *path, qx_error *err);

/* Flushes and closes; NULL is a no-op. */
void qxm_store_close(qxm_store *s);

/* The WAL size, in pages, at which the writer starts a file store's WAL
 * over (open.c; default 32,768, 128 MiB; always at twice that), and the
 * size the WAL file is cut back to with it. For tests, which would
 * otherwise write hundreds of MB to see it. Returns 0, or -1 with err set
 * (below 1,024 pages or above 2^24, or the database refused). */
QX_MUST_CHECK int qxm_store_set_wal_restart(qxm_store *s, int pages, qx_error *err);

/* The largest seq of a stored run: 0 when there is none, -1 when it
 * cannot be read. Runs take increasing seqs (an import's too). */
int64_t qxm_store_last_run_seq(qxm_store *s);

/* Inserts n runs in one transaction (group commit). Returns 0 once they are
 * committed, -1 with err set (nothing inserted). A run whose id already
 * exists is an error (`run "X" already exists`), as is a doc without
 * string "id" and "workflowId" or whose "status" is not SUCCESS/FAILURE. */
QX_MUST_CHECK int qxm_store_insert_runs(qxm_store *s, const qxm_run_insert *runs, size_t n,
                                        qx_error *err);

/* Makes every RUNNING run with due_ms <= now_ms finished (finishedAt =
 * its due time). Returns the number finished, or -1 with err set. */
QX_MUST_CHECK int64_t qxm_store_finish_due(qxm_store *s, int64_t now_ms, qx_error *err);

/* The earliest due time of a RUNNING run, or INT64_MAX when none runs. */
int64_t qxm_store_next_due(qxm_store *s);

/* One run document with its current "status" and "finishedAt" (null while
 * RUNNING). New reference; NULL when there is no such run (err empty) or on
 * error (err set). */
json_t *qxm_store_get_run(qxm_store *s, const char *id, qx_error *err);

/* A page of runs matching f (NULL: all), as a new JSON array (owned) of run
 * documents as qxm_store_get_run() returns them. *next_cursor receives the
 * cursor for the next page, or 0 when this was the last. Paging is by
 * position, so runs stored meanwhile neither repeat nor shift a page.
 * NULL with err set on error. */
json_t *qxm_store_list_runs(qxm_store *s, const qxm_run_filter *f, int64_t *next_cursor,
                            qx_error *err);

/* Number of runs matching f (NULL: all; cursor and limit ignored), or -1
 * with err set. Without a time window this is a lookup, not a scan. */
int64_t qxm_store_count_runs(qxm_store *s, const qxm_run_filter *f, qx_error *err);

/* Counts by visible status. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_store_status_counts(qxm_store *s, qxm_status_counts *out, qx_error *err);

/* The id of the most recent run of workflow_id whose "payload" equals the
 * JSON text payload_text (compared as JSON, by a 64-bit hash of the
 * canonical text: whitespace and key order do not matter) and that was
 * received at or after since_ms, as a new malloc'd
 * string (owned: free()); NULL when there is none, when payload_text is not
 * JSON, or on a database error (logged). */
char *qxm_store_find_duplicate(qxm_store *s, const char *workflow_id, const char *payload_text,
                               int64_t since_ms);

/* Appends one journal entry, or counts it into its summary, and evicts
 * what the bounds leave no room for. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_store_add_request(qxm_store *s, const qxm_request_entry *e, qx_error *err);

/* Whether an entry of this status, client and time would now be counted
 * into an existing summary rather than stored: then its headers and body
 * need not be prepared (a hint: by the time it is added, a new summary may
 * be started with it). */
bool qxm_store_request_folds(qxm_store *s, int http_status, const char *client,
                             int64_t received_ms);

/* Sets the journal's bounds (a store opens with the defaults above) and
 * evicts what is past them. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_store_set_journal_limits(qxm_store *s, const qxm_journal_limits *l,
                                               qx_error *err);

/* The journal's size and evictions. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_store_journal_stats(qxm_store *s, qxm_journal_stats *out, qx_error *err);

/* Filter for listing the journal. Zero-initialise, then set fields. */
typedef struct qxm_request_filter {
    bool match_status; /* only entries of http_status (0 included) */
    int http_status;
    const char *workflow_id; /* NULL: any */
    const char *reason;      /* a substring of the reason, any case; NULL: any */
    int64_t since_ms;        /* receivedAt >= since_ms; 0: unbounded */
    int64_t until_ms;        /* receivedAt <  until_ms; 0: unbounded */
    int64_t cursor;          /* opaque position from a previous page; 0: start */
    size_t limit;            /* page size; 0 means 100, at most 1000 */
    bool newest_first;       /* default oldest first */
} qxm_request_filter;

/* What a journal listing matched: entries, and the requests they stand
 * for (an entry counts 1, a summary entry its count). */
typedef struct qxm_request_totals {
    int64_t entries, requests;
} qxm_request_totals;

/* A page of the journal matching f (NULL: all), in seq order (oldest first
 * unless f->newest_first). New JSON array (owned) of objects {id,
 * receivedAt, method, path, httpStatus, reason, workflowId, runId,
 * clientAddress, headers (object or null), headersTruncated, body (text or
 * null), bodyBytes (length as sent, or null), bodyTruncated, count,
 * summary}; *next_cursor as for runs; totals (may be NULL) receives what
 * matched in all (without a filter: from the writer's running count and
 * the summary entries, not a scan). NULL with err set on error. */
json_t *qxm_store_find_requests(qxm_store *s, const qxm_request_filter *f, int64_t *next_cursor,
                                qxm_request_totals *totals, qx_error *err);

/* The same without a filter: entries after cursor (0: from the start), at
 * most limit (0 means 100, at most 1000), oldest first. */
json_t *qxm_store_list_requests(qxm_store *s, int64_t cursor, size_t limit, int64_t *next_cursor,
                                qx_error *err);

/* The journal entry with request id id (the most recent if there were
 * several), as listed. New reference; NULL when there is none (err empty)
 * or on error (err set). */
json_t *qxm_store_get_request(qxm_store *s, const char *id, qx_error *err);

/* Deletes all runs, journal entries and tombstones (the counts of runs and
 * journal entries evicted are kept: they count since the store was
 * created). Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_store_reset(qxm_store *s, qx_error *err);

/* Imports one exported run document (borrowed), as `GET /export` wrote it:
 * a finished run keeps its status and times (it needs "finishedAt"), a
 * RUNNING one becomes due at once, with the final status its record implies
 * (FAILURE if it has a non-null "error" or a failed task, else SUCCESS).
 * "receivedAt" and "finishedAt" are RFC 3339 text. Returns 0, or -1 with err
 * naming the problem (missing field, bad status or time, duplicate id:
 * `run "X" already exists`). */
QX_MUST_CHECK int qxm_store_import_run(qxm_store *s, json_t *doc, qx_error *err);

/* A streamed, atomic import: runs added one by one as they arrive wait
 * outside the history (in temporary storage, so memory stays bounded) and
 * enter it all together at commit, or not at all. */
typedef struct qxm_store_import qxm_store_import;

/* Starts an import. Returns a new one (owned: qxm_store_import_free), or
 * NULL with err set. */
QX_MUST_CHECK qxm_store_import *qxm_store_import_begin(qxm_store *s, qx_error *err);

/* Stages one exported run document (borrowed; as qxm_store_import_run
 * takes it), read from the given line. Returns 0, or -1 with err naming the
 * problem (an id twice in the same import included). */
QX_MUST_CHECK int qxm_store_import_add(qxm_store_import *imp, json_t *doc, int64_t line,
                                       qx_error *err);

/* Moves every staged run into the history in one transaction. Returns how
 * many, or -1 with err set and the history unchanged (`line N: run "X"
 * already exists` when the history has one of the ids). Call once. */
QX_MUST_CHECK int64_t qxm_store_import_commit(qxm_store_import *imp, qx_error *err);

/* Drops whatever imp staged and frees it; NULL is a no-op. */
void qxm_store_import_free(qxm_store_import *imp);

/* Runs matching f (workflow_id, status, since_ms, until_ms, finished_only;
 * cursor and order ignored) counted by visible status, in all and per
 * bucket of bucket_ms (> 0) milliseconds of received time, buckets aligned
 * on the epoch. f->limit caps the buckets listed (0: all); the totals count
 * every matching run. Returns a new object (owned)
 *   {"totals": {"SUCCESS": n, "FAILURE": n, "RUNNING": n},
 *    "buckets": [{"startMs": ms, "SUCCESS": n, "FAILURE": n, "RUNNING": n}]}
 * listing only non-empty buckets, oldest first; NULL with err set on error. */
json_t *qxm_store_histogram(qxm_store *s, const qxm_run_filter *f, int64_t bucket_ms,
                            qx_error *err);

/* ---- retention ----------------------------------------------------------
 *
 * Every run and journal entry records when it entered this store (insert,
 * import, or for rows older than schema version 3 the upgrade), and
 * retention counts from then, never from receivedAt: an old history
 * imported today is kept as long as a run recorded today. An evicted id
 * leaves a tombstone for one more retention period, at most
 * QXM_MAX_TOMBSTONES of them (the oldest dropped first). */

#define QXM_MAX_TOMBSTONES 1000000

typedef enum qxm_entry_kind { QXM_ENTRY_RUN, QXM_ENTRY_REQUEST } qxm_entry_kind;

typedef struct qxm_evict_options {
    int64_t now_ms;         /* the wall clock of the sweep */
    int64_t retention_ms;   /* entries entered at or before now - retention go; <= 0: none */
    int64_t max_tombstones; /* 0: QXM_MAX_TOMBSTONES */
} qxm_evict_options;

typedef struct qxm_evict_result {
    int64_t runs, requests;     /* evicted */
    int64_t tombstones_dropped; /* past their own period or over the cap */
} qxm_evict_result;

/* Evicts every run and journal entry past retention, oldest first, and
 * drops the tombstones that are due, in batches of short transactions
 * (the writer is released between them); run counts, listings, the
 * histogram and waits see the runs gone. out (may be NULL) receives what
 * was done. Returns 0, or -1 with err set (batches already committed
 * stay). */
QX_MUST_CHECK int qxm_store_evict(qxm_store *s, const qxm_evict_options *o, qxm_evict_result *out,
                                  qx_error *err);

/* Whether id of this kind was evicted and its tombstone is kept: 1 with
 * *evicted_ms (may be NULL) set, 0 when not (err empty), -1 with err set. */
QX_MUST_CHECK int qxm_store_find_tombstone(qxm_store *s, qxm_entry_kind kind, const char *id,
                                           int64_t *evicted_ms, qx_error *err);

/* Runs evicted since the store was created (kept across restarts of a file
 * store and across reset), or -1 with err set. */
int64_t qxm_store_runs_evicted(qxm_store *s, qx_error *err);

/* Journal entries evicted (by the journal's bounds or by retention) since
 * the store was created, kept as runs_evicted is; or -1 with err set. */
int64_t qxm_store_journal_evicted(qxm_store *s, qx_error *err);

/* Tombstones kept now, or -1 with err set. */
int64_t qxm_store_tombstones(qxm_store *s, qx_error *err);

#endif
